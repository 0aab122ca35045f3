// Package finding defines what every posture check reports: a Finding (check
// id, severity, object, field path, message, fix hint) and the Check
// catalogue entry that describes a check id. The rbac, workload and netpol
// packages produce findings; audit collects and formats them; compliance
// maps check ids to framework controls.
package finding
