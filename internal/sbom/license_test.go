package sbom

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigilsec/vigil/internal/testkernel"
)

// Item 3: Debian short names and DEP-5 expressions become SPDX expressions;
// names without an SPDX id become LicenseRef-.
func TestNormalizeLicenses(t *testing.T) {
	for _, tc := range []struct {
		in   []string
		expr string
		id   string
		refs map[string]string
	}{
		{[]string{"GPL-2+"}, "GPL-2.0-or-later", "GPL-2.0-or-later", nil},
		{[]string{"GPL-2"}, "GPL-2.0-only", "GPL-2.0-only", nil},
		{[]string{"Expat"}, "MIT", "MIT", nil},
		{[]string{"mit"}, "MIT", "MIT", nil},
		{[]string{"LGPL-2.1+"}, "LGPL-2.1-or-later", "LGPL-2.1-or-later", nil},
		{[]string{"BSD-3-clause"}, "BSD-3-Clause", "BSD-3-Clause", nil},
		{[]string{"GPL-2.0+"}, "GPL-2.0-or-later", "GPL-2.0-or-later", nil},
		{[]string{"public-domain"}, "LicenseRef-public-domain", "", map[string]string{"LicenseRef-public-domain": "public-domain"}},
		{[]string{"permissive"}, "LicenseRef-permissive", "", map[string]string{"LicenseRef-permissive": "permissive"}},
		{[]string{"Apache 2.0"}, "Apache-2.0", "Apache-2.0", nil},
		{[]string{"GPL-2+ or Artistic"}, "GPL-2.0-or-later OR Artistic-1.0-Perl", "", nil},
		{[]string{"GPL-2+ or Artistic-2.0, and BSD-3-clause"}, "(GPL-2.0-or-later OR Artistic-2.0) AND BSD-3-Clause", "", nil},
		{[]string{"GPL-3+ with Autoconf exception"}, "GPL-3.0-or-later WITH Autoconf-exception-2.0", "", nil},
		{[]string{"GPL-2+ with OpenSSL exception"}, "LicenseRef-GPL-2-with-OpenSSL-exception", "", map[string]string{"LicenseRef-GPL-2-with-OpenSSL-exception": "GPL-2+ with OpenSSL exception"}},
		{[]string{"GPL-2+", "LGPL-2.1+", "public-domain"}, "GPL-2.0-or-later AND LGPL-2.1-or-later AND LicenseRef-public-domain", "", map[string]string{"LicenseRef-public-domain": "public-domain"}},
		{[]string{"BSD-3-clause or GPL-2", "Zlib"}, "(BSD-3-Clause OR GPL-2.0-only) AND Zlib", "", nil},
		{[]string{"Some Custom Licence (c) ACME"}, "LicenseRef-Some-Custom-Licence-c-ACME", "", map[string]string{"LicenseRef-Some-Custom-Licence-c-ACME": "Some Custom Licence (c) ACME"}},
	} {
		l, ok := NormalizeLicenses(tc.in)
		if !ok || l.Expression != tc.expr || l.ID != tc.id || len(l.Refs) != len(tc.refs) {
			t.Errorf("%q = %q id %q refs %v; want %q id %q refs %v", tc.in, l.Expression, l.ID, l.Refs, tc.expr, tc.id, tc.refs)
			continue
		}
		for r, text := range tc.refs {
			if l.Refs[r] != text {
				t.Errorf("%q: ref %s = %q, want %q", tc.in, r, l.Refs[r], text)
			}
		}
	}
	if _, ok := NormalizeLicenses([]string{"", "  "}); ok {
		t.Error("blank licences declared")
	}
}

// Every id Vigil writes is on the SPDX licence list: the list shipped in
// the CycloneDX Go module (schema/spdx.schema.json) this project depends on.
func TestLicenseIDsOnTheSPDXList(t *testing.T) {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/CycloneDX/cyclonedx-go").Output()
	if err != nil {
		testkernel.Skip(t, "cannot locate the cyclonedx-go module: "+err.Error())
	}
	b, err := os.ReadFile(filepath.Join(strings.TrimSpace(string(out)), "schema", "spdx.schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	var schema struct {
		Enum []string `json:"enum"`
	}
	if err := json.Unmarshal(b, &schema); err != nil || len(schema.Enum) < 400 {
		t.Fatalf("SPDX list: %d ids, %v", len(schema.Enum), err)
	}
	list := map[string]bool{}
	for _, id := range schema.Enum {
		list[id] = true
	}
	check := func(what, id string) {
		if !list[id] {
			t.Errorf("%s %q is not on the SPDX licence list", what, id)
		}
	}
	for _, id := range spdxLicenseIDs {
		check("id", id)
	}
	for name, id := range licenseNames {
		check("target of "+name, id)
	}
	for _, id := range spdxExceptionIDs {
		check("exception", id)
	}
	for name, id := range licenseExceptions {
		check("exception for "+name, id)
	}
}
