#!/bin/bash
# Redis benchmark (run as root; needs Debian's redis-server and redis-tools): redis-benchmark SET and GET,
# 50 clients over loopback, against a redis-server started here, with
#   none   no BPF
#   empty  empty BPF programs on every tracepoint the sensor uses (the floor of any eBPF sensor on those hooks)
#   agent  vigil run with its default rules
# and prints requests/s and the ratio to none and to empty, measured in the same run. ROUNDS rounds (default 3)
# alternate the modes so that load changes hit them alike; the median round is printed.
# Usage: bench/redis.sh [REQUESTS]   (default 200000 per test)
# The machine may be shared: the load average is printed.
set -eu
cd "$(dirname "$0")/.."
N=${1:-200000}
ROUNDS=${ROUNDS:-3}
command -v redis-server >/dev/null && command -v redis-benchmark >/dev/null || {
	echo "redis.sh: needs redis-server and redis-benchmark (apt-get install redis-server redis-tools)" >&2
	exit 1
}
D=$(mktemp -d /tmp/vigil-redis.XXXXXX)
RP="" HP="" VP=""
trap 'for p in $RP $HP $VP; do kill $p 2>/dev/null; done; rm -rf "$D"' EXIT
go build -o "$D/vigil" ./cmd/vigil
go build -o "$D/workload" ./bench/workload
RPORT=$((20000 + RANDOM % 20000))
HPORT=$((RPORT + 1))
cat >"$D/vigil.yaml" <<CFG
store:
  path: $D/alerts.db
http:
  listen: 127.0.0.1:$HPORT
outputs:
  stdout:
    enabled: false
  file:
    enabled: true
    path: $D/alerts.json
CFG
redis-server --port "$RPORT" --bind 127.0.0.1 --save "" --appendonly no --daemonize no >"$D/redis.log" 2>&1 &
RP=$!
for _ in $(seq 1 100); do redis-cli -p "$RPORT" ping >/dev/null 2>&1 && break; sleep 0.1; done

# bench: prints "set_rps get_rps"
bench() {
	redis-benchmark -p "$RPORT" -c 50 -n "$N" -t set,get --csv 2>/dev/null |
		awk -F'"' '$2=="SET"{s=$4} $2=="GET"{g=$4} END{printf "%.0f %.0f\n", s, g}'
}

# cpu PID: user+system clock ticks of PID
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# measure MODE: prints "set_rps get_rps"
measure() {
	case $1 in
	none) bench ;;
	empty)
		"$D/workload" -empty -w hold >"$D/hold" &
		HP=$!
		for _ in $(seq 1 200); do grep -q attached "$D/hold" 2>/dev/null && break; sleep 0.1; done
		bench
		kill -TERM $HP
		wait $HP || true
		HP=""
		;;
	agent)
		"$D/vigil" run --config "$D/vigil.yaml" 2>"$D/agent.err" &
		VP=$!
		for _ in $(seq 1 200); do curl -sf "http://127.0.0.1:$HPORT/healthz" >/dev/null && break; sleep 0.1; done
		c0=$(cpu $VP)
		t0=$(date +%s.%N)
		bench
		# The agent's own CPU during the benchmark, in % of one core: what it takes from redis on a shared
		# machine (events to read, timers, the HTTP server), apart from the BPF programs' cost in redis's threads.
		awk -v c0="$c0" -v c1="$(cpu $VP)" -v t0="$t0" -v t1="$(date +%s.%N)" -v hz="$(getconf CLK_TCK)" \
			'BEGIN{printf "%.1f\n", 100*(c1-c0)/hz/(t1-t0)}' >>"$D/agentcpu"
		lost=$(curl -sf "http://127.0.0.1:$HPORT/metrics" | awk '/^vigil_events_lost_total\{reason="(ringbuf_full|shed|decode_failed)"/ {l += $2} END {printf "%d", l}')
		echo "$lost" >>"$D/lost"
		kill -TERM $VP
		wait $VP || true
		VP=""
		;;
	esac
}

echo "# load average before: $(cut -d' ' -f1-3 /proc/loadavg); $N requests per test, $ROUNDS rounds"
for r in $(seq 1 "$ROUNDS"); do
	for m in none empty agent; do
		echo "$m $(measure $m)" >>"$D/rounds"
	done
done
echo "# load average after: $(cut -d' ' -f1-3 /proc/loadavg); events lost by the agent per round: $(tr '\n' ' ' <"$D/lost")"
echo "# the agent's CPU during each round's benchmark, % of one core: $(tr '\n' ' ' <"$D/agentcpu")"
median() { sort -n | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}'; }
printf '%-6s %10s %10s %8s %8s %9s %9s\n' mode set_rps get_rps set/none get/none set/empty get/empty
for m in none empty agent; do
	s=$(awk -v m=$m '$1==m{print $2}' "$D/rounds" | median)
	g=$(awk -v m=$m '$1==m{print $3}' "$D/rounds" | median)
	eval "S_$m=$s G_$m=$g"
	printf '%-6s %10s %10s %8s %8s %9s %9s\n' "$m" "$s" "$g" \
		"$(awk -v a="$s" -v b="$S_none" 'BEGIN{printf "%.3f", a/b}')" "$(awk -v a="$g" -v b="$G_none" 'BEGIN{printf "%.3f", a/b}')" \
		"$(awk -v a="$s" -v b="${S_empty:-$s}" 'BEGIN{printf "%.3f", a/b}')" "$(awk -v a="$g" -v b="${G_empty:-$g}" 'BEGIN{printf "%.3f", a/b}')"
done
