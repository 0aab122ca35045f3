package policy

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/event"
)

func TestParseExample(t *testing.T) {
	ps, err := ParseFiles("testdata/web.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) != 2 {
		t.Fatalf("got %d policies, want 2", len(ps))
	}
	web := ps[0]
	if web.Name != "web-lockdown" || web.Mode != ModeEnforce || web.Scope.Host {
		t.Fatalf("head: %+v", web)
	}
	if got := web.Process.Rules[1].Dirs; len(got) != 2 || got[0] != "/tmp/" || got[1] != "/dev/shm/" {
		t.Errorf("dirs = %q", got)
	}
	if web.Process.Rules[0].Action != ActionKill || web.File.Rules[0].Access != AccessRead {
		t.Errorf("rules: %+v %+v", web.Process.Rules[0], web.File.Rules[0])
	}
	eg := web.Network.Egress
	if eg.Default != ActionBlock || eg.Rules[0].Protocol != ProtoUDP || eg.Rules[0].Ports[0] != (PortRange{53, 53}) {
		t.Errorf("egress: %+v", eg)
	}
	if eg.Rules[1].CIDRs[1] != netip.MustParsePrefix("fd00::/8") || eg.Rules[1].Ports[1] != (PortRange{8000, 8080}) {
		t.Errorf("egress api: %+v", eg.Rules[1])
	}
	if ps[1].Mode != ModeAudit || !ps[1].Scope.Host || ps[1].Process.Rules[0].Pos.Line != 53 {
		t.Errorf("host-audit: %+v", ps[1])
	}
}

func TestScopeMatches(t *testing.T) {
	ps, err := ParseFiles("testdata/web.yaml")
	if err != nil {
		t.Fatal(err)
	}
	web, host := &ps[0].Scope, &ps[1].Scope
	c := &event.Container{ID: "abc", Repository: "docker.io/library/nginx", PodNamespace: "prod",
		PodLabels: map[string]string{"app": "web", "tier": "x"}}
	if !web.Matches(c) || host.Matches(c) {
		t.Error("nginx in prod: want web only")
	}
	c2 := *c
	c2.PodNamespace = "dev"
	if web.Matches(&c2) {
		t.Error("namespace dev matched")
	}
	c3 := *c
	c3.PodLabels = map[string]string{"app": "db"}
	if web.Matches(&c3) {
		t.Error("label app=db matched")
	}
	c4 := *c
	c4.Repository, c4.Image = "", "ghcr.io/acme/api:1.2"
	if !web.Matches(&c4) {
		t.Error("image fallback: ghcr.io/acme/api:1.2 should match ghcr.io/acme/*")
	}
	if web.Matches(nil) || !host.Matches(nil) || !host.Matches(&event.Container{ID: "host"}) {
		t.Error("host matching")
	}
	all := Scope{}
	if !all.Matches(c) || all.Matches(nil) {
		t.Error("containers: {} must select every container and not the host")
	}
}

