package sbom_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"

	spdxjson "github.com/spdx/tools-golang/json"
	"github.com/spdx/tools-golang/spdxlib"
)

// validateSPDX checks an SPDX 2.3 JSON document in two independent ways: the
// SPDX project's own Go library must read it and find its element ids and
// relationships consistent (spdxlib.ValidateDocument), and the fields that
// the SPDX 2.3 specification makes mandatory, with their value sets, must be
// present and well-formed. The published JSON schema is not vendored: only
// what Vigil writes goes in the repository.
func validateSPDX(doc []byte) error {
	var raw map[string]any
	if err := json.Unmarshal(doc, &raw); err != nil {
		return fmt.Errorf("not JSON: %w", err)
	}
	var errs []error
	need := func(obj map[string]any, where, key string, re *regexp.Regexp) {
		v, ok := obj[key].(string)
		switch {
		case !ok:
			errs = append(errs, fmt.Errorf("%s: %q missing or not a string", where, key))
		case re != nil && !re.MatchString(v):
			errs = append(errs, fmt.Errorf("%s: %q = %q does not match %s", where, key, v, re))
		}
	}
	spdxID := regexp.MustCompile(`^SPDXRef-[A-Za-z0-9.\-]+$`)
	need(raw, "document", "spdxVersion", regexp.MustCompile(`^SPDX-2\.3$`))
	need(raw, "document", "dataLicense", regexp.MustCompile(`^CC0-1\.0$`))
	need(raw, "document", "SPDXID", regexp.MustCompile(`^SPDXRef-DOCUMENT$`))
	need(raw, "document", "name", nil)
	need(raw, "document", "documentNamespace", regexp.MustCompile(`^[a-z][a-z0-9+.\-]*://[^#\s]+$`))
	ci, _ := raw["creationInfo"].(map[string]any)
	if ci == nil {
		errs = append(errs, errors.New("document: creationInfo missing"))
	} else {
		need(ci, "creationInfo", "created", regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$`))
		creators, _ := ci["creators"].([]any)
		if len(creators) == 0 {
			errs = append(errs, errors.New("creationInfo: creators empty"))
		}
		for _, c := range creators {
			if s, _ := c.(string); !regexp.MustCompile(`^(Tool|Organization|Person): .+`).MatchString(s) {
				errs = append(errs, fmt.Errorf("creationInfo: bad creator %v", c))
			}
		}
	}
	purposes := regexp.MustCompile(`^(APPLICATION|FRAMEWORK|LIBRARY|CONTAINER|OPERATING_SYSTEM|DEVICE|FIRMWARE|SOURCE|ARCHIVE|FILE|INSTALL|OTHER)$`)
	refCategories := regexp.MustCompile(`^(SECURITY|PACKAGE-MANAGER|PERSISTENT-ID|OTHER|PACKAGE_MANAGER|PERSISTENT_ID)$`)
	pkgs, _ := raw["packages"].([]any)
	for i, p := range pkgs {
		pm, ok := p.(map[string]any)
		where := fmt.Sprintf("packages[%d]", i)
		if !ok {
			errs = append(errs, fmt.Errorf("%s: not an object", where))
			continue
		}
		need(pm, where, "SPDXID", spdxID)
		need(pm, where, "name", nil)
		need(pm, where, "downloadLocation", nil)
		if _, ok := pm["primaryPackagePurpose"]; ok {
			need(pm, where, "primaryPackagePurpose", purposes)
		}
		refs, _ := pm["externalRefs"].([]any)
		for j, r := range refs {
			rm, _ := r.(map[string]any)
			if rm == nil {
				errs = append(errs, fmt.Errorf("%s.externalRefs[%d]: not an object", where, j))
				continue
			}
			w := fmt.Sprintf("%s.externalRefs[%d]", where, j)
			need(rm, w, "referenceCategory", refCategories)
			need(rm, w, "referenceType", nil)
			need(rm, w, "referenceLocator", nil)
		}
	}
	rels, _ := raw["relationships"].([]any)
	for i, r := range rels {
		rm, _ := r.(map[string]any)
		if rm == nil {
			errs = append(errs, fmt.Errorf("relationships[%d]: not an object", i))
			continue
		}
		w := fmt.Sprintf("relationships[%d]", i)
		need(rm, w, "spdxElementId", nil)
		need(rm, w, "relatedSpdxElement", nil)
		need(rm, w, "relationshipType", regexp.MustCompile(`^[A-Z_]+$`))
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	d, err := spdxjson.Read(bytes.NewReader(doc))
	if err != nil {
		return fmt.Errorf("spdx library cannot read it: %w", err)
	}
	if err := spdxlib.ValidateDocument(d); err != nil {
		return fmt.Errorf("spdx library: %w", err)
	}
	return nil
}
