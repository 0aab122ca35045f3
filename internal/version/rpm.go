package version

import "strings"

// RPM is the version order of the RPM-based OSV ecosystems ("Red Hat",
// "Rocky Linux", "AlmaLinux", "openSUSE", "SUSE", "Azure Linux"):
// [epoch:]version[-release], each part compared with rpmvercmp.
const RPM = "RPM"

// rpmEcosystems are the OSV ecosystems whose versions are RPM EVRs.
var rpmEcosystems = map[string]bool{"Red Hat": true, "Rocky Linux": true, "AlmaLinux": true, "openSUSE": true,
	"SUSE": true, "Azure Linux": true, "Mageia": true, "openEuler": true, RPM: true}

// CompareRPM orders two RPM [epoch:]version[-release] strings: epochs
// numerically (missing is 0), then versions, then releases with rpm's
// rpmvercmp (a release missing on either side is not compared, as rpm
// does for a version-only dependency).
func CompareRPM(a, b string) (int, error) {
	ea, va, ra, err := splitEVR(a)
	if err != nil {
		return 0, err
	}
	eb, vb, rb, err := splitEVR(b)
	if err != nil {
		return 0, err
	}
	if c := compareDigits(ea, eb); c != 0 {
		return c, nil
	}
	if c := rpmvercmp(va, vb); c != 0 {
		return c, nil
	}
	if ra == "" || rb == "" {
		return 0, nil
	}
	return rpmvercmp(ra, rb), nil
}

func splitEVR(s string) (epoch, ver, rel string, err error) {
	v := strings.TrimSpace(s)
	if v == "" {
		return "", "", "", &Error{RPM, s, "empty"}
	}
	epoch = "0"
	if i := strings.IndexByte(v, ':'); i >= 0 {
		epoch, v = v[:i], v[i+1:]
		if epoch == "" {
			epoch = "0"
		}
		for j := 0; j < len(epoch); j++ {
			if !isDigit(epoch[j]) {
				return "", "", "", &Error{RPM, s, "epoch is not a number"}
			}
		}
	}
	if i := strings.LastIndexByte(v, '-'); i >= 0 {
		v, rel = v[:i], v[i+1:]
	}
	if v == "" {
		return "", "", "", &Error{RPM, s, "empty version"}
	}
	return epoch, v, rel, nil
}

func isAlnum(c byte) bool { return isDigit(c) || isAlpha(c) }

// rpmvercmp is rpm's segment comparison (rpmio/rpmvercmp.c): runs of
// digits compare numerically and beat runs of letters; other characters
// separate; "~" sorts before anything, even the end; "^" sorts after the
// end but before anything else.
func rpmvercmp(a, b string) int {
	if a == b {
		return 0
	}
	for len(a) > 0 || len(b) > 0 {
		for len(a) > 0 && !isAlnum(a[0]) && a[0] != '~' && a[0] != '^' {
			a = a[1:]
		}
		for len(b) > 0 && !isAlnum(b[0]) && b[0] != '~' && b[0] != '^' {
			b = b[1:]
		}
		if (len(a) > 0 && a[0] == '~') || (len(b) > 0 && b[0] == '~') {
			if len(a) == 0 || a[0] != '~' {
				return 1
			}
			if len(b) == 0 || b[0] != '~' {
				return -1
			}
			a, b = a[1:], b[1:]
			continue
		}
		if (len(a) > 0 && a[0] == '^') || (len(b) > 0 && b[0] == '^') {
			if len(a) == 0 {
				return -1
			}
			if len(b) == 0 {
				return 1
			}
			if a[0] != '^' {
				return 1
			}
			if b[0] != '^' {
				return -1
			}
			a, b = a[1:], b[1:]
			continue
		}
		if len(a) == 0 || len(b) == 0 {
			break
		}
		isnum := isDigit(a[0])
		take := func(s string) (string, string) {
			i := 0
			for i < len(s) && (isnum && isDigit(s[i]) || !isnum && isAlpha(s[i])) {
				i++
			}
			return s[:i], s[i:]
		}
		var sa, sb string
		sa, a = take(a)
		sb, b = take(b)
		if sb == "" {
			// Different kinds of segment: a number is newer than letters.
			if isnum {
				return 1
			}
			return -1
		}
		var c int
		if isnum {
			c = compareDigits(sa, sb)
		} else {
			c = sign(strings.Compare(sa, sb))
		}
		if c != 0 {
			return c
		}
	}
	switch {
	case len(a) == 0 && len(b) == 0:
		return 0
	case len(a) > 0:
		return 1
	}
	return -1
}
