package sbom

import (
	"regexp"
	"sort"
	"strings"
)

// spdxLicenseIDs are the SPDX licence list identifiers Vigil writes as ids
// (the targets of the name tables below and the ids packages commonly
// declare), keyed by lower case: SPDX ids match case-insensitively. A test
// checks every one against the SPDX licence list shipped in the CycloneDX
// module (schema/spdx.schema.json). Anything else becomes a LicenseRef-.
var spdxLicenseIDs = func() map[string]string {
	m := map[string]string{}
	for _, id := range []string{
		"0BSD", "AFL-2.1", "AFL-3.0", "AGPL-1.0-only", "AGPL-1.0-or-later", "AGPL-3.0-only", "AGPL-3.0-or-later",
		"Apache-1.0", "Apache-1.1", "Apache-2.0", "APSL-2.0", "Artistic-1.0", "Artistic-1.0-Perl", "Artistic-2.0",
		"Beerware", "BlueOak-1.0.0", "BSD-1-Clause", "BSD-2-Clause", "BSD-2-Clause-Patent", "BSD-3-Clause",
		"BSD-3-Clause-Clear", "BSD-4-Clause", "BSD-4-Clause-UC", "BSD-Source-Code", "BSL-1.0", "bzip2-1.0.6",
		"CC-BY-3.0", "CC-BY-4.0", "CC-BY-SA-3.0", "CC-BY-SA-4.0", "CC0-1.0", "CDDL-1.0", "CDDL-1.1",
		"CECILL-2.1", "CPL-1.0", "curl", "ECL-2.0", "EPL-1.0", "EPL-2.0", "EUPL-1.1", "EUPL-1.2", "FSFAP",
		"FSFUL", "FSFULLR", "FTL", "GFDL-1.1-only", "GFDL-1.1-or-later", "GFDL-1.2-only", "GFDL-1.2-or-later",
		"GFDL-1.3-only", "GFDL-1.3-or-later", "GPL-1.0-only", "GPL-1.0-or-later", "GPL-2.0-only",
		"GPL-2.0-or-later", "GPL-3.0-only", "GPL-3.0-or-later", "HPND", "ICU", "IJG", "Imlib2", "Info-ZIP",
		"IPA", "ISC", "JSON", "LGPL-2.0-only", "LGPL-2.0-or-later", "LGPL-2.1-only", "LGPL-2.1-or-later",
		"LGPL-3.0-only", "LGPL-3.0-or-later", "Libpng", "libpng-2.0", "libtiff", "LPPL-1.3c", "MirOS", "MIT",
		"MIT-0", "MIT-CMU", "MPL-1.0", "MPL-1.1", "MPL-2.0", "MPL-2.0-no-copyleft-exception", "MS-PL", "MS-RL",
		"NCSA", "NTP", "OFL-1.0", "OFL-1.1", "OLDAP-2.8", "OpenSSL", "OSL-3.0", "PHP-3.0", "PHP-3.01",
		"PostgreSQL", "PSF-2.0", "Python-2.0", "Qhull", "Ruby", "SGI-B-2.0", "Sleepycat", "SSPL-1.0",
		"TCL", "Unicode-DFS-2015", "Unicode-DFS-2016", "Unlicense", "UPL-1.0", "Vim", "W3C",
		"W3C-20150513", "WTFPL", "X11", "XFree86-1.1", "Zlib", "zlib-acknowledgement", "ZPL-2.0", "ZPL-2.1",
	} {
		m[strings.ToLower(id)] = id
	}
	return m
}()

// spdxExceptionIDs are SPDX licence exception ids usable after WITH.
var spdxExceptionIDs = func() map[string]string {
	m := map[string]string{}
	for _, id := range []string{"Autoconf-exception-2.0", "Autoconf-exception-3.0", "Bison-exception-2.2",
		"Classpath-exception-2.0", "Font-exception-2.0", "GCC-exception-2.0", "GCC-exception-3.1",
		"LLVM-exception", "OpenJDK-assembly-exception-1.0", "Qt-LGPL-exception-1.1"} {
		m[strings.ToLower(id)] = id
	}
	return m
}()

