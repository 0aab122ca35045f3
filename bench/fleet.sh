#!/usr/bin/env bash
# Fleet benchmarks (run as root for part 3): every figure is a rate or a ratio from this run,
# printed with the machine's load.
#  1. hub ingest, SQLite and PostgreSQL: alerts already in the stream, taken by the durable
#     consumer and stored; against the same store's inserts alone (go test -bench Ingest).
#  2. NODES simulated nodes (default 1000: heartbeat every 10 s, 5 alerts/s each) against a
#     `vigil hub` process: its CPU (% of one core) and RSS, idle first (baseline) then under load,
#     and the alerts stored against the alerts the nodes sent.
#  3. agent overhead of --hub at 100 alerts/s: (a) the agent's side alone (fleetsim -mode client: one
#     fleet client behind an output dispatcher, 100 alerts/s to it with their incidents, against the same alerts to a
#     discarding JSON output, in one process); (b) `vigil run` with one rule fired by 100 opens/s,
#     its CPU without --hub and with --hub (the hub running on this host, so the sensor also sees
#     the hub's own activity), same load, DURATION seconds each.
#  4. hub unreachable for OUTAGE seconds (default 60) under a steady alert rate: the spool
#     holds, then drains in order, nothing lost (the test, with its outage set to OUTAGE).
# Usage: bench/fleet.sh [DURATION_SECONDS=60] [NODES=1000] [OUTAGE_SECONDS=60]
#        PARTS="2 3" bench/fleet.sh ...   runs only those parts
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${1:-60}
NODES=${2:-1000}
OUTAGE=${3:-60}
PARTS=${PARTS:-1 2 3 4}
part() { case " $PARTS " in *" $1 "*) return 0;; esac; return 1; }
D=$(mktemp -d /tmp/vigil-fleet-bench.XXXXXX)
PIDS=()
trap 'for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$D"' EXIT
go build -o "$D/vigil" ./cmd/vigil
go build -o "$D/fleetsim" ./bench/fleetsim
ulimit -n 65536 2>/dev/null || true
echo "load before: $(uptime)"

# cpu PID: utime+stime in clock ticks; rss PID: kB.
cpu() { awk '{print $14+$15}' "/proc/$1/stat"; }
rss() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }
TCK=$(getconf CLK_TCK)
pct() { awk -v a="$1" -v b="$2" -v s="$3" -v t="$TCK" 'BEGIN {printf "%.2f", 100*(b-a)/t/s}'; }

if part 1; then
echo "== 1. hub ingest (SQLite, PostgreSQL), 50,000 alerts"
go test -bench Ingest -run XXX -benchtime 50000x ./internal/hub | grep Benchmark
fi

NPORT=$((20000 + RANDOM % 10000)); APORT=$((NPORT + 1))
if part 2; then
echo "== 2. $NODES simulated nodes, $DURATION s"
"$D/vigil" hub --data-dir "$D/hub" --nats-listen 127.0.0.1:$NPORT --listen 127.0.0.1:$APORT --log-level warn \
	--viewer-token-file <(echo bench-token) 2>"$D/hub.err" &
HP=$!; PIDS+=("$HP")
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$APORT/healthz" >/dev/null && break; sleep 0.2; done
c0=$(cpu $HP); sleep 10; c1=$(cpu $HP)
echo "hub idle: cpu=$(pct "$c0" "$c1" 10)% rss=$(rss $HP)kB"
c0=$(cpu $HP)
"$D/fleetsim" -mode nodes -url nats://127.0.0.1:$NPORT -nodes "$NODES" -rate 5 -heartbeat 10s -duration "${DURATION}s" -dir "$D/sim"
c1=$(cpu $HP)
echo "hub with $NODES nodes: cpu=$(pct "$c0" "$c1" "$DURATION")% rss=$(rss $HP)kB load: $(uptime)"
sleep 3
echo "nodes known: $(curl -sf -H 'Authorization: Bearer bench-token' "http://127.0.0.1:$APORT/api/nodes" | grep -o '"alive":' | wc -l)"
kill -INT $HP; wait $HP 2>/dev/null || true
STORED=$(sqlite3 "$D/hub/hub.db" 'SELECT COUNT(*) FROM alerts' 2>/dev/null || echo "?")
echo "alerts stored: $STORED"
fi

