package config

import (
	"fmt"
	"reflect"
	"strings"

	"gopkg.in/yaml.v3"
)

// Key is one documented configuration key.
type Key struct {
	Key     string // dotted key
	Type    string
	Default string // the default, as YAML
	Doc     string
}

// Keys lists every configuration key with its type, default and
// documentation, in struct order.
func Keys() []Key {
	var keys []Key
	walk("", reflect.ValueOf(DefaultConfig()).Elem(), &keys)
	return keys
}

func walk(prefix string, v reflect.Value, keys *[]Key) {
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if opts == "inline" {
			walk(prefix, v.Field(i), keys)
			continue
		}
		key := name
		if prefix != "" {
			key = prefix + "." + name
		}
		fv := v.Field(i)
		if f.Type.Kind() == reflect.Struct && f.Tag.Get("doc") == "" {
			walk(key, fv, keys)
			continue
		}
		*keys = append(*keys, Key{Key: key, Type: typeName(f.Type), Default: defaultString(fv), Doc: f.Tag.Get("doc")})
	}
}

func typeName(t reflect.Type) string {
	switch {
	case t.String() == "time.Duration":
		return "duration"
	case t.String() == "alert.Priority":
		return "priority"
	case t.Kind() == reflect.Slice:
		return "list of " + typeName(t.Elem())
	case t.Kind() == reflect.Map:
		return "map of " + typeName(t.Key()) + " to " + typeName(t.Elem())
	case t.Kind() == reflect.Int:
		return "integer"
	case t.Kind() == reflect.Bool:
		return "boolean"
	}
	return t.Kind().String()
}

func defaultString(v reflect.Value) string {
	if (v.Kind() == reflect.Slice || v.Kind() == reflect.Map) && v.Len() == 0 {
		return "(none)"
	}
	if v.Kind() == reflect.String && v.String() == "" {
		return `""`
	}
	n := &yaml.Node{}
	if err := n.Encode(v.Interface()); err != nil {
		return fmt.Sprint(v.Interface())
	}
	n.Style = yaml.FlowStyle
	b, err := yaml.Marshal(n)
	if err != nil {
		return fmt.Sprint(v.Interface())
	}
	return strings.TrimSpace(string(b))
}

// Markdown renders the configuration reference (docs/config.md).
func Markdown() string {
	var b strings.Builder
	b.WriteString(`# Vigil configuration reference

<!-- Generated from internal/config (the Config struct's doc tags and DefaultConfig).
     Do not edit: run VIGIL_UPDATE_DOCS=1 go test ./internal/config/ -run TestDocs. -->

Vigil reads one YAML file, ` + "`" + DefaultPath + "`" + ` by default (` + "`vigil run --config FILE`" + `), then the drop-in
files ` + "`config.d/*.yaml`" + ` (and ` + "`*.yml`" + `) of the same directory in name order: a later file's keys replace the
earlier values (lists are replaced whole, maps such as ` + "`dedup.rules`" + ` gain the new entries). The directory
` + "`rules.d`" + ` beside the file, when it exists, is added to ` + "`rules.files`" + `. A missing default file means "all
defaults". Unknown keys and values of the wrong type are errors; every problem of every file (and of the
environment below) is reported at once, each with ` + "`file:line:col`" + ` and its key, e.g.
` + "`/etc/vigil/config.d/20-http.yaml:3:5: outputs.http.timeout: want a duration such as 10s, 5m, 12h or 7d, got \"soon\"`" + `,
together with the checks of the values that did decode; ` + "`vigil run`" + ` reports them before it starts anything.

Environment variables override the files: ` + "`VIGIL_`" + ` and the key in upper case with dots as underscores, the value
YAML as with ` + "`--set`" + ` (` + "`VIGIL_OUTPUTS_HTTP_URL=http://sidekick:2801/`, `VIGIL_STORE_RETENTION=14d`,\n`VIGIL_RULES_FILES='[/a, /b]'`" + `). ` + "`VIGIL_`" + ` variables that name no key are
not configuration and are ignored (check the result with ` + "`vigil config show`" + `).

Every key can be overridden on the command line with ` + "`--set KEY=VALUE`" + ` (the value is YAML, e.g.
` + "`--set outputs.http.enabled=true --set dedup.window=30s`" + `); the common ones also have their own flags
(see ` + "`vigil run --help`" + `). Flags win over the environment, the environment over the files.
` + "`vigil config show`" + ` prints the effective configuration and ` + "`vigil config default`" + ` the defaults.

Durations are Go durations with ` + "`d`" + ` for days added (` + "`500ms`, `10s`, `720h`, `30d`, `1d12h`" + `). Priorities are Falco's: ` + "`emergency`, `alert`, `critical`,\n`error`, `warning`, `notice`, `informational` (or `info`), `debug`" + `; "min_priority: warning" keeps
warning and everything more severe.

| Key | Type | Default | Description |
|-----|------|---------|-------------|
`)
	for _, k := range Keys() {
		fmt.Fprintf(&b, "| `%s` | %s | `%s` | %s |\n", k.Key, k.Type, strings.ReplaceAll(k.Default, "|", `\|`), strings.ReplaceAll(k.Doc, "|", `\|`))
	}
	b.WriteString("\nThe default configuration as YAML (`vigil config default`):\n\n```yaml\n")
	y, _ := DefaultConfig().YAML()
	b.Write(y)
	b.WriteString("```\n")
	return b.String()
}
