#!/usr/bin/env bash
# deploy/build.sh OUT: builds the release binary of vigil at OUT: static (CGO_ENABLED=0), stripped,
# reproducible: -trimpath, no build id, and the version, commit and date taken from git (the commit's
# date, never the clock), so that the same commit gives the same bytes in any directory.
# VIGIL_VERSION, VIGIL_COMMIT and VIGIL_DATE override what git says (a source tree without .git).
set -euo pipefail
out=${1:?usage: deploy/build.sh OUT}
cd "$(dirname "$0")/.."
gitv() { git "$@" 2>/dev/null || true; }
version=${VIGIL_VERSION:-$(gitv describe --tags --always --dirty)}
commit=${VIGIL_COMMIT:-$(gitv rev-parse HEAD)}
date=${VIGIL_DATE:-$(TZ=UTC gitv log -1 --date=format-local:%Y-%m-%dT%H:%M:%SZ --format=%cd)}
pkg=github.com/vigilsec/vigil/internal/buildinfo
CGO_ENABLED=0 GOOS=linux GOARCH=amd64 GOFLAGS= go build -trimpath -buildvcs=false \
  -ldflags "-s -w -buildid= -X $pkg.Version=${version:-dev} -X $pkg.Commit=${commit:-unknown} -X $pkg.Date=${date:-unknown}" \
  -o "$out" ./cmd/vigil
