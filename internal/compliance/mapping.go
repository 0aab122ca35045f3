package compliance

import (
	"errors"
	"fmt"
	"io/fs"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	compliancedata "github.com/vigilsec/vigil/compliance"
	"github.com/vigilsec/vigil/internal/posture/audit"
)

// ErrInvalid is matched (errors.Is) by every *Error.
var ErrInvalid = errors.New("invalid compliance mapping")

// ErrUnknownFramework is returned by Mapping.Framework for an unknown id.
var ErrUnknownFramework = errors.New("unknown framework")

// Error is a problem in a mapping file, with its position.
type Error struct {
	File      string
	Line, Col int
	Msg       string
}

func (e *Error) Error() string { return fmt.Sprintf("%s:%d:%d: %s", e.File, e.Line, e.Col, e.Msg) }

// Is makes errors.Is(err, ErrInvalid) true.
func (e *Error) Is(t error) bool { return t == ErrInvalid }

// Capabilities a control can be backed by. The enforce-* capabilities come
// from prevention policies in enforce mode.
var Capabilities = []string{"enforce-process", "enforce-file", "enforce-network", "runtime-detection", "image-scanning", "alert-store", "audit-log-ingest"}

// Control is one framework control and the Vigil evidence mapped to it.
type Control struct {
	ID    string `yaml:"id" json:"id"`
	Title string `yaml:"title" json:"title"`
	// Checks are posture check ids (VGL-...): any finding fails the control.
	Checks []string `yaml:"checks" json:"checks,omitempty"`
	// Tags are rule tags (MITRE ATT&CK technique ids) whose alerts are
	// counted as monitoring evidence.
	Tags []string `yaml:"tags" json:"tags,omitempty"`
	// Capabilities are Vigil capabilities; the control is backed when any
	// of them is in place.
	Capabilities []string `yaml:"capabilities" json:"capabilities,omitempty"`
	// Manual marks a control Vigil can at most partly evidence.
	Manual bool `yaml:"manual" json:"manual,omitempty"`
	Line   int  `yaml:"-" json:"-"`
}

// Framework is one mapping file.
type Framework struct {
	ID       string    `yaml:"framework" json:"id"`
	Name     string    `yaml:"name" json:"name"`
	Version  string    `yaml:"version" json:"version"`
	Aliases  []string  `yaml:"aliases" json:"-"`
	Controls []Control `yaml:"-" json:"controls"`
	File     string    `yaml:"-" json:"-"`
}

// Mapping is a set of frameworks.
type Mapping struct {
	Frameworks []*Framework
	byCheck    map[string][]string
}

var lineRe = regexp.MustCompile(`line (\d+)`)

// Parse reads one mapping file. Unknown check ids and capabilities,
// duplicate control ids and missing fields are *Error values.
func Parse(file string, data []byte) (*Framework, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		e := &Error{File: file, Line: 1, Col: 1, Msg: err.Error()}
		if m := lineRe.FindStringSubmatch(err.Error()); m != nil {
			e.Line, _ = strconv.Atoi(m[1])
		}
		return nil, e
	}
	if len(root.Content) == 0 || root.Content[0].Kind != yaml.MappingNode {
		return nil, &Error{File: file, Line: 1, Col: 1, Msg: "mapping file must be a YAML mapping"}
	}
	top := root.Content[0]
	fw := &Framework{File: file}
	if err := top.Decode(fw); err != nil {
		return nil, &Error{File: file, Line: top.Line, Col: top.Column, Msg: err.Error()}
	}
	if fw.ID == "" || fw.Name == "" {
		return nil, &Error{File: file, Line: top.Line, Col: top.Column, Msg: "framework and name are required"}
	}
	known := map[string]bool{}
	for _, c := range audit.Catalog() {
		known[c.ID] = true
	}
	var controls *yaml.Node
	for i := 0; i+1 < len(top.Content); i += 2 {
		switch k := top.Content[i]; k.Value {
		case "framework", "name", "version", "aliases":
		case "controls":
			controls = top.Content[i+1]
		default:
			return nil, &Error{File: file, Line: k.Line, Col: k.Column, Msg: fmt.Sprintf("unknown key %q", k.Value)}
		}
	}
	if controls == nil || controls.Kind != yaml.SequenceNode || len(controls.Content) == 0 {
		return nil, &Error{File: file, Line: top.Line, Col: top.Column, Msg: "controls: a non-empty list is required"}
	}
	seen := map[string]bool{}
	for _, n := range controls.Content {
		var c Control
		if err := n.Decode(&c); err != nil {
			return nil, &Error{File: file, Line: n.Line, Col: n.Column, Msg: err.Error()}
		}
		c.Line = n.Line
		if c.ID == "" || c.Title == "" {
			return nil, &Error{File: file, Line: n.Line, Col: n.Column, Msg: "control needs id and title"}
		}
		if seen[c.ID] {
			return nil, &Error{File: file, Line: n.Line, Col: n.Column, Msg: fmt.Sprintf("duplicate control id %q", c.ID)}
		}
		seen[c.ID] = true
		for _, id := range c.Checks {
			if !known[id] {
				return nil, &Error{File: file, Line: n.Line, Col: n.Column, Msg: fmt.Sprintf("control %s: unknown check id %q", c.ID, id)}
			}
		}
		for _, k := range c.Capabilities {
			if !slices.Contains(Capabilities, k) {
				return nil, &Error{File: file, Line: n.Line, Col: n.Column, Msg: fmt.Sprintf("control %s: unknown capability %q (known: %s)", c.ID, k, strings.Join(Capabilities, ", "))}
			}
		}
		fw.Controls = append(fw.Controls, c)
	}
	return fw, nil
}

// Load parses every *.yaml file of fsys.
func Load(fsys fs.FS) (*Mapping, error) {
	names, err := fs.Glob(fsys, "*.yaml")
	if err != nil {
		return nil, fmt.Errorf("load compliance mappings: %w", err)
	}
	sort.Strings(names)
	m := &Mapping{byCheck: map[string][]string{}}
	for _, n := range names {
		data, err := fs.ReadFile(fsys, n)
		if err != nil {
			return nil, fmt.Errorf("load compliance mappings: %w", err)
		}
		fw, err := Parse(n, data)
		if err != nil {
			return nil, fmt.Errorf("load compliance mappings: %w", err)
		}
		m.Frameworks = append(m.Frameworks, fw)
		for _, c := range fw.Controls {
			for _, id := range c.Checks {
				m.byCheck[id] = append(m.byCheck[id], fw.ID+":"+c.ID)
			}
		}
	}
	return m, nil
}

// Default returns the mappings embedded in the binary (repository
// directory compliance/).
func Default() (*Mapping, error) { return Load(compliancedata.Files) }

// Framework finds a framework by id or alias (case-insensitive).
func (m *Mapping) Framework(id string) (*Framework, error) {
	for _, f := range m.Frameworks {
		if strings.EqualFold(f.ID, id) {
			return f, nil
		}
		for _, a := range f.Aliases {
			if strings.EqualFold(a, id) {
				return f, nil
			}
		}
	}
	var ids []string
	for _, f := range m.Frameworks {
		ids = append(ids, f.ID)
	}
	return nil, fmt.Errorf("%w %q (known: %s)", ErrUnknownFramework, id, strings.Join(ids, ", "))
}

// Controls returns the controls a check id maps to, as "FRAMEWORK:CONTROL".
// It implements audit.ControlMapper.
func (m *Mapping) Controls(checkID string) []string { return m.byCheck[checkID] }
