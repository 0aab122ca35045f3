package buildinfo

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"sort"
)

// Set at link time (see the package doc).
var (
	Version = "dev"
	Commit  = "unknown"
	Date    = "unknown"
)

// Object is one embedded BPF object and its SHA-256.
type Object struct {
	Name   string `json:"name"`
	SHA256 string `json:"sha256"`
}

// Info is everything `vigil version` prints.
type Info struct {
	Version   string   `json:"version"`
	Commit    string   `json:"commit"`
	Date      string   `json:"date"`
	GoVersion string   `json:"go_version"`
	Platform  string   `json:"platform"`
	Objects   []Object `json:"bpf_objects"`
}

// Read returns the build information; objects maps each embedded BPF
// object's name to its bytes. Objects are listed in name order.
func Read(objects map[string][]byte) Info {
	in := Info{Version: Version, Commit: Commit, Date: Date, GoVersion: runtime.Version(),
		Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if in.Commit == "unknown" {
		if bi, ok := debug.ReadBuildInfo(); ok {
			for _, s := range bi.Settings {
				if s.Key == "vcs.revision" {
					in.Commit = s.Value
				}
			}
		}
	}
	for name, b := range objects {
		sum := sha256.Sum256(b)
		in.Objects = append(in.Objects, Object{Name: name, SHA256: hex.EncodeToString(sum[:])})
	}
	sort.Slice(in.Objects, func(i, j int) bool { return in.Objects[i].Name < in.Objects[j].Name })
	return in
}

// WriteText writes the human form: one "key: value" line each, then one
// line per BPF object.
func (in Info) WriteText(w io.Writer) error {
	_, err := fmt.Fprintf(w, "version:    %s\ncommit:     %s\nbuild date: %s\ngo:         %s\nplatform:   %s\n",
		in.Version, in.Commit, in.Date, in.GoVersion, in.Platform)
	for _, o := range in.Objects {
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(w, "bpf object: %s sha256:%s\n", o.Name, o.SHA256)
	}
	return err
}
