#!/bin/bash
# Agent soak (run as root): `vigil run` with its default rules under a busy workload
# (open+close loop, fork+exec loop, reads of /etc/shadow that fire a rule) for DURATION
# seconds. Every 30 s it prints the agent's RSS, the events it evaluated and the events the
# sensor lost (any reason), then stops the agent with SIGTERM.
# Usage: bench/soak.sh [DURATION_SECONDS]   (default 600)
set -eu
cd "$(dirname "$0")/.."
DURATION=${1:-600}
D=$(mktemp -d /tmp/vigil-soak.XXXXXX)
trap 'kill $WP $VP 2>/dev/null || true; rm -rf "$D"' EXIT
go build -o "$D/vigil" ./cmd/vigil
go build -o "$D/workload" ./bench/workload
PORT=$((20000 + RANDOM % 20000))
cat >"$D/vigil.yaml" <<CFG
store:
  path: $D/alerts.db
http:
  listen: 127.0.0.1:$PORT
CFG
"$D/vigil" run --config "$D/vigil.yaml" >"$D/alerts.txt" 2>"$D/agent.err" &
VP=$!
for _ in $(seq 1 100); do curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null && break; sleep 0.2; done
END=$((SECONDS + DURATION))
(while [ $SECONDS -lt $END ]; do
	"$D/workload" -w open -n 200000 -o /dev/null
	"$D/workload" -w exec -n 300 -o /dev/null
	for _ in $(seq 20); do cat /etc/shadow >/dev/null; done
done) &
WP=$!
echo "t_s rss_kib events lost alerts"
T0=$SECONDS
while [ $SECONDS -lt $END ]; do
	m=$(curl -sf "http://127.0.0.1:$PORT/metrics")
	ev=$(echo "$m" | awk '/^vigil_events_total/{s+=$2} END{printf "%d", s}')
	lost=$(echo "$m" | awk '/^vigil_events_lost_total/{s+=$2} END{printf "%d", s}')
	echo "$((SECONDS - T0)) $(awk '/VmRSS/{print $2}' /proc/$VP/status) $ev $lost $(wc -l <"$D/alerts.txt")"
	sleep 30
done
kill $WP 2>/dev/null || true
wait $WP 2>/dev/null || true
kill -TERM $VP
wait $VP && echo "agent stopped cleanly" || echo "agent exit status $?"
tail -1 "$D/agent.err"
