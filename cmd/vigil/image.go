package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/vigilsec/vigil/internal/buildinfo"
	"github.com/vigilsec/vigil/internal/image"
	"github.com/vigilsec/vigil/internal/imagepolicy"
	"github.com/vigilsec/vigil/internal/posture/finding"
	"github.com/vigilsec/vigil/internal/progress"
	"github.com/vigilsec/vigil/internal/sbom"
	"github.com/vigilsec/vigil/internal/secrets"
	"github.com/vigilsec/vigil/internal/termtext"
	"github.com/vigilsec/vigil/internal/vuln"
)

// newImageCmd builds `vigil image`: sbom, scan and verify.
func newImageCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "image",
		Short: "SBOMs, vulnerability scans and trust checks for images",
		Long: `TARGET is an OCI image layout directory, an OCI or docker-archive tarball
(docker save), a root filesystem directory, or containerd://NAME (an image in
containerd's content store, namespace "default"; see --namespace).`,
	}
	cmd.AddCommand(newImageSBOMCmd(), newImageScanCmd(), newImageVerifyCmd())
	return cmd
}

type containerdFlags struct {
	address, namespace string
}

func (f *containerdFlags) add(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.address, "address", image.DefaultContainerdAddress, "containerd socket (containerd:// targets, --running)")
	cmd.Flags().StringVar(&f.namespace, "namespace", "", "containerd namespace (default \"default\"; --running: all)")
}

func (f *containerdFlags) opts() *image.ContainerdOptions {
	return &image.ContainerdOptions{Address: f.address, Namespace: f.namespace}
}

func openImage(ctx context.Context, target string, cf *containerdFlags) (*image.Image, error) {
	return openImageWith(ctx, target, cf, nil)
}

// openImageWith opens target showing progress on bar (nil: none).
func openImageWith(ctx context.Context, target string, cf *containerdFlags, bar *progress.Bar) (*image.Image, error) {
	if name, ok := strings.CutPrefix(target, "containerd://"); ok {
		o := cf.opts()
		if o.Namespace == "" {
			o.Namespace = image.DefaultContainerdNamespace
		}
		return image.OpenContainerd(ctx, name, o)
	}
	return image.OpenWith(target, &image.OpenOptions{Progress: bar})
}

// skippedWarning reports the paths of a root filesystem left out (pseudo-
// filesystems, unreadable or vanished files): one counted warning naming
// the first few.
func skippedWarning(cmd *cobra.Command, img *image.Image) {
	sk := img.Skipped()
	if len(sk) == 0 {
		return
	}
	const shown = 5
	var first []string
	for i := 0; i < len(sk) && i < shown; i++ {
		first = append(first, "/"+sk[i].Path+" ("+sk[i].Reason+")")
	}
	msg := fmt.Sprintf("%d paths of %s skipped (pseudo-filesystems, unreadable or vanished files): %s", len(sk), img.Target, strings.Join(first, ", "))
	if len(sk) > shown {
		msg += fmt.Sprintf(", and %d more", len(sk)-shown)
	}
	warn(cmd, msg, "skipped", len(sk))
}

func catalogTarget(cmd *cobra.Command, target string, cf *containerdFlags) (*sbom.SBOM, error) {
	s, _, err := catalogAndSecrets(cmd, target, cf, nil)
	return s, err
}

// catalogAndSecrets catalogs target and, with a secret scanner, scans it
// for secrets from the same opened image. Warnings go to standard error;
// a progress line is shown on a terminal.
func catalogAndSecrets(cmd *cobra.Command, target string, cf *containerdFlags, sec *secrets.Scanner) (*sbom.SBOM, []secrets.Finding, error) {
	bar := startProgress(cmd, cmd.Name()+" "+target)
	defer bar.Done()
	img, err := openImageWith(cmd.Context(), target, cf, bar)
	if err != nil {
		return nil, nil, err
	}
	defer img.Close()
	s, warns, err := sbom.Catalog(img)
	var found []secrets.Finding
	if err == nil && sec != nil {
		bar.Stage("secrets")
		found, err = sec.ScanImage(img)
	}
	bar.Done()
	for _, w := range warns {
		warn(cmd, fmt.Sprint(w))
	}
	skippedWarning(cmd, img)
	return s, found, err
}

