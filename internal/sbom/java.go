package sbom

import (
	"archive/zip"
	"bufio"
	"bytes"
	"fmt"
	"io"
	"path"
	"regexp"
	"strings"
)

// maxNestedArchive bounds a jar nested in another read into memory.
const maxNestedArchive = 64 << 20

// isJavaArchive reports whether a file name is a Java archive.
func isJavaArchive(p string) bool {
	switch path.Ext(p) {
	case ".jar", ".war", ".ear", ".jpi", ".hpi":
		return true
	}
	return false
}

// parseJavaArchive lists the Maven artifacts of a jar, war or ear: each
// META-INF/maven/GROUP/ARTIFACT/pom.properties (the authority), else the
// MANIFEST.MF's Implementation or Bundle headers, and the archives nested
// in it (WEB-INF/lib, BOOT-INF/lib, …) recursively. loc names the archive
// in Location ("/app.war!/WEB-INF/lib/x.jar" for nested ones).
func parseJavaArchive(loc string, ra io.ReaderAt, size int64, depth int) ([]Package, error) {
	zr, err := zip.NewReader(ra, size)
	if err != nil {
		return nil, fmt.Errorf("%s: not a zip archive: %w", loc, err)
	}
	var out []Package
	var manifest *zip.File
	var errs []string
	for _, f := range zr.File {
		switch {
		case strings.HasPrefix(f.Name, "META-INF/maven/") && strings.HasSuffix(f.Name, "/pom.properties"):
			b, err := readZipFile(f, 1<<20)
			if err != nil {
				errs = append(errs, err.Error())
				continue
			}
			props := parseProperties(b)
			if props["groupId"] != "" && props["artifactId"] != "" && props["version"] != "" {
				out = append(out, Package{Type: TypeMaven, Name: props["groupId"] + ":" + props["artifactId"], Version: props["version"], Location: loc})
			}
		case f.Name == "META-INF/MANIFEST.MF":
			manifest = f
		case isJavaArchive(f.Name) && depth < 4 && f.UncompressedSize64 <= maxNestedArchive:
			b, err := readZipFile(f, maxNestedArchive)
			if err != nil {
				errs = append(errs, err.Error())
				continue
			}
			nested, err := parseJavaArchive(loc+"!/"+f.Name, bytes.NewReader(b), int64(len(b)), depth+1)
			if err != nil {
				errs = append(errs, err.Error())
			}
			out = append(out, nested...)
		}
	}
	own := 0
	for _, p := range out {
		if p.Location == loc {
			own++
		}
	}
	if own == 0 && manifest != nil {
		if b, err := readZipFile(manifest, 1<<20); err == nil {
			if p, ok := manifestPackage(parseManifest(b), path.Base(loc)); ok {
				p.Location = loc
				out = append(out, p)
			}
		}
	}
	if len(errs) > 0 {
		return out, fmt.Errorf("%s: %s", loc, strings.Join(errs, "; "))
	}
	return out, nil
}

func readZipFile(f *zip.File, limit int64) ([]byte, error) {
	rc, err := f.Open()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", f.Name, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, limit+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", f.Name, err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s: larger than %d bytes", f.Name, limit)
	}
	return b, nil
}

// parseProperties reads a Java .properties file (key=value or key: value).
func parseProperties(b []byte) map[string]string {
	m := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' || line[0] == '!' {
			continue
		}
		i := strings.IndexAny(line, "=:")
		if i < 0 {
			continue
		}
		m[strings.TrimSpace(line[:i])] = strings.TrimSpace(line[i+1:])
	}
	return m
}

// parseManifest reads a MANIFEST.MF main section (continuation lines start
// with one space).
func parseManifest(b []byte) map[string]string {
	m := map[string]string{}
	last := ""
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r")
		if line == "" {
			break // end of the main section
		}
		if line[0] == ' ' && last != "" {
			m[last] += line[1:]
			continue
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		last = strings.TrimSpace(k)
		m[last] = strings.TrimSpace(v)
	}
	return m
}

var jarVersionRE = regexp.MustCompile(`^(.+?)-(\d+(?:\.\d+)*(?:[.-][A-Za-z0-9]+)*)\.[a-z]+$`)

// manifestPackage builds a package from a manifest when the archive has no
// pom.properties: group from Implementation-Vendor-Id or the bundle's
// symbolic name, artifact from the title or the file name.
func manifestPackage(m map[string]string, file string) (Package, bool) {
	version := m["Implementation-Version"]
	if version == "" {
		version = m["Bundle-Version"]
	}
	artifact, group := m["Implementation-Title"], m["Implementation-Vendor-Id"]
	if sn, _, _ := strings.Cut(m["Bundle-SymbolicName"], ";"); sn != "" && group == "" {
		if i := strings.LastIndexByte(sn, '.'); i > 0 {
			group, artifact = sn[:i], sn[i+1:]
		}
	}
	if fm := jarVersionRE.FindStringSubmatch(file); fm != nil {
		if artifact == "" || strings.Contains(artifact, " ") {
			artifact = fm[1]
		}
		if version == "" {
			version = fm[2]
		}
	}
	if artifact == "" || version == "" || strings.Contains(artifact, " ") {
		return Package{}, false
	}
	name := artifact
	if group != "" {
		name = group + ":" + artifact
	}
	return Package{Type: TypeMaven, Name: name, Version: version}, true
}
