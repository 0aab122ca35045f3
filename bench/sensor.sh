#!/bin/sh
# Sensor overhead benchmark (run as root): three workloads, each
#   bare      no BPF
#   empty     empty BPF programs on the sensor's tracepoints (the floor of any eBPF sensor)
#   trace     vigil trace --json --no-enrich consuming every event of the workload (to /dev/null)
#   trace+st  the same with the process/fd enrichment (internal/state)
# and prints wall time, the ratio to bare, the events/s the tracer consumed and the events lost.
# Usage: bench/sensor.sh [open_n exec_n connect_n]   (defaults 1000000 5000 50000)
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

# run MODE WORKLOAD N: prints "seconds events lost"
run() {
	mode=$1 w=$2 n=$3
	: >"$D/out"
	case $mode in
	bare) "$D/workload" -w "$w" -n "$n" -o "$D/out" ;;
	empty) "$D/workload" -w "$w" -n "$n" -empty -o "$D/out" ;;
	trace) "$D/vigil" trace --json --no-enrich -- "$D/workload" -w "$w" -n "$n" -o "$D/out" >/dev/null 2>"$D/err" ;;
	trace+st) "$D/vigil" trace --json -- "$D/workload" -w "$w" -n "$n" -o "$D/out" >/dev/null 2>"$D/err" ;;
	esac
	secs=$(awk '{print $3}' "$D/out")
	if [ "$mode" = trace ] || [ "$mode" = trace+st ]; then
		ev=$(sed -n 's/^vigil trace: \([0-9]*\) events, \([0-9]*\) lost.*/\1 \2/p' "$D/err")
	else
		ev="- -"
	fi
	echo "$secs $ev"
}

printf '%-8s %-9s %9s %7s %12s %9s\n' workload mode seconds ratio events/s lost
for spec in "open $OPEN_N" "exec $EXEC_N" "connect $CONN_N"; do
	set -- $spec
	w=$1 n=$2
	base=""
	for mode in bare empty trace trace+st; do
		set -- $(run "$mode" "$w" "$n")
		secs=$1 ev=$2 lost=$3
		[ -z "$base" ] && base=$secs
		ratio=$(awk -v a="$secs" -v b="$base" 'BEGIN{printf "%.2f", a/b}')
		rate="-"
		[ "$ev" != "-" ] && rate=$(awk -v e="$ev" -v s="$secs" 'BEGIN{printf "%.0f", e/s}')
		printf '%-8s %-9s %9s %7s %12s %9s\n' "$w" "$mode" "$secs" "$ratio" "$rate" "$lost"
	done
done
