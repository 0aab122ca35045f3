package version

import (
	"errors"
	"fmt"
	"strings"
)

// ErrInvalid is matched (errors.Is) by every parse error of this package.
var ErrInvalid = errors.New("invalid version")

// Error is a version that cannot be parsed in its ecosystem.
type Error struct {
	Ecosystem string
	Version   string
	Msg       string
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s version %q: %s", e.Ecosystem, e.Version, e.Msg)
}

// Is reports whether target is ErrInvalid.
func (e *Error) Is(target error) bool { return target == ErrInvalid }

// Ecosystem names, spelled as in OSV records.
const (
	Debian = "Debian"
	Alpine = "Alpine"
	Go     = "Go"
	Npm    = "npm"
	PyPI   = "PyPI"
	SemVer = "SEMVER"
	// CratesIO versions are semver 2.0 (Cargo enforces it).
	CratesIO = "crates.io"
)

// Base returns the ecosystem without its release suffix: "Debian:12" →
// "Debian", "Alpine:v3.19" → "Alpine".
func Base(ecosystem string) string {
	if i := strings.IndexByte(ecosystem, ':'); i >= 0 {
		return ecosystem[:i]
	}
	return ecosystem
}

// Supported reports whether Compare knows the ecosystem's order.
func Supported(ecosystem string) bool {
	switch Base(ecosystem) {
	case Debian, "Ubuntu", Alpine, Go, Npm, PyPI, SemVer, CratesIO, RubyGems, Packagist, Maven:
		return true
	}
	return rpmEcosystems[Base(ecosystem)]
}

// Compare orders a and b in ecosystem (an OSV ecosystem name, optionally with
// a release suffix, or "SEMVER"): it returns -1, 0 or +1.
func Compare(ecosystem, a, b string) (int, error) {
	switch Base(ecosystem) {
	case Debian, "Ubuntu":
		return CompareDebian(a, b)
	case Alpine:
		return CompareAPK(a, b)
	case Go, Npm, SemVer, CratesIO:
		return CompareSemver(a, b)
	case PyPI:
		return ComparePEP440(a, b)
	case RubyGems:
		return CompareGem(a, b)
	case Packagist:
		return CompareComposer(a, b)
	case Maven:
		return CompareMaven(a, b)
	}
	if rpmEcosystems[Base(ecosystem)] {
		return CompareRPM(a, b)
	}
	return 0, fmt.Errorf("compare %q and %q: ecosystem %q: %w", a, b, ecosystem, errors.ErrUnsupported)
}

func sign(n int) int {
	switch {
	case n < 0:
		return -1
	case n > 0:
		return 1
	}
	return 0
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }
func isAlpha(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

// compareDigits compares two runs of ASCII digits numerically without
// converting them (they may exceed 64 bits).
func compareDigits(a, b string) int {
	a = strings.TrimLeft(a, "0")
	b = strings.TrimLeft(b, "0")
	if len(a) != len(b) {
		return sign(len(a) - len(b))
	}
	return sign(strings.Compare(a, b))
}
