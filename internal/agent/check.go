package agent

import (
	"crypto/tls"

	"github.com/vigilsec/vigil/internal/api"
	"github.com/vigilsec/vigil/internal/config"
	"github.com/vigilsec/vigil/internal/output"
	"github.com/vigilsec/vigil/internal/policy"
	"github.com/vigilsec/vigil/internal/rules"
)

// Check reports everything that would stop New from building an agent
// with cfg, as config.Errors at the keys' positions: config.Validate, then
// the rules and policies loaded and compiled, the API token read, the HTTP
// output's TLS files loaded and the file output's path, each by the same
// code New runs. `vigil config validate` runs it, so a configuration it
// accepts starts (short of what only the running host can tell: privileges,
// a free listen port, kernel features).
func Check(cfg *config.Config) error {
	_, err := load(cfg)
	return err
}

// loaded is what New loads from the configuration before building
// anything.
type loaded struct {
	rules        *rules.Ruleset
	policies     []*policy.Policy
	token        string
	tokenWarning string
	// The console's tokens (console.*_token_file; the admin's defaults to
	// token), warnings about their files' modes, and the endpoint's TLS.
	adminToken, viewerToken string
	consoleWarnings         []string
	tls                     *tls.Config
}

// load is Check's work; New keeps what it loaded.
func load(cfg *config.Config) (*loaded, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	var es config.Errors
	l := &loaded{}
	var err error
	if l.rules, err = loadRules(cfg.Rules, cfg.Rules.OnError); err != nil {
		es = append(es, cfg.ErrorAt("rules.files", err))
	}
	if l.policies, err = loadPolicies(cfg.Policy.Files); err != nil {
		es = append(es, cfg.ErrorAt("policy.files", err))
	}
	if cfg.HTTP.Enabled {
		if l.token, l.tokenWarning, err = api.ReadToken(cfg.HTTP.TokenFile); err != nil {
			es = append(es, cfg.ErrorAt("http.token_file", err))
		}
	}
	if cfg.HTTP.Enabled && cfg.Console.Enabled {
		l.adminToken = l.token
		for _, t := range []struct {
			key, path string
			dst       *string
		}{{"console.admin_token_file", cfg.Console.AdminTokenFile, &l.adminToken}, {"console.viewer_token_file", cfg.Console.ViewerTokenFile, &l.viewerToken}} {
			if t.path == "" {
				continue
			}
			tok, warn, err := api.ReadToken(t.path)
			if err != nil {
				es = append(es, cfg.ErrorAt(t.key, err))
				continue
			}
			*t.dst = tok
			if warn != "" {
				l.consoleWarnings = append(l.consoleWarnings, warn)
			}
		}
	}
	if h := cfg.HTTP; h.Enabled && h.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(h.CertFile, h.KeyFile)
		if err != nil {
			es = append(es, cfg.ErrorAt("http.cert_file", err))
		} else {
			l.tls = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		}
	}
	if f := cfg.Outputs.File; f.Enabled {
		if err := output.CheckFilePath(f.Path); err != nil {
			es = append(es, cfg.ErrorAt("outputs.file.path", err))
		}
	}
	if h := cfg.Outputs.HTTP; h.Enabled {
		if _, err := output.NewHTTP(httpOutputOptions(h)); err != nil {
			es = append(es, cfg.ErrorAt("outputs.http.tls", err))
		}
	}
	if len(es) > 0 {
		return nil, es
	}
	return l, nil
}

// httpOutputOptions are the HTTP output's options from its configuration.
func httpOutputOptions(h config.HTTPOutput) output.HTTPOptions {
	return output.HTTPOptions{URL: h.URL, Headers: h.Headers, BatchSize: h.BatchSize,
		BatchInterval: h.BatchInterval, Timeout: h.Timeout, MaxRetries: h.MaxRetries, RetryBackoff: h.RetryBackoff,
		Workers: h.Workers, NoUpdates: !h.Updates, TLS: output.TLSOptions{CAFile: h.TLS.CAFile, CertFile: h.TLS.CertFile, KeyFile: h.TLS.KeyFile,
			InsecureSkipVerify: h.TLS.InsecureSkipVerify}}
}
