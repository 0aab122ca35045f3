package manifest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	yaml3 "gopkg.in/yaml.v3"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

// ErrMalformed is matched (errors.Is) by every *DocError.
var ErrMalformed = errors.New("malformed manifest")

// DocError is a document that could not be decoded. Doc is the 0-based index
// of the document in its file; Line and Col are 1-based positions in the
// file (Col is 0 when unknown).
type DocError struct {
	File string
	Doc  int
	Line int
	Col  int
	Msg  string

	path string // field a type error is about, positioned by the caller
}

func (e *DocError) Error() string {
	return fmt.Sprintf("%s:%d:%d: document %d: %s", e.File, e.Line, e.Col, e.Doc, e.Msg)
}

// Is makes errors.Is(err, ErrMalformed) true.
func (e *DocError) Is(t error) bool { return t == ErrMalformed }

// Source locates an object: file, 0-based document index, the line the
// document starts on, and the index inside a List (-1 when not in a List).
type Source struct {
	File string
	Doc  int
	Line int
	Item int
}

func (s Source) String() string {
	if s.Item >= 0 {
		return fmt.Sprintf("%s:%d (document %d, item %d)", s.File, s.Line, s.Doc, s.Item)
	}
	return fmt.Sprintf("%s:%d (document %d)", s.File, s.Line, s.Doc)
}

// Ref names an object. Namespace is empty for cluster-scoped kinds.
type Ref struct {
	Kind      string `json:"kind"`
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name"`
}

func (r Ref) String() string {
	if r.Namespace == "" {
		return r.Kind + "/" + r.Name
	}
	return r.Kind + "/" + r.Namespace + "/" + r.Name
}

// Object is one decoded Kubernetes object. Obj is a pointer to the typed API
// struct (*appsv1.Deployment, *rbacv1.ClusterRole, ...). Namespace is
// "default" for a namespaced object that names none.
type Object struct {
	Source     Source
	APIVersion string
	Kind       string
	Namespace  string
	Name       string
	Labels     map[string]string
	Obj        any

	raw     []byte // the object's own text (YAML or JSON), nil inside JSON Lists
	rawLine int    // file line of raw's first line
	node    *yaml3.Node
	parsed  bool
}

// Ref returns the object's reference.
func (o *Object) Ref() Ref { return Ref{Kind: o.Kind, Namespace: o.Namespace, Name: o.Name} }

// Note records a document that was skipped on purpose (an unknown kind).
type Note struct {
	Source     Source
	APIVersion string
	Kind       string
	Msg        string
}

func (n Note) String() string { return n.Source.String() + ": " + n.Msg }

// Inventory is everything loaded from a set of paths.
type Inventory struct {
	Objects []*Object
	Notes   []Note
	Errors  []*DocError
}

// kinds lists the kinds that are decoded into API types and whether they are
// namespaced.
var kinds = map[string]struct {
	namespaced bool
	newObj     func() any
}{
	"Pod":                            {true, func() any { return new(corev1.Pod) }},
	"Deployment":                     {true, func() any { return new(appsv1.Deployment) }},
	"StatefulSet":                    {true, func() any { return new(appsv1.StatefulSet) }},
	"DaemonSet":                      {true, func() any { return new(appsv1.DaemonSet) }},
	"ReplicaSet":                     {true, func() any { return new(appsv1.ReplicaSet) }},
	"ReplicationController":          {true, func() any { return new(corev1.ReplicationController) }},
	"Job":                            {true, func() any { return new(batchv1.Job) }},
	"CronJob":                        {true, func() any { return new(batchv1.CronJob) }},
	"Role":                           {true, func() any { return new(rbacv1.Role) }},
	"RoleBinding":                    {true, func() any { return new(rbacv1.RoleBinding) }},
	"ClusterRole":                    {false, func() any { return new(rbacv1.ClusterRole) }},
	"ClusterRoleBinding":             {false, func() any { return new(rbacv1.ClusterRoleBinding) }},
	"ServiceAccount":                 {true, func() any { return new(corev1.ServiceAccount) }},
	"NetworkPolicy":                  {true, func() any { return new(networkingv1.NetworkPolicy) }},
	"CiliumNetworkPolicy":            {true, func() any { return new(CiliumNetworkPolicy) }},
	"CiliumClusterwideNetworkPolicy": {false, func() any { return new(CiliumNetworkPolicy) }},
	"Namespace":                      {false, func() any { return new(corev1.Namespace) }},
	"Service":                        {true, func() any { return new(corev1.Service) }},
	"Secret":                         {true, func() any { return new(corev1.Secret) }},
	"ConfigMap":                      {true, func() any { return new(corev1.ConfigMap) }},
}

