package main

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/vigilsec/vigil/internal/event"
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
	return &cobra.Command{
		Use:   "validate [FILE...]",
		Short: "Load and compile rules files; exit 0 only when every file loads without error",
		Long: `Load the files in order (later definitions override earlier ones, as in Falco) and compile
every condition and output. For each file prints
  FILE: rules=N macros=M lists=K errors=E warnings=W
followed by each error and warning with its file:line:col. With no file, validates the embedded
default ruleset.`,
		Example: `  vigil rules validate
  vigil rules validate /etc/falco/falco_rules.yaml my_rules.yaml`,
		RunE: func(cmd *cobra.Command, args []string) error {
			files, err := ruleFiles(args, len(args) > 0)
			if err != nil {
				return err
			}
			rs := rules.LoadAndCompile(nil, files...)
			if n := printValidation(cmd.OutOrStdout(), rs); n > 0 {
				return withExitCode(1, fmt.Errorf("rules validate: %d error(s)", n))
			}
			return nil
		},
	}
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

func newRulesListCmd() *cobra.Command {
	var paths []string
	var noDefault bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the enabled rules: priority, name, event types, tags",
		Example: `  vigil rules list
  vigil rules list --no-default-rules -r /etc/falco/falco_rules.yaml`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			files, err := ruleFiles(paths, noDefault)
			if err != nil {
				return err
			}
			rs := rules.LoadAndCompile(nil, files...)
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
				fmt.Fprintf(w, "%-13s %s\n              types=%s tags=%s%s (%s)\n", r.Priority, termtext.String(r.Name), types,
					termtext.String(strings.Join(r.Tags, ",")), acts, termtext.String(r.Pos.String()))
			}
			fmt.Fprintf(w, "%d rules enabled, %d disabled, %d skipped (unsupported source)\n", len(rs.Rules), rs.Disabled, rs.Skipped)
			return nil
		},
	}
	cmd.Flags().StringArrayVarP(&paths, "rules", "r", nil, "rules file to load after the defaults (repeatable)")
	cmd.Flags().BoolVar(&noDefault, "no-default-rules", false, "do not load the embedded default ruleset")
	return cmd
}

func newRulesFieldsCmd() *cobra.Command {
	var markdown bool
	cmd := &cobra.Command{
		Use:   "fields",
		Short: "Document every field usable in conditions and outputs",
		Long:  `Print the field registry. --markdown prints docs/fields.md (a test checks the file is current).`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			w := cmd.OutOrStdout()
			if markdown {
				_, err := io.WriteString(w, event.FieldsMarkdown())
				return err
			}
			for _, f := range event.Fields() {
				fmt.Fprintf(w, "%-40s %-8s %s\n", f.Syntax(), f.Type, f.Doc)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&markdown, "markdown", false, "print Markdown (docs/fields.md)")
	return cmd
}
