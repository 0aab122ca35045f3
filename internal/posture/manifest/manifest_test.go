package manifest

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
)

func add(data string) *Inventory {
	inv := &Inventory{}
	inv.AddBytes("in.yaml", []byte(data))
	return inv
}

func refs(inv *Inventory) []string {
	var out []string
	for _, o := range inv.Objects {
		out = append(out, o.Ref().String())
	}
	return out
}

func TestMultiDocYAML(t *testing.T) {
	inv := add(`# leading comment
---
apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
---
# only a comment
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: shop
spec:
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: a, image: nginx}]
--- # trailing comment on the separator
apiVersion: v1
kind: Pod
metadata: {name: p}
spec: {containers: [{name: a, image: x}]}
...
`)
	if len(inv.Errors) != 0 {
		t.Fatalf("errors: %v", inv.Errors)
	}
	got := strings.Join(refs(inv), " ")
	if got != "Namespace/shop Deployment/shop/web Pod/default/p" {
		t.Fatalf("objects = %s", got)
	}
	d := inv.Objects[1]
	if d.Source.Line != 10 {
		t.Errorf("deployment starts at line %d, want 10", d.Source.Line)
	}
	if dep := d.Obj.(*appsv1.Deployment); dep.Namespace != "shop" || dep.Spec.Template.Labels["app"] != "web" {
		t.Errorf("deployment decoded wrong: %+v", dep.ObjectMeta)
	}
	if p := inv.Objects[2].Obj.(*corev1.Pod); p.Namespace != "default" {
		t.Errorf("pod without namespace got %q, want default", p.Namespace)
	}
	if wl := inv.Workloads(); len(wl) != 2 {
		t.Errorf("%d workloads, want 2", len(wl))
	}
}

func TestJSONListAndKubectlDump(t *testing.T) {
	// kubectl get -o json: a List whose items carry kind; a typed PodList
	// whose items do not; and a JSON stream of two objects.
	inv := &Inventory{}
	inv.AddBytes("dump.json", []byte(`{
  "apiVersion": "v1",
  "kind": "List",
  "items": [
    {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "sa", "namespace": "a"}},
    {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": {"name": "r"}, "rules": []},
    {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}}
  ]
}`))
	inv.AddBytes("pods.json", []byte(`{"apiVersion": "v1", "kind": "PodList", "items": [{"metadata": {"name": "p1", "namespace": "b"}, "spec": {"containers": [{"name": "c", "image": "x"}]}}]}
{"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s", "namespace": "b"}}`))
	if len(inv.Errors) != 0 {
		t.Fatalf("errors: %v", inv.Errors)
	}
	if got := strings.Join(refs(inv), " "); got != "ServiceAccount/a/sa ClusterRole/r Pod/b/p1 Service/b/s" {
		t.Fatalf("objects = %s", got)
	}
	if inv.Objects[0].Source.Item != 0 || inv.Objects[1].Source.Item != 1 {
		t.Errorf("list item indices wrong: %+v %+v", inv.Objects[0].Source, inv.Objects[1].Source)
	}
	if len(inv.Notes) != 1 || inv.Notes[0].Kind != "Widget" || inv.Notes[0].Source.Item != 2 {
		t.Fatalf("notes = %v, want the Widget skipped", inv.Notes)
	}
	if inv.Objects[3].Source.Doc != 1 || inv.Objects[3].Source.Line != 2 {
		t.Errorf("second JSON document at %+v, want doc 1 line 2", inv.Objects[3].Source)
	}
}

func TestMalformed(t *testing.T) {
	inv := add(`apiVersion: v1
kind: ConfigMap
metadata: {name: ok}
---
apiVersion: v1
kind: Pod
metadata:
  name: bad
   namespace: x
---
- just
- a list
---
apiVersion: v1
metadata: {name: nokind}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: typed}
spec: {replicas: "three"}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: after}
`)
	if got := strings.Join(refs(inv), " "); got != "ConfigMap/default/ok ConfigMap/default/after" {
		t.Errorf("good documents around the bad ones: %s", got)
	}
	if len(inv.Errors) != 4 {
		t.Fatalf("errors = %v, want 4", inv.Errors)
	}
	want := []struct {
		doc, line int
		msg       string
	}{
		{1, 9, "mapping values"},
		{2, 11, "not a Kubernetes object"},
		{3, 14, "missing kind"},
		{4, 20, "Deployment \"typed\": spec.replicas: cannot decode a JSON string as int32"},
	}
	for i, w := range want {
		e := inv.Errors[i]
		if e.Doc != w.doc || e.Line != w.line || !strings.Contains(e.Msg, w.msg) || e.File != "in.yaml" {
			t.Errorf("error %d = %v, want doc %d line %d containing %q", i, e, w.doc, w.line, w.msg)
		}
		if !errors.Is(e, ErrMalformed) {
			t.Errorf("error %d does not match ErrMalformed", i)
		}
	}
	bad := &Inventory{}
	bad.AddBytes("bad.json", []byte("{\n  \"kind\": \"Pod\",\n  \"metadata\": {\"name\": }\n}"))
	if len(bad.Errors) != 1 || bad.Errors[0].Line != 3 {
		t.Errorf("JSON syntax error = %v, want line 3", bad.Errors)
	}
}

