package agent

import (
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/vigilsec/vigil/internal/alert"
	"github.com/vigilsec/vigil/internal/rules"
	defaultrules "github.com/vigilsec/vigil/rules"
)

// yamlFiles expands configured files and directories: a file stands for
// itself, a directory for every *.yaml and *.yml inside it, in name order.
// what names the kind of file in errors ("rules", "policy").
func yamlFiles(what string, paths []string) ([]string, error) {
	var out []string
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		if !st.IsDir() {
			out = append(out, p)
			continue
		}
		ents, err := os.ReadDir(p)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		var names []string
		for _, e := range ents {
			if !e.IsDir() && (strings.HasSuffix(e.Name(), ".yaml") || strings.HasSuffix(e.Name(), ".yml")) {
				names = append(names, filepath.Join(p, e.Name()))
			}
		}
		sort.Strings(names)
		out = append(out, names...)
	}
	return out, nil
}

// loadRules reads and compiles the ruleset: the embedded defaults (when
// withDefaults) then the files. Errors (reading, or any rule error) leave
// no ruleset; warnings are returned with it.
func loadRules(withDefaults bool, paths []string, min alert.Priority) (*rules.Ruleset, error) {
	var files []rules.File
	if withDefaults {
		for _, f := range defaultrules.Default() {
			files = append(files, rules.File{Name: f.Name, Data: f.Data})
		}
	}
	names, err := yamlFiles("rules", paths)
	if err != nil {
		return nil, err
	}
	for _, n := range names {
		b, err := os.ReadFile(n)
		if err != nil {
			return nil, fmt.Errorf("rules: %w", err)
		}
		files = append(files, rules.File{Name: n, Data: b})
	}
	p := min
	rs := rules.LoadAndCompile(&rules.CompileOptions{MinPriority: &p}, files...)
	if err := rs.Err(); err != nil {
		return nil, fmt.Errorf("rules: %w", err)
	}
	return rs, nil
}

// rulesSignature fingerprints the rule files' names, sizes and mtimes (and
// the directories' listings), to notice changes by polling.
func rulesSignature(paths []string) string {
	h := sha256.New()
	names, err := yamlFiles("rules", paths)
	if err != nil {
		fmt.Fprintf(h, "error %v", err)
	}
	for _, n := range names {
		st, err := os.Stat(n)
		if err != nil {
			fmt.Fprintf(h, "%s missing\n", n)
			continue
		}
		fmt.Fprintf(h, "%s %d %d\n", n, st.Size(), st.ModTime().UnixNano())
	}
	return string(h.Sum(nil))
}