// licenseNames maps names that are not SPDX ids, as Debian copyright files
// (DEP-5 short names), Python classifiers and package.json files write them,
// to SPDX ids. Keys are lower case.
var licenseNames = map[string]string{
	// Debian DEP-5 short names (https://dep-team.pages.debian.net/deps/dep5/).
	"gpl-1": "GPL-1.0-only", "gpl-1+": "GPL-1.0-or-later", "gpl-2": "GPL-2.0-only", "gpl-2+": "GPL-2.0-or-later",
	"gpl-3": "GPL-3.0-only", "gpl-3+": "GPL-3.0-or-later", "gpl-2.0": "GPL-2.0-only", "gpl-2.0+": "GPL-2.0-or-later",
	"gpl-3.0": "GPL-3.0-only", "gpl-3.0+": "GPL-3.0-or-later",
	"lgpl-2": "LGPL-2.0-only", "lgpl-2+": "LGPL-2.0-or-later", "lgpl-2.0": "LGPL-2.0-only", "lgpl-2.0+": "LGPL-2.0-or-later",
	"lgpl-2.1": "LGPL-2.1-only", "lgpl-2.1+": "LGPL-2.1-or-later", "lgpl-3": "LGPL-3.0-only", "lgpl-3+": "LGPL-3.0-or-later",
	"lgpl-3.0": "LGPL-3.0-only", "lgpl-3.0+": "LGPL-3.0-or-later",
	"agpl-3": "AGPL-3.0-only", "agpl-3+": "AGPL-3.0-or-later",
	"gfdl-1.2": "GFDL-1.2-only", "gfdl-1.2+": "GFDL-1.2-or-later", "gfdl-1.3": "GFDL-1.3-only", "gfdl-1.3+": "GFDL-1.3-or-later",
	"gfdl-nis-1.2": "GFDL-1.2-only", "gfdl-nis-1.3": "GFDL-1.3-only",
	"expat": "MIT", "bsd-2-clause": "BSD-2-Clause", "bsd-3-clause": "BSD-3-Clause", "bsd-4-clause": "BSD-4-Clause",
	"apache-2": "Apache-2.0", "artistic": "Artistic-1.0-Perl", "artistic-1": "Artistic-1.0", "artistic-2": "Artistic-2.0",
	"mpl-1.1": "MPL-1.1", "mpl-2.0": "MPL-2.0", "zlib": "Zlib", "psf-2": "PSF-2.0", "python": "Python-2.0",
	"cc0": "CC0-1.0", "cc-by-sa-3": "CC-BY-SA-3.0", "cc-by-3": "CC-BY-3.0", "perl": "Artistic-1.0-Perl",
	"boost-1.0": "BSL-1.0", "zpl-2.1": "ZPL-2.1", "ofl-1.1": "OFL-1.1", "sil-ofl-1.1": "OFL-1.1",
	"unicode": "Unicode-DFS-2016", "isc": "ISC", "x11": "X11", "mit": "MIT", "openssl": "OpenSSL",
	// Fedora/RHEL legacy short names (RPM License: tags before SPDX).
	"asl 2.0": "Apache-2.0", "gplv2": "GPL-2.0-only", "gplv2+": "GPL-2.0-or-later", "gplv3": "GPL-3.0-only",
	"gplv3+": "GPL-3.0-or-later", "lgplv2": "LGPL-2.0-only", "lgplv2+": "LGPL-2.0-or-later", "lgplv3": "LGPL-3.0-only",
	"lgplv3+": "LGPL-3.0-or-later", "mplv2.0": "MPL-2.0",
	// Python classifiers and free text.
	"mit license": "MIT", "apache 2.0": "Apache-2.0", "apache-2.0 license": "Apache-2.0", "apache license 2.0": "Apache-2.0",
	"apache license, version 2.0": "Apache-2.0", "apache software license": "Apache-2.0", "bsd": "BSD-3-Clause",
	"isc license (iscl)": "ISC", "mozilla public license 2.0 (mpl 2.0)": "MPL-2.0", "python software foundation license": "PSF-2.0",
	"gnu general public license v2 (gplv2)": "GPL-2.0-only", "gnu general public license v3 (gplv3)": "GPL-3.0-only",
	"gnu lesser general public license v2 (lgplv2)": "LGPL-2.0-only", "gnu lesser general public license v3 (lgplv3)": "LGPL-3.0-only",
	"the unlicense (unlicense)": "Unlicense",
}

