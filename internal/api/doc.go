// Package api is the agent's HTTP endpoint (127.0.0.1:8765 by default):
// /healthz, /metrics (Prometheus text) and /api/alerts, which queries the
// alert store with the same filters as `vigil alerts` and requires a bearer
// token (compared in constant time). With no token configured the alerts API
// is disabled and answers 403 saying so; /healthz and /metrics stay open.
package api