func newImageSBOMCmd() *cobra.Command {
	var cf containerdFlags
	var rf *reportFlags
	cmd := &cobra.Command{
		Use:   "sbom TARGET",
		Short: "Write the software bill of materials of an image (CycloneDX 1.6 or SPDX 2.3 JSON)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := rf.check(); err != nil {
				return err
			}
			s, err := catalogTarget(cmd, args[0], &cf)
			if err != nil {
				return err
			}
			var buf bytes.Buffer
			o := &sbom.WriteOptions{ToolVersion: buildinfo.Version}
			if rf.format == "spdx" {
				err = sbom.WriteSPDX(&buf, s, o)
			} else {
				err = sbom.WriteCycloneDX(&buf, s, o)
			}
			if err != nil {
				return err
			}
			w, finish, err := rf.open(cmd)
			if err != nil {
				return err
			}
			_, err = w.Write(buf.Bytes())
			if err := finish(err); err != nil {
				return err
			}
			if rf.output != "" && rf.output != "-" {
				note(cmd, fmt.Sprintf("%s: %d packages written to %s", s.Subject.Name, len(s.Packages), rf.output))
			}
			return nil
		},
	}
	rf = addReportFlags(cmd, "", "cyclonedx", "spdx")
	cf.add(cmd)
	return cmd
}

// isSBOMFile reports whether target is a JSON file (an SBOM to scan).
func isSBOMFile(target string) bool {
	st, err := os.Stat(target)
	if err != nil || st.IsDir() {
		return false
	}
	f, err := os.Open(target)
	if err != nil {
		return false
	}
	defer f.Close()
	var b [512]byte
	n, _ := f.Read(b[:])
	return bytes.HasPrefix(bytes.TrimSpace(b[:n]), []byte("{"))
}

type scanReport struct {
	Target string `json:"target"`
	*vuln.Result
	// Secrets found in the image (layers, config environment) and, with
	// --running, in the containers' environments (--secrets).
	Secrets []secrets.Finding `json:"secrets,omitempty"`
}

