package engine

// globMatch reports whether s matches the shell pattern pat as fnmatch(3)
// without flags does (Falco's glob): '*' matches any sequence, '/'
// included; '?' one byte; '[...]' a class with ranges and '!' or '^'
// negation. Backslash is an ordinary character. Iterative, no allocation,
// linear backtracking on the last '*'.
func globMatch(pat, s string) bool {
	px, sx := 0, 0
	starP, starS := -1, -1
	for sx < len(s) {
		if px < len(pat) {
			switch c := pat[px]; c {
			case '*':
				starP, starS = px, sx
				px++
				continue
			case '?':
				px++
				sx++
				continue
			case '[':
				if ok, n, valid := matchClass(pat[px:], s[sx]); valid {
					if ok {
						px += n
						sx++
						continue
					}
				} else if s[sx] == '[' {
					px++
					sx++
					continue
				}
			default:
				if c == s[sx] {
					px++
					sx++
					continue
				}
			}
		}
		if starP >= 0 {
			px = starP + 1
			starS++
			sx = starS
			continue
		}
		return false
	}
	for px < len(pat) && pat[px] == '*' {
		px++
	}
	return px == len(pat)
}

// matchClass matches c against the class at the start of p ("[...]"). It
// returns whether c matched, the class length, and whether p starts with a
// well-formed class.
func matchClass(p string, c byte) (matched bool, n int, valid bool) {
	i := 1
	neg := false
	if i < len(p) && (p[i] == '!' || p[i] == '^') {
		neg = true
		i++
	}
	first := true
	for i < len(p) {
		if p[i] == ']' && !first {
			return matched != neg, i + 1, true
		}
		first = false
		lo := p[i]
		hi := lo
		if i+2 < len(p) && p[i+1] == '-' && p[i+2] != ']' {
			hi = p[i+2]
			i += 3
		} else {
			i++
		}
		if lo <= c && c <= hi {
			matched = true
		}
	}
	return false, 0, false
}

// pmatch reports whether path p is prefix (a path whose components match,
// each with glob wildcards that do not cross '/') or below it.
func pmatch(prefix, p string) bool {
	if prefix == "/" {
		return len(p) > 0 && p[0] == '/'
	}
	if !hasMeta(prefix) {
		return len(p) >= len(prefix) && p[:len(prefix)] == prefix && (len(p) == len(prefix) || p[len(prefix)] == '/')
	}
	// component-wise glob
	for len(prefix) > 0 {
		pc, prest := cut(prefix)
		if len(p) == 0 && pc != "" {
			return false
		}
		sc, srest := cut(p)
		if !globMatch(pc, sc) {
			return false
		}
		prefix, p = prest, srest
	}
	return true
}

func cut(s string) (string, string) {
	for i := 0; i < len(s); i++ {
		if s[i] == '/' {
			if i == 0 {
				// leading slash: empty first component
				return "", s[1:]
			}
			return s[:i], s[i+1:]
		}
	}
	return s, ""
}

func hasMeta(s string) bool {
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '*', '?', '[':
			return true
		}
	}
	return false
}