// licenseExceptions maps Debian "with X exception" texts to SPDX exceptions.
var licenseExceptions = map[string]string{
	"autoconf exception": "Autoconf-exception-2.0", "autoconf-exception": "Autoconf-exception-2.0",
	"bison exception": "Bison-exception-2.2", "classpath exception": "Classpath-exception-2.0",
	"font exception": "Font-exception-2.0", "gcc-exception-3.1": "GCC-exception-3.1", "gcc exception": "GCC-exception-3.1",
	"llvm exception": "LLVM-exception",
}

// SPDXLicenseID returns the canonical SPDX licence list id for s (matched
// case-insensitively), or "" when s is not on the list.
func SPDXLicenseID(s string) string { return spdxLicenseIDs[strings.ToLower(strings.TrimSpace(s))] }

var licenseRefBad = regexp.MustCompile(`[^A-Za-z0-9.\-]+`)

// licenseRef names a licence that has no SPDX id: "LicenseRef-" and the name
// with every character outside [A-Za-z0-9.-] replaced by "-".
func licenseRef(name string) string {
	r := strings.Trim(licenseRefBad.ReplaceAllString(strings.TrimSpace(name), "-"), "-")
	if r == "" {
		r = "unknown"
	}
	return "LicenseRef-" + r
}

// License is a package's declared licences as an SPDX expression.
type License struct {
	// Expression is a valid SPDX licence expression: SPDX ids, LicenseRef-
	// for the rest, joined with AND, OR and WITH.
	Expression string
	// Refs maps each LicenseRef- used to the text it stands for.
	Refs map[string]string
	// ID is the single SPDX licence list id when Expression is just that.
	ID string
}

// NormalizeLicenses turns a package's declared licence names (Debian short
// names and DEP-5 expressions such as "GPL-2+ or Artistic", SPDX ids,
// classifier texts) into one SPDX expression; several declarations are
// joined with AND. ok is false when there is nothing to declare.
func NormalizeLicenses(names []string) (License, bool) {
	l := License{Refs: map[string]string{}}
	var parts []string
	for _, n := range names {
		if e := l.expression(n); e != "" && !containsString(parts, e) {
			parts = append(parts, e)
		}
	}
	if len(parts) == 0 {
		return License{}, false
	}
	if len(parts) == 1 {
		l.Expression = parts[0]
	} else {
		for i, p := range parts {
			if strings.ContainsAny(p, " ") {
				parts[i] = "(" + p + ")"
			}
		}
		l.Expression = strings.Join(parts, " AND ")
	}
	if id := SPDXLicenseID(l.Expression); id != "" {
		l.ID = id
	}
	return l, true
}

