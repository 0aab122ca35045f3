package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/vigilsec/vigil/internal/alert"
	"github.com/vigilsec/vigil/internal/engine"
	"github.com/vigilsec/vigil/internal/event"
	"github.com/vigilsec/vigil/internal/k8saudit"
	"github.com/vigilsec/vigil/internal/pipeline"
	"github.com/vigilsec/vigil/internal/posture/finding"
	"github.com/vigilsec/vigil/internal/rules"
)

type replayOpts struct {
	rules     []string
	noDefault bool
	tags      tagFlags
	hostname  string
	first     bool
	minPrio   string
	report    *reportFlags
}

func newReplayCmd() *cobra.Command {
	var o replayOpts
	cmd := &cobra.Command{
		Use:   "replay CAPTURE|AUDIT_LOG",
		Short: "Evaluate rules over a capture written by vigil trace --json, or a Kubernetes audit log",
		Long: `Read a capture (JSON lines written by vigil trace --json; "-" for stdin) or a Kubernetes audit log (JSON lines
of audit.k8s.io Events, as the API server's log backend writes them: rules of source k8s_audit), evaluate the rules over
every event in order and print one alert per line in Falco's JSON alert shape, byte for byte as vigil run writes it for the
same match (uuid, time, rule, priority, source, hostname, output, output_fields, tags, vigil). The same capture and rules always give
byte-identical output. The embedded default rules are loaded first unless --no-default-rules;
-r adds files in order (later definitions override earlier ones). A summary goes to stderr.
-f text writes the one-line text form instead.

An alert is a finding of its priority's severity (Emergency, Alert, Critical: critical; Error: high;
Warning: medium; Notice: low; Informational, Debug: info): exit status 3 when one reaches --fail-on,
1 on errors, 0 otherwise.`,
		Example: `  vigil replay capture.jsonl
  vigil replay --no-default-rules -r /etc/falco/falco_rules.yaml capture.jsonl
  vigil replay --no-default-rules -r k8s_audit_rules.yaml /var/log/kubernetes/audit.log`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error { return runReplay(cmd, &o, args[0]) },
	}
	f := cmd.Flags()
	f.StringArrayVarP(&o.rules, "rules", "r", nil, "rules file (repeatable, loaded in order after the defaults)")
	f.BoolVar(&o.noDefault, "no-default-rules", false, "do not load the embedded default ruleset")
	f.StringVar(&o.hostname, "hostname", "", "hostname written in alerts (default: this machine's)")
	f.BoolVar(&o.first, "first", false, "report only the first matching rule per event")
	f.StringVar(&o.minPrio, "min-priority", "debug", "drop rules less severe than this priority")
	o.tags.add(cmd)
	o.report = addReportFlags(cmd, failOnNone, "json", "text")
	return cmd
}

func runReplay(cmd *cobra.Command, o *replayOpts, capture string) error {
	if err := o.report.check(); err != nil {
		return fmt.Errorf("replay: %w", err)
	}
	files, err := ruleFiles(o.rules, o.noDefault)
	if err != nil {
		return fmt.Errorf("replay: %w", err)
	}
	if len(files) == 0 {
		return errors.New("replay: no rules (--no-default-rules without -r)")
	}
	prio, err := rules.ParsePriority(o.minPrio)
	if err != nil {
		return fmt.Errorf("replay: --min-priority: %w", err)
	}
	rs := rules.LoadAndCompile(o.tags.options(&rules.CompileOptions{MinPriority: &prio}), files...)
	if err := rs.Err(); err != nil {
		printValidation(cmd.ErrOrStderr(), rs)
		return fmt.Errorf("replay: rules: %w", rules.ErrInvalidRules)
	}
	// A replay is an offline evaluation: wait for the rules' host names
	// (each resolution is bounded by the resolver's timeout) so that
	// fd.sip.name comparisons do not depend on timing.
	rs.Hosts().Wait()
	host := o.hostname
	if host == "" {
		host, _ = os.Hostname()
	}
	var in io.Reader = cmd.InOrStdin()
	if capture != "-" {
		f, err := os.Open(capture)
		if err != nil {
			return fmt.Errorf("replay: %w", err)
		}
		defer f.Close()
		in = f
	}
	opts := &engine.Options{Hostname: host}
	if o.first {
		opts.Mode = engine.MatchFirst
	}
	eng := engine.New(rs, opts)
	w, finish, err := o.report.open(cmd)
	if err != nil {
		return fmt.Errorf("replay: %w", err)
	}
	out := bufio.NewWriter(w)
	var buf []byte
	var sevs []finding.Severity
	text := o.report.format == "text"
	// The capture's events carry their context: no process table, no
	// container lookup; the alerts are built and encoded as vigil run's.
	p := pipeline.New(pipeline.Options{Engine: eng, Hostname: host,
		OnAlert: func(_ *event.Event, _ *engine.Match, al *alert.Alert) {
			sevs = append(sevs, prioritySeverity(al.Priority))
			if text {
				buf = al.AppendText(buf[:0])
			} else {
				buf = al.AppendJSON(buf[:0])
			}
			out.Write(append(buf, '\n'))
		}})
	// An audit log (audit.k8s.io Events, one per line) replays through the
	// rules of source k8s_audit; anything else is a capture.
	br := bufio.NewReaderSize(in, 1<<20)
	head, _ := br.Peek(1 << 20)
	var src pipeline.Source = pipeline.NewCaptureSource(br, capture)
	if k8saudit.IsLog(head) {
		src = k8saudit.NewLogSource(br, capture)
	}
	err = p.Run(cmd.Context(), src)
	if ferr := out.Flush(); err == nil {
		err = ferr
	}
	if err := finish(err); err != nil {
		return fmt.Errorf("replay: %w", err)
	}
	st := eng.Stats()
	note(cmd, fmt.Sprintf("replay: %d events, %d alerts, %d rules", st.Events, len(sevs), len(rs.Rules)))
	return o.report.verdict("alerts", sevs...)
}
