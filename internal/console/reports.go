package console

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/vigilsec/vigil/internal/compliance"
	"github.com/vigilsec/vigil/internal/posture/audit"
	"github.com/vigilsec/vigil/internal/secrets"
	"github.com/vigilsec/vigil/internal/vuln"
)

// imageScan is one target of `vigil image scan -f json` (an object, or an
// array of them with --running).
type imageScan struct {
	Target   string            `json:"target"`
	Findings []vuln.Finding    `json:"findings"`
	Packages int               `json:"packages"`
	Secrets  []secrets.Finding `json:"secrets,omitempty"`
}

// parseReport checks an upload of kind and returns what the console shows
// of it; a body that is not that kind's JSON is an error with its line and
// column.
func parseReport(kind string, body []byte) (any, error) {
	switch kind {
	case ReportPosture:
		var r audit.Report
		if err := decodeStrictly(body, &r, "findings", "summary"); err != nil {
			return nil, err
		}
		return r, nil
	case ReportCompliance:
		var r compliance.Report
		if err := decodeStrictly(body, &r, "framework", "results"); err != nil {
			return nil, err
		}
		return r, nil
	case ReportImage:
		var rs []imageScan
		if t := bytes.TrimSpace(body); len(t) > 0 && t[0] == '[' {
			if err := json.Unmarshal(body, &rs); err != nil {
				return nil, positioned(body, err)
			}
		} else {
			var r imageScan
			if err := decodeStrictly(body, &r, "target", "findings"); err != nil {
				return nil, err
			}
			rs = []imageScan{r}
		}
		return rs, nil
	}
	return nil, fmt.Errorf("unknown report kind %q (want %s, %s or %s)", kind, ReportPosture, ReportCompliance, ReportImage)
}

// decodeStrictly decodes body into v and checks the keys that say it is
// the expected kind of report.
func decodeStrictly(body []byte, v any, keys ...string) error {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(body, &top); err != nil {
		return positioned(body, err)
	}
	for _, k := range keys {
		if _, ok := top[k]; !ok {
			return fmt.Errorf("1:1: not this kind of report: no %q key", k)
		}
	}
	if err := json.Unmarshal(body, v); err != nil {
		return positioned(body, err)
	}
	return nil
}

// positioned prefixes a JSON error with the line and column of its offset.
func positioned(body []byte, err error) error {
	var off int64 = -1
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		off = se.Offset
	case errors.As(err, &te):
		off = te.Offset
	}
	if off < 0 {
		return err
	}
	line, col := 1, 1
	for _, c := range body[:min(int(off), len(body))] {
		if c == '\n' {
			line, col = line+1, 1
		} else {
			col++
		}
	}
	return fmt.Errorf("%d:%d: %w", line, col, err)
}
