package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/vigilsec/vigil/internal/event"
	"github.com/vigilsec/vigil/internal/posture/finding"
	"github.com/vigilsec/vigil/internal/rules"
	"github.com/vigilsec/vigil/internal/termtext"
	defaultrules "github.com/vigilsec/vigil/rules"
)

func newRulesCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "rules",
		Short: "Validate, list and document rules",
		Long: `Work with rules written in Falco's rule language (docs/rules.md). The embedded default
ruleset is used when no file is given.`,
	}
	cmd.AddCommand(newRulesValidateCmd(), newRulesListCmd(), newRulesFieldsCmd())
	return cmd
}

// ruleFiles returns the files to load: the embedded defaults (unless
// noDefault) followed by the given paths, in order.
func ruleFiles(paths []string, noDefault bool) ([]rules.File, error) {
	var files []rules.File
	if !noDefault {
		for _, f := range defaultrules.Default() {
			files = append(files, rules.File{Name: f.Name, Data: f.Data})
		}
	}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("read rules: %w", err)
		}
		files = append(files, rules.File{Name: p, Data: b})
	}
	return files, nil
}

func newRulesValidateCmd() *cobra.Command {
	var rf *reportFlags
	cmd := &cobra.Command{
		Use:   "validate [FILE...]",
		Short: "Load and compile rules files; exit 0 only when every file loads without error",
		Long: `Load the files in order (later definitions override earlier ones, as in Falco) and compile
every condition and output. For each file prints
  FILE: rules=N macros=M lists=K errors=E warnings=W
followed by each error and warning with its file:line:col (-f json: {"files": [...],
"diagnostics": [...]}). With no file, validates the embedded default ruleset.

An error is a finding of severity high, a warning one of severity low: exit status 3 when one
reaches --fail-on (high by default: errors), 1 when a file cannot be read, 0 otherwise.`,
		Example: `  vigil rules validate
  vigil rules validate /etc/falco/falco_rules.yaml my_rules.yaml`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := rf.check(); err != nil {
				return err
			}
			files, err := ruleFiles(args, len(args) > 0)
			if err != nil {
				return err
			}
			rs := rules.LoadAndCompile(nil, files...)
			w, finish, err := rf.open(cmd)
			if err != nil {
				return err
			}
			if rf.format == "json" {
				err = writeValidationJSON(w, rs)
			} else {
				printValidation(w, rs)
			}
			if err := finish(err); err != nil {
				return err
			}
			sevs := make([]finding.Severity, len(rs.Diags))
			for i, d := range rs.Diags {
				sevs[i] = finding.High
				if d.Warning {
					sevs[i] = finding.Low
				}
			}
			return rf.verdict("diagnostics", sevs...)
		},
	}
	rf = addReportFlags(cmd, "high", "text", "json")
	return cmd
}

