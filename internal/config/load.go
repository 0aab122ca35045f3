package config

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/vigilsec/vigil/internal/alert"
)

// ErrInvalid is matched (errors.Is) by every configuration error.
var ErrInvalid = errors.New("invalid configuration")

// Error is one configuration problem. File and Line are set when the value
// came from a file (Line 0 otherwise); Key is the dotted key ("outputs.http.url").
type Error struct {
	File      string
	Line, Col int
	Key       string
	Msg       string
}

func (e *Error) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		if e.Line > 0 {
			fmt.Fprintf(&b, ":%d:%d", e.Line, e.Col)
		}
		b.WriteString(": ")
	}
	if e.Key != "" {
		b.WriteString(e.Key)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Is makes every Error match ErrInvalid.
func (e *Error) Is(t error) bool { return t == ErrInvalid }

// Errors is every problem found; it matches ErrInvalid.
type Errors []*Error

func (es Errors) Error() string {
	s := make([]string, len(es))
	for i, e := range es {
		s[i] = e.Error()
	}
	return strings.Join(s, "\n")
}

// Is makes Errors match ErrInvalid.
func (es Errors) Is(t error) bool { return t == ErrInvalid }

// pos is where a key was found.
type pos struct {
	line, col int
	value     string // the scalar value, for positioning errors of text-unmarshaled values
}

// source remembers where the configuration came from.
type source struct {
	file string
	keys map[string]pos
}

// Load reads the YAML file at path over the defaults. Unknown keys and
// values of the wrong type are errors with file:line:col. A missing file at
// DefaultPath is not an error (the defaults apply); a missing file
// elsewhere is.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) && path == DefaultPath {
			return DefaultConfig(), nil
		}
		return nil, fmt.Errorf("load config: %w", err)
	}
	return Parse(data, path)
}

var lineRe = regexp.MustCompile(`^line (\d+): (.*)$`)

// Parse decodes YAML data over the defaults; name is used in errors.
func Parse(data []byte, name string) (*Config, error) {
	c := DefaultConfig()
	c.src = &source{file: name, keys: map[string]pos{}}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, yamlError(name, err)
	}
	if len(root.Content) == 0 { // empty file
		return c, nil
	}
	doc := root.Content[0]
	if doc.Kind != yaml.MappingNode {
		return nil, Errors{{File: name, Line: doc.Line, Col: doc.Column, Msg: "the configuration must be a mapping of keys"}}
	}
	index("", doc, c.src.keys)
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil {
		var te *yaml.TypeError
		if !errors.As(err, &te) {
			// Errors from UnmarshalText carry no position: find the value.
			var es Errors
			for k, p := range c.src.keys {
				if strings.HasSuffix(k, "min_priority") {
					if _, perr := alert.ParsePriority(p.value); perr != nil {
						es = append(es, &Error{File: name, Line: p.line, Col: p.col, Key: k, Msg: perr.Error()})
					}
				}
			}
			if len(es) > 0 {
				return nil, es
			}
		}
		return nil, yamlError(name, err)
	}
	return c, nil
}

func yamlError(name string, err error) error {
	var te *yaml.TypeError
	if errors.As(err, &te) {
		var es Errors
		for _, m := range te.Errors {
			es = append(es, lineError(name, m))
		}
		return es
	}
	return Errors{lineError(name, strings.TrimPrefix(err.Error(), "yaml: "))}
}

func lineError(name, msg string) *Error {
	e := &Error{File: name, Msg: msg}
	if m := lineRe.FindStringSubmatch(msg); m != nil {
		e.Line, _ = strconv.Atoi(m[1])
		e.Col = 1
		e.Msg = m[2]
	}
	return e
}

// index records the position of every key under n.
func index(prefix string, n *yaml.Node, keys map[string]pos) {
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			key := k.Value
			if prefix != "" {
				key = prefix + "." + key
			}
			keys[key] = pos{k.Line, k.Column, v.Value}
			index(key, v, keys)
		}
	case yaml.SequenceNode:
		for i, v := range n.Content {
			key := fmt.Sprintf("%s[%d]", prefix, i)
			keys[key] = pos{v.Line, v.Column, v.Value}
			index(key, v, keys)
		}
	}
}

// Set applies one override: key is a dotted YAML key
// ("outputs.http.url"), value a YAML value ("true", "5s", "[a, b]"). Flags
// use it so that their names equal the configuration keys.
func (c *Config) Set(key, value string) error {
	parts := strings.Split(key, ".")
	var v yaml.Node
	if err := yaml.Unmarshal([]byte(value), &v); err != nil {
		return &Error{Key: key, Msg: fmt.Sprintf("bad value %q: %v", value, err)}
	}
	leaf := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Value: ""}
	if len(v.Content) > 0 {
		leaf = v.Content[0]
	}
	for i := len(parts) - 1; i >= 0; i-- {
		if parts[i] == "" {
			return &Error{Key: key, Msg: "empty key component"}
		}
		leaf = &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Content: []*yaml.Node{
			{Kind: yaml.ScalarNode, Tag: "!!str", Value: parts[i]}, leaf}}
	}
	doc := &yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{leaf}}
	data, err := yaml.Marshal(doc)
	if err != nil {
		return &Error{Key: key, Msg: err.Error()}
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil {
		msg := err.Error()
		if m := lineRe.FindStringSubmatch(strings.TrimSpace(strings.TrimPrefix(msg, "yaml: unmarshal errors:\n"))); m != nil {
			msg = m[2]
		}
		return &Error{Key: key, Msg: msg}
	}
	if c.src != nil {
		delete(c.src.keys, key) // the value no longer comes from the file
	}
	return nil
}

// YAML returns the configuration as YAML (what `vigil config show` prints).
func (c *Config) YAML() ([]byte, error) {
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(c); err != nil {
		return nil, fmt.Errorf("encode config: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("encode config: %w", err)
	}
	return b.Bytes(), nil
}

// File returns the file the configuration was loaded from, "" for defaults.
func (c *Config) File() string {
	if c.src == nil {
		return ""
	}
	return c.src.file
}

// ErrorAt is err reported for key, with the key's position in the file the
// configuration came from: for checks made outside this package (rules,
// policies, outputs) on a configuration value.
func (c *Config) ErrorAt(key string, err error) *Error {
	return c.errAt(key, "%s", strings.ReplaceAll(err.Error(), "\n", "; "))
}

// errAt builds an Error for key, with its position when it came from a file.
func (c *Config) errAt(key, format string, args ...any) *Error {
	e := &Error{Key: key, Msg: fmt.Sprintf(format, args...)}
	if c.src != nil {
		e.File = c.src.file
		// The nearest enclosing key that the file set.
		for k := key; k != ""; {
			if p, ok := c.src.keys[k]; ok {
				e.Line, e.Col = p.line, p.col
				break
			}
			i := strings.LastIndexAny(k, ".[")
			if i < 0 {
				break
			}
			k = k[:i]
		}
	}
	return e
}
