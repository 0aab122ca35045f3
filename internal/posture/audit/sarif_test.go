package audit

import (
	"bytes"
	"encoding/json"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/vigilsec/vigil/internal/posture/manifest"
)

// sarifSchemaFacts is the part of the OASIS SARIF 2.1.0 JSON schema
// (sarif-schema-2.1.0.json) that covers every object Vigil writes, written
// down as facts: the required properties, the enumerations, the minimums and
// formats, and — as in the published schema, where every object is closed —
// additionalProperties false with the property names the schema defines.
const sarifSchemaFacts = `{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "type": "object", "required": ["version", "runs"], "additionalProperties": false,
  "properties": {
    "$schema": {"type": "string", "format": "uri"},
    "version": {"enum": ["2.1.0"]},
    "runs": {"type": "array", "items": {"$ref": "#/$defs/run"}},
    "properties": {"$ref": "#/$defs/propertyBag"}
  },
  "$defs": {
    "propertyBag": {"type": "object", "properties": {"tags": {"type": "array", "items": {"type": "string"}, "uniqueItems": true}}},
    "message": {"type": "object", "anyOf": [{"required": ["text"]}, {"required": ["id"]}], "additionalProperties": false,
      "properties": {"text": {"type": "string"}, "markdown": {"type": "string"}, "id": {"type": "string"}, "arguments": {"type": "array"}, "properties": {"$ref": "#/$defs/propertyBag"}}},
    "multiformatMessageString": {"type": "object", "required": ["text"], "additionalProperties": false,
      "properties": {"text": {"type": "string"}, "markdown": {"type": "string"}, "properties": {"$ref": "#/$defs/propertyBag"}}},
    "artifactLocation": {"type": "object", "additionalProperties": false,
      "properties": {"uri": {"type": "string", "format": "uri-reference"}, "uriBaseId": {"type": "string"}, "index": {"type": "integer", "minimum": -1},
        "description": {"$ref": "#/$defs/message"}, "properties": {"$ref": "#/$defs/propertyBag"}}},
    "region": {"type": "object", "additionalProperties": false,
      "properties": {"startLine": {"type": "integer", "minimum": 1}, "startColumn": {"type": "integer", "minimum": 1},
        "endLine": {"type": "integer", "minimum": 1}, "endColumn": {"type": "integer", "minimum": 1}, "properties": {"$ref": "#/$defs/propertyBag"}}},
    "physicalLocation": {"type": "object", "additionalProperties": false, "anyOf": [{"required": ["address"]}, {"required": ["artifactLocation"]}],
      "properties": {"address": {"type": "object"}, "artifactLocation": {"$ref": "#/$defs/artifactLocation"}, "region": {"$ref": "#/$defs/region"},
        "contextRegion": {"$ref": "#/$defs/region"}, "properties": {"$ref": "#/$defs/propertyBag"}}},
    "logicalLocation": {"type": "object", "additionalProperties": false,
      "properties": {"name": {"type": "string"}, "index": {"type": "integer", "minimum": -1}, "fullyQualifiedName": {"type": "string"},
        "decoratedName": {"type": "string"}, "parentIndex": {"type": "integer", "minimum": -1}, "kind": {"type": "string"}, "properties": {"$ref": "#/$defs/propertyBag"}}},
    "location": {"type": "object", "additionalProperties": false,
      "properties": {"id": {"type": "integer", "minimum": -1}, "physicalLocation": {"$ref": "#/$defs/physicalLocation"},
        "logicalLocations": {"type": "array", "uniqueItems": true, "items": {"$ref": "#/$defs/logicalLocation"}},
        "message": {"$ref": "#/$defs/message"}, "properties": {"$ref": "#/$defs/propertyBag"}}},
    "reportingConfiguration": {"type": "object", "additionalProperties": false,
      "properties": {"enabled": {"type": "boolean"}, "level": {"enum": ["none", "note", "warning", "error"]}, "rank": {"type": "number", "minimum": -1, "maximum": 100},
        "parameters": {"$ref": "#/$defs/propertyBag"}, "properties": {"$ref": "#/$defs/propertyBag"}}},
    "reportingDescriptor": {"type": "object", "required": ["id"], "additionalProperties": false,
      "properties": {"id": {"type": "string"}, "deprecatedIds": {"type": "array"}, "guid": {"type": "string"}, "name": {"type": "string"},
        "shortDescription": {"$ref": "#/$defs/multiformatMessageString"}, "fullDescription": {"$ref": "#/$defs/multiformatMessageString"},
        "messageStrings": {"type": "object"}, "defaultConfiguration": {"$ref": "#/$defs/reportingConfiguration"},
        "helpUri": {"type": "string", "format": "uri"}, "help": {"$ref": "#/$defs/multiformatMessageString"},
        "relationships": {"type": "array"}, "properties": {"$ref": "#/$defs/propertyBag"}}},
    "toolComponent": {"type": "object", "required": ["name"], "additionalProperties": false,
      "properties": {"guid": {"type": "string"}, "name": {"type": "string"}, "organization": {"type": "string"}, "product": {"type": "string"},
        "fullName": {"type": "string"}, "version": {"type": "string"}, "semanticVersion": {"type": "string"},
        "informationUri": {"type": "string", "format": "uri"}, "downloadUri": {"type": "string", "format": "uri"},
        "rules": {"type": "array", "uniqueItems": true, "items": {"$ref": "#/$defs/reportingDescriptor"}}, "properties": {"$ref": "#/$defs/propertyBag"}}},
    "notification": {"type": "object", "required": ["message"], "additionalProperties": false,
      "properties": {"locations": {"type": "array"}, "message": {"$ref": "#/$defs/message"}, "level": {"enum": ["none", "note", "warning", "error"]},
        "properties": {"$ref": "#/$defs/propertyBag"}}},
    "invocation": {"type": "object", "required": ["executionSuccessful"], "additionalProperties": false,
      "properties": {"commandLine": {"type": "string"}, "arguments": {"type": "array", "items": {"type": "string"}}, "executionSuccessful": {"type": "boolean"},
        "toolExecutionNotifications": {"type": "array", "items": {"$ref": "#/$defs/notification"}},
        "workingDirectory": {"$ref": "#/$defs/artifactLocation"}, "properties": {"$ref": "#/$defs/propertyBag"}}},
    "result": {"type": "object", "required": ["message"], "additionalProperties": false,
      "properties": {"ruleId": {"type": "string"}, "ruleIndex": {"type": "integer", "minimum": -1}, "kind": {"enum": ["notApplicable", "pass", "fail", "review", "open", "informational"]},
        "level": {"enum": ["none", "note", "warning", "error"]}, "message": {"$ref": "#/$defs/message"},
        "locations": {"type": "array", "items": {"$ref": "#/$defs/location"}},
        "guid": {"type": "string"}, "correlationGuid": {"type": "string"}, "occurrenceCount": {"type": "integer", "minimum": 1},
        "partialFingerprints": {"type": "object", "additionalProperties": {"type": "string"}},
        "fingerprints": {"type": "object", "additionalProperties": {"type": "string"}},
        "rank": {"type": "number", "minimum": -1, "maximum": 100}, "properties": {"$ref": "#/$defs/propertyBag"}}},
    "run": {"type": "object", "required": ["tool"], "additionalProperties": false,
      "properties": {"tool": {"type": "object", "required": ["driver"], "additionalProperties": false,
          "properties": {"driver": {"$ref": "#/$defs/toolComponent"}, "extensions": {"type": "array"}, "properties": {"$ref": "#/$defs/propertyBag"}}},
        "invocations": {"type": "array", "items": {"$ref": "#/$defs/invocation"}},
        "originalUriBaseIds": {"type": "object", "additionalProperties": {"$ref": "#/$defs/artifactLocation"}},
        "results": {"type": "array", "items": {"$ref": "#/$defs/result"}},
        "columnKind": {"enum": ["utf16CodeUnits", "unicodeCodePoints"]}, "properties": {"$ref": "#/$defs/propertyBag"}}}
  }
}`

