package version

import (
	"strings"
)

// RubyGems is the OSV ecosystem of Ruby gems.
const RubyGems = "RubyGems"

// gemSegment is a number or a string segment of a gem version.
type gemSegment struct {
	num   string // digits, when isNum
	str   string
	isNum bool
}

// parseGem splits a gem version as Gem::Version does: "-" means ".pre.",
// runs of digits and of letters are segments; trailing zeros of the release
// part and of the pre-release part are dropped (canonical segments).
func parseGem(v string) ([]gemSegment, error) {
	s := strings.TrimSpace(v)
	if s == "" {
		return nil, &Error{RubyGems, v, "empty"}
	}
	s = strings.ReplaceAll(s, "-", ".pre.")
	var segs []gemSegment
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case isDigit(c):
			j := i
			for j < len(s) && isDigit(s[j]) {
				j++
			}
			n := strings.TrimLeft(s[i:j], "0")
			if n == "" {
				n = "0"
			}
			segs = append(segs, gemSegment{num: n, isNum: true})
			i = j
		case isAlpha(c):
			j := i
			for j < len(s) && isAlpha(s[j]) {
				j++
			}
			segs = append(segs, gemSegment{str: s[i:j]})
			i = j
		case c == '.':
			i++
		default:
			return nil, &Error{RubyGems, v, "unexpected character " + string(c)}
		}
	}
	// Canonical: drop trailing zeros of the release part and of the rest.
	split := len(segs)
	for i, sg := range segs {
		if !sg.isNum {
			split = i
			break
		}
	}
	trim := func(p []gemSegment) []gemSegment {
		for len(p) > 0 && p[len(p)-1].isNum && p[len(p)-1].num == "0" {
			p = p[:len(p)-1]
		}
		return p
	}
	rel, pre := trim(append([]gemSegment(nil), segs[:split]...)), trim(append([]gemSegment(nil), segs[split:]...))
	return append(rel, pre...), nil
}

// CompareGem orders two RubyGems versions like Gem::Version#<=>: segment by
// segment, a missing segment counting as 0, a string segment (a
// pre-release) before any number.
func CompareGem(a, b string) (int, error) {
	sa, err := parseGem(a)
	if err != nil {
		return 0, err
	}
	sb, err := parseGem(b)
	if err != nil {
		return 0, err
	}
	zero := gemSegment{num: "0", isNum: true}
	for i := 0; i < max(len(sa), len(sb)); i++ {
		x, y := zero, zero
		if i < len(sa) {
			x = sa[i]
		}
		if i < len(sb) {
			y = sb[i]
		}
		switch {
		case x.isNum && y.isNum:
			if c := compareDigits(x.num, y.num); c != 0 {
				return c, nil
			}
		case !x.isNum && y.isNum:
			return -1, nil
		case x.isNum && !y.isNum:
			return 1, nil
		default:
			if c := sign(strings.Compare(x.str, y.str)); c != 0 {
				return c, nil
			}
		}
	}
	return 0, nil
}
