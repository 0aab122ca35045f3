package agent

import (
	"context"
	"crypto/tls"
	"fmt"

	"github.com/vigilsec/vigil/internal/alert"
	"github.com/vigilsec/vigil/internal/api"
	"github.com/vigilsec/vigil/internal/engine"
	"github.com/vigilsec/vigil/internal/event"
	"github.com/vigilsec/vigil/internal/k8saudit"
	"github.com/vigilsec/vigil/internal/pipeline"
	"github.com/vigilsec/vigil/internal/rules"
)

// k8sAudit is the agent's Kubernetes audit source: the webhook, and an
// engine and pipeline of its own (the webhook's events arrive on their own
// goroutine; the engine is not shared across goroutines). The engine runs
// the same ruleset as the sensor's, swapped with it, and only the rules of
// source k8s_audit match its events.
type k8sAudit struct {
	srv  *k8saudit.Server
	eng  *engine.Engine
	pipe *pipeline.Pipeline
}

// newK8sAudit builds the webhook from k8s_audit (nil when disabled).
func (a *Agent) newK8sAudit(rs *rules.Ruleset) (*k8sAudit, error) {
	c := &a.cfg.K8sAudit
	if !c.Enabled {
		return nil, nil
	}
	tok, warn, err := api.ReadToken(c.TokenFile)
	if err != nil {
		return nil, fmt.Errorf("k8s_audit.token_file: %w", err)
	}
	if warn != "" {
		a.log.Warn("k8s_audit.token_file: " + warn)
	}
	cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("k8s_audit: %w", err)
	}
	srv, err := k8saudit.NewServer(k8saudit.ServerOptions{Listen: c.Listen, Token: tok,
		TLS:          &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
		MaxBodyBytes: c.MaxBodyBytes, QueueSize: c.QueueSize, Overflow: a.overflow, Metrics: a.reg, Logger: a.log})
	if err != nil {
		return nil, err
	}
	k := &k8sAudit{srv: srv, eng: engine.New(rs, &engine.Options{Hostname: a.hostname})}
	k.pipe = pipeline.New(pipeline.Options{Types: []event.Type{event.TypeK8sAudit}, Engine: k.eng,
		MinPriority: &a.minPri, OnAlert: a.onAuditAlert, Internal: a.deliver, Hostname: a.hostname, Logger: a.log})
	return k, nil
}

// onAuditAlert delivers an audit rule's alert. Audit alerts are not
// coalesced: their key (rule, container, executable) would merge different
// users' actions.
func (a *Agent) onAuditAlert(_ *event.Event, _ *engine.Match, al *alert.Alert) { a.deliver(al) }

// start listens and evaluates in the background until the returned stop is
// called (before the outputs close).
func (k *k8sAudit) start(a *Agent) (stop func(), err error) {
	if err := k.srv.Start(); err != nil {
		return nil, err
	}
	a.log.Info("k8s audit webhook listening", "addr", k.srv.Addr(), "path", k8saudit.Path)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = k.srv.Run(ctx, k.pipe.Handle)
	}()
	return func() {
		_ = k.srv.Close(context.Background())
		cancel()
		<-done
	}, nil
}