if part 3; then
echo "== 3a. the agent's side of --hub alone at 100 alerts/s, $DURATION s each phase"
"$D/vigil" hub --data-dir "$D/hub3a" --nats-listen 127.0.0.1:$NPORT --listen 127.0.0.1:$APORT --log-level error 2>/dev/null &
HP=$!; PIDS+=("$HP")
sleep 2
"$D/fleetsim" -mode client -url nats://127.0.0.1:$NPORT -rate 100 -duration "${DURATION}s" -dir "$D/sim3a"
kill -INT $HP; wait $HP 2>/dev/null || true
echo "== 3b. agent overhead of --hub at 100 alerts/s, $DURATION s each"
if [ "$(id -u)" != 0 ]; then echo "skipped: needs root"; else
	cat >"$D/rule.yaml" <<'RULE'
- rule: Bench trigger
  desc: bench
  condition: evt.type in (open, openat, openat2) and fd.name = /tmp/vigil-fleet-bench-trigger
  output: trigger opened (proc=%proc.name)
  priority: WARNING
RULE
	touch /tmp/vigil-fleet-bench-trigger
	"$D/vigil" hub --data-dir "$D/hub3" --nats-listen 127.0.0.1:$NPORT --listen 127.0.0.1:$APORT --log-level warn 2>"$D/hub3.err" &
	HP=$!; PIDS+=("$HP")
	sleep 2
	run_agent() { # $1: label, rest: extra flags
		local label=$1; shift
		"$D/vigil" run --no-default-rules -r "$D/rule.yaml" --set dedup.window=0 --set outputs.stdout.enabled=false \
			--set store.enabled=false --set http.enabled=false "$@" 2>"$D/agent-$label.err" &
		local VP=$!
		sleep 3
		"$D/fleetsim" -mode opens -file /tmp/vigil-fleet-bench-trigger -rate 100 -duration "$((DURATION + 2))s" >/dev/null &
		local GP=$!
		sleep 2
		local a0; a0=$(cpu $VP); sleep "$DURATION"; local a1; a1=$(cpu $VP)
		wait $GP
		kill -INT $VP; wait $VP 2>/dev/null || true
		echo "$label: agent cpu=$(pct "$a0" "$a1" "$DURATION")%"
	}
	flock -w 1200 /tmp/vigil-priv.lock bash -c "$(declare -f cpu pct run_agent); D=$D TCK=$TCK DURATION=$DURATION; \
		run_agent baseline; run_agent with-hub --hub nats://127.0.0.1:$NPORT --set hub.spool_dir=$D/spool --set hub.rules_dir=$D/rules" \
		| tee "$D/overhead.txt"
	awk -F'cpu=' '/baseline/ {b=$2+0} /with-hub/ {h=$2+0} END {printf "overhead of --hub: %.2f%% of one core (with %.2f%% / without %.2f%% = %.3f)\n", h-b, h, b, (b>0?h/b:0)}' "$D/overhead.txt"
	kill -INT $HP; wait $HP 2>/dev/null || true
	STORED=$(sqlite3 "$D/hub3/hub.db" 'SELECT COUNT(*) FROM alerts' 2>/dev/null || echo "?")
	echo "alerts stored by the hub in the --hub run: $STORED (expected about $((100 * (DURATION + 2))))"
	rm -f /tmp/vigil-fleet-bench-trigger
fi
fi

if part 4; then
echo "== 4. hub unreachable for $OUTAGE s under 200 alerts/s"
VIGIL_FLEET_OUTAGE=${OUTAGE}s go test -count 1 -timeout 10m -run TestHubOutageSpoolDrainsInOrder -v ./internal/hub | grep -E "outage|PASS|FAIL|ok"
fi
echo "load after: $(uptime)"
