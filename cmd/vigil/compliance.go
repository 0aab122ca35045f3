package main

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/vigilsec/vigil/internal/api"
	"github.com/vigilsec/vigil/internal/compliance"
	"github.com/vigilsec/vigil/internal/policy"
	"github.com/vigilsec/vigil/internal/posture/audit"
	"github.com/vigilsec/vigil/internal/posture/finding"
	"github.com/vigilsec/vigil/internal/posture/manifest"
	"github.com/vigilsec/vigil/internal/store"
	"github.com/vigilsec/vigil/internal/termtext"
)

func newComplianceCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "compliance", Short: "Compliance reports (PCI-DSS, HIPAA, NIST SP 800-190, CIS)"}
	cmd.AddCommand(newComplianceReportCmd(), newComplianceFrameworksCmd())
	return cmd
}

func newComplianceFrameworksCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "frameworks",
		Short: "List the frameworks and how many controls each maps",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			m, err := compliance.Default()
			if err != nil {
				return err
			}
			tw := termtext.NewTable(cmd.OutOrStdout(), "ID", "NAME", "VERSION", "CONTROLS", "ALIASES")
			for _, f := range m.Frameworks {
				tw.Row(f.ID, f.Name, f.Version, strconv.Itoa(len(f.Controls)), strings.Join(f.Aliases, ","))
			}
			return tw.Flush()
		},
	}
}

func newComplianceReportCmd() *cobra.Command {
	var framework, storePath, period string
	var rf *reportFlags
	var manifests, enforcement, policies []string
	cmd := &cobra.Command{
		Use:   "report --framework F [--manifests PATH...] [--db DB] [--policies FILE...]",
		Short: "Per-control pass/fail/partial/manual evidence for a framework (JSON, Markdown or HTML)",
		Long: `Build a compliance evidence report for one framework (see 'vigil compliance
frameworks'). Evidence: findings of a manifest audit (--manifests), alert counts
by rule tag over --period from the alert database (--db), and the enforcement
in place (--policies: prevention policy files in enforce mode; --enforcement:
capabilities by name). The report is evidence for an assessor, not a
certification.

A failing control is a finding with the severity of its worst finding (high
when it has none): exit status 3 when one reaches --fail-on, 1 on errors, 0
otherwise.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if rf.format == "md" {
				rf.format = "markdown"
			}
			if err := rf.check(); err != nil {
				return err
			}
			m, err := compliance.Default()
			if err != nil {
				return err
			}
			fw, err := m.Framework(framework)
			if err != nil {
				return fmt.Errorf("--framework: %w", err)
			}
			now := time.Now().UTC()
			in := compliance.Inputs{Now: now}
			if len(manifests) > 0 {
				inv, err := manifest.Load(manifests...)
				if err != nil {
					return fmt.Errorf("compliance report: %w", err)
				}
				rep := audit.Run(inv, &audit.Options{Mapper: m})
				in.Findings, in.ManifestsAudited = rep.Findings, true
				in.ManifestSource = strings.Join(manifests, ", ")
				for _, e := range rep.Errors {
					warn(cmd, fmt.Sprint(e))
				}
			}
			var caps []string
			for _, c := range enforcement {
				if !slices.Contains(compliance.Capabilities, c) {
					return fmt.Errorf("--enforcement: unknown capability %q (known: %s)", c, strings.Join(compliance.Capabilities, ", "))
				}
				caps = append(caps, c)
			}
			if len(policies) > 0 {
				ps, err := policy.ParseFiles(policies...)
				if err != nil {
					return fmt.Errorf("compliance report: %w", err)
				}
				for _, p := range ps {
					if p.Mode.String() != "enforce" {
						continue
					}
					if p.HasProcess() {
						caps = append(caps, "enforce-process")
					}
					if p.HasFile() {
						caps = append(caps, "enforce-file")
					}
					if p.HasEgress() || p.HasBind() {
						caps = append(caps, "enforce-network")
					}
				}
			}
			if storePath != "" {
				since, err := api.ParseTime(period, now)
				if err != nil || !since.Before(now) {
					return fmt.Errorf("--period: want a positive duration like 30d or 12h, got %q", period)
				}
				st, err := store.OpenExisting(storePath)
				if err != nil {
					return fmt.Errorf("compliance report: %w", err)
				}
				defer st.Close()
				in.Alerts = &compliance.StoreCounter{Store: st}
				in.Since, in.Until = since, now
				caps = append(caps, "alert-store", "runtime-detection")
			}
			if len(caps) > 0 || len(enforcement) > 0 || len(policies) > 0 || storePath != "" {
				slices.Sort(caps)
				in.Enforcement = slices.Compact(caps)
				if in.Enforcement == nil {
					in.Enforcement = []string{}
				}
			}
			rep, err := compliance.Evaluate(cmd.Context(), fw, in)
			if err != nil {
				return err
			}
			w, finish, err := rf.open(cmd)
			if err != nil {
				return fmt.Errorf("compliance report: %w", err)
			}
			switch rf.format {
			case "json":
				err = rep.WriteJSON(w)
			case "markdown":
				err = rep.WriteMarkdown(w)
			case "html":
				err = rep.WriteHTML(w)
			}
			if err := finish(err); err != nil {
				return err
			}
			var sevs []finding.Severity
			for _, res := range rep.Results {
				if res.Status != compliance.Fail {
					continue
				}
				worst := finding.High
				if len(res.Findings) > 0 {
					worst = finding.Info
					for _, f := range res.Findings {
						worst = max(worst, f.Severity)
					}
				}
				sevs = append(sevs, worst)
			}
			return rf.verdict("failing controls", sevs...)
		},
	}
	cmd.Flags().StringVar(&framework, "framework", "", "framework id or alias: pci-dss-4.0 (pci), hipaa, nist-800-190 (nist), cis-k8s (cis)")
	cmd.Flags().StringSliceVar(&manifests, "manifests", nil, "manifests to audit for evidence")
	cmd.Flags().StringVar(&storePath, "db", "", "alert database for alert counts (e.g. "+store.DefaultPath+")")
	cmd.Flags().StringVar(&storePath, "store", "", "same as --db")
	_ = cmd.Flags().MarkDeprecated("store", "use --db")
	cmd.Flags().StringVar(&period, "period", "30d", "alert period ending now (30d, 12h, ...)")
	cmd.Flags().StringSliceVar(&policies, "policies", nil, "prevention policy files; those in enforce mode count as enforcement in place")
	cmd.Flags().StringSliceVar(&enforcement, "enforcement", nil, "capabilities in place: "+strings.Join(compliance.Capabilities, ", "))
	rf = addReportFlags(cmd, failOnNone, "markdown", "json", "html")
	_ = cmd.MarkFlagRequired("framework")
	return cmd
}
