// Package buildinfo says what this binary is: its release version, the
// commit and date it was built from, the Go toolchain, and the SHA-256 of
// every BPF object embedded in it.
//
// Version, Commit and Date are set at link time by deploy/build.sh
// (-ldflags "-X github.com/vigilsec/vigil/internal/buildinfo.Version=...").
// A plain `go build` leaves them at "dev"/"unknown"; Commit then falls back
// to the VCS revision Go stamped into the binary, if any. Date is the
// commit's date, never the wall clock, so that two builds of one commit
// give identical bytes (see docs/deploy.md, Reproducible builds).
//
// The package holds no state beyond those three link-time strings; callers
// pass the embedded objects they own (sensor.Objects, enforce.Objects).
package buildinfo
