package leaks

import (
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/vigilsec/vigil/internal/posture/finding"
	"github.com/vigilsec/vigil/internal/posture/manifest"
	"github.com/vigilsec/vigil/internal/secrets"
)

// SecretInManifest is the check every leak is reported under.
var SecretInManifest = finding.Check{ID: "VGL-SEC-001", Severity: finding.High, Title: "Secret written in a manifest",
	Fix: "Move the value to a Secret (mounted as a file) or an external secret store, and rotate it: it has been exposed to everyone who can read the object."}

// Checks is the catalogue of this package.
var Checks = []finding.Check{SecretInManifest}

// Audit scans the manifests of inv with s (the built-in rules when nil).
func Audit(inv *manifest.Inventory, s *secrets.Scanner) []finding.Finding {
	if s == nil {
		s = secrets.NewScanner(nil)
	}
	var out []finding.Finding
	for _, o := range inv.Objects {
		if o.Kind == "Secret" {
			continue
		}
		scan := func(field, key, value string) {
			text := value
			if key != "" && !strings.Contains(value, "\n") {
				text = key + "=" + value
			}
			for _, f := range s.ScanText(secrets.Location{Source: "manifest", Path: field}, []byte(text)) {
				line := o.FieldLine(field)
				if strings.Contains(value, "\n") {
					line += f.Line // a block scalar starts on the next line
				}
				out = append(out, finding.New(SecretInManifest, o, field,
					fmt.Sprintf("%s (rule %s) at line %d: %s", f.Description, f.Rule, line, f.Preview)))
			}
		}
		for _, kv := range annotations(o) {
			scan("metadata.annotations["+kv[0]+"]", kv[0], kv[1])
		}
		if spec, tmpl, base, ok := o.PodTemplate(); ok {
			if base != "spec" {
				for _, k := range sortedKeys(tmpl.Annotations) {
					scan(strings.TrimSuffix(base, ".spec")+".metadata.annotations["+k+"]", k, tmpl.Annotations[k])
				}
			}
			for _, c := range manifest.Containers(spec, base) {
				for j, e := range c.C.Env {
					if e.Value != "" {
						scan(fmt.Sprintf("%s.env[%d].value", c.Path, j), e.Name, e.Value)
					}
				}
			}
		}
		if cm, ok := o.Obj.(*corev1.ConfigMap); ok {
			for _, k := range sortedKeys(cm.Data) {
				scan("data["+k+"]", k, cm.Data[k])
			}
		}
	}
	return out
}

func annotations(o *manifest.Object) [][2]string {
	var m map[string]string
	switch x := o.Obj.(type) {
	case interface{ GetAnnotations() map[string]string }:
		m = x.GetAnnotations()
	}
	var out [][2]string
	for _, k := range sortedKeys(m) {
		out = append(out, [2]string{k, m[k]})
	}
	return out
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
