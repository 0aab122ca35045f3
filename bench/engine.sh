#!/usr/bin/env bash
# Rules engine speed, before and after a change, in one run: BenchmarkEngineFalco (internal/engine: Falco's
# stable rules and Vigil's defaults over a mixed stream where nearly no event matches; events per CPU second
# of the evaluating thread, allocations per event) built at BASE (a git revision, default the parent of HEAD)
# and at the working tree, run ROUNDS times each, alternating, so both see the same load. Prints each run,
# the mean of each side and the ratio new/base, with the machine's load.
# Usage: bench/engine.sh [BASE=HEAD~1] [ROUNDS=5] [EVENTS=1000000]
set -euo pipefail
cd "$(dirname "$0")/.."
BASE=${1:-HEAD~1}
ROUNDS=${2:-5}
EVENTS=${3:-1000000}
D=$(mktemp -d /tmp/vigil-engine-bench.XXXXXX)
trap 'git worktree remove --force "$D/base" >/dev/null 2>&1 || true; rm -rf "$D"' EXIT
git worktree add --detach "$D/base" "$BASE" >/dev/null 2>&1
(cd "$D/base" && go test -c -o "$D/base.test" ./internal/engine/)
go test -c -o "$D/new.test" ./internal/engine/
echo "base: $(git rev-parse --short "$BASE")  new: working tree  load: $(cut -d' ' -f1-3 /proc/loadavg)"
cd internal/engine # the benchmark reads ../shared by its path relative to the repository
run() { "$D/$1.test" -test.run '^$' -test.bench 'EngineFalco$' -test.benchtime "${EVENTS}x" | awk -v s="$1" '/^BenchmarkEngineFalco/ {
	for (i = 1; i <= NF; i++) { if ($(i+1) == "events/cpu-s") r = $i; if ($(i+1) == "allocs/op") a = $i }
	printf "%-4s %10.0f events/cpu-s %s allocs/event\n", s, r, a }'; }
for i in $(seq "$ROUNDS"); do
	if [ $((i % 2)) = 1 ]; then run base; run new; else run new; run base; fi
done | tee "$D/runs"
awk '{ s[$1] += $2; n[$1]++ } END {
	b = s["base"] / n["base"]; w = s["new"] / n["new"]
	printf "mean: base %.0f, new %.0f events/cpu-s; new/base %.2fx\n", b, w, w / b }' "$D/runs"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