// Load reads every path (a file, a directory walked recursively for
// .yaml/.yml/.json files, or "-" for standard input). Per-document problems
// land in Inventory.Errors and Inventory.Notes; the error is non-nil only
// when a path cannot be read.
func Load(paths ...string) (*Inventory, error) {
	inv := &Inventory{}
	for _, p := range paths {
		if err := inv.LoadPath(p); err != nil {
			return inv, err
		}
	}
	return inv, nil
}

// LoadPath adds one file, directory or "-" (stdin) to the inventory.
func (inv *Inventory) LoadPath(p string) error {
	if p == "-" {
		data, err := io.ReadAll(os.Stdin)
		if err != nil {
			return fmt.Errorf("load manifests: read stdin: %w", err)
		}
		inv.AddBytes("<stdin>", data)
		return nil
	}
	st, err := os.Stat(p)
	if err != nil {
		return fmt.Errorf("load manifests: %w", err)
	}
	if !st.IsDir() {
		data, err := os.ReadFile(p)
		if err != nil {
			return fmt.Errorf("load manifests: %w", err)
		}
		inv.AddBytes(p, data)
		return nil
	}
	var files []string
	err = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if path != p && strings.HasPrefix(d.Name(), ".") {
				return filepath.SkipDir
			}
			return nil
		}
		switch strings.ToLower(filepath.Ext(path)) {
		case ".yaml", ".yml", ".json":
			files = append(files, path)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("load manifests: walk %s: %w", p, err)
	}
	sort.Strings(files)
	var units []unit
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return fmt.Errorf("load manifests: %w", err)
		}
		units = append(units, unitsOf(f, data)...)
	}
	inv.decode(units)
	return nil
}

// AddBytes decodes the content of one file named name.
func (inv *Inventory) AddBytes(name string, data []byte) {
	inv.decode(unitsOf(name, data))
}

// unit is an independently decodable piece of input: a JSON stream, a YAML
// document, or one item of a YAML List document.
type unit struct {
	file     string
	json     bool
	doc      int
	line     int
	item     int    // index in a List, -1 otherwise
	itemKind string // kind of a List's items ("" when the items name it)
	listVer  string
	text     []byte
}

func unitsOf(name string, data []byte) []unit {
	trimmed := bytes.TrimLeft(data, " \t\r\n\ufeff")
	if len(trimmed) > 0 && (trimmed[0] == '{' || trimmed[0] == '[') {
		return []unit{{file: name, json: true, text: data, item: -1}}
	}
	var out []unit
	for i, d := range splitDocs(data) {
		if items, ok := splitListItems(name, i, d); ok {
			out = append(out, items...)
			continue
		}
		out = append(out, unit{file: name, doc: i, line: d.line, item: -1, text: d.text})
	}
	return out
}

// decode decodes units on all CPUs and appends the results in input order.
func (inv *Inventory) decode(units []unit) {
	parts := make([]Inventory, len(units))
	workers := min(runtime.GOMAXPROCS(0), len(units))
	if len(units) < 4 {
		workers = 1
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= len(units) {
					return
				}
				u := &units[i]
				part := &parts[i]
				switch {
				case u.json:
					part.addJSONStream(u.file, u.text)
				case u.item >= 0:
					part.addYAMLItem(u)
				default:
					part.addYAMLDoc(u.file, u.doc, u.line, u.text)
				}
			}
		}()
	}
	wg.Wait()
	for i := range parts {
		inv.Objects = append(inv.Objects, parts[i].Objects...)
		inv.Notes = append(inv.Notes, parts[i].Notes...)
		inv.Errors = append(inv.Errors, parts[i].Errors...)
	}
}

