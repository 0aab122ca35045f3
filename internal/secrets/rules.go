package secrets

import (
	_ "embed"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"

	"gopkg.in/yaml.v3"
)

//go:embed default.yaml
var defaultRules []byte

// ErrBadRules is matched by every *RuleError.
var ErrBadRules = errors.New("invalid secret rules")

// RuleError is a problem in a rules file, at a line and column.
type RuleError struct {
	File      string
	Line, Col int
	Msg       string
}

func (e *RuleError) Error() string { return fmt.Sprintf("%s:%d:%d: %s", e.File, e.Line, e.Col, e.Msg) }

// Is makes errors.Is(err, ErrBadRules) true.
func (e *RuleError) Is(t error) bool { return t == ErrBadRules }

// Rule is one detector.
type Rule struct {
	ID          string   `yaml:"id"`
	Description string   `yaml:"description"`
	Severity    string   `yaml:"severity"`    // info, low, medium, high, critical
	Regex       string   `yaml:"regex"`       // RE2 syntax
	SecretGroup int      `yaml:"secretGroup"` // capture group holding the secret (default 1)
	Keywords    []string `yaml:"keywords"`    // at least one must occur (any case) on the line
	Entropy     float64  `yaml:"entropy"`     // minimum Shannon entropy, bits per character
	Generic     bool     `yaml:"generic"`     // drop paths, templates and placeholders
	Multiline   bool     `yaml:"multiline"`   // match from the keyword's line over the next 16 KiB

	re *regexp.Regexp
}

// Allow is one allow-list entry: a finding is dropped when its path matches
// Path, its secret matches Value and the whole text the rule matched
// matches Match (the fields set), restricted to Rule when set. An entry with
// only Path skips the file altogether.
type Allow struct {
	Path  string `yaml:"path"`
	Value string `yaml:"value"`
	Match string `yaml:"match"`
	Rule  string `yaml:"rule"`

	path, value, match *regexp.Regexp
}

// Ruleset is a set of rules and allow-list entries.
type Ruleset struct {
	Rules []Rule  `yaml:"rules"`
	Allow []Allow `yaml:"allow"`
}

var severities = map[string]bool{"info": true, "low": true, "medium": true, "high": true, "critical": true}

// DefaultRules returns the built-in rules.
func DefaultRules() *Ruleset {
	rs, err := ParseRules("default.yaml", defaultRules)
	if err != nil {
		panic(err) // the embedded file is tested
	}
	return rs
}

// LoadRules reads a rules file.
func LoadRules(path string) (*Ruleset, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load secret rules: %w", err)
	}
	return ParseRules(path, b)
}

var ruleFields = map[string]bool{"id": true, "description": true, "severity": true, "regex": true, "secretGroup": true,
	"keywords": true, "entropy": true, "generic": true, "multiline": true}
var allowFields = map[string]bool{"path": true, "value": true, "match": true, "rule": true}

// ParseRules parses a rules file (file names it in errors). Every problem
// is a *RuleError at the offending line and column: unknown fields, wrong
// types, regular expressions that do not compile, a secret group the regex
// does not have, missing ids.
func ParseRules(file string, data []byte) (*Ruleset, error) {
	bad := func(n *yaml.Node, format string, args ...any) error {
		return &RuleError{File: file, Line: n.Line, Col: n.Column, Msg: fmt.Sprintf(format, args...)}
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		line := 1
		fmt.Sscanf(err.Error(), "yaml: line %d:", &line)
		return nil, &RuleError{File: file, Line: line, Col: 1, Msg: err.Error()}
	}
	rs := &Ruleset{}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return rs, nil
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil, bad(root, "expected a mapping with rules and allow")
	}
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		switch k.Value {
		case "rules", "allow":
		default:
			return nil, bad(k, "unknown field %q (want rules or allow)", k.Value)
		}
		if v.Kind != yaml.SequenceNode {
			return nil, bad(v, "%s: expected a list", k.Value)
		}
		known := ruleFields
		if k.Value == "allow" {
			known = allowFields
		}
		for _, item := range v.Content {
			if item.Kind != yaml.MappingNode {
				return nil, bad(item, "%s: expected a mapping", k.Value)
			}
			for j := 0; j+1 < len(item.Content); j += 2 {
				if !known[item.Content[j].Value] {
					return nil, bad(item.Content[j], "unknown field %q", item.Content[j].Value)
				}
			}
			var err error
			if k.Value == "rules" {
				var r Rule
				if err = item.Decode(&r); err == nil {
					err = r.compile()
				}
				if err != nil {
					return nil, bad(item, "rule %q: %v", r.ID, err)
				}
				rs.Rules = append(rs.Rules, r)
			} else {
				var a Allow
				if err = item.Decode(&a); err == nil {
					err = a.compile()
				}
				if err != nil {
					return nil, bad(item, "allow: %v", err)
				}
				rs.Allow = append(rs.Allow, a)
			}
		}
	}
	return rs, nil
}

func (r *Rule) compile() error {
	if r.ID == "" {
		return errors.New("missing id")
	}
	if r.Regex == "" {
		return errors.New("missing regex")
	}
	if r.Severity == "" {
		r.Severity = "medium"
	}
	if !severities[r.Severity] {
		return fmt.Errorf("severity %q: want info, low, medium, high or critical", r.Severity)
	}
	re, err := regexp.Compile(r.Regex)
	if err != nil {
		return err
	}
	if r.SecretGroup == 0 {
		r.SecretGroup = 1
	}
	if r.SecretGroup > re.NumSubexp() {
		return fmt.Errorf("secretGroup %d: the regex has %d groups", r.SecretGroup, re.NumSubexp())
	}
	if len(r.Keywords) == 0 {
		return errors.New("missing keywords (at least one word the secret's line contains)")
	}
	for i, k := range r.Keywords {
		r.Keywords[i] = strings.ToLower(k)
	}
	r.re = re
	return nil
}

func (a *Allow) compile() error {
	if a.Path == "" && a.Value == "" && a.Match == "" {
		return errors.New("needs path, value or match")
	}
	if a.Match != "" {
		var err error
		if a.match, err = regexp.Compile(a.Match); err != nil {
			return fmt.Errorf("match: %w", err)
		}
	}
	var err error
	if a.Path != "" {
		if a.path, err = regexp.Compile(a.Path); err != nil {
			return fmt.Errorf("path: %w", err)
		}
	}
	if a.Value != "" {
		if a.value, err = regexp.Compile(a.Value); err != nil {
			return fmt.Errorf("value: %w", err)
		}
	}
	return nil
}

// Merge adds the rules and allow entries of o to rs; a rule with an id rs
// already has replaces it.
func (rs *Ruleset) Merge(o *Ruleset) {
	for _, r := range o.Rules {
		replaced := false
		for i := range rs.Rules {
			if rs.Rules[i].ID == r.ID {
				rs.Rules[i], replaced = r, true
			}
		}
		if !replaced {
			rs.Rules = append(rs.Rules, r)
		}
	}
	rs.Allow = append(rs.Allow, o.Allow...)
}
