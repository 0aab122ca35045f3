package sbom

import (
	"bufio"
	"bytes"
	"debug/buildinfo"
	"debug/elf"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"path"
	"strings"

	"github.com/vigilsec/vigil/internal/image"
)

// maxMetadata bounds the size of a metadata file read into memory.
const maxMetadata = 64 << 20

// maxBinary bounds the size of an executable buffered to look for Go build
// information (layer sources without random access).
const maxBinary = 512 << 20

type fileKind int

const (
	kindNone fileKind = iota
	kindOSRelease
	kindDpkgStatus
	kindDpkgStatusD
	kindCopyright
	kindAPK
	kindNPM
	kindPython
	kindBinary
	kindCargoLock
	kindComposerLock
	kindGemfileLock
	kindJava
	kindRPMSqlite
	kindRPMBDB
	kindRPMNDB
)

// linkedMetadata lists the metadata files that distributions may make
// symlinks (resolved inside the image before classifying).
var linkedMetadata = map[string]fileKind{
	"var/lib/dpkg/status":              kindDpkgStatus,
	"lib/apk/db/installed":             kindAPK,
	"usr/lib/apk/db/installed":         kindAPK,
	"var/lib/rpm/rpmdb.sqlite":         kindRPMSqlite,
	"usr/lib/sysimage/rpm/Packages.db": kindRPMNDB,
	"var/lib/rpm/Packages.db":          kindRPMNDB,
	"etc/os-release":                   kindOSRelease,
}

func classify(f *image.File) fileKind {
	p := f.Path
	switch {
	case p == "etc/os-release" || p == "usr/lib/os-release":
		return kindOSRelease
	case p == "var/lib/dpkg/status":
		return kindDpkgStatus
	case strings.HasPrefix(p, "var/lib/dpkg/status.d/") && !strings.HasSuffix(p, ".md5sums"):
		return kindDpkgStatusD
	case strings.HasPrefix(p, "usr/share/doc/") && strings.HasSuffix(p, "/copyright") && strings.Count(p, "/") == 4:
		return kindCopyright
	case p == "lib/apk/db/installed" || p == "usr/lib/apk/db/installed":
		return kindAPK
	case strings.HasSuffix(p, "/package.json") && isNodeModule(path.Dir(p)):
		return kindNPM
	case strings.HasSuffix(p, ".dist-info/METADATA") || strings.HasSuffix(p, ".egg-info/PKG-INFO") || strings.HasSuffix(p, ".egg-info"):
		return kindPython
	case p == "var/lib/rpm/rpmdb.sqlite" || p == "usr/lib/sysimage/rpm/rpmdb.sqlite":
		return kindRPMSqlite
	case p == "var/lib/rpm/Packages" || p == "usr/lib/sysimage/rpm/Packages":
		return kindRPMBDB
	case p == "var/lib/rpm/Packages.db" || p == "usr/lib/sysimage/rpm/Packages.db":
		return kindRPMNDB
	case path.Base(p) == "Cargo.lock":
		return kindCargoLock
	case path.Base(p) == "composer.lock":
		return kindComposerLock
	case path.Base(p) == "Gemfile.lock":
		return kindGemfileLock
	case isJavaArchive(p) && f.Size > 0 && f.Size <= maxBinary:
		return kindJava
	case f.Executable() && f.Size > 1024 && f.Size <= maxBinary:
		return kindBinary
	}
	return kindNone
}

// isNodeModule reports whether dir is node_modules/NAME or
// node_modules/@scope/NAME.
func isNodeModule(dir string) bool {
	parent := path.Dir(dir)
	if path.Base(parent) == "node_modules" {
		return !strings.HasPrefix(path.Base(dir), "@")
	}
	return strings.HasPrefix(path.Base(parent), "@") && path.Base(path.Dir(parent)) == "node_modules"
}

// linkedFile is the target of a symlinked metadata file.
type linkedFile struct {
	kind fileKind
	path string // the symlink's path, e.g. var/lib/dpkg/status
}

