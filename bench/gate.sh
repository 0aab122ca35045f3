#!/bin/bash
# Exec gate at scale (run as root): N new containerd containers (N/2 whose first command is
# `cat /etc/shadow`, N/2 `nc` to a denied loopback port), then M Docker and M runc (M/2 of each),
# all through the exec gate with a real container manager; prints blocked/leaked counts and
# the time from each container's first exec to its policy in force (mean, max), and the
# first-exec latency benchmark (gated vs. ungated in the same run). Holds the shared
# enforcement lock.
# Usage: bench/gate.sh [N] [M]   (default 100 and 20)
set -eu
cd "$(dirname "$0")/.."
N=${1:-100}
M=${2:-20}
uptime
exec flock -w 1200 /tmp/vigil-priv.lock sh -c "
VIGIL_GATE_CONTAINERS=$((N / 2)) VIGIL_GATE_OTHERS=$((M / 2)) go test -count=1 -run 'TestGateNewContainers' -v ./internal/enforce/ | grep -E 'gate_test|^(ok|FAIL|---)'
go test -count=1 -run '^\$' -bench 'GateFirstExec' -benchtime 1x ./internal/enforce/ | grep -E 'Benchmark|^(ok|FAIL)'
uptime"
