package imagepolicy

import (
	"errors"
	"fmt"
	"os"

	"gopkg.in/yaml.v3"
)

// ErrInvalidPolicy is matched by every *PolicyError.
var ErrInvalidPolicy = errors.New("invalid image policy")

// PolicyError is a mistake in a policy file, with its position.
type PolicyError struct {
	File      string
	Line, Col int
	Msg       string
}

func (e *PolicyError) Error() string {
	return fmt.Sprintf("%s:%d:%d: %s", e.File, e.Line, e.Col, e.Msg)
}

// Is reports whether target is ErrInvalidPolicy.
func (e *PolicyError) Is(target error) bool { return target == ErrInvalidPolicy }

// Policy is a trust policy.
//
//	allowedRegistries: [docker.io/library, gcr.io/distroless]
//	requireDigest: true
//	disallowLatest: true
//	requireNonRoot: true
//	minimal:
//	  forbidShells: true
//	  forbidPackageManagers: true
type Policy struct {
	AllowedRegistries []string `yaml:"allowedRegistries"`
	RequireDigest     bool     `yaml:"requireDigest"`
	DisallowLatest    bool     `yaml:"disallowLatest"`
	RequireNonRoot    bool     `yaml:"requireNonRoot"`
	Minimal           struct {
		ForbidShells          bool `yaml:"forbidShells"`
		ForbidPackageManagers bool `yaml:"forbidPackageManagers"`
	} `yaml:"minimal"`
}

// Load reads and parses a policy file.
func Load(path string) (*Policy, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load image policy: %w", err)
	}
	return Parse(path, b)
}

var fields = map[string]string{ // key → expected kind
	"allowedRegistries": "list", "requireDigest": "bool", "disallowLatest": "bool",
	"requireNonRoot": "bool", "minimal": "map",
}

var minimalFields = map[string]string{"forbidShells": "bool", "forbidPackageManagers": "bool"}

// Parse parses policy YAML; file names the source in errors.
func Parse(file string, data []byte) (*Policy, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		var te *yaml.TypeError
		if errors.As(err, &te) {
			return nil, &PolicyError{File: file, Line: 1, Col: 1, Msg: err.Error()}
		}
		line := 1
		fmt.Sscanf(err.Error(), "yaml: line %d:", &line)
		return nil, &PolicyError{File: file, Line: line, Col: 1, Msg: err.Error()}
	}
	p := &Policy{}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return p, nil
	}
	root := doc.Content[0]
	if err := checkMap(file, root, fields); err != nil {
		return nil, err
	}
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value == "minimal" {
			if err := checkMap(file, root.Content[i+1], minimalFields); err != nil {
				return nil, err
			}
		}
	}
	if err := root.Decode(p); err != nil {
		return nil, &PolicyError{File: file, Line: root.Line, Col: root.Column, Msg: err.Error()}
	}
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value != "allowedRegistries" {
			continue
		}
		for _, item := range root.Content[i+1].Content {
			if _, err := ParseReference(item.Value + "/x"); err != nil || item.Value == "" {
				return nil, &PolicyError{File: file, Line: item.Line, Col: item.Column, Msg: fmt.Sprintf("allowedRegistries: %q is not a registry or repository prefix", item.Value)}
			}
		}
	}
	return p, nil
}

func checkMap(file string, n *yaml.Node, known map[string]string) error {
	if n.Kind != yaml.MappingNode {
		return &PolicyError{File: file, Line: n.Line, Col: n.Column, Msg: "expected a mapping"}
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		kind, ok := known[k.Value]
		if !ok {
			return &PolicyError{File: file, Line: k.Line, Col: k.Column, Msg: fmt.Sprintf("unknown field %q", k.Value)}
		}
		var bad bool
		switch kind {
		case "bool":
			bad = v.Kind != yaml.ScalarNode || v.Tag != "!!bool"
		case "list":
			bad = v.Kind != yaml.SequenceNode
			for _, it := range v.Content {
				bad = bad || it.Kind != yaml.ScalarNode
			}
		case "map":
			bad = v.Kind != yaml.MappingNode
		}
		if bad {
			return &PolicyError{File: file, Line: v.Line, Col: v.Column, Msg: fmt.Sprintf("%s: expected a %s", k.Value, kind)}
		}
	}
	return nil
}
