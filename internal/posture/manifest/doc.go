// Package manifest loads Kubernetes manifests (YAML or JSON, multi-document
// files, List kinds, directories walked recursively, Helm-rendered output
// and `kubectl get -o yaml|json` dumps) into the typed Kubernetes API objects
// the posture checks read.
//
// Load never panics on bad input: a malformed document becomes a
// *DocError carrying the file, the document index and the line, and loading
// continues with the next document. Kinds the checks do not read are skipped
// and recorded as a Note. Only an unreadable path is a fatal error.
package manifest