// sarifLogForTest is what the GitHub checks below read.
type sarifLogForTest struct {
	Runs []struct {
		Tool struct {
			Driver struct {
				Name    string `json:"name"`
				Version string `json:"version"`
				Rules   []struct {
					ID               string            `json:"id"`
					ShortDescription map[string]string `json:"shortDescription"`
					FullDescription  map[string]string `json:"fullDescription"`
					HelpURI          string            `json:"helpUri"`
					Properties       map[string]any    `json:"properties"`
				} `json:"rules"`
			} `json:"driver"`
		} `json:"tool"`
		OriginalURIBaseIDs map[string]struct {
			URI string `json:"uri"`
		} `json:"originalUriBaseIds"`
		Results []struct {
			RuleID              string            `json:"ruleId"`
			RuleIndex           int               `json:"ruleIndex"`
			Level               string            `json:"level"`
			PartialFingerprints map[string]string `json:"partialFingerprints"`
			Locations           []struct {
				PhysicalLocation *struct {
					ArtifactLocation struct {
						URI       string `json:"uri"`
						URIBaseID string `json:"uriBaseId"`
					} `json:"artifactLocation"`
					Region struct {
						StartLine int `json:"startLine"`
					} `json:"region"`
				} `json:"physicalLocation"`
			} `json:"locations"`
		} `json:"results"`
	} `json:"runs"`
}

