package config

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
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
	file      string // the file that set it (the main file or a drop-in)
	line, col int
	value     string // the scalar value
}

// source remembers where the configuration came from.
type source struct {
	file string
	keys map[string]pos
}

// DropInDir and RulesDropInDir are the directories beside the main file
// that Load reads too: DIR/config.d/*.yaml (and *.yml) over the file in name
// order, and DIR/rules.d, added to rules.files when it exists.
const (
	DropInDir      = "config.d"
	RulesDropInDir = "rules.d"
)

// EnvPrefix starts the environment variables that override keys:
// VIGIL_OUTPUTS_HTTP_URL sets outputs.http.url.
const EnvPrefix = "VIGIL_"

// Load is LoadWith(path, os.Environ()).
func Load(path string) (*Config, error) {
	return LoadWith(path, os.Environ())
}

// LoadWith reads the YAML file at path over the defaults, then the drop-in
// files of DIR/config.d in name order, then the VIGIL_* variables of env
// (each "NAME=VALUE"), and adds DIR/rules.d to rules.files when it exists
// (DIR is path's directory). Every problem of every source is reported at
// once (as Errors), each with file:line:col (or the variable) and the key.
// A missing file at DefaultPath is not an error (the defaults apply); a
// missing file elsewhere is.
func LoadWith(path string, env []string) (*Config, error) {
	c := DefaultConfig()
	c.src = &source{file: path, keys: map[string]pos{}}
	var es Errors
	add := func(err error) {
		if err == nil {
			return
		}
		var more Errors
		if errors.As(err, &more) {
			es = append(es, more...)
			return
		}
		es = append(es, &Error{File: path, Msg: err.Error()})
	}
	data, err := os.ReadFile(path)
	switch {
	case err == nil:
		add(c.decodeFile(data, path))
	case errors.Is(err, os.ErrNotExist) && path == DefaultPath:
	default:
		return nil, fmt.Errorf("load config: %w", err)
	}
	dir := filepath.Dir(path)
	dropIns, err := filepath.Glob(filepath.Join(dir, DropInDir, "*"))
	if err != nil {
		return nil, fmt.Errorf("load config: %w", err)
	}
	sort.Strings(dropIns)
	for _, f := range dropIns {
		if ext := filepath.Ext(f); ext != ".yaml" && ext != ".yml" {
			continue
		}
		if fi, err := os.Stat(f); err != nil || fi.IsDir() {
			continue
		}
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("load config: %w", err)
		}
		add(c.decodeFile(data, f))
	}
	add(c.applyEnv(env))
	if len(es) > 0 {
		// The values that did decode are checked too, so that one run
		// names every problem.
		add(c.Validate())
		return nil, es
	}
	rulesD := filepath.Join(dir, RulesDropInDir)
	if fi, err := os.Stat(rulesD); err == nil && fi.IsDir() && !slices.Contains(c.Rules.Files, rulesD) {
		c.Rules.Files = append(c.Rules.Files, rulesD)
	}
	return c, nil
}

var lineRe = regexp.MustCompile(`^line (\d+): (.*)$`)

// Parse decodes YAML data over the defaults; name is used in errors.
func Parse(data []byte, name string) (*Config, error) {
	c := DefaultConfig()
	c.src = &source{file: name, keys: map[string]pos{}}
	if err := c.decodeFile(data, name); err != nil {
		return nil, err
	}
	return c, nil
}

// decodeFile decodes one YAML file over c, recording its keys' positions.
func (c *Config) decodeFile(data []byte, name string) error {
	return decodeYAML(data, name, "the configuration", reflect.ValueOf(c).Elem(), c.src.keys)
}

// Positions are where the keys of a file decoded by DecodeYAML are, by
// dotted key, so that a problem found after decoding (a file that cannot
// be read, values that do not go together) is reported at its key.
type Positions struct {
	file string
	keys map[string]pos
}

// Errorf is a problem of key: at its position in the file when the file
// set it, else without one.
func (p *Positions) Errorf(key, format string, args ...any) *Error {
	e := &Error{Key: key, Msg: fmt.Sprintf(format, args...)}
	if at, ok := p.keys[key]; ok {
		e.File, e.Line, e.Col = at.file, at.line, at.col
	}
	return e
}

// Has reports whether the file set key.
func (p *Positions) Has(key string) bool {
	_, ok := p.keys[key]
	return ok
}

