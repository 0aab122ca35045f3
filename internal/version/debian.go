package version

import "strings"

// debVersion is a parsed Debian version: [epoch:]upstream[-revision].
type debVersion struct {
	epoch    string
	upstream string
	revision string
}

func parseDebian(v string) (debVersion, error) {
	s := strings.TrimSpace(v)
	if s == "" {
		return debVersion{}, &Error{Debian, v, "empty"}
	}
	var d debVersion
	if i := strings.IndexByte(s, ':'); i >= 0 {
		d.epoch = s[:i]
		s = s[i+1:]
		if d.epoch == "" {
			return d, &Error{Debian, v, "empty epoch"}
		}
		for j := 0; j < len(d.epoch); j++ {
			if !isDigit(d.epoch[j]) {
				return d, &Error{Debian, v, "epoch is not a number"}
			}
		}
	}
	if i := strings.LastIndexByte(s, '-'); i >= 0 {
		d.revision = s[i+1:]
		s = s[:i]
	}
	if s == "" {
		return d, &Error{Debian, v, "empty upstream version"}
	}
	if !isDigit(s[0]) {
		// dpkg warns but accepts; we accept as well (OSV has such records).
	}
	for j := 0; j < len(s); j++ {
		c := s[j]
		if !(isDigit(c) || isAlpha(c) || strings.IndexByte(".+~-:", c) >= 0) {
			return d, &Error{Debian, v, "invalid character in upstream version"}
		}
	}
	d.upstream = s
	return d, nil
}

// CompareDebian orders two Debian package versions as dpkg does.
func CompareDebian(a, b string) (int, error) {
	va, err := parseDebian(a)
	if err != nil {
		return 0, err
	}
	vb, err := parseDebian(b)
	if err != nil {
		return 0, err
	}
	if c := compareDigits(va.epoch, vb.epoch); c != 0 {
		return c, nil
	}
	if c := verrevcmp(va.upstream, vb.upstream); c != 0 {
		return c, nil
	}
	return verrevcmp(va.revision, vb.revision), nil
}

// debOrder is dpkg's order of a non-digit character: '~' sorts before
// everything, even the end of the string; letters sort before other
// characters.
func debOrder(c int) int {
	switch {
	case c == 0:
		return 0
	case c == '~':
		return -1
	case isAlpha(byte(c)):
		return c
	default:
		return c + 256
	}
}

// verrevcmp is dpkg's comparison of an upstream version or a revision.
func verrevcmp(a, b string) int {
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		for (i < len(a) && !isDigit(a[i])) || (j < len(b) && !isDigit(b[j])) {
			ac, bc := 0, 0
			if i < len(a) && !isDigit(a[i]) {
				ac = debOrder(int(a[i]))
			}
			if j < len(b) && !isDigit(b[j]) {
				bc = debOrder(int(b[j]))
			}
			if ac != bc {
				return sign(ac - bc)
			}
			if i < len(a) && !isDigit(a[i]) {
				i++
			}
			if j < len(b) && !isDigit(b[j]) {
				j++
			}
		}
		si := i
		for i < len(a) && isDigit(a[i]) {
			i++
		}
		sj := j
		for j < len(b) && isDigit(b[j]) {
			j++
		}
		if c := compareDigits(a[si:i], b[sj:j]); c != 0 {
			return c
		}
	}
	return 0
}
