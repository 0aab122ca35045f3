package version

import (
	"strconv"
	"strings"
)

// Maven is the OSV ecosystem of Maven artifacts.
const Maven = "Maven"

// mavenItem is one item of a parsed Maven version, as Maven's
// ComparableVersion builds them: a number, a qualifier, or a sub-list
// (started by "-" or a digit/letter change).
type mavenItem struct {
	kind byte   // 'i' number, 's' qualifier, 'l' list
	num  string // digits without leading zeros ("0" for zero)
	str  string
	list []*mavenItem
}

var mavenQualifiers = []string{"alpha", "beta", "milestone", "rc", "snapshot", "", "sp"}

const mavenRelease = "5" // index of "" in mavenQualifiers

func newMavenString(s string, followedByDigit bool) *mavenItem {
	if followedByDigit && len(s) == 1 {
		switch s {
		case "a":
			s = "alpha"
		case "b":
			s = "beta"
		case "m":
			s = "milestone"
		}
	}
	switch s {
	case "ga", "final", "release":
		s = ""
	case "cr":
		s = "rc"
	}
	return &mavenItem{kind: 's', str: s}
}

func mavenQualifier(s string) string {
	for i, q := range mavenQualifiers {
		if q == s {
			return strconv.Itoa(i)
		}
	}
	return strconv.Itoa(len(mavenQualifiers)) + "-" + s
}

func (it *mavenItem) isNull() bool {
	switch it.kind {
	case 'i':
		return it.num == "0"
	case 's':
		return mavenQualifier(it.str) == mavenRelease
	}
	return len(it.list) == 0
}

func (it *mavenItem) normalize() {
	for i := len(it.list) - 1; i >= 0; i-- {
		last := it.list[i]
		if last.isNull() {
			it.list = append(it.list[:i], it.list[i+1:]...)
		} else if last.kind != 'l' {
			break
		}
	}
}

func parseMaven(v string) (*mavenItem, error) {
	s := strings.ToLower(strings.TrimSpace(v))
	if s == "" {
		return nil, &Error{Maven, v, "empty"}
	}
	root := &mavenItem{kind: 'l'}
	list := root
	stack := []*mavenItem{root}
	push := func() {
		n := &mavenItem{kind: 'l'}
		list.list = append(list.list, n)
		list = n
		stack = append(stack, n)
	}
	item := func(digit bool, buf string) *mavenItem {
		if digit {
			n := strings.TrimLeft(buf, "0")
			if n == "" {
				n = "0"
			}
			return &mavenItem{kind: 'i', num: n}
		}
		return newMavenString(buf, false)
	}
	zero := func() *mavenItem { return &mavenItem{kind: 'i', num: "0"} }
	digit, start := false, 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '.' || c == '-':
			if i == start {
				list.list = append(list.list, zero())
			} else {
				list.list = append(list.list, item(digit, s[start:i]))
			}
			start = i + 1
			if c == '-' {
				push()
			}
		case isDigit(c):
			if !digit && i > start {
				// "1.0.0.x1" sorts as "1.0.0-x1".
				if len(list.list) > 0 {
					push()
				}
				list.list = append(list.list, newMavenString(s[start:i], true))
				start = i
				push()
			}
			digit = true
		default:
			if digit && i > start {
				list.list = append(list.list, item(true, s[start:i]))
				start = i
				push()
			}
			digit = false
		}
	}
	if len(s) > start {
		if !digit && len(list.list) > 0 {
			push()
		}
		list.list = append(list.list, item(digit, s[start:]))
	}
	for i := len(stack) - 1; i >= 0; i-- {
		stack[i].normalize()
	}
	return root, nil
}

// compare orders it against o (o nil: the end of a list).
func (it *mavenItem) compare(o *mavenItem) int {
	switch it.kind {
	case 'i':
		switch {
		case o == nil:
			if it.num == "0" {
				return 0
			}
			return 1
		case o.kind == 'i':
			return compareDigits(it.num, o.num)
		}
		return 1 // a number beats a qualifier and a list
	case 's':
		switch {
		case o == nil:
			return sign(strings.Compare(mavenQualifier(it.str), mavenRelease))
		case o.kind == 'i', o.kind == 'l':
			return -1
		}
		return sign(strings.Compare(mavenQualifier(it.str), mavenQualifier(o.str)))
	}
	switch {
	case o == nil:
		if len(it.list) == 0 {
			return 0
		}
		return it.list[0].compare(nil)
	case o.kind == 'i':
		return -1
	case o.kind == 's':
		return 1
	}
	for i := 0; i < max(len(it.list), len(o.list)); i++ {
		var l, r *mavenItem
		if i < len(it.list) {
			l = it.list[i]
		}
		if i < len(o.list) {
			r = o.list[i]
		}
		var c int
		if l == nil {
			if r != nil {
				c = -r.compare(nil)
			}
		} else {
			c = l.compare(r)
		}
		if c != 0 {
			return c
		}
	}
	return 0
}

// CompareMaven orders two Maven versions as Maven's ComparableVersion does
// (numbers, then qualifiers alpha < beta < milestone < rc < snapshot <
// release < sp < others; "-" and digit/letter changes open sub-lists;
// trailing zeros and release qualifiers are ignored).
func CompareMaven(a, b string) (int, error) {
	pa, err := parseMaven(a)
	if err != nil {
		return 0, err
	}
	pb, err := parseMaven(b)
	if err != nil {
		return 0, err
	}
	return pa.compare(pb), nil
}