func TestLoadDirectory(t *testing.T) {
	dir := t.TempDir()
	write := func(p, s string) {
		full := filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("a.yaml", "apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n")
	write("sub/deeper/b.yml", "apiVersion: v1\nkind: Namespace\nmetadata: {name: b}\n")
	write("sub/c.json", `{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "c"}}`)
	write("sub/readme.md", "apiVersion: v1\nkind: Namespace\nmetadata: {name: ignored}\n")
	write(".git/d.yaml", "apiVersion: v1\nkind: Namespace\nmetadata: {name: hidden}\n")
	inv, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(refs(inv), " "); got != "Namespace/a Namespace/c Namespace/b" {
		t.Fatalf("objects = %s", got)
	}
	if _, err := Load(filepath.Join(dir, "missing")); err == nil {
		t.Error("missing path: no error")
	}
}

// Helm output: comments naming the template before each document.
func TestHelmRendered(t *testing.T) {
	inv := add(`---
# Source: app/templates/serviceaccount.yaml
apiVersion: v1
kind: ServiceAccount
metadata:
  name: release-app
  labels:
    helm.sh/chart: app-0.1.0
---
# Source: app/templates/deployment.yaml
apiVersion: apps/v1
kind: Deployment
metadata:
  name: release-app
spec:
  template:
    spec:
      serviceAccountName: release-app
      containers:
        - name: app
          image: "nginx:1.16.0"
`)
	if len(inv.Errors) != 0 || len(inv.Objects) != 2 {
		t.Fatalf("errors %v, %d objects", inv.Errors, len(inv.Objects))
	}
	if inv.Objects[1].Source.Line != 10 || inv.Objects[1].Source.Doc != 1 {
		t.Errorf("deployment source %+v", inv.Objects[1].Source)
	}
}

func FuzzAddBytes(f *testing.F) {
	f.Add([]byte("apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: a}]}\n"))
	f.Add([]byte(`{"kind":"List","items":[{"kind":"Pod"},{"kind":"List","items":[]}]}`))
	f.Add([]byte("---\n- a\n---\n: :\n"))
	f.Add([]byte("kind: CronJob\nspec: {jobTemplate: null}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		inv := &Inventory{}
		inv.AddBytes("fuzz", data)
		for _, o := range inv.Objects {
			o.PodTemplate()
		}
	})
}

// kubectl get -o yaml: items are split and decoded one by one, so a bad
// item is reported at its own line and the others still load.
func TestKubectlYAMLList(t *testing.T) {
	inv := add(`apiVersion: v1
items:
- apiVersion: v1
  kind: Pod
  metadata:
    name: a
    namespace: x
  spec:
    containers:
    - name: c
      image: x
      command:
      - sh

      - -c
- apiVersion: v1
  kind: Pod
  metadata:
    name: [broken
- apiVersion: v1
  kind: Service
  metadata: {name: s, namespace: x}
kind: List
metadata:
  resourceVersion: ""
`)
	if got := strings.Join(refs(inv), " "); got != "Pod/x/a Service/x/s" {
		t.Fatalf("objects = %s", got)
	}
	if inv.Objects[1].Source.Line != 20 || inv.Objects[1].Source.Item != 2 {
		t.Errorf("service source %+v, want line 20 item 2", inv.Objects[1].Source)
	}
	if p := inv.Objects[0].Obj.(*corev1.Pod); len(p.Spec.Containers[0].Command) != 2 {
		t.Errorf("command = %v", p.Spec.Containers[0].Command)
	}
	if len(inv.Errors) != 1 || !strings.Contains(inv.Errors[0].Msg, "item 1") || inv.Errors[0].Line < 16 || inv.Errors[0].Line > 19 {
		t.Errorf("errors = %v, want one for item 1 at lines 16-19", inv.Errors)
	}
	// A typed list whose items omit kind.
	inv = add("apiVersion: v1\nkind: PodList\nitems:\n- metadata: {name: p}\n  spec: {containers: [{name: c}]}\n")
	if got := strings.Join(refs(inv), " "); got != "Pod/default/p" || len(inv.Errors) > 0 {
		t.Fatalf("PodList: %s %v", got, inv.Errors)
	}
}

func TestFieldLine(t *testing.T) {
	inv := add(`apiVersion: v1
kind: ConfigMap
metadata: {name: first}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: d
spec:
  template:
    metadata:
      annotations:
        container.apparmor.security.beta.kubernetes.io/app: unconfined
    spec:
      containers:
      - name: a
        image: x
      - name: b
        securityContext:
          privileged: true
`)
	d := inv.Objects[1]
	for path, want := range map[string]int{
		"spec.template.spec.containers[1].securityContext.privileged":                            20,
		"spec.template.spec.containers[0].image":                                                 17,
		"spec.template.metadata.annotations[container.apparmor.security.beta.kubernetes.io/app]": 13,
		"spec.template.spec.containers[1].securityContext.runAsNonRoot":                          19, // missing: deepest existing part
		"": 5,
	} {
		if got := d.FieldLine(path); got != want {
			t.Errorf("FieldLine(%q) = %d, want %d", path, got, want)
		}
	}
	inv = &Inventory{}
	inv.AddBytes("x.json", []byte("\n{\"kind\": \"Pod\",\n \"metadata\": {\"name\": \"p\"},\n \"spec\": {\"hostPID\": true}}\n"))
	if got := inv.Objects[0].FieldLine("spec.hostPID"); got != 4 {
		t.Errorf("JSON FieldLine = %d, want 4", got)
	}
}

// Item 13: YAML syntax errors carry the column the parser stopped at, type
// errors point at the field (line and column), JSON columns are exact.
func TestErrorPositions(t *testing.T) {
	for _, tc := range []struct {
		name, file, in string
		line, col      int
		msg            string
	}{
		{"yaml indentation", "a.yaml", "apiVersion: v1\nkind: Pod\nmetadata:\n  name: a\n   namespace: x\n", 5, 13, "mapping values are not allowed"},
		{"yaml mapping in a scalar", "a.yaml", "apiVersion: v1\nkind: Pod\nmetadata:\n  name: a: b\n", 4, 10, "mapping values are not allowed"},
		{"yaml unclosed flow sequence", "a.yaml", "apiVersion: v1\nkind: Pod\nmetadata: {name: a, labels: [x, y}\n", 3, 34, "did not find expected ',' or ']' (while parsing a flow sequence at 3:29)"},
		{"yaml second document", "a.yaml", "kind: ConfigMap\napiVersion: v1\nmetadata: {name: c}\n---\napiVersion: v1\nkind: Pod\nmetadata:\n\tname: a\n", 8, 1, "cannot start any token"},
		{"yaml type error", "a.yaml", "apiVersion: v1\nkind: Pod\nmetadata: {name: a}\nspec:\n  containers:\n  - name: c\n    image: x\n  - name: d\n    ports:\n    - {containerPort: 80}\n    - containerPort: eighty\n", 11, 22,
			`spec.containers[1].ports[1].containerPort: cannot decode a JSON string as int32`},
		{"yaml type error in the header", "a.yaml", "apiVersion: v1\nkind: Pod\nmetadata:\n  name: [a]\n", 4, 9, "metadata.name: cannot decode a JSON array as string"},
		{"yaml list item type error", "a.yaml", "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Pod\n  metadata: {name: p}\n  spec: {hostPID: maybe}\n", 7, 19, "spec.hostPID: cannot decode a JSON string as bool"},
		{"json syntax", "a.json", "{\n  \"apiVersion\": \"v1\",\n  \"metadata\": {\"name\": \"a\",}\n}\n", 3, 28, "invalid character '}'"},
		{"json type error", "a.json", "{\"apiVersion\": \"v1\", \"kind\": \"Pod\", \"metadata\": {\"name\": \"a\"},\n \"spec\": {\"containers\": [{\"name\": \"c\", \"ports\": [{\"containerPort\": \"x\"}]}]}}\n", 2, 68, "spec.containers[0].ports[0].containerPort"},
		{"json second object", "a.json", "{\"apiVersion\": \"v1\", \"kind\": \"ConfigMap\", \"metadata\": {\"name\": \"c\"}}  {\"apiVersion\": \"v1\", \"kind\": \"Pod\", \"metadata\": {\"name\": 7}}\n", 1, 128, "metadata.name: cannot decode a JSON number as string"},
	} {
		inv := &Inventory{}
		inv.AddBytes(tc.file, []byte(tc.in))
		if len(inv.Errors) != 1 {
			t.Errorf("%s: errors %v, want 1", tc.name, inv.Errors)
			continue
		}
		e := inv.Errors[0]
		if e.Line != tc.line || e.Col != tc.col || !strings.Contains(e.Msg, tc.msg) {
			t.Errorf("%s: got %v, want %d:%d containing %q", tc.name, e, tc.line, tc.col, tc.msg)
		}
	}
}
