// Package api is the agent's HTTP endpoint (127.0.0.1:8765 by default):
// /healthz, /metrics (Prometheus text) and /api/alerts, which queries the
// alert store with the same filters as `vigil alerts` and requires a bearer
// token (compared in constant time). With no token configured the alerts API
// is disabled and answers 403 saying so; /healthz and /metrics stay open.
//
// The endpoint cannot be used to exhaust the agent's descriptors: it holds
// at most Options.MaxConns connections (at the cap the oldest idle one is
// closed for a new one, and a new one is refused only when all are busy),
// request headers must arrive within 5 s and idle keep-alive connections
// close after 30 s. Listen also serves on a unix socket ("unix:PATH") whose
// mode decides who may connect.
//
// Options.Console mounts the web console (package console) at /console/;
// its live stream clears the connection's deadlines for itself. With
// Options.TLS every route is served over HTTPS only.
package api
