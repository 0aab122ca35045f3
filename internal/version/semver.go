package version

import "strings"

type semver struct {
	major, minor, patch string
	pre                 string
}

// parseSemver parses a semantic version, tolerating a leading "v" (Go) and
// a missing minor or patch (Go toolchain versions such as "1.21").
func parseSemver(v string) (semver, error) {
	s := strings.TrimSpace(v)
	s = strings.TrimPrefix(s, "v")
	s = strings.TrimPrefix(s, "go")
	if i := strings.IndexByte(s, '+'); i >= 0 {
		s = s[:i]
	}
	var sv semver
	if i := strings.IndexByte(s, '-'); i >= 0 {
		sv.pre = s[i+1:]
		s = s[:i]
		if sv.pre == "" {
			return sv, &Error{SemVer, v, "empty pre-release"}
		}
		for _, id := range strings.Split(sv.pre, ".") {
			if id == "" {
				return sv, &Error{SemVer, v, "empty pre-release identifier"}
			}
		}
	}
	parts := strings.Split(s, ".")
	if len(parts) > 3 || s == "" {
		return sv, &Error{SemVer, v, "want MAJOR.MINOR.PATCH"}
	}
	for _, p := range parts {
		if p == "" {
			return sv, &Error{SemVer, v, "empty number"}
		}
		for j := 0; j < len(p); j++ {
			if !isDigit(p[j]) {
				return sv, &Error{SemVer, v, "non-numeric part " + p}
			}
		}
	}
	sv.major = parts[0]
	sv.minor, sv.patch = "0", "0"
	if len(parts) > 1 {
		sv.minor = parts[1]
	}
	if len(parts) > 2 {
		sv.patch = parts[2]
	}
	return sv, nil
}

// CompareSemver orders two semantic versions (SemVer 2.0.0 precedence; the
// build metadata is ignored, a leading "v" is allowed).
func CompareSemver(a, b string) (int, error) {
	va, err := parseSemver(a)
	if err != nil {
		return 0, err
	}
	vb, err := parseSemver(b)
	if err != nil {
		return 0, err
	}
	if c := compareDigits(va.major, vb.major); c != 0 {
		return c, nil
	}
	if c := compareDigits(va.minor, vb.minor); c != 0 {
		return c, nil
	}
	if c := compareDigits(va.patch, vb.patch); c != 0 {
		return c, nil
	}
	return comparePrerelease(va.pre, vb.pre), nil
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return false
		}
	}
	return s != ""
}

func comparePrerelease(a, b string) int {
	switch {
	case a == b:
		return 0
	case a == "":
		return 1
	case b == "":
		return -1
	}
	for {
		var x, y string
		x, a, _ = strings.Cut(a, ".")
		y, b, _ = strings.Cut(b, ".")
		if x == "" && y == "" {
			return 0
		}
		if x == "" {
			return -1
		}
		if y == "" {
			return 1
		}
		dx, dy := allDigits(x), allDigits(y)
		var c int
		switch {
		case dx && dy:
			c = compareDigits(x, y)
		case dx:
			c = -1
		case dy:
			c = 1
		default:
			c = sign(strings.Compare(x, y))
		}
		if c != 0 {
			return c
		}
	}
}
