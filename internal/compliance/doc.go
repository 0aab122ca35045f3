// Package compliance maps Vigil's evidence to compliance framework controls
// (PCI DSS v4.0, HIPAA Security Rule, NIST SP 800-190, CIS Kubernetes
// Benchmark) and builds per-control reports.
//
// The mappings are YAML files in the repository's compliance/ directory
// (embedded in the binary): each control lists the posture check ids whose
// findings fail it, the rule tags (MITRE ATT&CK ids) whose alert counts are
// monitoring evidence, and the Vigil capabilities (enforcement, detection,
// image scanning) that back it. Control titles are Vigil's own wording.
//
// Evaluate turns findings, alert counts (through the AlertCounter interface)
// and the enforcement in place into a pass/fail/partial/manual status per
// control; the Report is written as JSON, Markdown or a self-contained HTML
// page. Reports say plainly that they are evidence for an assessor, not a
// certification.
package compliance
