package sbom_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	// The CycloneDX schemas are read from this module's source tree.
	_ "github.com/CycloneDX/cyclonedx-go"
	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/vigilsec/vigil/internal/sbom"
	"github.com/vigilsec/vigil/internal/testkernel"
)

func compile(t *testing.T, root string, files map[string]string) *jsonschema.Schema {
	t.Helper()
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	for url, p := range files {
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		doc, err := jsonschema.UnmarshalJSON(f)
		f.Close()
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		if err := c.AddResource(url, doc); err != nil {
			t.Fatal(err)
		}
	}
	s, err := c.Compile(root)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func cyclonedxSchema(t *testing.T) *jsonschema.Schema {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/CycloneDX/cyclonedx-go").Output()
	if err != nil {
		testkernel.Skip(t, "cannot locate the cyclonedx-go module: "+err.Error())
	}
	dir := filepath.Join(strings.TrimSpace(string(out)), "schema")
	return compile(t, "http://cyclonedx.org/schema/bom-1.6.schema.json", map[string]string{
		"http://cyclonedx.org/schema/bom-1.6.schema.json":  filepath.Join(dir, "bom-1.6.schema.json"),
		"http://cyclonedx.org/schema/spdx.schema.json":     filepath.Join(dir, "spdx.schema.json"),
		"http://cyclonedx.org/schema/jsf-0.82.schema.json": filepath.Join(dir, "jsf-0.82.schemax.json"),
	})
}

func validate(t *testing.T, s *jsonschema.Schema, doc []byte) error {
	t.Helper()
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(doc))
	if err != nil {
		t.Fatal(err)
	}
	return s.Validate(inst)
}

func TestSchemas(t *testing.T) {
	cdx := cyclonedxSchema(t)
	dir, _ := debianImage(t)
	s, _ := catalog(t, dir)
	var c, x bytes.Buffer
	if err := sbom.WriteCycloneDX(&c, s, &sbom.WriteOptions{ToolVersion: "v0.1.0"}); err != nil {
		t.Fatal(err)
	}
	if err := sbom.WriteSPDX(&x, s, &sbom.WriteOptions{ToolVersion: "v0.1.0"}); err != nil {
		t.Fatal(err)
	}
	if err := validate(t, cdx, c.Bytes()); err != nil {
		t.Errorf("CycloneDX output invalid: %v", err)
	}
	if err := validateSPDX(x.Bytes()); err != nil {
		t.Errorf("SPDX output invalid: %v", err)
	}
	// The validators are not vacuous.
	if validate(t, cdx, []byte(`{"bomFormat":"CycloneDX","specVersion":"1.6","components":[{"type":"nonsense","name":"x"}]}`)) == nil {
		t.Error("CycloneDX schema accepted an invalid component type")
	}
	if validateSPDX([]byte(`{"spdxVersion":"SPDX-2.3","packages":[{"name":1}]}`)) == nil {
		t.Error("SPDX validation accepted an invalid document")
	}
	if validateSPDX(bytes.Replace(x.Bytes(), []byte(`"LIBRARY"`), []byte(`"LIBRARYX"`), 1)) == nil {
		t.Error("SPDX validation accepted an invalid purpose")
	}
	if validateSPDX(bytes.Replace(x.Bytes(), []byte(`"dataLicense"`), []byte(`"dataLicence"`), 1)) == nil {
		t.Error("SPDX validation accepted a document without dataLicense")
	}
}