type cataloger struct {
	img        *image.Image
	linked     map[string]linkedFile // target path → kind and link path
	osRelease  map[string]string
	osLayer    int
	pkgs       []Package
	copyrights map[string][]string // copyright file path → licenses
	errs       []string
}

// Catalog inventories img. Unreadable or malformed metadata files are
// skipped and reported in the returned warnings.
func Catalog(img *image.Image) (*SBOM, []string, error) {
	c := &cataloger{img: img, copyrights: map[string][]string{}, osLayer: -1, linked: map[string]linkedFile{}}
	// A metadata file that is a symlink (relative or absolute) is read at
	// its target, resolved inside the image, and reported under its own
	// path.
	for p, kind := range linkedMetadata {
		if f, ok := img.Files.Lookup(p); ok && f.Type == image.TypeSymlink {
			if t, ok := img.Files.Resolve(p); ok && t.Type == image.TypeReg {
				c.linked[t.Path] = linkedFile{kind, p}
			} else {
				c.warnf("%s: symlink to %s does not resolve to a file inside the image", p, f.Linkname)
			}
		}
	}
	kindOf := func(f *image.File) fileKind {
		if l, ok := c.linked[f.Path]; ok {
			return l.kind
		}
		return classify(f)
	}
	var buf bytes.Buffer
	err := img.ReadFiles(func(f *image.File) bool { return kindOf(f) != kindNone },
		func(f *image.File, r io.Reader) error {
			kind := kindOf(f)
			if l, ok := c.linked[f.Path]; ok {
				g := *f
				g.Path = l.path // report the well-known path
				f = &g
			}
			if kind == kindBinary {
				c.goBinary(f, r, &buf)
				return nil
			}
			if kind == kindJava {
				c.javaArchive(f, r, &buf)
				return nil
			}
			buf.Reset()
			if _, err := io.Copy(&buf, io.LimitReader(r, maxMetadata)); err != nil {
				return fmt.Errorf("read %s: %w", f.Path, err)
			}
			c.metadata(kind, f, buf.Bytes())
			return nil
		})
	if err != nil {
		return nil, c.errs, fmt.Errorf("catalog %s: %w", img.Ref(), err)
	}
	s := &SBOM{Subject: Subject{Name: img.Ref(), Source: img.Source, ManifestDigest: img.ManifestDigest}}
	if c.osRelease != nil {
		s.Distro = &Distro{ID: c.osRelease["ID"], VersionID: c.osRelease["VERSION_ID"],
			Codename: c.osRelease["VERSION_CODENAME"], PrettyName: c.osRelease["PRETTY_NAME"]}
	}
	for i := range c.pkgs {
		c.finish(&c.pkgs[i], s.Distro)
	}
	sortPackages(c.pkgs)
	s.Packages = c.pkgs
	if s.Packages == nil {
		s.Packages = []Package{}
	}
	return s, c.errs, nil
}

func (c *cataloger) warnf(format string, args ...any) {
	c.errs = append(c.errs, fmt.Sprintf(format, args...))
}

