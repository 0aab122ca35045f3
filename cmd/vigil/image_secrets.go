package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/vigilsec/vigil/internal/image"
	"github.com/vigilsec/vigil/internal/secrets"
	"github.com/vigilsec/vigil/internal/termtext"
)

// secretFlags are the secret-scanning flags of `vigil image scan`.
type secretFlags struct {
	enabled bool
	rules   string
}

// scanner returns the secret scanner (nil when --secrets is off): the
// built-in rules plus --secret-rules.
func (f *secretFlags) scanner() (*secrets.Scanner, error) {
	if !f.enabled && f.rules == "" {
		return nil, nil
	}
	rs := secrets.DefaultRules()
	if f.rules != "" {
		user, err := secrets.LoadRules(f.rules)
		if err != nil {
			return nil, err
		}
		rs.Merge(user)
	}
	return secrets.NewScanner(rs), nil
}

// runningEnvSecrets scans the environment of each running container's task.
func runningEnvSecrets(s *secrets.Scanner, rs []image.RunningContainer) ([]secrets.Finding, []string) {
	var out []secrets.Finding
	var notes []string
	for _, r := range rs {
		fs, err := s.ScanProcess(int(r.PID), fmt.Sprintf("container %s/%s (pid %d) env", r.Namespace, shortDigest(r.ID), r.PID))
		if err != nil {
			notes = append(notes, err.Error())
			continue
		}
		out = append(out, fs...)
	}
	return out, notes
}

func writeSecretsTable(w io.Writer, fs []secrets.Finding) {
	if len(fs) == 0 {
		return
	}
	fmt.Fprintf(w, "%d secrets\n", len(fs))
	tw := termtext.NewTable(w, "SECRET", "SEVERITY", "WHERE", "LINE", "LAYER", "PREVIEW")
	for _, f := range fs {
		where := f.Path
		if f.Removed {
			where += " (not in the final filesystem: deleted or replaced by a later layer)"
		}
		tw.Row(f.Rule, strings.ToUpper(f.Severity), where, fmt.Sprintf("%d:%d", f.Line, f.Column), shortDigest(f.Layer), f.Preview)
	}
	tw.Flush()
}
