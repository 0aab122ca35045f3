package vuln

import (
	"fmt"
	"math"
	"strings"
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

func metrics(vector string) map[string]string {
	m := map[string]string{}
	for _, kv := range strings.Split(vector, "/") {
		k, v, ok := strings.Cut(kv, ":")
		if ok {
			m[k] = v
		}
	}
	return m
}

// CVSS3 computes the base score and rating of a CVSS v3.0/v3.1 vector.
func CVSS3(vector string) (float64, string, error) {
	if !strings.HasPrefix(vector, "CVSS:3.") {
		return 0, "", fmt.Errorf("cvss3 %q: missing CVSS:3.x prefix", vector)
	}
	m := metrics(vector)
	scope := m["S"]
	w := func(metric string, table map[string]float64) (float64, error) {
		v, ok := table[m[metric]]
		if !ok {
			return 0, fmt.Errorf("cvss3 %q: bad or missing %s", vector, metric)
		}
		return v, nil
	}
	pr := map[string]float64{"N": 0.85, "L": 0.62, "H": 0.27}
	if scope == "C" {
		pr = map[string]float64{"N": 0.85, "L": 0.68, "H": 0.5}
	} else if scope != "U" {
		return 0, "", fmt.Errorf("cvss3 %q: bad or missing S", vector)
	}
	cia := map[string]float64{"H": 0.56, "L": 0.22, "N": 0}
	var vals [7]float64
	var err error
	for i, x := range []struct {
		k string
		t map[string]float64
	}{
		{"AV", map[string]float64{"N": 0.85, "A": 0.62, "L": 0.55, "P": 0.2}},
		{"AC", map[string]float64{"L": 0.77, "H": 0.44}},
		{"PR", pr},
		{"UI", map[string]float64{"N": 0.85, "R": 0.62}},
		{"C", cia}, {"I", cia}, {"A", cia},
	} {
		if vals[i], err = w(x.k, x.t); err != nil {
			return 0, "", err
		}
	}
	iss := 1 - (1-vals[4])*(1-vals[5])*(1-vals[6])
	var impact float64
	if scope == "U" {
		impact = 6.42 * iss
	} else {
		impact = 7.52*(iss-0.029) - 3.25*math.Pow(iss-0.02, 15)
	}
	exploit := 8.22 * vals[0] * vals[1] * vals[2] * vals[3]
	var score float64
	switch {
	case impact <= 0:
		score = 0
	case scope == "U":
		score = roundUp(math.Min(impact+exploit, 10))
	default:
		score = roundUp(math.Min(1.08*(impact+exploit), 10))
	}
	return score, rating3(score), nil
}

// roundUp is CVSS v3.1's Roundup: the smallest one-decimal number >= x.
func roundUp(x float64) float64 {
	i := int64(math.Round(x * 100000))
	if i%10000 == 0 {
		return float64(i) / 100000
	}
	return float64(i/10000+1) / 10
}

func rating3(s float64) string {
	switch {
	case s == 0:
		return None
	case s < 4:
		return Low
	case s < 7:
		return Medium
	case s < 9:
		return High
	}
	return Critical
}

// CVSS2 computes the base score and rating of a CVSS v2 vector.
func CVSS2(vector string) (float64, string, error) {
	m := metrics(strings.TrimPrefix(strings.Trim(vector, "()"), "CVSS:2.0/"))
	tables := []struct {
		k string
		t map[string]float64
	}{
		{"AV", map[string]float64{"L": 0.395, "A": 0.646, "N": 1.0}},
		{"AC", map[string]float64{"H": 0.35, "M": 0.61, "L": 0.71}},
		{"Au", map[string]float64{"M": 0.45, "S": 0.56, "N": 0.704}},
		{"C", map[string]float64{"N": 0, "P": 0.275, "C": 0.660}},
		{"I", map[string]float64{"N": 0, "P": 0.275, "C": 0.660}},
		{"A", map[string]float64{"N": 0, "P": 0.275, "C": 0.660}},
	}
	var v [6]float64
	for i, t := range tables {
		x, ok := t.t[m[t.k]]
		if !ok {
			return 0, "", fmt.Errorf("cvss2 %q: bad or missing %s", vector, t.k)
		}
		v[i] = x
	}
	impact := 10.41 * (1 - (1-v[3])*(1-v[4])*(1-v[5]))
	exploit := 20 * v[0] * v[1] * v[2]
	f := 1.176
	if impact == 0 {
		f = 0
	}
	score := math.Round(((0.6*impact)+(0.4*exploit)-1.5)*f*10) / 10
	if score < 0 {
		score = 0
	}
	r := Low
	switch {
	case score >= 7:
		r = High
	case score >= 4:
		r = Medium
	}
	return score, r, nil
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