// writeValidationJSON writes the per-file counts and the diagnostics of rs.
func writeValidationJSON(w io.Writer, rs *rules.Ruleset) error {
	type file struct {
		Name     string `json:"name"`
		Rules    int    `json:"rules"`
		Macros   int    `json:"macros"`
		Lists    int    `json:"lists"`
		Errors   int    `json:"errors"`
		Warnings int    `json:"warnings"`
	}
	type diag struct {
		File     string `json:"file"`
		Line     int    `json:"line"`
		Column   int    `json:"column"`
		Severity string `json:"severity"` // error or warning
		Kind     string `json:"kind,omitempty"`
		Name     string `json:"name,omitempty"`
		Message  string `json:"message"`
	}
	out := struct {
		Files       []file `json:"files"`
		Diagnostics []diag `json:"diagnostics"`
	}{Files: []file{}, Diagnostics: []diag{}}
	for _, f := range rs.Files {
		out.Files = append(out.Files, file{f.Name, f.Rules, f.Macros, f.Lists, f.Errors, f.Warnings})
	}
	for _, d := range rs.Diags {
		sev := "error"
		if d.Warning {
			sev = "warning"
		}
		out.Diagnostics = append(out.Diagnostics, diag{d.File, d.Line, d.Col, sev, d.Kind, d.Name, d.Msg})
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}

// printValidation prints per-file counts and diagnostics; it returns the
// number of errors.
func printValidation(w io.Writer, rs *rules.Ruleset) int {
	errs := 0
	for _, f := range rs.Files {
		fmt.Fprintf(w, "%s: rules=%d macros=%d lists=%d errors=%d warnings=%d\n",
			termtext.String(f.Name), f.Rules, f.Macros, f.Lists, f.Errors, f.Warnings)
		for _, d := range rs.Diags {
			if d.File == f.Name {
				fmt.Fprintf(w, "  %s\n", termtext.String(d.Error()))
			}
		}
		errs += f.Errors
	}
	// Diagnostics without a file (none expected) are still shown.
	for _, d := range rs.Diags {
		if d.File == "" {
			fmt.Fprintf(w, "  %s\n", termtext.String(d.Error()))
			if !d.Warning {
				errs++
			}
		}
	}
	return errs
}

// tagFlags select the rules by tag, as falco -t and -T do (the
// configuration's rules.enable_tags and rules.disable_tags).
type tagFlags struct{ enable, disable []string }

func (t *tagFlags) add(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringArrayVarP(&t.enable, "enable-tag", "t", nil, "run only the rules having this tag (repeatable; rules.enable_tags)")
	f.StringArrayVarP(&t.disable, "disable-tag", "T", nil, "do not run the rules having this tag (repeatable, wins over -t; rules.disable_tags)")
}

// options sets the selection in o and returns it.
func (t *tagFlags) options(o *rules.CompileOptions) *rules.CompileOptions {
	o.EnableTags, o.DisableTags = t.enable, t.disable
	return o
}

func newRulesListCmd() *cobra.Command {
	var paths []string
	var noDefault bool
	var tags tagFlags
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the enabled rules: priority, name, event types, tags",
		Example: `  vigil rules list
  vigil rules list --no-default-rules -r /etc/falco/falco_rules.yaml
  vigil rules list -T host -t mitre_credential_access`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			files, err := ruleFiles(paths, noDefault)
			if err != nil {
				return err
			}
			rs := rules.LoadAndCompile(tags.options(&rules.CompileOptions{}), files...)
			if err := rs.Err(); err != nil {
				return fmt.Errorf("rules list: %w", err)
			}
			w := cmd.OutOrStdout()
			for _, r := range rs.Rules {
				types := r.Types.String()
				acts := ""
				for i, a := range r.Actions {
					if i == 0 {
						acts = " actions="
					} else {
						acts += ","
					}
					acts += string(a)
				}
				if r.State != nil {
					acts += " " + r.State.String()
				}
				fmt.Fprintf(w, "%-13s %s\n              types=%s tags=%s%s (%s)\n", r.Priority, termtext.String(r.Name), types,
					termtext.String(strings.Join(r.Tags, ",")), termtext.String(acts), termtext.String(r.Pos.String()))
			}
			fmt.Fprintf(w, "%d rules enabled, %d disabled, %d skipped (unsupported source)\n", len(rs.Rules), rs.Disabled, rs.Skipped)
			return nil
		},
	}
	cmd.Flags().StringArrayVarP(&paths, "rules", "r", nil, "rules file to load after the defaults (repeatable)")
	cmd.Flags().BoolVar(&noDefault, "no-default-rules", false, "do not load the embedded default ruleset")
	tags.add(cmd)
	return cmd
}

func newRulesFieldsCmd() *cobra.Command {
	var markdown bool
	var format string
	cmd := &cobra.Command{
		Use:   "fields",
		Short: "Document every field usable in conditions and outputs",
		Long: `Print the field registry. --markdown prints docs/fields.md (a test checks the file is current);
--format json prints one object per field: name, syntax, class and type as Falco's reference names them
(class process for proc.* and thread.*; type CHARBUF, INT64, UINT64, BOOL, IPADDR, IPNET, RELTIME, ABSTIME),
source (syscall, k8s_audit or any), list, filter_only, doc.`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			w := cmd.OutOrStdout()
			if markdown {
				_, err := io.WriteString(w, event.FieldsMarkdown())
				return err
			}
			switch format {
			case "json":
				enc := json.NewEncoder(w)
				enc.SetIndent("", "  ")
				return enc.Encode(event.FieldsJSON())
			case "text":
			default:
				return fmt.Errorf("rules fields: --format %q: want text or json", format)
			}
			for _, f := range event.Fields() {
				fmt.Fprintf(w, "%-40s %-8s %s\n", f.Syntax(), f.Type, f.Doc)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&markdown, "markdown", false, "print Markdown (docs/fields.md)")
	cmd.Flags().StringVar(&format, "format", "text", "text or json")
	return cmd
}
