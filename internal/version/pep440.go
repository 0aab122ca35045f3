package version

import (
	"regexp"
	"strings"
)

// pep440RE is the permissive PEP 440 pattern of the packaging project's
// specification (appendix "Parsing version strings with regular
// expressions"), written for this package.
var pep440RE = regexp.MustCompile(`^v?(?:(\d+)!)?(\d+(?:\.\d+)*)` +
	`(?:[-_.]?(a|b|c|rc|alpha|beta|pre|preview)[-_.]?(\d+)?)?` +
	`(?:-(\d+)|[-_.]?(post|rev|r)[-_.]?(\d+)?)?` +
	`(?:[-_.]?(dev)[-_.]?(\d+)?)?` +
	`(?:\+([a-z0-9]+(?:[-_.][a-z0-9]+)*))?$`)

type pep440 struct {
	epoch   string
	release []string
	// pre: phase 0 none(+inf handled by flags), a=1, b=2, rc=3
	preKind  int
	preNum   string
	hasPost  bool
	postNum  string
	hasDev   bool
	devNum   string
	local    []string
	hasLocal bool
}

func parsePEP440(v string) (pep440, error) {
	s := strings.ToLower(strings.TrimSpace(v))
	m := pep440RE.FindStringSubmatch(s)
	if m == nil {
		return pep440{}, &Error{PyPI, v, "not a PEP 440 version"}
	}
	var p pep440
	p.epoch = m[1]
	p.release = strings.Split(m[2], ".")
	// Trailing zeros do not count: 1.0 == 1.0.0.
	for len(p.release) > 1 && strings.TrimLeft(p.release[len(p.release)-1], "0") == "" {
		p.release = p.release[:len(p.release)-1]
	}
	switch m[3] {
	case "a", "alpha":
		p.preKind = 1
	case "b", "beta":
		p.preKind = 2
	case "c", "rc", "pre", "preview":
		p.preKind = 3
	}
	p.preNum = m[4]
	if m[5] != "" {
		p.hasPost, p.postNum = true, m[5]
	} else if m[6] != "" {
		p.hasPost, p.postNum = true, m[7]
	}
	if m[8] != "" {
		p.hasDev, p.devNum = true, m[9]
	}
	if m[10] != "" {
		p.hasLocal = true
		p.local = strings.FieldsFunc(m[10], func(r rune) bool { return r == '.' || r == '-' || r == '_' })
	}
	return p, nil
}

// ComparePEP440 orders two Python package versions per PEP 440.
func ComparePEP440(a, b string) (int, error) {
	pa, err := parsePEP440(a)
	if err != nil {
		return 0, err
	}
	pb, err := parsePEP440(b)
	if err != nil {
		return 0, err
	}
	if c := compareDigits(pa.epoch, pb.epoch); c != 0 {
		return c, nil
	}
	for i := 0; i < len(pa.release) || i < len(pb.release); i++ {
		x, y := "0", "0"
		if i < len(pa.release) {
			x = pa.release[i]
		}
		if i < len(pb.release) {
			y = pb.release[i]
		}
		if c := compareDigits(x, y); c != 0 {
			return c, nil
		}
	}
	if c := sign(preRank(pa) - preRank(pb)); c != 0 {
		return c, nil
	}
	if pa.preKind != 0 {
		if c := compareDigits(pa.preNum, pb.preNum); c != 0 {
			return c, nil
		}
	}
	if pa.hasPost != pb.hasPost {
		return boolOrder(pa.hasPost), nil
	}
	if c := compareDigits(pa.postNum, pb.postNum); c != 0 {
		return c, nil
	}
	if pa.hasDev != pb.hasDev {
		// A dev release sorts before the same version without it.
		return -boolOrder(pa.hasDev), nil
	}
	if c := compareDigits(pa.devNum, pb.devNum); c != 0 {
		return c, nil
	}
	return compareLocal(pa, pb), nil
}

// preRank ranks the pre-release phase: a version that is only a dev release
// (1.0.dev1) sorts before its pre-releases; a final release after them.
func preRank(p pep440) int {
	switch {
	case p.preKind == 0 && !p.hasPost && p.hasDev:
		return -1
	case p.preKind == 0:
		return 10
	}
	return p.preKind
}

func boolOrder(b bool) int {
	if b {
		return 1
	}
	return -1
}

func compareLocal(a, b pep440) int {
	if a.hasLocal != b.hasLocal {
		return boolOrder(a.hasLocal)
	}
	for i := 0; i < len(a.local) || i < len(b.local); i++ {
		if i >= len(a.local) {
			return -1
		}
		if i >= len(b.local) {
			return 1
		}
		x, y := a.local[i], b.local[i]
		dx, dy := allDigits(x), allDigits(y)
		var c int
		switch {
		case dx && dy:
			c = compareDigits(x, y)
		case dx:
			c = 1 // numeric segments sort after alphanumeric ones
		case dy:
			c = -1
		default:
			c = sign(strings.Compare(x, y))
		}
		if c != 0 {
			return c
		}
	}
	return 0
}
