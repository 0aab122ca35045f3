#!/bin/sh
# Re-records the rule captures (rules/testdata/captures/<slug>/{fire,benign}.jsonl)
# and the benign corpus (rules/testdata/benign/corpus.jsonl.gz, slug benign-corpus; needs dockerd and logrotate)
# from the real actions listed in rules/record_test.go (scenarios). Needs root,
# the eBPF sensor and containerd (internal/containertest starts one if none runs).
#   rules/testdata/record.sh                 # everything
#   rules/testdata/record.sh 'ptrace|memfd'  # only matching slugs
# VIGIL_BIN=/path/to/vigil skips building cmd/vigil.
set -eu
cd "$(dirname "$0")/.."
exec go test . -count=1 -run 'TestRecord$|TestRecordBenign$' -record -record-only "${1:-.}" -v -timeout 20m
