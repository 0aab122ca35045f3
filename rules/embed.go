// Package rules embeds Vigil's default ruleset (the *.yaml files of this
// directory), loaded by `vigil run`, `vigil replay` and `vigil rules
// validate` unless --no-default-rules is given. The files are written in
// Falco's rule language (see docs/rules.md).
package rules

import (
	"embed"
	"io/fs"
	"sort"
)

//go:embed *.yaml
var files embed.FS

// File is one embedded rules file.
type File struct {
	Name string // e.g. "rules/vigil_rules.yaml"
	Data []byte
}

// Default returns the embedded rules files sorted by name (load order).
func Default() []File {
	names, _ := fs.Glob(files, "*.yaml")
	sort.Strings(names)
	out := make([]File, 0, len(names))
	for _, n := range names {
		b, err := files.ReadFile(n)
		if err != nil {
			continue
		}
		out = append(out, File{Name: "rules/" + n, Data: b})
	}
	return out
}