func (c *cataloger) metadata(kind fileKind, f *image.File, b []byte) {
	switch kind {
	case kindOSRelease:
		// etc/os-release wins over usr/lib/os-release.
		if c.osRelease == nil || f.Path == "etc/os-release" {
			c.osRelease = parseOSRelease(b)
		}
	case kindDpkgStatus, kindDpkgStatusD:
		for _, p := range parseDpkg(b) {
			p.Location, p.Layer = "/"+f.Path, f.Digest
			if kind == kindDpkgStatus {
				// The layer that installed the package owns its file list.
				for _, l := range []string{p.Name + ".list", p.Name + ":" + p.Arch + ".list"} {
					if lf, ok := c.img.Files.Lookup("var/lib/dpkg/info/" + l); ok {
						p.Layer = lf.Digest
						break
					}
				}
			}
			c.pkgs = append(c.pkgs, p)
		}
	case kindCopyright:
		c.copyrights[f.Path] = parseCopyrightLicenses(b)
	case kindAPK:
		for _, p := range parseAPK(b) {
			p.Location, p.Layer = "/"+f.Path, f.Digest
			if p.Layer == "" || p.firstFile != "" {
				if ff, ok := c.img.Files.Lookup(p.firstFile); ok {
					p.Layer = ff.Digest
				}
			}
			c.pkgs = append(c.pkgs, p.Package)
		}
	case kindNPM:
		p, err := parseNPM(b)
		if err != nil {
			c.warnf("%s: %v", f.Path, err)
			return
		}
		p.Location, p.Layer = "/"+f.Path, f.Digest
		c.pkgs = append(c.pkgs, p)
	case kindCargoLock, kindGemfileLock:
		parse := parseCargoLock
		if kind == kindGemfileLock {
			parse = parseGemfileLock
		}
		for _, p := range parse(b) {
			p.Location, p.Layer = "/"+f.Path, f.Digest
			c.pkgs = append(c.pkgs, p)
		}
	case kindRPMSqlite, kindRPMBDB, kindRPMNDB:
		parse := parseRPMSqlite
		switch kind {
		case kindRPMBDB:
			parse = parseRPMBDB
		case kindRPMNDB:
			parse = parseRPMNDB
		}
		pkgs, warns, err := parse(b)
		for _, w := range warns {
			c.warnf("%s: %s", f.Path, w)
		}
		if err != nil {
			c.warnf("%s: %v", f.Path, err)
		}
		for _, p := range pkgs {
			p.Location, p.Layer = "/"+f.Path, f.Digest
			c.pkgs = append(c.pkgs, p)
		}
	case kindComposerLock:
		pkgs, err := parseComposerLock(b)
		if err != nil {
			c.warnf("%s: %v", f.Path, err)
			return
		}
		for _, p := range pkgs {
			p.Location, p.Layer = "/"+f.Path, f.Digest
			c.pkgs = append(c.pkgs, p)
		}
	case kindPython:
		p, ok := parsePython(b)
		if !ok {
			c.warnf("%s: no Name/Version", f.Path)
			return
		}
		p.Location, p.Layer = "/"+f.Path, f.Digest
		c.pkgs = append(c.pkgs, p)
	}
}

var elfMagic = []byte{0x7f, 'E', 'L', 'F'}

func (c *cataloger) goBinary(f *image.File, r io.Reader, buf *bytes.Buffer) {
	var magic [4]byte
	var bi *buildinfo.BuildInfo
	var err error
	if ra, ok := r.(io.ReaderAt); ok {
		if _, err := ra.ReadAt(magic[:], 0); err != nil || !bytes.Equal(magic[:], elfMagic) {
			return
		}
		bi, err = buildinfo.Read(ra)
	} else {
		if _, err := io.ReadFull(r, magic[:]); err != nil || !bytes.Equal(magic[:], elfMagic) {
			return
		}
		buf.Reset()
		buf.Write(magic[:])
		if _, err := io.Copy(buf, r); err != nil {
			c.warnf("%s: %v", f.Path, err)
			return
		}
		bi, err = buildinfo.Read(bytes.NewReader(buf.Bytes()))
	}
	if err != nil {
		// Not Go: a Rust binary built with cargo auditable?
		var ra io.ReaderAt = bytes.NewReader(buf.Bytes())
		if x, ok := r.(io.ReaderAt); ok {
			ra = x
		}
		pkgs, ok, err := parseCargoAuditable(ra)
		if err != nil {
			c.warnf("%s: %v", f.Path, err)
		}
		if ok {
			for _, p := range pkgs {
				p.Location, p.Layer = "/"+f.Path, f.Digest
				c.pkgs = append(c.pkgs, p)
			}
		}
		return
	}
	goos, goarch := goPlatform(bi, r, buf)
	loc := "/" + f.Path
	add := func(name, version string) {
		c.pkgs = append(c.pkgs, Package{Type: TypeGolang, Name: name, Version: version, Location: loc, Layer: f.Digest, OS: goos, Arch: goarch})
	}
	// "go1.22.1 X:boringcrypto" → "1.22.1".
	gov, _, _ := strings.Cut(strings.TrimPrefix(bi.GoVersion, "go"), " ")
	add("stdlib", gov)
	if bi.Main.Path != "" {
		v := bi.Main.Version
		if v == "(devel)" {
			v = "" // built from a checkout: no module version
		}
		add(bi.Main.Path, v)
	}
	for _, d := range bi.Deps {
		if d.Replace != nil {
			d = d.Replace
		}
		add(d.Path, d.Version)
	}
}

