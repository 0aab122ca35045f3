package vuln

import (
	"errors"
	"fmt"
	"strings"

	gocvss20 "github.com/pandatix/go-cvss/20"
	gocvss30 "github.com/pandatix/go-cvss/30"
	gocvss31 "github.com/pandatix/go-cvss/31"
	gocvss40 "github.com/pandatix/go-cvss/40"
)

// Severity levels, most severe first.
const (
	Critical = "CRITICAL"
	High     = "HIGH"
	Medium   = "MEDIUM"
	Low      = "LOW"
	None     = "NONE"
	Unknown  = "UNKNOWN"
)

// SeverityRank orders levels: CRITICAL 5 … UNKNOWN 0.
func SeverityRank(s string) int {
	switch s {
	case Critical:
		return 5
	case High:
		return 4
	case Medium:
		return 3
	case Low:
		return 2
	case None:
		return 1
	}
	return 0
}

// ErrBadVector is matched by every error about a CVSS vector that cannot be
// scored: malformed, or of another version than its OSV severity type says.
var ErrBadVector = errors.New("malformed CVSS vector")

// CVSS scores a CVSS vector with github.com/pandatix/go-cvss: v4.0
// ("CVSS:4.0/…"), v3.1, v3.0 and v2 (bare or "(…)"). It returns the base
// score and its qualitative rating; a malformed vector is an error, never a
// score.
func CVSS(vector string) (float64, string, error) {
	bad := func(err error) (float64, string, error) {
		return 0, "", fmt.Errorf("CVSS vector %q: %w: %v", vector, ErrBadVector, err)
	}
	var score float64
	var rating string
	switch {
	case strings.HasPrefix(vector, "CVSS:4.0/"):
		v, err := gocvss40.ParseVector(vector)
		if err != nil {
			return bad(err)
		}
		score = v.Score()
		r, err := gocvss40.Rating(score)
		if err != nil {
			return bad(err)
		}
		rating = r
	case strings.HasPrefix(vector, "CVSS:3.1/"):
		v, err := gocvss31.ParseVector(vector)
		if err != nil {
			return bad(err)
		}
		score = v.BaseScore()
		r, err := gocvss31.Rating(score)
		if err != nil {
			return bad(err)
		}
		rating = r
	case strings.HasPrefix(vector, "CVSS:3.0/"):
		v, err := gocvss30.ParseVector(vector)
		if err != nil {
			return bad(err)
		}
		score = v.BaseScore()
		r, err := gocvss30.Rating(score)
		if err != nil {
			return bad(err)
		}
		rating = r
	case strings.HasPrefix(vector, "CVSS:"):
		return bad(errors.New("unknown CVSS version"))
	default:
		v, err := gocvss20.ParseVector(strings.TrimSuffix(strings.TrimPrefix(vector, "("), ")"))
		if err != nil {
			return bad(err)
		}
		score = v.BaseScore()
		// CVSS v2 has no NONE or CRITICAL rating (NVD's bands).
		switch {
		case score >= 7:
			rating = High
		case score >= 4:
			rating = Medium
		default:
			rating = Low
		}
	}
	return score, strings.ToUpper(rating), nil
}

// scoreSeverity scores one OSV severity entry, checking that the vector is
// of the version its type names. ok is false for types that are not CVSS.
func scoreSeverity(s Severity) (score float64, level string, ok bool, err error) {
	var prefix string
	switch s.Type {
	case "CVSS_V4":
		prefix = "CVSS:4.0/"
	case "CVSS_V3":
		prefix = "CVSS:3."
	case "CVSS_V2":
		if strings.HasPrefix(s.Score, "CVSS:") {
			return 0, "", true, fmt.Errorf("%s vector %q: %w: not a v2 vector", s.Type, s.Score, ErrBadVector)
		}
	default:
		return 0, "", false, nil
	}
	if prefix != "" && !strings.HasPrefix(s.Score, prefix) {
		return 0, "", true, fmt.Errorf("%s vector %q: %w: want a %s… vector", s.Type, s.Score, ErrBadVector, prefix)
	}
	score, level, err = CVSS(s.Score)
	return score, level, true, err
}

// normalizeWord maps textual severities (GHSA, Ubuntu, Debian urgency) to
// levels.
func normalizeWord(s string) string {
	switch strings.ToUpper(strings.TrimSpace(s)) {
	case "CRITICAL":
		return Critical
	case "HIGH", "IMPORTANT":
		return High
	case "MODERATE", "MEDIUM":
		return Medium
	case "LOW", "NEGLIGIBLE", "UNIMPORTANT":
		return Low
	}
	return ""
}
