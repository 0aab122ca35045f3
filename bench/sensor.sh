#!/bin/sh
# Sensor overhead benchmark (run as root): three workloads, each
#   bare      no BPF
#   empty     empty BPF programs on the sensor's tracepoints (the floor of any eBPF sensor)
#   trace     vigil trace --json --no-enrich consuming every event of the workload (to /dev/null)
#   trace+st  the same with the process/fd (internal/state) and container (internal/container) enrichment
# and prints wall time and the workload's CPU time (user+sys, steadier on a shared machine; BPF runs in sys time),
# their ratios to bare, the events/s the tracer consumed and the events lost.
# Usage: bench/sensor.sh [open_n exec_n connect_n]   (defaults 1000000 5000 50000; 0 skips a workload)
# The machine may be shared: figures are noisy, run it when it is quiet.
set -eu
cd "$(dirname "$0")/.."
OPEN_N=${1:-1000000}
EXEC_N=${2:-5000}
CONN_N=${3:-50000}
D=$(mktemp -d /tmp/vigil-bench.XXXXXX)
trap 'rm -rf "$D"' EXIT
go build -o "$D/vigil" ./cmd/vigil
go build -o "$D/workload" ./bench/workload

# run MODE WORKLOAD N: prints "seconds cpu_seconds events lost"
run() {
	mode=$1 w=$2 n=$3
	: >"$D/out"
	case $mode in
	bare) "$D/workload" -w "$w" -n "$n" -o "$D/out" ;;
	empty) "$D/workload" -w "$w" -n "$n" -empty -o "$D/out" ;;
	trace) "$D/vigil" trace --json --no-enrich -- "$D/workload" -w "$w" -n "$n" -o "$D/out" >/dev/null 2>"$D/err" ;;
	trace+st) "$D/vigil" trace --json -- "$D/workload" -w "$w" -n "$n" -o "$D/out" >/dev/null 2>"$D/err" ;;
	esac
	secs=$(awk '{print $3, $4}' "$D/out")
	if [ "$mode" = trace ] || [ "$mode" = trace+st ]; then
		ev=$(sed -n 's/^vigil trace: \([0-9]*\) events, \([0-9]*\) lost.*/\1 \2/p' "$D/err")
	else
		ev="- -"
	fi
	echo "$secs $ev"
}

printf '%-8s %-9s %9s %7s %9s %7s %12s %9s\n' workload mode wall ratio cpu ratio events/s lost
for spec in "open $OPEN_N" "exec $EXEC_N" "connect $CONN_N"; do
	set -- $spec
	w=$1 n=$2
	[ "$n" -gt 0 ] || continue
	base=""
	for mode in bare empty trace trace+st; do
		set -- $(run "$mode" "$w" "$n")
		secs=$1 cpu=$2 ev=$3 lost=$4
		[ -z "$base" ] && base=$secs && cbase=$cpu
		ratio=$(awk -v a="$secs" -v b="$base" 'BEGIN{printf "%.2f", a/b}')
		cratio=$(awk -v a="$cpu" -v b="$cbase" 'BEGIN{printf "%.2f", a/b}')
		rate="-"
		[ "$ev" != "-" ] && rate=$(awk -v e="$ev" -v s="$secs" 'BEGIN{printf "%.0f", e/s}')
		printf '%-8s %-9s %9s %7s %9s %7s %12s %9s\n' "$w" "$mode" "$secs" "$ratio" "$cpu" "$cratio" "$rate" "$lost"
	done
done