// javaArchive catalogs a jar, war or ear (random access: a root
// filesystem's file directly, a layer's entry buffered).
func (c *cataloger) javaArchive(f *image.File, r io.Reader, buf *bytes.Buffer) {
	ra, ok := r.(io.ReaderAt)
	size := f.Size
	if !ok {
		buf.Reset()
		if _, err := io.Copy(buf, io.LimitReader(r, maxBinary)); err != nil {
			c.warnf("%s: %v", f.Path, err)
			return
		}
		ra, size = bytes.NewReader(buf.Bytes()), int64(buf.Len())
	}
	pkgs, err := parseJavaArchive("/"+f.Path, ra, size, 0)
	if err != nil {
		c.warnf("%v", err)
	}
	for _, p := range pkgs {
		p.Layer = f.Digest
		c.pkgs = append(c.pkgs, p)
	}
}

// goPlatform returns the GOOS and GOARCH a Go binary was built for: from
// its build settings, else from its ELF header (machine, class and byte
// order; an ELF Go binary without settings is taken to be linux).
func goPlatform(bi *buildinfo.BuildInfo, r io.Reader, buf *bytes.Buffer) (goos, goarch string) {
	for _, s := range bi.Settings {
		switch s.Key {
		case "GOOS":
			goos = s.Value
		case "GOARCH":
			goarch = s.Value
		}
	}
	if goos != "" && goarch != "" {
		return goos, goarch
	}
	ra, ok := r.(io.ReaderAt)
	if !ok {
		ra = bytes.NewReader(buf.Bytes())
	}
	ef, err := elf.NewFile(ra)
	if err != nil {
		return goos, goarch
	}
	if goos == "" {
		switch ef.OSABI {
		case elf.ELFOSABI_FREEBSD:
			goos = "freebsd"
		case elf.ELFOSABI_NETBSD:
			goos = "netbsd"
		case elf.ELFOSABI_OPENBSD:
			goos = "openbsd"
		default:
			goos = "linux"
		}
	}
	if goarch == "" {
		goarch = elfGOARCH(ef)
	}
	return goos, goarch
}

// elfGOARCH maps an ELF machine to its GOARCH ("" when unknown).
func elfGOARCH(ef *elf.File) string {
	le := ef.ByteOrder == binary.LittleEndian
	switch ef.Machine {
	case elf.EM_X86_64:
		return "amd64"
	case elf.EM_386:
		return "386"
	case elf.EM_AARCH64:
		return "arm64"
	case elf.EM_ARM:
		return "arm"
	case elf.EM_PPC64:
		if le {
			return "ppc64le"
		}
		return "ppc64"
	case elf.EM_S390:
		return "s390x"
	case elf.EM_RISCV:
		return "riscv64"
	case elf.EM_LOONGARCH:
		return "loong64"
	case elf.EM_MIPS:
		switch {
		case ef.Class == elf.ELFCLASS64 && le:
			return "mips64le"
		case ef.Class == elf.ELFCLASS64:
			return "mips64"
		case le:
			return "mipsle"
		}
		return "mips"
	}
	return ""
}

