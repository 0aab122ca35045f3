#!/bin/bash
# Sensor overhead benchmark (run as root): four workloads (bench/workload: open+close loop, fork+exec loop,
# loopback connect loop, and the three at once on every core), each run
#   bare      no BPF
#   empty     empty BPF programs on the sensor's tracepoints (the floor of any eBPF sensor)
#   trace     vigil trace --json --no-enrich consuming every event of the workload (to /dev/null)
#   trace+st  the same with the process/fd (internal/state) and container (internal/container) enrichment
#   run       vigil run with its default rules (the agent: in-kernel interest and open filter, enrichment,
#             rules, alerts to a file), started before the workload and drained after it
# and prints wall time and the workload's CPU time (user+sys, steadier on a shared machine; BPF runs in sys time),
# their ratios to bare and to empty, the events/s the consumer took and the events lost. For run, events and lost
# are the agent's counters over the run (every process of the host, not just the workload).
# Usage: bench/sensor.sh [open_n exec_n connect_n mixed_n]   (defaults 1000000 5000 50000 200000; 0 skips one)
#        MODES="bare empty run" bench/sensor.sh ...          (a subset of modes; bare comes first for the ratios)
#        RING_MB=8 bench/sensor.sh ...                        (the ring size of run, MiB; default 8)
# The machine may be shared: figures are noisy; the load average is printed with each workload.
set -eu
cd "$(dirname "$0")/.."
OPEN_N=${1:-1000000}
EXEC_N=${2:-5000}
CONN_N=${3:-50000}
MIX_N=${4:-200000}
MODES=${MODES:-bare empty trace trace+st run}
D=$(mktemp -d /tmp/vigil-bench.XXXXXX)
VP=""
trap '[ -n "$VP" ] && kill $VP 2>/dev/null; rm -rf "$D"' EXIT
go build -o "$D/vigil" ./cmd/vigil
go build -o "$D/workload" ./bench/workload
PORT=$((20000 + RANDOM % 20000))
cat >"$D/vigil.yaml" <<CFG
store:
  path: $D/alerts.db
http:
  listen: 127.0.0.1:$PORT
outputs:
  stdout:
    enabled: false
  file:
    enabled: true
    path: $D/alerts.json
sensor:
  ring_size_mb: ${RING_MB:-8}
CFG

# counters: "events lost" of the running agent.
counters() {
	curl -sf "http://127.0.0.1:$PORT/metrics" | awk '
		/^vigil_events_total\{/ {e += $2}
		/^vigil_events_lost_total\{reason="(ringbuf_full|shed|decode_failed)"/ {l += $2}
		END {printf "%d %d\n", e, l}'
}

# run MODE WORKLOAD N: prints "seconds cpu_seconds events lost"
run() {
	mode=$1 w=$2 n=$3
	: >"$D/out"
	case $mode in
	bare) "$D/workload" -w "$w" -n "$n" -o "$D/out" ;;
	empty) "$D/workload" -w "$w" -n "$n" -empty -o "$D/out" ;;
	trace) "$D/vigil" trace --json --no-enrich -- "$D/workload" -w "$w" -n "$n" -o "$D/out" >/dev/null 2>"$D/err" ;;
	trace+st) "$D/vigil" trace --json -- "$D/workload" -w "$w" -n "$n" -o "$D/out" >/dev/null 2>"$D/err" ;;
	run)
		rm -f "$D/alerts.db"*
		"$D/vigil" run --config "$D/vigil.yaml" 2>"$D/agent.err" &
		VP=$!
		for _ in $(seq 1 200); do curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null && break; sleep 0.1; done
		set -- $(counters)
		e0=$1 l0=$2
		"$D/workload" -w "$w" -n "$n" -o "$D/out"
		# Drained when the event count stops moving.
		prev=-1
		for _ in $(seq 1 100); do
			set -- $(counters)
			[ "$1" = "$prev" ] && break
			prev=$1
			sleep 0.3
		done
		sleep 1.2 # the loss counters are snapshotted every second
		set -- $(counters)
		kill -TERM $VP
		wait $VP || true
		VP=""
		;;
	esac
	secs=$(awk '{print $3, $4}' "$D/out")
	case $mode in
	trace | trace+st) ev=$(sed -n 's/^\(note: \)\{0,1\}vigil trace: \([0-9]*\) events, \([0-9]*\) lost.*/\2 \3/p' "$D/err") ;;
	run) ev="$(($1 - e0)) $(($2 - l0))" ;;
	*) ev="- -" ;;
	esac
	echo "$secs $ev"
}

printf '%-8s %-9s %9s %7s %8s %9s %7s %8s %12s %9s\n' workload mode wall ratio /empty cpu ratio /empty events/s lost
for spec in "open $OPEN_N" "exec $EXEC_N" "connect $CONN_N" "mixed $MIX_N"; do
	set -- $spec
	w=$1 n=$2
	[ "$n" -gt 0 ] || continue
	echo "# $w n=$n, load average: $(cut -d' ' -f1-3 /proc/loadavg)"
	base="" ebase="" ecbase=""
	for mode in $MODES; do
		set -- $(run "$mode" "$w" "$n")
		secs=$1 cpu=$2 ev=$3 lost=$4
		[ -z "$base" ] && base=$secs && cbase=$cpu
		[ "$mode" = empty ] && ebase=$secs && ecbase=$cpu
		ratio=$(awk -v a="$secs" -v b="$base" 'BEGIN{printf "%.2f", a/b}')
		cratio=$(awk -v a="$cpu" -v b="$cbase" 'BEGIN{printf "%.2f", a/b}')
		eratio=- ecratio=-
		[ -n "$ebase" ] && eratio=$(awk -v a="$secs" -v b="$ebase" 'BEGIN{printf "%.2f", a/b}') &&
			ecratio=$(awk -v a="$cpu" -v b="$ecbase" 'BEGIN{printf "%.2f", a/b}')
		rate="-"
		[ "$ev" != "-" ] && rate=$(awk -v e="$ev" -v s="$secs" 'BEGIN{printf "%.0f", e/s}')
		printf '%-8s %-9s %9s %7s %8s %9s %7s %8s %12s %9s\n' "$w" "$mode" "$secs" "$ratio" "$eratio" "$cpu" "$cratio" "$ecratio" "$rate" "$lost"
	done
done