// Docker reports docker.io repositories as written ("busybox",
// "vigiltest/busybox"), containerd's CRI fully qualified: a scope selects the
// image under either name.
func TestScopeImageNames(t *testing.T) {
	for _, tc := range []struct {
		pat, repo string
		want      bool
	}{
		{"docker.io/library/busybox*", "busybox", true},
		{"docker.io/vigiltest/busybox*", "vigiltest/busybox", true},
		{"busybox", "docker.io/library/busybox", true},
		{"vigiltest/*", "docker.io/vigiltest/busybox", true},
		{"docker.io/library/busybox*", "docker.io/library/busybox", true},
		{"docker.io/library/busybox*", "ghcr.io/library/busybox", false},
		{"docker.io/library/busybox*", "nginx", false},
		{"ghcr.io/acme/*", "acme/api", false},
		{"busybox", "Not A Reference", false},
	} {
		s := Scope{Images: []string{tc.pat}}
		if got := s.Matches(&event.Container{ID: "abc", Repository: tc.repo}); got != tc.want {
			t.Errorf("images %q, repository %q: matches %v, want %v", tc.pat, tc.repo, got, tc.want)
		}
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct{ name, src, want string }{
		{"unknown key", "name: a\nscope: {host: true}\nprocess:\n  rules:\n    - {action: kill, names: [nc], colour: red}\n", `x.yaml:5:35: process rule: unknown key "colour"`},
		{"bad action", "name: a\nscope: {host: true}\nprocess:\n  rules:\n    - action: zap\n      names: [nc]\n", `x.yaml:5:15: action "zap"`},
		{"bad cidr", "name: a\nscope: {host: true}\nnetwork:\n  egress:\n    rules:\n      - action: block\n        cidrs: [10.0.0.1/8]\n", `x.yaml:7:16: cidr "10.0.0.1/8": host bits set`},
		{"bad port", "name: a\nscope: {host: true}\nnetwork:\n  bind:\n    rules:\n      - action: block\n        ports: [0, 70000, 9-3]\n", `x.yaml:7:17: port "0"`},
		{"relative path", "name: a\nscope: {host: true}\nfile:\n  rules:\n    - action: block\n      paths: [etc/shadow]\n", `x.yaml:6:15: path "etc/shadow" must be absolute`},
		{"missing scope", "name: a\nprocess: {default: kill}\n", `x.yaml:1:1: policy "a": missing scope`},
		{"no rules", "name: a\nscope: {host: true}\n", `no rules`},
		{"bad mode", "name: a\nmode: loud\nscope: {host: true}\nprocess: {default: kill}\n", `x.yaml:2:7: mode "loud"`},
		{"host and containers", "name: a\nscope: {host: true, containers: {}}\nprocess: {default: kill}\n", `scope: host and containers are exclusive`},
		{"dup key", "name: a\nname: b\nscope: {host: true}\nprocess: {default: kill}\n", `x.yaml:2:1: policy: duplicate key "name"`},
		{"dup policy", "- {name: a, scope: {host: true}, process: {default: kill}}\n- {name: a, scope: {host: true}, process: {default: kill}}\n", `policy "a" already defined at x.yaml:1:3`},
		{"yaml syntax", "name: [a\n", `x.yaml:`},
		{"missing action", "name: a\nscope: {host: true}\nprocess:\n  rules:\n    - names: [nc]\n", `x.yaml:5:7: rule "process-1": missing action`},
		{"bad glob", "name: a\nscope: {containers: {names: ['[']}}\nprocess: {default: kill}\n", `x.yaml:2:30: bad glob`},
		{"bad sha256", "name: a\nscope: {host: true}\nprocess:\n  rules:\n    - {action: kill, sha256: [abc]}\n", `x.yaml:5:31: sha256 "abc": want 64 hex digits`},
		{"sha256 block", "name: a\nscope: {host: true}\nprocess:\n  rules:\n    - {action: block, sha256: [" + strings.Repeat("ab", 32) + "]}\n", `x.yaml:5:7: process rule "process-1": sha256 rules kill, audit or allow`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("x.yaml", []byte(tc.src))
			if err == nil {
				t.Fatalf("no error, want %q", tc.want)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("error %v does not match ErrInvalid", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q\nwant substring %q", err, tc.want)
			}
		})
	}
}

func TestParseSHA256(t *testing.T) {
	d := strings.Repeat("AB", 32)
	ps, err := Parse("x.yaml", []byte("name: a\nscope: {host: true}\nprocess:\n  rules:\n    - {action: kill, sha256: ["+d+"]}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := ps[0].Process.Rules[0].SHA256; len(got) != 1 || got[0] != strings.ToLower(d) {
		t.Errorf("sha256 = %q, want the digest in lower case", got)
	}
}

func TestParseReportsAllErrors(t *testing.T) {
	_, err := Parse("x.yaml", []byte("name: a\nmode: x\nscope: {host: true}\nprocess:\n  rules:\n    - {action: zap, names: [nc]}\n"))
	if err == nil || !strings.Contains(err.Error(), "x.yaml:2:7") || !strings.Contains(err.Error(), "x.yaml:6:16") {
		t.Fatalf("want both errors, got %v", err)
	}
}

// FuzzParse: any input is parsed or rejected with an error, never a panic.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"name: a\nscope: {host: true}\nprocess: {default: kill}\n",
		"- {name: a, scope: {containers: {podLabels: {a: b}}}, network: {egress: {rules: [{action: block, ports: [1-2, 3]}]}}}\n",
		"name: [\n", "---\n---\n", "[1, 2]", "name: a\nscope: {containers: {names: ['[']}}\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		done := make(chan struct{})
		go func() {
			defer close(done)
			ps, err := Parse("f.yaml", data)
			if err == nil && len(ps) == 0 {
				t.Error("no error and no policy")
			}
		}()
		select {
		case <-done:
		case <-time.After(2 * time.Second):
			t.Fatalf("Parse hangs on %q", data)
		}
	})
}