func containsString(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// expression converts one declared licence: a single name, or a DEP-5 /
// SPDX expression with and/or (any case), commas and "with X exception".
func (l *License) expression(decl string) string {
	decl = strings.TrimSpace(decl)
	if decl == "" {
		return ""
	}
	if id := knownLicense(decl); id != "" {
		return id // a single known name, even one with spaces
	}
	// Build into a scratch License so that a declaration that does not
	// parse leaves no refs behind.
	outer := l
	l = &License{Refs: map[string]string{}}
	// Tokenise on whitespace, keeping parentheses and commas apart.
	r := strings.NewReplacer("(", " ( ", ")", " ) ", ",", " , ")
	toks := strings.Fields(r.Replace(decl))
	var out []string
	var cur []string // words of the current licence term
	flush := func() {
		if len(cur) == 0 {
			return
		}
		out = append(out, l.withTerm(cur))
		cur = nil
	}
	depth := 0
	for _, t := range toks {
		switch strings.ToLower(t) {
		case "and", "or":
			flush()
			if len(out) > 0 && !isOperator(out[len(out)-1]) {
				out = append(out, strings.ToUpper(t))
			}
		case ",":
			// DEP-5: "A or B, and C" is "(A or B) and C"; SPDX's AND binds
			// tighter than OR, so group what came before.
			flush()
			if containsString(out, "OR") {
				out = append(append([]string{"("}, out...), ")")
			}
		case "(":
			flush()
			depth++
			out = append(out, "(")
		case ")":
			flush()
			if depth > 0 {
				depth--
				out = append(out, ")")
			}
		default:
			cur = append(cur, t)
		}
	}
	flush()
	for len(out) > 0 && isOperator(out[len(out)-1]) {
		out = out[:len(out)-1]
	}
	for ; depth > 0; depth-- {
		out = append(out, ")")
	}
	e := strings.Join(out, " ")
	e = strings.ReplaceAll(strings.ReplaceAll(e, "( ", "("), " )", ")")
	if e == "" || !spdxExpressionRE.MatchString(e) {
		return outer.ref(decl)
	}
	for r, text := range l.Refs {
		outer.Refs[r] = text
	}
	return e
}

func isOperator(s string) bool { return s == "AND" || s == "OR" || s == "(" }

// withTerm converts the words of one licence term, which may end in
// "with X exception" (or "WITH X").
func (l *License) withTerm(words []string) string {
	for i, w := range words {
		if strings.EqualFold(w, "with") && i > 0 && i < len(words)-1 {
			base := l.term(strings.Join(words[:i], " "))
			exc := strings.Join(words[i+1:], " ")
			if id := spdxExceptionIDs[strings.ToLower(exc)]; id != "" {
				if !strings.HasPrefix(base, "LicenseRef-") {
					return base + " WITH " + id
				}
			}
			if id := licenseExceptions[strings.ToLower(exc)]; id != "" && !strings.HasPrefix(base, "LicenseRef-") {
				return base + " WITH " + id
			}
			// An exception without an SPDX id: the whole term is one ref.
			return l.ref(strings.Join(words, " "))
		}
	}
	return l.term(strings.Join(words, " "))
}

// term converts one licence name: an SPDX id, a known name, or a ref.
func (l *License) term(name string) string {
	if id := knownLicense(name); id != "" {
		return id
	}
	return l.ref(name)
}

// knownLicense returns the SPDX id of a licence name ("" when none): an
// SPDX id in any case, a Debian or free-text name, or a deprecated "+"
// form ("GPL-2.0+").
func knownLicense(name string) string {
	if id := SPDXLicenseID(name); id != "" {
		return id
	}
	low := strings.ToLower(strings.TrimSpace(name))
	if id := licenseNames[low]; id != "" {
		return id
	}
	// SPDX's deprecated "GPL-2.0+" style.
	if base, ok := strings.CutSuffix(low, "+"); ok {
		if id := spdxLicenseIDs[base+"-or-later"]; id != "" {
			return id
		}
		if id := spdxLicenseIDs[base+".0-or-later"]; id != "" {
			return id
		}
	}
	if id := spdxLicenseIDs[low+"-only"]; id != "" {
		return id
	}
	return ""
}

func (l *License) ref(text string) string {
	r := licenseRef(text)
	if old, ok := l.Refs[r]; ok && old != text {
		// Two texts sanitised to the same ref: keep the first text.
		return r
	}
	l.Refs[r] = text
	return r
}

// spdxExpressionRE accepts what expression builds: ids and LicenseRef-s
// joined by AND, OR and WITH, with balanced-looking parentheses.
var spdxExpressionRE = regexp.MustCompile(`^\(*[A-Za-z0-9][A-Za-z0-9.\-+]*\)*(\s+(AND|OR|WITH)\s+\(*[A-Za-z0-9][A-Za-z0-9.\-+]*\)*)*$`)

// sortedRefs returns the refs of l in order.
func (l License) sortedRefs() []string {
	var out []string
	for r := range l.Refs {
		out = append(out, r)
	}
	sort.Strings(out)
	return out
}
