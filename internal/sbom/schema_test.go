package sbom_test

import (
	"bytes"
	"encoding/json"
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

// Item 3: licences are written as SPDX: CycloneDX license.id only for real
// SPDX ids, an expression or a name otherwise; SPDX licenseDeclared is a
// valid expression whose LicenseRef-s are defined in the document.
func TestLicensesWritten(t *testing.T) {
	s := &sbom.SBOM{Subject: sbom.Subject{Name: "lic", Source: "rootfs"}, Packages: []sbom.Package{
		{Type: "deb", Name: "a", Version: "1", PURL: "pkg:deb/debian/a@1", Licenses: []string{"GPL-2+"}},
		{Type: "deb", Name: "b", Version: "1", PURL: "pkg:deb/debian/b@1", Licenses: []string{"public-domain"}},
		{Type: "deb", Name: "c", Version: "1", PURL: "pkg:deb/debian/c@1", Licenses: []string{"GPL-2+ or Artistic", "Expat"}},
		{Type: "npm", Name: "d", Version: "1", PURL: "pkg:npm/d@1", Licenses: []string{"MIT"}},
	}}
	var c, x bytes.Buffer
	if err := sbom.WriteCycloneDX(&c, s, nil); err != nil {
		t.Fatal(err)
	}
	if err := validate(t, cyclonedxSchema(t), c.Bytes()); err != nil {
		t.Errorf("CycloneDX invalid: %v", err)
	}
	var bom struct {
		Components []struct {
			Name     string            `json:"name"`
			Licenses []json.RawMessage `json:"licenses"`
		} `json:"components"`
	}
	json.Unmarshal(c.Bytes(), &bom)
	want := map[string]string{
		"a": `{"license":{"id":"GPL-2.0-or-later"}}`,
		"b": `{"license":{"name":"public-domain"}}`,
		"c": `{"expression":"(GPL-2.0-or-later OR Artistic-1.0-Perl) AND MIT"}`,
		"d": `{"license":{"id":"MIT"}}`,
	}
	for _, comp := range bom.Components {
		var got bytes.Buffer
		if len(comp.Licenses) == 1 {
			json.Compact(&got, comp.Licenses[0])
		}
		if got.String() != want[comp.Name] {
			t.Errorf("CycloneDX %s licenses %s, want [%s]", comp.Name, comp.Licenses, want[comp.Name])
		}
	}
	if err := sbom.WriteSPDX(&x, s, nil); err != nil {
		t.Fatal(err)
	}
	if err := validateSPDX(x.Bytes()); err != nil {
		t.Errorf("SPDX invalid: %v", err)
	}
	var doc struct {
		Packages []struct {
			Name     string `json:"name"`
			Declared string `json:"licenseDeclared"`
		} `json:"packages"`
		Extracted []struct {
			ID   string `json:"licenseId"`
			Text string `json:"extractedText"`
		} `json:"hasExtractedLicensingInfos"`
	}
	json.Unmarshal(x.Bytes(), &doc)
	wantSPDX := map[string]string{"a": "GPL-2.0-or-later", "b": "LicenseRef-public-domain",
		"c": "(GPL-2.0-or-later OR Artistic-1.0-Perl) AND MIT", "d": "MIT"}
	for _, p := range doc.Packages {
		if w, ok := wantSPDX[p.Name]; ok && p.Declared != w {
			t.Errorf("SPDX %s licenseDeclared %q, want %q", p.Name, p.Declared, w)
		}
	}
	if len(doc.Extracted) != 1 || doc.Extracted[0].ID != "LicenseRef-public-domain" || doc.Extracted[0].Text != "public-domain" {
		t.Errorf("hasExtractedLicensingInfos = %+v", doc.Extracted)
	}
	// Reading our own documents back keeps the names as declared.
	back, err := sbom.Read(bytes.NewReader(x.Bytes()))
	if err != nil || len(back.Packages) != 4 || strings.Join(back.Packages[2].Licenses, "|") != "GPL-2+ or Artistic|Expat" {
		t.Errorf("SPDX read back: %v %+v", err, back)
	}
}