// DecodeYAML decodes one YAML file (name is used in errors) over v, a
// pointer to a struct with yaml tags, by the configuration's rules: every
// problem at once as Errors (file:line:col, dotted key, unknown keys
// included, in words an operator reads), durations with d for days,
// encoding.TextUnmarshaler fields checked where they are. It is how every
// other configuration file of Vigil (vigil hub --config) is read, so that
// all report alike.
func DecodeYAML(data []byte, name string, v any) (*Positions, error) {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.Elem().Kind() != reflect.Struct {
		return nil, fmt.Errorf("config: DecodeYAML wants a pointer to a struct, not %T", v)
	}
	p := &Positions{file: name, keys: map[string]pos{}}
	return p, decodeYAML(data, name, "the file", rv.Elem(), p.keys)
}

func decodeYAML(data []byte, name, what string, v reflect.Value, keys map[string]pos) error {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return yamlError(name, err)
	}
	if len(root.Content) == 0 { // empty file
		return nil
	}
	doc := root.Content[0]
	if isNull(doc) {
		return nil
	}
	if doc.Kind != yaml.MappingNode {
		return Errors{{File: name, Line: doc.Line, Col: doc.Column, Msg: what + " must be a mapping of keys"}}
	}
	index(name, "", doc, keys)
	d := &decoder{file: name}
	d.value("", doc, doc, v)
	if len(d.errs) > 0 {
		return d.errs
	}
	return nil
}

func yamlError(name string, err error) error {
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
func index(file, prefix string, n *yaml.Node, keys map[string]pos) {
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			key := join(prefix, k.Value)
			keys[key] = pos{file, k.Line, k.Column, v.Value}
			index(file, key, v, keys)
		}
	case yaml.SequenceNode:
		for i, v := range n.Content {
			key := fmt.Sprintf("%s[%d]", prefix, i)
			keys[key] = pos{file, v.Line, v.Column, v.Value}
			index(file, key, v, keys)
		}
	}
}

// EnvName is the environment variable that overrides key.
func EnvName(key string) string {
	return EnvPrefix + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
}

// applyEnv applies the VIGIL_* variables of env that name a key; other
// VIGIL_* variables are not configuration (tests and tools use some) and
// are ignored.
func (c *Config) applyEnv(env []string) error {
	byName := map[string]string{}
	for _, key := range Keys() {
		byName[EnvName(key.Key)] = key.Key
	}
	var es Errors
	for _, kv := range env {
		name, value, ok := strings.Cut(kv, "=")
		if !ok || !strings.HasPrefix(name, EnvPrefix) {
			continue
		}
		key, known := byName[name]
		if !known {
			continue
		}
		if err := c.Set(key, value); err != nil {
			e := &Error{File: name, Key: key, Msg: err.Error()}
			var se *Error
			if errors.As(err, &se) {
				e.Msg = se.Msg
			}
			es = append(es, e)
			continue
		}
		if c.src != nil {
			c.src.keys[key] = pos{file: name}
		}
	}
	if len(es) > 0 {
		return es
	}
	return nil
}

// Set applies one override: key is a dotted YAML key
// ("outputs.http.url"), value a YAML value ("true", "5s", "7d", "[a, b]").
// Flags use it so that their names equal the configuration keys. A bad
// value changes nothing.
func (c *Config) Set(key, value string) error {
	var v yaml.Node
	if err := yaml.Unmarshal([]byte(value), &v); err != nil {
		return &Error{Key: key, Msg: fmt.Sprintf("bad value %q: %v", value, strings.TrimPrefix(err.Error(), "yaml: "))}
	}
	leaf := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Value: ""}
	if len(v.Content) > 0 {
		leaf = v.Content[0]
	}
	parts := strings.Split(key, ".")
	for i := len(parts) - 1; i >= 0; i-- {
		if parts[i] == "" {
			return &Error{Key: key, Msg: "empty key component"}
		}
		leaf = &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Content: []*yaml.Node{
			{Kind: yaml.ScalarNode, Tag: "!!str", Value: parts[i]}, leaf}}
	}
	// Decode into a copy (maps copied too) so that a bad value changes nothing.
	cp := c.clone()
	d := &decoder{}
	d.value("", leaf, leaf, reflect.ValueOf(cp).Elem())
	if len(d.errs) > 0 {
		e := d.errs[0]
		return &Error{Key: e.Key, Msg: e.Msg}
	}
	*c = *cp
	if c.src != nil {
		delete(c.src.keys, key) // the value no longer comes from the file
	}
	return nil
}

// clone copies c deeply enough for Set: its maps are new maps.
func (c *Config) clone() *Config {
	cp := *c
	cp.Dedup.Rules = maps.Clone(c.Dedup.Rules)
	cp.Outputs.HTTP.Headers = maps.Clone(c.Outputs.HTTP.Headers)
	return &cp
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
		// The nearest enclosing key that a file (or a VIGIL_ variable) set;
		// none: the value is a default or came from --set, and the error
		// names no file.
		for k := key; k != ""; {
			if p, ok := c.src.keys[k]; ok {
				e.File, e.Line, e.Col = p.file, p.line, p.col
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
