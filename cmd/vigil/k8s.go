package main

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/vigilsec/vigil/internal/buildinfo"
	"github.com/vigilsec/vigil/internal/compliance"
	"github.com/vigilsec/vigil/internal/posture/audit"
	"github.com/vigilsec/vigil/internal/posture/finding"
	"github.com/vigilsec/vigil/internal/posture/manifest"
	"github.com/vigilsec/vigil/internal/posture/rbac"
	"github.com/vigilsec/vigil/internal/termtext"
)

func newK8sCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "k8s", Short: "Audit Kubernetes manifests (RBAC, workloads, network policies)"}
	cmd.AddCommand(newK8sAuditCmd(), newK8sWhoCanCmd(), newK8sAdviseCmd())
	return cmd
}

func newK8sAuditCmd() *cobra.Command {
	var registries []string
	var strict bool
	var sf secretFlags
	var rf *reportFlags
	cmd := &cobra.Command{
		Use:   "audit PATH...",
		Short: "Audit manifests (files, directories, - for stdin) for RBAC, workload and network-policy risks",
		Long: `Audit Kubernetes manifests: YAML or JSON, multi-document files, List kinds,
directories (recursively), Helm-rendered output and kubectl get -o yaml dumps.
Secrets written in env values, ConfigMaps and annotations are reported
(VGL-SEC-001); --secret-rules adds secret rules and allow-list entries.

Exit status: 0 when no finding reaches --fail-on, 3 when one does, 1 on error
(and, with --strict, when a document could not be decoded).`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := rf.check(); err != nil {
				return err
			}
			bar := startProgress(cmd, "k8s audit")
			defer bar.Done()
			bar.Stage("loading manifests")
			inv, err := manifest.Load(args...)
			if err != nil {
				return err
			}
			mapping, err := compliance.Default()
			if err != nil {
				return err
			}
			sf.enabled = true
			sec, err := sf.scanner()
			if err != nil {
				return err
			}
			opts := &audit.Options{Mapper: mapping, Secrets: sec}
			opts.Workload.AllowedRegistries = registries
			bar.Stage(fmt.Sprintf("auditing %d objects", len(inv.Objects)))
			rep := audit.Run(inv, opts)
			bar.Done()
			out, finish, err := rf.open(cmd)
			if err != nil {
				return err
			}
			switch rf.format {
			case "table":
				err = rep.WriteTable(out)
			case "json":
				err = rep.WriteJSON(out)
			case "sarif":
				err = rep.WriteSARIF(out, audit.SARIFOptions{Base: rf.sarifBase, ToolVersion: buildinfo.Version})
			}
			if err := finish(err); err != nil {
				return err
			}
			if strict && len(rep.Errors) > 0 {
				return fmt.Errorf("k8s audit: %d document(s) could not be decoded", len(rep.Errors))
			}
			sevs := make([]finding.Severity, len(rep.Findings))
			for i := range rep.Findings {
				sevs[i] = rep.Findings[i].Severity
			}
			return rf.verdict("findings", sevs...)
		},
	}
	rf = addReportFlags(cmd, failOnNone, "table", "json", "sarif")
	cmd.Flags().BoolVar(&strict, "strict", false, "exit 1 when a document cannot be decoded")
	cmd.Flags().StringVar(&sf.rules, "secret-rules", "", "extra secret rules and allow-list entries (YAML, see docs/images.md)")
	cmd.Flags().StringSliceVar(&registries, "allowed-registries", nil, "registries (or registry/path prefixes) images may come from; enables VGL-WL-036")
	return cmd
}

func newK8sWhoCanCmd() *cobra.Command {
	var ns, format string
	cmd := &cobra.Command{
		Use:   "who-can VERB RESOURCE PATH...",
		Short: "List the subjects that may VERB RESOURCE (e.g. create pods/exec), and through which binding and role",
		Long: `RESOURCE is kubectl-style: pods, pods/exec, deployments.apps, secrets.
Without -n every grant is listed with its scope; with -n only grants that apply
in that namespace (cluster-wide or bound there).`,
		Args: cobra.MinimumNArgs(3),
		RunE: func(cmd *cobra.Command, args []string) error {
			inv, err := manifest.Load(args[2:]...)
			if err != nil {
				return err
			}
			a := rbac.New(inv)
			q := rbac.ParseQuery(args[0], args[1], ns)
			answers := a.WhoCan(q)
			out := cmd.OutOrStdout()
			if format == "json" {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				if answers == nil {
					answers = []rbac.Answer{}
				}
				return enc.Encode(answers)
			}
			if len(answers) == 0 {
				fmt.Fprintf(out, "nobody in these manifests can %s\n", q)
				return nil
			}
			tw := termtext.NewTable(out, "SUBJECT", "SCOPE", "BINDING", "ROLE", "RULE FROM", "RESOURCE NAMES")
			for _, an := range answers {
				tw.Row(an.Subject.String(), an.Scope, an.Binding.String(), an.Role.String(), an.RuleFrom.String(), strings.Join(an.ResourceNames, ","))
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			for _, n := range a.Notes {
				fmt.Fprintln(out, "note:", termtext.String(n))
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&ns, "namespace", "n", "", "only grants that apply in this namespace")
	cmd.Flags().StringVarP(&format, "format", "f", "table", "output format: table or json")
	return cmd
}
