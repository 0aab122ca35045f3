// Package k8saudit is the k8s_audit event source: Kubernetes audit events
// (audit.k8s.io/v1) turned into events of type k8s_audit, which rules of
// source k8s_audit evaluate with the ka.* and jevt.* fields (package event).
//
// Two inputs:
//
//   - Server is the API server's webhook backend: POST /k8s-audit with an
//     EventList (or a single Event) as the body. It checks a bearer token
//     (constant-time), refuses bodies over a size limit (413) and malformed
//     batches (400, nothing of the batch is evaluated), and queues accepted
//     batches in a bounded queue (package queue, named k8s_audit): when it is
//     full the request gets 429 and the drop is counted and reported, never
//     blocking the API server. Run drains the queue on one
//     goroutine. The listener serves TLS when a certificate is configured.
//   - ReadLog reads audit log files as the log backend writes them: one
//     Event per line (JSON lines); a malformed line is an error naming its
//     line.
//
// Decoder turns a batch into events. The events it hands out, and the
// parsed JSON they point to, are valid only during the callback: the
// decoder reuses them for the next event and the next batch. A Decoder is
// not safe for concurrent use; the Server owns one for its Run goroutine.
package k8saudit