func validateSARIF(t *testing.T, doc []byte) sarifLogForTest {
	t.Helper()
	schema, err := jsonschema.UnmarshalJSON(strings.NewReader(sarifSchemaFacts))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	if err := c.AddResource("sarif-facts.json", schema); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile("sarif-facts.json")
	if err != nil {
		t.Fatal(err)
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(doc))
	if err != nil {
		t.Fatalf("SARIF is not JSON: %v", err)
	}
	if err := sch.Validate(inst); err != nil {
		t.Fatalf("SARIF does not validate against the SARIF 2.1.0 facts: %v", err)
	}
	var log sarifLogForTest
	if err := json.Unmarshal(doc, &log); err != nil {
		t.Fatal(err)
	}
	return log
}

// TestSARIFCodeScanning checks the log against the SARIF 2.1.0 schema facts
// and against what GitHub code scanning needs to show and track an alert:
// tool.driver.name and version, one rule per ruleId in tool.driver.rules
// (found by ruleIndex) with shortDescription, fullDescription, helpUri and a
// security-severity between 0 and 10; each result's location a
// percent-encoded URI relative to a uriBaseId that originalUriBaseIds
// defines as an absolute file URI ending in "/", with a startLine ≥ 1; and
// partialFingerprints that stay the same when the file moves lines.
func TestSARIFCodeScanning(t *testing.T) {
	// A repository of manifests with a space and a '#' in its path names:
	// both must be percent-encoded in the URI.
	repo := t.TempDir()
	dir := filepath.Join(repo, "deploy", "my app#1")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	pod := "apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\n  namespace: shop\nspec:\n  containers:\n  - name: web\n    image: nginx:1.25\n    securityContext:\n      privileged: true\n"
	file := filepath.Join(dir, "pod.yaml")
	write := func(s string) *Report {
		t.Helper()
		if err := os.WriteFile(file, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		inv, err := manifest.Load(file)
		if err != nil {
			t.Fatal(err)
		}
		return Run(inv, nil)
	}
	sarif := func(r *Report) ([]byte, sarifLogForTest) {
		var buf bytes.Buffer
		if err := r.WriteSARIF(&buf, SARIFOptions{Base: repo, ToolVersion: "1.2.3"}); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes(), validateSARIF(t, buf.Bytes())
	}
	_, log := sarif(write(pod))
	if len(log.Runs) != 1 {
		t.Fatalf("%d runs", len(log.Runs))
	}
	run := log.Runs[0]
	d := run.Tool.Driver
	if d.Name != "vigil" || d.Version != "1.2.3" {
		t.Errorf("driver name %q version %q", d.Name, d.Version)
	}
	for _, r := range d.Rules {
		if r.ShortDescription["text"] == "" || r.FullDescription["text"] == "" {
			t.Errorf("rule %s lacks shortDescription or fullDescription", r.ID)
		}
		if u, err := url.Parse(r.HelpURI); err != nil || u.Scheme != "https" || u.Fragment == "" {
			t.Errorf("rule %s helpUri %q is not an https link to its check", r.ID, r.HelpURI)
		}
		if s, ok := r.Properties["security-severity"].(string); !ok || s == "" {
			t.Errorf("rule %s security-severity %v", r.ID, r.Properties["security-severity"])
		}
	}
	base, ok := run.OriginalURIBaseIDs["SRCROOT"]
	if !ok {
		t.Fatalf("originalUriBaseIds lacks SRCROOT: %+v", run.OriginalURIBaseIDs)
	}
	if u, err := url.Parse(base.URI); err != nil || u.Scheme != "file" || !strings.HasSuffix(base.URI, "/") || filepath.Clean(u.Path) != repo {
		t.Errorf("SRCROOT is %q, want file://%s/", base.URI, repo)
	}
	if len(run.Results) == 0 {
		t.Fatal("no results for a privileged pod")
	}
	priv := -1
	for i, res := range run.Results {
		if res.RuleIndex < 0 || res.RuleIndex >= len(d.Rules) || d.Rules[res.RuleIndex].ID != res.RuleID {
			t.Fatalf("result %s: ruleIndex %d does not name its rule", res.RuleID, res.RuleIndex)
		}
		if len(res.Locations) != 1 || res.Locations[0].PhysicalLocation == nil {
			t.Fatalf("result %s has no physical location", res.RuleID)
		}
		pl := res.Locations[0].PhysicalLocation
		if pl.ArtifactLocation.URI != "deploy/my%20app%231/pod.yaml" || pl.ArtifactLocation.URIBaseID != "SRCROOT" {
			t.Errorf("result %s: uri %q base %q, want deploy/my%%20app%%231/pod.yaml relative to SRCROOT", res.RuleID, pl.ArtifactLocation.URI, pl.ArtifactLocation.URIBaseID)
		}
		if pl.Region.StartLine < 1 {
			t.Errorf("result %s: startLine %d", res.RuleID, pl.Region.StartLine)
		}
		if len(res.PartialFingerprints) == 0 {
			t.Errorf("result %s has no partialFingerprints", res.RuleID)
		}
		if res.RuleID == "VGL-WL-001" {
			priv = i
		}
	}
	if priv < 0 {
		t.Fatal("no VGL-WL-001 result for the privileged container")
	}
	if got := run.Results[priv].Locations[0].PhysicalLocation.Region.StartLine; got != 11 {
		t.Errorf("privileged result at line %d, want 11 (the privileged: field)", got)
	}
	// The same finding two lines lower keeps its fingerprints.
	_, moved := sarif(write("# moved\n# down\n" + pod))
	for _, res := range moved.Runs[0].Results {
		if res.RuleID != "VGL-WL-001" {
			continue
		}
		if res.Locations[0].PhysicalLocation.Region.StartLine != 13 {
			t.Errorf("moved: line %d, want 13", res.Locations[0].PhysicalLocation.Region.StartLine)
		}
		for k, v := range run.Results[priv].PartialFingerprints {
			if res.PartialFingerprints[k] != v {
				t.Errorf("fingerprint %s changed when the file moved lines: %s -> %s", k, v, res.PartialFingerprints[k])
			}
		}
	}
}

// TestSARIFOutsideBase: a file outside --sarif-base gets an absolute file
// URI rather than a relative path climbing out with "..".
func TestSARIFOutsideBase(t *testing.T) {
	r, dir := goatReport(t)
	base := t.TempDir()
	var buf bytes.Buffer
	if err := r.WriteSARIF(&buf, SARIFOptions{Base: base}); err != nil {
		t.Fatal(err)
	}
	log := validateSARIF(t, buf.Bytes())
	abs, _ := filepath.Abs(dir)
	n := 0
	for _, res := range log.Runs[0].Results {
		if len(res.Locations) == 0 || res.Locations[0].PhysicalLocation == nil {
			continue
		}
		n++
		al := res.Locations[0].PhysicalLocation.ArtifactLocation
		u, err := url.Parse(al.URI)
		if err != nil || u.Scheme != "file" || al.URIBaseID != "" || !strings.HasPrefix(u.Path, abs+"/") || strings.Contains(al.URI, "..") {
			t.Fatalf("result %s: uri %q base %q, want an absolute file URI under %s", res.RuleID, al.URI, al.URIBaseID, abs)
		}
	}
	if n == 0 {
		t.Fatal("no result with a physical location")
	}
}

// TestTableShowsFileLine: the table output names each finding's file:line.
func TestTableShowsFileLine(t *testing.T) {
	r, _ := goatReport(t)
	f := find(r, "VGL-WL-001", "Deployment/default/system-monitor-deployment", "spec.template.spec.containers[0].securityContext.privileged")
	if f == nil || f.File == "" || f.Line < 1 {
		t.Fatalf("privileged finding without a position: %+v", f)
	}
	var buf bytes.Buffer
	if err := r.WriteTable(&buf); err != nil {
		t.Fatal(err)
	}
	want := f.File + ":" + strconv.Itoa(f.Line)
	if !strings.Contains(buf.String(), want) {
		t.Errorf("table lacks %s", want)
	}
}
