package sbom

import (
	"bufio"
	"bytes"
	"compress/zlib"
	"debug/elf"
	"encoding/json"
	"fmt"
	"io"
	"strings"
)

// Package types of the lockfile and archive catalogers (purl types).
const (
	TypeCargo    = "cargo"
	TypeComposer = "composer"
	TypeGem      = "gem"
	TypeMaven    = "maven"
	TypeRPM      = "rpm"
)

// parseCargoLock reads a Cargo.lock: every [[package]] with a registry
// source (workspace and path crates have none and are not published).
func parseCargoLock(b []byte) []Package {
	var out []Package
	var cur map[string]string
	flush := func() {
		if cur != nil && cur["name"] != "" && cur["version"] != "" && strings.HasPrefix(cur["source"], "registry+") {
			out = append(out, Package{Type: TypeCargo, Name: cur["name"], Version: cur["version"]})
		}
		cur = nil
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "[[package]]":
			flush()
			cur = map[string]string{}
		case strings.HasPrefix(line, "["):
			flush()
		case cur != nil:
			k, v, ok := strings.Cut(line, "=")
			if ok {
				cur[strings.TrimSpace(k)] = strings.Trim(strings.TrimSpace(v), `"`)
			}
		}
	}
	flush()
	return out
}

// parseCargoAuditable reads the dependency list `cargo auditable` embeds
// in a Rust binary: the zlib-compressed JSON of the .dep-v0 ELF section.
// ok is false when the binary has none.
func parseCargoAuditable(ra io.ReaderAt) ([]Package, bool, error) {
	ef, err := elf.NewFile(ra)
	if err != nil {
		return nil, false, nil
	}
	sec := ef.Section(".dep-v0")
	if sec == nil {
		return nil, false, nil
	}
	zr, err := zlib.NewReader(io.LimitReader(sec.Open(), 16<<20))
	if err != nil {
		return nil, true, fmt.Errorf("cargo auditable section: %w", err)
	}
	defer zr.Close()
	var deps struct {
		Packages []struct {
			Name    string `json:"name"`
			Version string `json:"version"`
			Source  string `json:"source"`
		} `json:"packages"`
	}
	if err := json.NewDecoder(io.LimitReader(zr, 64<<20)).Decode(&deps); err != nil {
		return nil, true, fmt.Errorf("cargo auditable section: %w", err)
	}
	var out []Package
	for _, p := range deps.Packages {
		if p.Name == "" || p.Version == "" || (p.Source != "crates.io" && p.Source != "") {
			continue // local, git and other registries are not on crates.io
		}
		out = append(out, Package{Type: TypeCargo, Name: p.Name, Version: p.Version})
	}
	return out, true, nil
}

// parseComposerLock reads a composer.lock (packages and packages-dev).
func parseComposerLock(b []byte) ([]Package, error) {
	var lock struct {
		Packages    []composerPkg `json:"packages"`
		PackagesDev []composerPkg `json:"packages-dev"`
	}
	if err := json.Unmarshal(b, &lock); err != nil {
		return nil, err
	}
	var out []Package
	for _, p := range append(lock.Packages, lock.PackagesDev...) {
		if p.Name == "" || p.Version == "" {
			continue
		}
		out = append(out, Package{Type: TypeComposer, Name: p.Name, Version: strings.TrimPrefix(p.Version, "v"), Licenses: p.License})
	}
	return out, nil
}

type composerPkg struct {
	Name    string   `json:"name"`
	Version string   `json:"version"`
	License []string `json:"license"`
}

// parseGemfileLock reads the gems of a Gemfile.lock: the "name (version)"
// lines indented by four spaces under a GEM section's specs (deeper lines
// are dependency constraints).
func parseGemfileLock(b []byte) []Package {
	var out []Package
	section, inSpecs := "", false
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			inSpecs = false
		case line[0] != ' ':
			section, inSpecs = strings.TrimSpace(line), false
		case strings.TrimSpace(line) == "specs:":
			inSpecs = section == "GEM"
		case inSpecs && strings.HasPrefix(line, "    ") && !strings.HasPrefix(line, "     "):
			name, ver, ok := strings.Cut(strings.TrimSpace(line), " (")
			if !ok {
				continue
			}
			ver = strings.TrimSuffix(ver, ")")
			// Platform gems: "nokogiri (1.15.4-x86_64-linux)".
			if i := strings.IndexByte(ver, '-'); i > 0 {
				ver = ver[:i]
			}
			out = append(out, Package{Type: TypeGem, Name: name, Version: ver})
		}
	}
	return out
}