// splitListItems cuts a `kubectl get -o yaml` List document into its items
// so they decode in parallel and errors point at the item's line. The
// document must have a top-level "items:" block whose entries start with
// "- " at column 0 and continue indented by two spaces; anything else is
// left to the whole-document decoder.
func splitListItems(file string, idx int, d doc) ([]unit, bool) {
	lines := bytes.SplitAfter(d.text, []byte("\n"))
	var hdr []byte
	var items []unit
	var cur *unit
	in := false
	for n, l := range lines {
		switch {
		case !in && bytes.Equal(bytes.TrimRight(l, " \t\r\n"), []byte("items:")):
			in = true
		case in && bytes.HasPrefix(l, []byte("- ")):
			items = append(items, unit{file: file, doc: idx, line: d.line + n, item: len(items)})
			cur = &items[len(items)-1]
			cur.text = append(cur.text, l[2:]...)
		case in && len(bytes.TrimSpace(l)) == 0:
			if cur != nil {
				cur.text = append(cur.text, '\n')
			}
		case in && cur != nil && bytes.HasPrefix(l, []byte("  ")):
			cur.text = append(cur.text, l[2:]...)
		case in && len(l) > 0 && l[0] != ' ' && l[0] != '-' && l[0] != '#':
			in, cur = false, nil
			hdr = append(hdr, l...)
		case in:
			return nil, false
		default:
			hdr = append(hdr, l...)
		}
	}
	if len(items) == 0 {
		return nil, false
	}
	var h header
	js, err := yaml.YAMLToJSON(hdr)
	if err != nil || json.Unmarshal(js, &h) != nil {
		return nil, false
	}
	if h.Kind != "List" && !strings.HasSuffix(h.Kind, "List") {
		return nil, false
	}
	for i := range items {
		items[i].itemKind = strings.TrimSuffix(h.Kind, "List")
		items[i].listVer = h.APIVersion
	}
	return items, true
}

func (inv *Inventory) addYAMLItem(u *unit) {
	src := Source{File: u.file, Doc: u.doc, Line: u.line, Item: u.item}
	js, err := yaml.YAMLToJSON(u.text)
	if err != nil {
		inv.Errors = append(inv.Errors, yamlError(u.file, u.doc, u.line, 2, fmt.Sprintf("item %d: ", u.item), u.text, err))
		return
	}
	t := bytes.TrimSpace(js)
	if len(t) == 0 || t[0] != '{' {
		inv.Errors = append(inv.Errors, &DocError{File: u.file, Doc: u.doc, Line: u.line, Msg: fmt.Sprintf("item %d: not a Kubernetes object", u.item)})
		return
	}
	if u.itemKind != "" {
		t = fillKind(t, u.itemKind, u.listVer)
	}
	n, ne := len(inv.Objects), len(inv.Errors)
	inv.addObject(src, t)
	inv.setRaw(n, u.text, u.line)
	inv.positionTypeErrors(ne, u.text, u.line, func(l, c int) int { return c + 2 })
}

// setRaw records the source text of the single object added at index n.
func (inv *Inventory) setRaw(n int, text []byte, line int) {
	if len(inv.Objects) == n+1 {
		inv.Objects[n].raw, inv.Objects[n].rawLine = text, line
	}
}

type doc struct {
	line int // 1-based line of the document's first line
	text []byte
}

// splitDocs cuts a YAML stream at "---" separator lines (and "..." end
// markers), remembering where each document starts.
func splitDocs(data []byte) []doc {
	var docs []doc
	start, startLine, line := 0, 1, 1
	pos := 0
	for pos <= len(data) {
		end := bytes.IndexByte(data[pos:], '\n')
		var l []byte
		next := len(data) + 1
		if end >= 0 {
			l = data[pos : pos+end]
			next = pos + end + 1
		} else {
			l = data[pos:]
		}
		t := bytes.TrimRight(l, " \t\r")
		if isSeparator(t) {
			docs = append(docs, doc{line: startLine, text: data[start:pos]})
			start = min(next, len(data))
			startLine = line + 1
		}
		pos = next
		line++
	}
	if start < len(data) {
		docs = append(docs, doc{line: startLine, text: data[start:]})
	}
	// Drop empty documents but keep indices stable for the rest: a leading
	// "---" creates an empty first document that users do not count.
	out := docs[:0]
	for _, d := range docs {
		if !blankYAML(d.text) {
			out = append(out, d)
		}
	}
	return out
}

func isSeparator(l []byte) bool {
	if bytes.HasPrefix(l, []byte("---")) {
		rest := bytes.TrimSpace(l[3:])
		return len(rest) == 0 || rest[0] == '#'
	}
	return bytes.Equal(l, []byte("..."))
}

