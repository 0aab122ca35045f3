package event

import "strings"

// Domain is the vocabulary a field's values are rendered from, for the
// fields whose text comes from a fixed set of words: flag and enum
// arguments (evt.arg.flags, evt.arg.mode...), evt.res, fd.type,
// fd.typechar, fd.l4proto. The rules compiler uses it to warn about a
// comparison that can never hold (`evt.arg.mode contains "04600"`: modes
// render as S_IRUSR|S_ISUID..., never in octal).
type Domain struct {
	Names []string // the words
	// Joined: a value is several words joined with "|".
	Joined bool
	// Numbers: a decimal number is also possible (a value no word stands
	// for renders as its number).
	Numbers bool
	// What says how the field renders, for the warning.
	What string
}

// ValueDomain returns the vocabulary of field name (with its argument key
// for evt.arg.NAME) on events of the given types, or false when its values
// are free text (for one of the types).
func ValueDomain(name, argKey string, types TypeSet) (*Domain, bool) {
	switch name {
	case "evt.res":
		d := &Domain{Names: []string{"SUCCESS"}, Numbers: true, What: "SUCCESS or an errno name (ENOENT...)"}
		for _, n := range errnoNames {
			if n != "" {
				d.Names = append(d.Names, n)
			}
		}
		return d, true
	case "fd.type":
		d := &Domain{Names: []string{"<NA>"}, What: "an fd kind (file, directory, ipv4, ipv6, unix...)"}
		for _, t := range fdTypes {
			d.Names = append(d.Names, fdTypeName(t))
		}
		return d, true
	case "fd.typechar":
		d := &Domain{What: "one letter (f, d, 4, 6, u, p...)"}
		for _, t := range fdTypes {
			d.Names = append(d.Names, string(rune(t)))
		}
		return d, true
	case "fd.l4proto":
		return &Domain{Names: []string{"tcp", "udp", "icmp", "raw", "<NA>"}, What: "tcp, udp, icmp, raw or <NA>"}, true
	case "evt.arg":
		return argDomain(argKey, types)
	}
	return nil, false
}

// argDomain is the vocabulary of evt.arg.NAME when every event type of
// types that has an argument NAME renders it from flag or enum tables.
func argDomain(key string, types TypeSet) (*Domain, bool) {
	if key == "" {
		return nil, false
	}
	d := &Domain{Numbers: true}
	seen := map[string]bool{}
	var tables []string
	found := false
	for t := Type(1); t < NumTypes; t++ {
		if !types.Has(t) {
			continue
		}
		for _, a := range defs[t].Args {
			if a.Name != key {
				continue
			}
			found = true
			ft := Flags(a.Flags)
			if (a.Kind != KindFlags && a.Kind != KindEnum) || ft == nil {
				return nil, false
			}
			d.Joined = true // enums join equal names too; socket types join base and flags
			if !seen[ft.Name] {
				seen[ft.Name] = true
				tables = append(tables, ft.Name)
				for _, n := range ft.Names {
					d.Names = append(d.Names, n.Name)
				}
			}
		}
	}
	if !found {
		return nil, false
	}
	ex := d.Names
	if len(ex) > 2 {
		ex = ex[:2]
	}
	d.What = "flag names from " + strings.Join(tables, ", ") + " (" + strings.Join(ex, "|") + "...)"
	return d, true
}

// Possible reports whether a value rendered from d can satisfy op with
// the constant v. op is the operator as written (=, !=, in, contains,
// icontains, startswith, endswith); other operators are not judged.
func (d *Domain) Possible(op, v string) bool {
	fold := op == "icontains"
	tokens := []string{v}
	if d.Joined {
		tokens = strings.Split(v, "|")
	}
	for i, tok := range tokens {
		first, last := i == 0, i == len(tokens)-1
		var ok bool
		switch op {
		case "=", "!=", "in":
			ok = d.word(tok, func(n string) bool { return n == tok })
		case "contains", "icontains":
			ok = d.word(tok, func(n string) bool {
				if fold {
					n, tok := strings.ToLower(n), strings.ToLower(tok)
					return piece(n, tok, first, last)
				}
				return piece(n, tok, first, last)
			})
		case "startswith":
			ok = d.word(tok, func(n string) bool { return (last && strings.HasPrefix(n, tok)) || n == tok })
		case "endswith":
			ok = d.word(tok, func(n string) bool { return (first && strings.HasSuffix(n, tok)) || n == tok })
		default:
			return true
		}
		if !ok {
			return false
		}
	}
	return true
}

// piece reports whether tok can be the part of word n that a value's text
// shows: the whole word in the middle of a "|" list, a suffix of it at the
// start of the constant, a prefix at its end, anything inside when both.
func piece(n, tok string, first, last bool) bool {
	switch {
	case first && last:
		return strings.Contains(n, tok)
	case first:
		return strings.HasSuffix(n, tok)
	case last:
		return strings.HasPrefix(n, tok)
	}
	return n == tok
}

// word reports whether some word of d matches, or tok is a number d can
// render (decimal, no leading zero).
func (d *Domain) word(tok string, match func(string) bool) bool {
	if d.Numbers && isDecimal(tok) {
		return true
	}
	for _, n := range d.Names {
		if match(n) {
			return true
		}
	}
	return false
}

// isDecimal: optional minus, digits, no leading zero (a leading zero is
// how octal modes are written, and no renderer here produces one).
func isDecimal(s string) bool {
	s = strings.TrimPrefix(s, "-")
	if s == "" || (len(s) > 1 && s[0] == '0') {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
