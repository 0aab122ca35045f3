#!/bin/sh
# Image integrity figures (issue 7):
#  - SBOM of a ~200 MB root filesystem of 100 real Debian packages (copied
#    from the host by their dpkg file lists), against reading every byte of
#    the tree once (x-read-all);
#  - scan of ~100 real Debian packages against a generated database of 100k
#    OSV records, against decoding every record once (x-decode-all); the
#    import time of the 100k-record zip is reported as ms-import.
# Needs a Debian host (/var/lib/dpkg/status). Takes about two minutes.
set -eu
cd "$(dirname "$0")/.."
go test ./internal/sbom -run '^$' -bench BenchmarkCatalogRootFS -benchtime 3x -benchmem
go test ./internal/vuln -run '^$' -bench BenchmarkScan100k -benchtime 1x -benchmem