func blankYAML(b []byte) bool {
	for _, l := range bytes.Split(b, []byte("\n")) {
		t := bytes.TrimSpace(l)
		if len(t) > 0 && t[0] != '#' {
			return false
		}
	}
	return true
}

var lineRe = regexp.MustCompile(`line (\d+)(?:: column (\d+))?`)

func (inv *Inventory) addYAMLDoc(file string, idx, line int, text []byte) {
	js, err := yaml.YAMLToJSON(text)
	if err != nil {
		inv.Errors = append(inv.Errors, yamlError(file, idx, line, 0, "", text, err))
		return
	}
	n, ne := len(inv.Objects), len(inv.Errors)
	inv.addJSONDoc(file, idx, line, js)
	inv.setRaw(n, text, line)
	inv.positionTypeErrors(ne, text, line, func(l, c int) int { return c })
}

// yamlError positions a YAML syntax error at the line and column the parser
// stopped at (lines of text start at line; columns shift by colShift, the
// indentation removed from List items).
func yamlError(file string, idx, line, colShift int, prefix string, text []byte, err error) *DocError {
	de := &DocError{File: file, Doc: idx, Line: line, Msg: prefix + cleanYAMLErr(err.Error())}
	if l, c, cl, cc, msg, ctx, ok := yamlSyntaxError(text); ok {
		de.Line, de.Col = line+l-1, c+colShift
		if cl > 0 {
			if ctx == "" {
				ctx = "construct started"
			}
			msg += fmt.Sprintf(" (%s at %d:%d)", ctx, line+cl-1, cc+colShift)
		}
		de.Msg = prefix + "yaml: " + msg
	} else if m := lineRe.FindStringSubmatch(err.Error()); m != nil {
		n, _ := strconv.Atoi(m[1])
		de.Line = line + n - 1
	}
	return de
}

// positionTypeErrors points the type errors added since error index from
// at the field they are about in text (whose first line is line; col maps a
// column of text to the file's).
func (inv *Inventory) positionTypeErrors(from int, text []byte, line int, col func(l, c int) int) {
	for _, e := range inv.Errors[from:] {
		if e.path == "" {
			continue
		}
		if l, c, ok := valuePos(text, e.path); ok {
			e.Line, e.Col = line+l-1, col(l, c)
		}
	}
}

func cleanYAMLErr(s string) string {
	s = strings.TrimPrefix(s, "error converting YAML to JSON: ")
	return s
}

func (inv *Inventory) addJSONStream(file string, data []byte) {
	dec := json.NewDecoder(bytes.NewReader(data))
	for idx := 0; ; idx++ {
		start := dec.InputOffset()
		var raw json.RawMessage
		err := dec.Decode(&raw)
		if err == io.EOF {
			return
		}
		if err != nil {
			off := start
			var se *json.SyntaxError
			if errors.As(err, &se) && se.Offset > 0 {
				// Offset counts the offending byte: point at it.
				off = se.Offset - 1
			}
			l, c := lineCol(data, off)
			inv.Errors = append(inv.Errors, &DocError{File: file, Doc: idx, Line: l, Col: c, Msg: err.Error()})
			return
		}
		// Skip leading whitespace to find the line the value starts on.
		s := int(start)
		for s < len(data) && (data[s] == ' ' || data[s] == '\n' || data[s] == '\r' || data[s] == '\t') {
			s++
		}
		l, c0 := lineCol(data, int64(s))
		n, ne := len(inv.Objects), len(inv.Errors)
		inv.addJSONDoc(file, idx, l, raw)
		inv.setRaw(n, data[s:int(dec.InputOffset())], l)
		inv.positionTypeErrors(ne, data[s:int(dec.InputOffset())], l, func(line, c int) int {
			if line == 1 {
				return c + c0 - 1
			}
			return c
		})
	}
}

func lineCol(data []byte, off int64) (int, int) {
	if off > int64(len(data)) {
		off = int64(len(data))
	}
	prefix := data[:off]
	line := bytes.Count(prefix, []byte("\n")) + 1
	col := int(off) - bytes.LastIndexByte(prefix, '\n')
	return line, col
}

type header struct {
	APIVersion string            `json:"apiVersion"`
	Kind       string            `json:"kind"`
	Items      []json.RawMessage `json:"items"`
	Metadata   struct {
		Name      string            `json:"name"`
		Namespace string            `json:"namespace"`
		Labels    map[string]string `json:"labels"`
	} `json:"metadata"`
}

