package leaks

import (
	"crypto/sha256"
	"encoding/base32"
	"encoding/hex"
	"slices"
	"strings"
	"testing"

	"github.com/vigilsec/vigil/internal/posture/manifest"
)

// Item 8: secrets in env values, ConfigMaps and annotations are reported at
// their field and line with a redacted preview; Secrets are not scanned;
// path-like values and references are not secrets.
func TestManifestLeaks(t *testing.T) {
	sum := sha256.Sum256([]byte("vigil leaks test, not a credential"))
	akia := "AKIA" + base32.StdEncoding.EncodeToString(sum[:])[:16]
	pw := hex.EncodeToString(sum[:8]) + "Zq"
	ghp := "ghp_" + strings.ToUpper(hex.EncodeToString(sum[:9])) + hex.EncodeToString(sum[9:18])
	inv := &manifest.Inventory{}
	inv.AddBytes("app.yaml", []byte(`apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: shop
  annotations:
    ci.example.com/token: `+ghp+`
spec:
  template:
    metadata:
      annotations: {build: "42"}
    spec:
      containers:
      - name: app
        image: x
        env:
        - name: AWS_ACCESS_KEY_ID
          value: `+akia+`
        - name: SECRET_KEY_FILE
          value: /etc/secret_key
        - name: DB_PASSWORD
          valueFrom: {secretKeyRef: {name: db, key: password}}
        - name: API_TOKEN
          value: $(TOKEN)
---
apiVersion: v1
kind: ConfigMap
metadata: {name: settings, namespace: shop}
data:
  LOG_LEVEL: debug
  application.properties: |
    server.port=8080
    spring.datasource.url=jdbc:postgresql://db:5432/shop
    spring.datasource.password=`+pw+`
---
apiVersion: v1
kind: Secret
metadata: {name: db, namespace: shop}
stringData:
  password: `+pw+`
`))
	if len(inv.Errors) > 0 {
		t.Fatal(inv.Errors)
	}
	fs := Audit(inv, nil)
	var got []string
	for _, f := range fs {
		got = append(got, f.Object.String()+" "+f.Field+" "+f.Message)
		for _, sec := range []string{akia[4:], pw[4:], ghp[6:]} {
			if strings.Contains(f.Message, sec) {
				t.Errorf("finding shows a secret: %s", f.Message)
			}
		}
		if f.CheckID != SecretInManifest.ID {
			t.Errorf("check %s", f.CheckID)
		}
	}
	want := []string{
		"Deployment/shop/web metadata.annotations[ci.example.com/token] GitHub token (rule github-token) at line 7: ci.example.com/token=ghp_********",
		"Deployment/shop/web spec.template.spec.containers[0].env[0].value AWS access key ID (rule aws-access-key-id) at line 18: AWS_ACCESS_KEY_ID=AKIA********",
		"ConfigMap/shop/settings data[application.properties] Secret assigned to a key named like one (rule generic-secret) at line 34: spring.datasource.password=" + pw[:3] + "********",
	}
	if !slices.Equal(got, want) {
		t.Errorf("findings:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