func newImageScanCmd() *cobra.Command {
	var dbDir, severity string
	var asJSON, running bool
	var cf containerdFlags
	var sf secretFlags
	var rf *reportFlags
	cmd := &cobra.Command{
		Use:   "scan TARGET|SBOM",
		Short: "Scan an image or an SBOM for known vulnerabilities (offline OSV database)",
		Long: `Scan matches the packages of an image (or of a CycloneDX/SPDX JSON SBOM) against
an offline OSV database (see vigil db import). --running scans the images of
every running containerd container instead of TARGET.

--secrets also looks for secrets (private keys, cloud keys, tokens, passwords)
in every layer of the image and its config environment, and with --running in
each container's environment; --secret-rules FILE adds rules and allow-list
entries (see docs/images.md).

Exit status: 3 when a vulnerability or secret at the selected severities
reaches --fail-on, 1 on errors, 0 otherwise.`,
		Args: func(cmd *cobra.Command, args []string) error {
			if running {
				return cobra.NoArgs(cmd, args)
			}
			return cobra.ExactArgs(1)(cmd, args)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if asJSON {
				rf.format = "json"
			}
			if err := rf.check(); err != nil {
				return err
			}
			if dbDir == "" {
				return errors.New("--db is required (a directory made by vigil db import, or of OSV JSON files)")
			}
			var levels []string
			if severity != "" {
				for _, l := range strings.Split(severity, ",") {
					l = strings.ToUpper(strings.TrimSpace(l))
					if vuln.SeverityRank(l) == 0 && l != vuln.Unknown {
						return fmt.Errorf("--severity: unknown level %q (CRITICAL, HIGH, MEDIUM, LOW, NONE, UNKNOWN)", l)
					}
					levels = append(levels, l)
				}
			}
			sec, err := sf.scanner()
			if err != nil {
				return err
			}
			db, err := vuln.Open(dbDir)
			if err != nil {
				return err
			}
			defer db.Close()
			warnDB(cmd, dbDir, db)
			ctx := cmd.Context()
			var targets []string
			var reports []scanReport
			var envSecrets []secrets.Finding
			if running {
				rs, err := image.RunningContainers(ctx, cf.opts())
				if err != nil {
					return err
				}
				if sec != nil {
					var notes []string
					envSecrets, notes = runningEnvSecrets(sec, rs)
					for _, n := range notes {
						warn(cmd, fmt.Sprint(n))
					}
				}
				seen := map[string]bool{}
				for _, r := range rs {
					t := r.Namespace + "\x00" + r.Image
					if !seen[t] {
						seen[t] = true
						targets = append(targets, t)
					}
				}
			} else {
				targets = args
			}
			for _, t := range targets {
				var s *sbom.SBOM
				var found []secrets.Finding
				name := t
				if ns, img, ok := strings.Cut(t, "\x00"); ok {
					name = "containerd://" + img + " (namespace " + ns + ")"
					o := cf.opts()
					o.Namespace = ns
					i, err := image.OpenContainerd(ctx, img, o)
					if err != nil {
						return err
					}
					s, _, err = sbom.Catalog(i)
					if err == nil && sec != nil {
						found, err = sec.ScanImage(i)
					}
					i.Close()
					if err != nil {
						return err
					}
				} else if isSBOMFile(t) {
					f, err := os.Open(t)
					if err != nil {
						return err
					}
					s, err = sbom.Read(f)
					f.Close()
					if err != nil {
						return fmt.Errorf("%s: %w", t, err)
					}
					if sec != nil {
						note(cmd, t+" is an SBOM: no files to scan for secrets")
					}
				} else if s, found, err = catalogAndSecrets(cmd, t, &cf, sec); err != nil {
					return err
				}
				res, err := db.Scan(s)
				if err != nil {
					return err
				}
				res.ApplyFilter(levels)
				reports = append(reports, scanReport{Target: name, Result: res, Secrets: found})
			}
			if len(envSecrets) > 0 {
				reports = append(reports, scanReport{Target: "running containers' environment", Result: &vuln.Result{Findings: []vuln.Finding{}}, Secrets: envSecrets})
			}
			w, finish, err := rf.open(cmd)
			if err != nil {
				return err
			}
			if rf.format == "json" {
				enc := json.NewEncoder(w)
				enc.SetIndent("", "  ")
				var v any = reports
				if !running && len(reports) == 1 {
					v = reports[0]
				}
				err = enc.Encode(v)
			} else {
				for _, r := range reports {
					writeScanTable(w, r)
					writeSecretsTable(w, r.Secrets)
				}
			}
			if err := finish(err); err != nil {
				return err
			}
			var sevs []finding.Severity
			for _, r := range reports {
				for _, f := range r.Findings {
					sevs = append(sevs, vulnSeverity(f.Severity))
				}
				for _, f := range r.Secrets {
					sevs = append(sevs, vulnSeverity(f.Severity))
				}
			}
			return rf.verdict("vulnerabilities or secrets", sevs...)
		},
	}
	rf = addReportFlags(cmd, failOnNone, "table", "json")
	cmd.Flags().StringVar(&dbDir, "db", "", "vulnerability database directory")
	cmd.Flags().StringVar(&severity, "severity", "", "report only these severities (comma-separated: CRITICAL,HIGH,MEDIUM,LOW,NONE,UNKNOWN)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "same as --format json")
	cmd.Flags().BoolVar(&running, "running", false, "scan the images of running containerd containers")
	cmd.Flags().BoolVar(&sf.enabled, "secrets", false, "also scan the image's layers and config (and, with --running, the containers' environment) for secrets")
	cmd.Flags().StringVar(&sf.rules, "secret-rules", "", "extra secret rules and allow-list entries (YAML; implies --secrets)")
	cf.add(cmd)
	return cmd
}

func shortDigest(d string) string {
	if h, ok := strings.CutPrefix(d, "sha256:"); ok && len(h) > 12 {
		return h[:12]
	}
	return d
}

func writeScanTable(w io.Writer, r scanReport) {
	fmt.Fprintf(w, "%s: %d packages, %d vulnerabilities\n", termtext.String(r.Target), r.Packages, len(r.Findings))
	if len(r.Findings) > 0 {
		tw := termtext.NewTable(w, "PACKAGE", "VERSION", "VULNERABILITY", "SEVERITY", "SCORE", "FIXED IN", "LAYER")
		for _, f := range r.Findings {
			score := ""
			if f.Score > 0 {
				score = fmt.Sprintf("%.1f", f.Score)
			}
			fixed := strings.Join(f.FixedVersions, ", ")
			if fixed == "" {
				fixed = "-"
			}
			name := f.Package.Name
			if f.MatchedName != f.Package.Name {
				name += " (" + f.MatchedName + ")"
			}
			tw.Row(name, f.Package.Version, f.ID, f.Severity, score, fixed, shortDigest(f.Package.Layer))
		}
		tw.Flush()
	}
	for _, n := range r.Notes {
		fmt.Fprintln(w, "note:", termtext.String(n))
	}
	if r.HiddenUnknown > 0 {
		fmt.Fprintf(w, "note: %d findings of UNKNOWN severity hidden by --severity (add UNKNOWN to see them)\n", r.HiddenUnknown)
	}
}

// warnDB says when a database cannot find anything (no records) and how
// many records of a plain OSV directory could not be read.
func warnDB(cmd *cobra.Command, dir string, db *vuln.DB) {
	if db.Len() == 0 {
		warn(cmd, "vulnerability database "+dir+" holds no records: the scan cannot find anything (run vigil db import)")
	}
	if n := len(db.Skipped); n > 0 {
		var first []string
		for i, e := range db.Skipped {
			if i == 5 {
				first = append(first, fmt.Sprintf("and %d more", n-i))
				break
			}
			first = append(first, fmt.Sprint(e))
		}
		warn(cmd, fmt.Sprintf("%d unparsable OSV records in %s skipped: %s", n, dir, strings.Join(first, "; ")), "skipped", n)
	}
}

func newImageVerifyCmd() *cobra.Command {
	var policyFile, ref string
	var asJSON bool
	var cf containerdFlags
	var rf *reportFlags
	cmd := &cobra.Command{
		Use:   "verify TARGET --policy FILE",
		Short: "Check an image against a trust policy (registries, digest pinning, tags, user, minimal image)",
		Long: `Verify evaluates a YAML trust policy (see docs/images.md). The reference checked
is --ref, else the image's own name (OCI ref.name annotation, docker-archive tag
or containerd name). A violation is a finding of severity high: exit status 3
when it reaches --fail-on (high by default), 1 on errors, 0 otherwise.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if asJSON {
				rf.format = "json"
			}
			if err := rf.check(); err != nil {
				return err
			}
			if policyFile == "" {
				return errors.New("--policy is required")
			}
			p, err := imagepolicy.Load(policyFile)
			if err != nil {
				return err
			}
			img, err := openImage(cmd.Context(), args[0], &cf)
			if err != nil {
				return err
			}
			defer img.Close()
			rep, err := imagepolicy.Verify(p, ref, img)
			if err != nil {
				return err
			}
			w, finish, err := rf.open(cmd)
			if err != nil {
				return err
			}
			if rf.format == "json" {
				enc := json.NewEncoder(w)
				enc.SetIndent("", "  ")
				err = enc.Encode(rep)
			} else {
				fmt.Fprintf(w, "image: %s\nuser: %q\nshells: %s\npackage managers: %s\n", termtext.String(orDash(rep.Reference)), rep.User,
					termtext.String(orDash(strings.Join(rep.Shells, ", "))), termtext.String(orDash(strings.Join(rep.PackageManagers, ", "))))
				for _, v := range rep.Violations {
					fmt.Fprintf(w, "VIOLATION %s: %s\n", v.Rule, termtext.String(v.Message))
				}
				if rep.Trusted() {
					fmt.Fprintln(w, "trusted: the image satisfies the policy")
				}
			}
			if err := finish(err); err != nil {
				return err
			}
			sevs := make([]finding.Severity, len(rep.Violations))
			for i := range sevs {
				sevs[i] = finding.High
			}
			return rf.verdict("policy violations", sevs...)
		},
	}
	rf = addReportFlags(cmd, "high", "table", "json")
	cmd.Flags().StringVar(&policyFile, "policy", "", "trust policy YAML file")
	cmd.Flags().StringVar(&ref, "ref", "", "reference the image is deployed by (default: the image's own name)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "same as --format json")
	cf.add(cmd)
	return cmd
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