// addJSONDoc decodes one document already in JSON form.
func (inv *Inventory) addJSONDoc(file string, idx, line int, js []byte) {
	t := bytes.TrimSpace(js)
	if len(t) == 0 || bytes.Equal(t, []byte("null")) {
		return
	}
	if t[0] != '{' {
		inv.Errors = append(inv.Errors, &DocError{File: file, Doc: idx, Line: line, Msg: "document is not a Kubernetes object (expected a mapping with apiVersion and kind)"})
		return
	}
	inv.addObject(Source{File: file, Doc: idx, Line: line, Item: -1}, t)
}

func (inv *Inventory) addObject(src Source, js []byte) {
	var h header
	if err := json.Unmarshal(js, &h); err != nil {
		de := &DocError{File: src.File, Doc: src.Doc, Line: src.Line, Msg: itemPrefix(src) + "bad object header: " + err.Error()}
		if path, msg, ok := typeErrorPath(js, err); ok {
			de.path, de.Msg = path, itemPrefix(src)+msg
		}
		inv.Errors = append(inv.Errors, de)
		return
	}
	if h.Kind == "" {
		inv.Errors = append(inv.Errors, &DocError{File: src.File, Doc: src.Doc, Line: src.Line, Msg: itemPrefix(src) + "missing kind"})
		return
	}
	if h.Kind == "List" || (strings.HasSuffix(h.Kind, "List") && h.Items != nil) {
		if src.Item >= 0 {
			inv.Errors = append(inv.Errors, &DocError{File: src.File, Doc: src.Doc, Line: src.Line, Msg: itemPrefix(src) + "nested List"})
			return
		}
		itemKind := strings.TrimSuffix(h.Kind, "List")
		for i, it := range h.Items {
			s := src
			s.Item = i
			if itemKind != "" {
				// Typed lists (PodList) may omit kind/apiVersion on items.
				it = fillKind(it, itemKind, h.APIVersion)
			}
			inv.addObject(s, it)
		}
		return
	}
	k, ok := kinds[h.Kind]
	if !ok {
		inv.Notes = append(inv.Notes, Note{Source: src, APIVersion: h.APIVersion, Kind: h.Kind,
			Msg: fmt.Sprintf("skipped %s %s/%s: kind not audited", h.APIVersion, h.Kind, h.Metadata.Name)})
		return
	}
	obj := k.newObj()
	if err := json.Unmarshal(js, obj); err != nil {
		de := &DocError{File: src.File, Doc: src.Doc, Line: src.Line,
			Msg: fmt.Sprintf("%s%s %q: %v", itemPrefix(src), h.Kind, h.Metadata.Name, err)}
		if path, msg, ok := typeErrorPath(js, err); ok {
			de.path, de.Msg = path, fmt.Sprintf("%s%s %q: %s", itemPrefix(src), h.Kind, h.Metadata.Name, msg)
		}
		inv.Errors = append(inv.Errors, de)
		return
	}
	ns := h.Metadata.Namespace
	if k.namespaced && ns == "" {
		ns = "default"
	}
	if !k.namespaced {
		ns = ""
	}
	if m := objectMeta(obj); m != nil {
		m.Namespace = ns
	}
	inv.Objects = append(inv.Objects, &Object{Source: src, APIVersion: h.APIVersion, Kind: h.Kind,
		Namespace: ns, Name: h.Metadata.Name, Labels: h.Metadata.Labels, Obj: obj})
}

func itemPrefix(s Source) string {
	if s.Item >= 0 {
		return fmt.Sprintf("item %d: ", s.Item)
	}
	return ""
}

