// Package audit runs every posture check (rbac, workload, netpol) over a
// manifest inventory and writes the findings as a table, JSON or SARIF
// 2.1.0. It is what `vigil k8s audit` calls.
package audit