// finish fills the purl, ecosystem and licenses that need the distro.
func (c *cataloger) finish(p *Package, d *Distro) {
	p.Ecosystem = Ecosystem(p.Type, d)
	distroQ := ""
	ns := ""
	if d != nil {
		ns = d.ID
		if d.VersionID != "" {
			distroQ = d.ID + "-" + d.VersionID
		}
	}
	upstream := ""
	srcVerDiffers := p.SourceVersion != "" && p.SourceVersion != p.Version
	if p.SourceName != "" && (p.SourceName != p.Name || srcVerDiffers) {
		upstream = p.SourceName
		if srcVerDiffers {
			upstream += "@" + p.SourceVersion
		}
	}
	switch p.Type {
	case TypeDeb:
		if ns == "" {
			ns = "debian"
		}
		if len(p.Licenses) == 0 {
			if f, ok := c.img.Files.Lookup("usr/share/doc/" + p.Name + "/copyright"); ok {
				p.Licenses = c.copyrights[f.Path]
			}
		}
		p.PURL = PURL(TypeDeb, ns, p.Name, p.Version, [2]string{"arch", p.Arch}, [2]string{"distro", distroQ}, [2]string{"upstream", upstream})
	case TypeAPK:
		if ns == "" {
			ns = "alpine"
		}
		p.PURL = PURL(TypeAPK, ns, p.Name, p.Version, [2]string{"arch", p.Arch}, [2]string{"distro", distroQ}, [2]string{"upstream", upstream})
	case TypeGolang:
		p.PURL = PURL(TypeGolang, path.Dir(p.Name), path.Base(p.Name), p.Version)
		if !strings.Contains(p.Name, "/") {
			p.PURL = PURL(TypeGolang, "", p.Name, p.Version)
		}
	case TypeNPM:
		ns, name := "", p.Name
		if strings.HasPrefix(name, "@") {
			ns, name, _ = strings.Cut(name, "/")
		}
		p.PURL = PURL(TypeNPM, ns, name, p.Version)
	case TypePyPI:
		p.PURL = PURL(TypePyPI, "", PyPIPURLName(p.Name), p.Version)
	case TypeCargo, TypeGem:
		p.PURL = PURL(p.Type, "", p.Name, p.Version)
	case TypeComposer:
		ns, name, _ := strings.Cut(p.Name, "/")
		p.PURL = PURL(TypeComposer, ns, name, p.Version)
	case TypeMaven:
		group, artifact, ok := strings.Cut(p.Name, ":")
		if !ok {
			group, artifact = "", p.Name
		}
		p.PURL = PURL(TypeMaven, group, artifact, p.Version)
	case TypeRPM:
		if ns == "" {
			ns = "rpm"
		}
		ver, epoch := p.Version, ""
		if e, v, ok := strings.Cut(p.Version, ":"); ok {
			epoch, ver = e, v
		}
		p.PURL = PURL(TypeRPM, ns, p.Name, ver, [2]string{"arch", p.Arch}, [2]string{"epoch", epoch}, [2]string{"distro", distroQ}, [2]string{"upstream", p.SourceName})
	}
}

// NormalizePyPI normalises a Python project name (PEP 503).
func NormalizePyPI(name string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(name) {
		if r == '-' || r == '_' || r == '.' {
			if !dash {
				b.WriteByte('-')
			}
			dash = true
			continue
		}
		dash = false
		b.WriteRune(r)
	}
	return b.String()
}

func parseOSRelease(b []byte) map[string]string {
	m := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		v = strings.TrimSpace(v)
		if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] {
			v = v[1 : len(v)-1]
		}
		m[k] = v
	}
	return m
}