func fillKind(it json.RawMessage, kind, apiVersion string) json.RawMessage {
	var h header
	if json.Unmarshal(it, &h) != nil || h.Kind != "" {
		return it
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(it, &m) != nil {
		return it
	}
	m["kind"], _ = json.Marshal(kind)
	if _, ok := m["apiVersion"]; !ok {
		m["apiVersion"], _ = json.Marshal(apiVersion)
	}
	out, err := json.Marshal(m)
	if err != nil {
		return it
	}
	return out
}

func objectMeta(obj any) *metav1.ObjectMeta {
	switch o := obj.(type) {
	case *corev1.Pod:
		return &o.ObjectMeta
	case *appsv1.Deployment:
		return &o.ObjectMeta
	case *appsv1.StatefulSet:
		return &o.ObjectMeta
	case *appsv1.DaemonSet:
		return &o.ObjectMeta
	case *appsv1.ReplicaSet:
		return &o.ObjectMeta
	case *corev1.ReplicationController:
		return &o.ObjectMeta
	case *batchv1.Job:
		return &o.ObjectMeta
	case *batchv1.CronJob:
		return &o.ObjectMeta
	case *rbacv1.Role:
		return &o.ObjectMeta
	case *rbacv1.RoleBinding:
		return &o.ObjectMeta
	case *rbacv1.ClusterRole:
		return &o.ObjectMeta
	case *rbacv1.ClusterRoleBinding:
		return &o.ObjectMeta
	case *corev1.ServiceAccount:
		return &o.ObjectMeta
	case *networkingv1.NetworkPolicy:
		return &o.ObjectMeta
	case *CiliumNetworkPolicy:
		return &o.ObjectMeta
	case *corev1.Namespace:
		return &o.ObjectMeta
	case *corev1.Service:
		return &o.ObjectMeta
	case *corev1.Secret:
		return &o.ObjectMeta
	case *corev1.ConfigMap:
		return &o.ObjectMeta
	}
	return nil
}

// PodTemplate returns the pod spec of a workload object, the metadata that
// carries its pods' labels and annotations, and the field path of the spec
// ("spec", "spec.template.spec", "spec.jobTemplate.spec.template.spec").
// ok is false for objects that do not run pods.
func (o *Object) PodTemplate() (spec *corev1.PodSpec, meta *metav1.ObjectMeta, path string, ok bool) {
	switch w := o.Obj.(type) {
	case *corev1.Pod:
		return &w.Spec, &w.ObjectMeta, "spec", true
	case *appsv1.Deployment:
		return &w.Spec.Template.Spec, &w.Spec.Template.ObjectMeta, "spec.template.spec", true
	case *appsv1.StatefulSet:
		return &w.Spec.Template.Spec, &w.Spec.Template.ObjectMeta, "spec.template.spec", true
	case *appsv1.DaemonSet:
		return &w.Spec.Template.Spec, &w.Spec.Template.ObjectMeta, "spec.template.spec", true
	case *appsv1.ReplicaSet:
		return &w.Spec.Template.Spec, &w.Spec.Template.ObjectMeta, "spec.template.spec", true
	case *batchv1.Job:
		return &w.Spec.Template.Spec, &w.Spec.Template.ObjectMeta, "spec.template.spec", true
	case *batchv1.CronJob:
		return &w.Spec.JobTemplate.Spec.Template.Spec, &w.Spec.JobTemplate.Spec.Template.ObjectMeta, "spec.jobTemplate.spec.template.spec", true
	case *corev1.ReplicationController:
		if w.Spec.Template == nil {
			return nil, nil, "", false
		}
		return &w.Spec.Template.Spec, &w.Spec.Template.ObjectMeta, "spec.template.spec", true
	}
	return nil, nil, "", false
}

// PodLabels returns the labels of the pods a workload runs (the pod
// template's labels, or the Pod's own).
func (o *Object) PodLabels() map[string]string {
	_, meta, _, ok := o.PodTemplate()
	if !ok {
		return nil
	}
	return meta.Labels
}

// OfKind returns the objects of one kind, in load order.
func (inv *Inventory) OfKind(kind string) []*Object {
	var out []*Object
	for _, o := range inv.Objects {
		if o.Kind == kind {
			out = append(out, o)
		}
	}
	return out
}

// Workloads returns the objects that run pods.
func (inv *Inventory) Workloads() []*Object {
	var out []*Object
	for _, o := range inv.Objects {
		if _, _, _, ok := o.PodTemplate(); ok {
			out = append(out, o)
		}
	}
	return out
}

// FieldLine returns the file line of a field path such as
// "spec.template.spec.containers[0].securityContext.privileged" or
// "metadata.annotations[key.with/dots]" in the object's source, falling back
// to the deepest part of the path that exists, and to the document's first
// line when the source is not available (items of JSON Lists).
func (o *Object) FieldLine(path string) int {
	if o.raw == nil {
		return o.Source.Line
	}
	o.parse()
	n := o.node
	if n == nil || path == "" {
		return o.Source.Line
	}
	line := n.Line
	for _, seg := range splitPath(path) {
		var l int
		n, l = child(n, seg)
		if n == nil {
			break
		}
		line = l
	}
	return o.rawLine + line - 1
}

func splitPath(p string) []string {
	var out []string
	for p != "" {
		switch p[0] {
		case '.':
			p = p[1:]
		case '[':
			end := strings.IndexByte(p, ']')
			if end < 0 {
				return append(out, p[1:])
			}
			out = append(out, "["+p[1:end])
			p = p[end+1:]
		default:
			end := strings.IndexAny(p, ".[")
			if end < 0 {
				return append(out, p)
			}
			out = append(out, p[:end])
			p = p[end:]
		}
	}
	return out
}

// child steps into a mapping key (seg) or a sequence index or bracketed
// map key ("[3", "[key"). The line is the key's line for mappings, the
// element's for sequences.
func child(n *yaml3.Node, seg string) (*yaml3.Node, int) {
	key := seg
	if strings.HasPrefix(seg, "[") {
		key = seg[1:]
		if i, err := strconv.Atoi(key); err == nil && n.Kind == yaml3.SequenceNode {
			if i >= 0 && i < len(n.Content) {
				return n.Content[i], n.Content[i].Line
			}
			return nil, 0
		}
	}
	if n.Kind != yaml3.MappingNode {
		return nil, 0
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1], n.Content[i].Line
		}
	}
	return nil, 0
}

