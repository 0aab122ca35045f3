package version

import (
	"strings"
)

// Packagist is the OSV ecosystem of Composer (PHP) packages.
const Packagist = "Packagist"

// composerParts canonicalises a Composer version like PHP's
// version_compare after Composer's normalisation: a leading "v" dropped,
// the numeric release padded to four parts (1.2 is 1.2.0.0), "-", "_" and
// "+" and digit/letter boundaries separating parts.
func composerParts(v string) ([]string, error) {
	s := strings.ToLower(strings.TrimSpace(v))
	s = strings.TrimPrefix(s, "v")
	if s == "" || strings.HasPrefix(s, "dev-") {
		return nil, &Error{Packagist, v, "not a release version"}
	}
	var b strings.Builder
	prev := byte('.')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '-' || c == '_' || c == '+' || !isAlnum(c) && c != '.':
			c = '.'
		case (isDigit(prev) && isAlpha(c)) || (isAlpha(prev) && isDigit(c)):
			b.WriteByte('.')
		}
		if c == '.' && prev == '.' {
			continue
		}
		b.WriteByte(c)
		prev = c
	}
	parts := strings.Split(strings.Trim(b.String(), "."), ".")
	release := 0
	for release < len(parts) && isDigitString(parts[release]) {
		release++
	}
	if release == 0 {
		return nil, &Error{Packagist, v, "no numeric release"}
	}
	for ; release < 4; release++ {
		parts = append(parts[:release], append([]string{"0"}, parts[release:]...)...)
	}
	return parts, nil
}

func isDigitString(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return false
		}
	}
	return s != ""
}

// phpForm ranks PHP's special version forms; a number ranks as "#".
func phpForm(s string) int {
	switch s {
	case "dev":
		return 0
	case "alpha", "a":
		return 1
	case "beta", "b":
		return 2
	case "rc", "c":
		return 3
	case "#":
		return 4
	case "pl", "p", "patch":
		return 5
	}
	return -6
}

// CompareComposer orders two Composer versions as version_compare does on
// normalised versions: numbers numerically, dev < alpha < beta < RC <
// release < patch, a missing part counting as a release.
func CompareComposer(a, b string) (int, error) {
	pa, err := composerParts(a)
	if err != nil {
		return 0, err
	}
	pb, err := composerParts(b)
	if err != nil {
		return 0, err
	}
	form := func(s string) int {
		if isDigitString(s) {
			return phpForm("#")
		}
		return phpForm(s)
	}
	for i := 0; i < max(len(pa), len(pb)); i++ {
		switch {
		case i >= len(pa):
			if isDigitString(pb[i]) {
				return -1, nil
			}
			return sign(phpForm("#") - form(pb[i])), nil
		case i >= len(pb):
			if isDigitString(pa[i]) {
				return 1, nil
			}
			return sign(form(pa[i]) - phpForm("#")), nil
		}
		x, y := pa[i], pb[i]
		if isDigitString(x) && isDigitString(y) {
			if c := compareDigits(x, y); c != 0 {
				return c, nil
			}
			continue
		}
		if c := sign(form(x) - form(y)); c != 0 {
			return c, nil
		}
	}
	return 0, nil
}