// paragraphs splits RFC 822-style stanzas (dpkg status, apk installed) into
// field maps. Continuation lines are appended to the previous field.
func paragraphs(b []byte, fn func(fields map[string]string, order [][2]string)) {
	fields := map[string]string{}
	var order [][2]string
	last := ""
	flush := func() {
		if len(fields) > 0 {
			fn(fields, order)
		}
		fields, order, last = map[string]string{}, nil, ""
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.TrimSpace(line) == "" {
			flush()
			continue
		}
		if (line[0] == ' ' || line[0] == '\t') && last != "" {
			fields[last] += "\n" + strings.TrimSpace(line)
			continue
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		v = strings.TrimSpace(v)
		last = k
		if _, dup := fields[k]; !dup {
			fields[k] = v
		}
		order = append(order, [2]string{k, v})
	}
	flush()
}

func parseDpkg(b []byte) []Package {
	var out []Package
	paragraphs(b, func(f map[string]string, _ [][2]string) {
		name, ver := f["Package"], f["Version"]
		if name == "" || ver == "" {
			return
		}
		if st, ok := f["Status"]; ok && !strings.HasSuffix(st, " installed") {
			return // removed, config-files only, half-installed
		}
		p := Package{Type: TypeDeb, Name: name, Version: ver, Arch: f["Architecture"]}
		if src := f["Source"]; src != "" {
			n, v, ok := strings.Cut(src, " ")
			p.SourceName = n
			if ok {
				p.SourceVersion = strings.Trim(strings.TrimSpace(v), "()")
			}
		}
		if p.SourceVersion == "" && p.SourceName != "" {
			p.SourceVersion = ver
		}
		out = append(out, p)
	})
	return out
}

// parseCopyrightLicenses returns the license names of a machine-readable
// (DEP-5) Debian copyright file.
func parseCopyrightLicenses(b []byte) []string {
	var out []string
	seen := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		v, ok := strings.CutPrefix(sc.Text(), "License:")
		if !ok {
			continue
		}
		v = strings.TrimSpace(v)
		if v == "" || seen[v] || len(v) > 100 {
			continue
		}
		seen[v] = true
		out = append(out, v)
	}
	return out
}

type apkPkg struct {
	Package
	firstFile string
}

func parseAPK(b []byte) []apkPkg {
	var out []apkPkg
	paragraphs(b, func(f map[string]string, order [][2]string) {
		if f["P"] == "" || f["V"] == "" {
			return
		}
		p := apkPkg{Package: Package{Type: TypeAPK, Name: f["P"], Version: f["V"], Arch: f["A"], SourceName: f["o"]}}
		if l := f["L"]; l != "" {
			p.Licenses = []string{l}
		}
		dir := ""
		for _, kv := range order {
			if kv[0] == "F" {
				dir = kv[1]
			}
			if kv[0] == "R" && p.firstFile == "" {
				p.firstFile = path.Join(dir, kv[1])
			}
		}
		out = append(out, p)
	})
	return out
}

func parseNPM(b []byte) (Package, error) {
	var pj struct {
		Name     string          `json:"name"`
		Version  string          `json:"version"`
		License  json.RawMessage `json:"license"`
		Licenses []struct {
			Type string `json:"type"`
		} `json:"licenses"`
	}
	if err := json.Unmarshal(b, &pj); err != nil {
		return Package{}, err
	}
	if pj.Name == "" || pj.Version == "" {
		return Package{}, fmt.Errorf("package.json without name or version")
	}
	p := Package{Type: TypeNPM, Name: pj.Name, Version: pj.Version}
	var s string
	var obj struct {
		Type string `json:"type"`
	}
	switch {
	case json.Unmarshal(pj.License, &s) == nil && s != "":
		p.Licenses = []string{s}
	case json.Unmarshal(pj.License, &obj) == nil && obj.Type != "":
		p.Licenses = []string{obj.Type}
	}
	for _, l := range pj.Licenses {
		if l.Type != "" {
			p.Licenses = append(p.Licenses, l.Type)
		}
	}
	return p, nil
}

func parsePython(b []byte) (Package, bool) {
	// Only the header block (before the first blank line) holds fields.
	if i := bytes.Index(b, []byte("\n\n")); i >= 0 {
		b = b[:i]
	}
	p := Package{Type: TypePyPI}
	var classifiers []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	license := ""
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		v = strings.TrimSpace(v)
		switch k {
		case "Name":
			p.Name = v
		case "Version":
			p.Version = v
		case "License-Expression":
			license = v
		case "License":
			if license == "" && v != "UNKNOWN" && !strings.Contains(v, "\n") && len(v) < 100 {
				license = v
			}
		case "Classifier":
			if l, ok := strings.CutPrefix(v, "License :: "); ok {
				parts := strings.Split(l, " :: ")
				classifiers = append(classifiers, parts[len(parts)-1])
			}
		}
	}
	switch {
	case license != "":
		p.Licenses = []string{license}
	case len(classifiers) > 0:
		p.Licenses = classifiers
	}
	return p, p.Name != "" && p.Version != ""
}