func (o *Object) parse() {
	if o.parsed || o.raw == nil {
		return
	}
	o.parsed = true
	var doc yaml3.Node
	if yaml3.Unmarshal(o.raw, &doc) == nil && len(doc.Content) == 1 {
		o.node = doc.Content[0]
	}
}

// IndexLines parses the source of every object on all CPUs so that later
// FieldLine calls only walk the tree. Calling it is optional.
func (inv *Inventory) IndexLines() {
	workers := runtime.GOMAXPROCS(0)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= len(inv.Objects) {
					return
				}
				inv.Objects[i].parse()
			}
		}()
	}
	wg.Wait()
}

// ServiceAccountOf returns the service account a workload's pods run as
// ("default" when the spec names none), and ok false for objects that run
// no pods.
func (o *Object) ServiceAccountOf() (string, bool) {
	spec, _, _, ok := o.PodTemplate()
	if !ok {
		return "", false
	}
	switch {
	case spec.ServiceAccountName != "":
		return spec.ServiceAccountName, true
	case spec.DeprecatedServiceAccount != "":
		return spec.DeprecatedServiceAccount, true
	}
	return "default", true
}

// MountsToken reports whether a workload's pods get their service account
// token mounted: the pod's automountServiceAccountToken wins; when the pod
// does not set it, the ServiceAccount's (found in inv) decides; unset on
// both means mounted, as the API server does.
func (inv *Inventory) MountsToken(o *Object) bool {
	spec, _, _, ok := o.PodTemplate()
	if !ok {
		return false
	}
	if spec.AutomountServiceAccountToken != nil {
		return *spec.AutomountServiceAccountToken
	}
	sa, _ := o.ServiceAccountOf()
	if inv != nil {
		for _, s := range inv.OfKind("ServiceAccount") {
			if s.Namespace != o.Namespace || s.Name != sa {
				continue
			}
			if a, ok := s.Obj.(*corev1.ServiceAccount); ok && a.AutomountServiceAccountToken != nil {
				return *a.AutomountServiceAccountToken
			}
		}
	}
	return true
}

// Container is one container of a pod spec with its field path
// ("spec.template.spec.initContainers[0]").
type Container struct {
	C    *corev1.Container
	Path string
}

// Containers lists the init, regular and ephemeral containers of a pod spec
// whose field path is base.
func Containers(spec *corev1.PodSpec, base string) []Container {
	var cs []Container
	for i := range spec.InitContainers {
		cs = append(cs, Container{&spec.InitContainers[i], fmt.Sprintf("%s.initContainers[%d]", base, i)})
	}
	for i := range spec.Containers {
		cs = append(cs, Container{&spec.Containers[i], fmt.Sprintf("%s.containers[%d]", base, i)})
	}
	for i := range spec.EphemeralContainers {
		c := corev1.Container(spec.EphemeralContainers[i].EphemeralContainerCommon)
		cs = append(cs, Container{&c, fmt.Sprintf("%s.ephemeralContainers[%d]", base, i)})
	}
	return cs
}
