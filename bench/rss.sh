#!/bin/bash
# Agent memory benchmark (run as root): the RSS of `vigil run` (default rules) when it starts, then with N more
# live processes (busybox sleep, started while the agent runs, so every one goes through the sensor and the process
# table), and its peak (VmHWM), the ratio of the two (same run: the baseline is the agent with the host's few
# hundred processes), then the resident memory by mapping (the binary's pages, the two ring buffers, mapped once,
# the Go heap). The target is 64 MiB with 10k live processes.
# Usage: bench/rss.sh [N]   (default 10000); RING_MB=8 bench/rss.sh sets the ring size (MiB, default 8)
set -eu
cd "$(dirname "$0")/.."
N=${1:-10000}
command -v busybox >/dev/null || { echo "rss.sh: needs busybox" >&2; exit 1; }
D=$(mktemp -d /tmp/vigil-rss.XXXXXX)
VP=""
SP=""
trap '[ -n "$SP" ] && kill $SP 2>/dev/null; [ -n "$VP" ] && kill $VP 2>/dev/null; rm -rf "$D"' EXIT
go build -o "$D/vigil" ./cmd/vigil
# Written back before the agent starts: the agent drops its binary's start-up pages from the page cache (so that
# they come back by small pages), which it cannot do while they are dirty, as an installed binary's never are.
sync "$D/vigil"
PORT=$((20000 + RANDOM % 20000))
cat >"$D/vigil.yaml" <<CFG
store:
  path: $D/alerts.db
http:
  listen: 127.0.0.1:$PORT
outputs:
  stdout:
    enabled: false
sensor:
  ring_size_mb: ${RING_MB:-8}
CFG
"$D/vigil" run --config "$D/vigil.yaml" 2>"$D/agent.err" &
VP=$!
for _ in $(seq 1 200); do curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null && break; sleep 0.1; done
sleep 2
rss() { awk '/^VmRSS/{r=$2} /^VmHWM/{h=$2} END{printf "%.1f MiB (peak %.1f MiB)", r/1024, h/1024}' /proc/$VP/status; }
rsskb() { awk '/^VmRSS/{print $2}' /proc/$VP/status; }
echo "# load average: $(cut -d' ' -f1-3 /proc/loadavg); processes on the host: $(ls -d /proc/[0-9]* | wc -l)"
echo "agent started:              $(rss)"
R0=$(rsskb)
for _ in $(seq 1 "$N"); do
	busybox sleep 3600 &
	SP="$SP $!"
done
sleep 5
kill -0 $VP 2>/dev/null || { echo "rss.sh: the agent exited:" >&2; tail -20 "$D/agent.err" >&2; exit 1; }
echo "with $N more processes: $(rss); processes on the host: $(ls -d /proc/[0-9]* | wc -l)"
R1=$(rsskb)
awk -v a="$R0" -v b="$R1" -v n="$N" 'BEGIN{printf "ratio with %d more processes / at start (same run): %.2fx (+%.1f MiB, %.0f bytes per process)\n", n, b/a, (b-a)/1024, (b-a)*1024/n}'
curl -sf "http://127.0.0.1:$PORT/metrics" | awk '/^vigil_events_lost_total\{reason="(ringbuf_full|shed|decode_failed)"/ {l += $2}
	/^go_memstats_heap_alloc_bytes/ {h = $2} /^go_memstats_sys_bytes/ {s = $2}
	/^vigil_events_lost_by_type_total\{/ && $2 > 0 {t = t " " $1 "=" $2}
	END {printf "events lost: %d%s; Go heap allocated %.1f MiB, obtained from the OS %.1f MiB\n", l, t, h/1048576, s/1048576}'
if [ -n "$SP" ]; then # an empty list would make wait wait for the agent too
	kill $SP 2>/dev/null || true
	wait $SP 2>/dev/null || true
fi
SP=""
awk '/^[0-9a-f]+-[0-9a-f]+ /{name=$6} /^Rss:/{r[name]+=$2} END{for(n in r) if (r[n]>4096) printf "  %6.1f MiB  %s\n", r[n]/1024, (n==""?"[anonymous: Go heap and stacks]":n)}' /proc/$VP/smaps | sort -rn
# The binary's mappings one by one (text, rodata with pclntab, data), with their sizes.
awk -v exe="$D/vigil" '/^[0-9a-f]+-[0-9a-f]+ /{cur=($6==exe); perm=$2} cur && /^Size:/{sz=$2}
	cur && /^Rss:/{printf "    binary %s mapping of %.1f MiB: %.1f MiB resident\n", perm, sz/1024, $2/1024}' /proc/$VP/smaps
kill -TERM $VP
wait $VP || true
VP=""
