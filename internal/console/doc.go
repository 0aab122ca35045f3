// Package console is Vigil's web console: alerts with filters and live
// updates, an alert's detail (process ancestry, container and pod, the
// flight recorder's incident timeline), rule hits over time, nodes,
// posture and compliance results, image findings.
//
// Contract for the hosts (the agent's HTTP endpoint for its own node,
// internal/agent; the hub for the fleet):
//
//   - The host implements Source (source.go) over its store: Alerts,
//     Alert (with its alert.Incident), Hits, Nodes, Reports/PutReport,
//     Subscribe (a Feed fans its new alerts out without blocking) and
//     PushRules (the agent reloads its rule files; the hub distributes a
//     rule file; ErrUnsupported otherwise).
//   - It builds the handler with New and mounts it at Prefix ("/console/")
//     on its HTTP server; TLS is the server's (Options.Secure marks the
//     session cookie Secure).
//
// The page is one HTML file, one script and one stylesheet written for
// Vigil, embedded (go:embed assets): no CDN, no build step. The script
// puts every string from an alert in the page as text, never as HTML
// (alerts carry attacker-controlled command lines and paths), and every
// response carries ContentSecurityPolicy (scripts, styles and connections
// from the console's origin only, no inline script, no framing).
//
// The rules page offers an admin the host's rules action: a rule file to
// push when Options.PushesRuleFiles (the hub), else a reload.
//
// Access: a token logs in (POST /console/api/login) as admin (Options.
// AdminToken) or viewer (ViewerToken); the session is an HttpOnly,
// SameSite=Strict cookie; the same tokens work as bearer tokens on
// /console/api/*. Viewers read; admins also push rules (POST
// /console/api/rules) and upload reports (POST /console/api/reports); a
// viewer gets 403 and the page hides those controls. Every POST must carry
// the X-Vigil-Console header (no cross-site form can).
//
// API (JSON; the alert is its Falco JSON form, alert.AppendJSON):
//
//	GET  /console/api/alerts?rule=&priority=&node=&namespace=&pod=&image=&since=&until=&limit=
//	GET  /console/api/alerts/{uuid}     {"alert": ..., "incident": ... | null}
//	GET  /console/api/hits?since=24h&step=1h
//	GET  /console/api/nodes
//	GET  /console/api/reports?kind=posture|compliance|image
//	POST /console/api/reports?kind=...&name=...   (admin; the JSON of the matching vigil command)
//	POST /console/api/rules?name=...               (admin; body: a rule file, or empty to reload)
//	GET  /console/api/live              server-sent events "alert", data: the alert's JSON
package console
