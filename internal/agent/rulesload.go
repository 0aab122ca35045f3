package agent

import (
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/vigilsec/vigil/internal/alert"
	"github.com/vigilsec/vigil/internal/config"
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
// withDefaults) then the files. A file that cannot be read leaves no
// ruleset. Rules that do not compile leave none either when onError is
// "fail"; with "skip" the ruleset of the others is returned and its
// Broken lists the skipped ones (see reportBroken).
func loadRules(sel config.Rules, onError string) (*rules.Ruleset, error) {
	var files []rules.File
	if sel.Default {
		for _, f := range defaultrules.Default() {
			files = append(files, rules.File{Name: f.Name, Data: f.Data})
		}
	}
	names, err := yamlFiles("rules", sel.Files)
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
	rs := rules.LoadAndCompile(compileOptions(sel), files...)
	if err := rs.Err(); err != nil && onError != config.RulesOnErrorSkip {
		return nil, fmt.Errorf("rules: %w", err)
	}
	return rs, nil
}

// compileOptions are the options the configuration gives the rules
// compiler: the minimum priority and the tags selected.
func compileOptions(sel config.Rules) *rules.CompileOptions {
	p := sel.MinPriority
	return &rules.CompileOptions{MinPriority: &p, EnableTags: sel.EnableTags, DisableTags: sel.DisableTags}
}

// RuleSkipped is the internal alert raised, with rules.on_error: skip, for
// each rule (or rules file) left out because it does not compile.
const RuleSkipped = "Vigil rule skipped"

// reportBroken logs the errors of a ruleset loaded with on_error: skip and
// raises one internal alert per skipped rule or file, naming it with its
// file:line:col and the first error.
func (a *Agent) reportBroken(rs *rules.Ruleset) {
	for _, d := range rs.Diags.Errors() {
		a.log.Error("rules", "error", d.Error())
	}
	for _, d := range rs.Broken {
		what := "rules file " + d.File
		if d.Name != "" {
			what = d.Kind + " " + strconv.Quote(d.Name)
		}
		a.raiseInternal(RuleSkipped, alert.PriorityError,
			"Vigil skipped "+what+" at "+d.Pos.String()+", the other rules are in force (error="+d.Msg+")",
			alert.Field{Name: "vigil.rule", Value: d.Name}, alert.Field{Name: "vigil.position", Value: d.Pos.String()},
			alert.Field{Name: "vigil.error", Value: d.Msg})
	}
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
