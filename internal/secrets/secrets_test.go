package secrets

import (
	"errors"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vigilsec/vigil/internal/image"
	it "github.com/vigilsec/vigil/internal/image/imagetest"
)

func TestDefaultRulesParse(t *testing.T) {
	rs := DefaultRules()
	if len(rs.Rules) < 12 || len(rs.Allow) == 0 {
		t.Fatalf("%d rules, %d allow entries", len(rs.Rules), len(rs.Allow))
	}
}

// Rules files are checked with positions, and a user file extends the
// built-in rules (same id replaces, allow entries add up).
func TestRulesFile(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"rules:\n  - id: x\n    regex: 'a(b'\n    keywords: [a]\n", "r.yaml:2:5: rule \"x\": error parsing regexp"},
		{"rules:\n  - id: x\n    regex: 'ab'\n    keywords: [a]\n    secretGroup: 1\n", "r.yaml:2:5: rule \"x\": secretGroup 1: the regex has 0 groups"},
		{"rules:\n  - id: x\n    regex: '(ab)'\n", "r.yaml:2:5: rule \"x\": missing keywords"},
		{"rules:\n  - id: x\n    regex: '(ab)'\n    keywords: [a]\n    sevrity: high\n", "r.yaml:5:5: unknown field \"sevrity\""},
		{"rules:\n  - id: x\n    regex: '(ab)'\n    keywords: [a]\n    severity: urgent\n", "severity \"urgent\""},
		{"rule: []\n", "r.yaml:1:1: unknown field \"rule\""},
		{"allow:\n  - rule: x\n", "r.yaml:2:5: allow: needs path, value or match"},
		{"rules: [\n", "r.yaml:"},
	} {
		_, err := ParseRules("r.yaml", []byte(tc.in))
		if err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, ErrBadRules) {
			t.Errorf("%q: %v, want %q", tc.in, err, tc.want)
		}
	}
	user, err := ParseRules("r.yaml", []byte(`rules:
  - id: acme-token
    description: ACME internal token
    severity: high
    keywords: [acme_]
    regex: '\b(acme_[a-z0-9]{24})\b'
    entropy: 3
allow:
  - path: '^/opt/fixtures/'
  - rule: generic-secret
    value: '^not-really-'
`))
	if err != nil {
		t.Fatal(err)
	}
	rs := DefaultRules()
	rs.Merge(user)
	s := NewScanner(rs)
	g := gen{rand.New(rand.NewPCG(1, 2))}
	tok := "acme_" + g.s(24, lower+digits)
	if fs := s.ScanText(Location{Path: "/app/.env"}, []byte("X="+tok+"\n")); len(fs) != 1 || fs[0].Rule != "acme-token" {
		t.Errorf("user rule: %+v", fs)
	}
	if fs := s.ScanText(Location{Path: "/opt/fixtures/a.env"}, []byte("X="+tok+"\n")); len(fs) != 0 {
		t.Errorf("allowed path: %+v", fs)
	}
	if fs := s.ScanText(Location{Path: "/a"}, []byte("db_password=not-really-"+g.s(16, alnum)+"\n")); len(fs) != 0 {
		t.Errorf("allowed value: %+v", fs)
	}
}

// Findings carry layer, path, line, column and a redacted preview; a
// secret in a file a later layer deletes is still found (Removed); the
// image config's environment is scanned; a root filesystem too.
func TestScanImage(t *testing.T) {
	g := gen{rand.New(rand.NewPCG(3, 4))}
	key, _ := g.expand("{RSA}")
	akia, _ := g.expand("{AKIA}")
	pw := g.s(16, alnum)
	base := it.Layer(
		it.File("etc/os-release", 0o644, []byte("ID=debian\n")),
		it.File("root/.ssh/id_rsa", 0o600, []byte(key)),
		it.File("app/config.yaml", 0o644, []byte("name: app\nlisten: :8080\ndatabase:\n  url: postgres://app:"+pw+"@db/app\n")),
		it.File("usr/share/doc/tool/README", 0o644, []byte("aws_access_key_id = "+akia+"\n")),                           // allow-listed path
		it.File("usr/bin/tool", 0o755, append([]byte{0x7f, 'E', 'L', 'F', 0, 0}, []byte("AWS_ACCESS_KEY_ID="+akia)...)), // binary
	)
	top := it.Layer(it.File("root/.ssh/.wh.id_rsa", 0o644, nil))
	dir := filepath.Join(t.TempDir(), "img")
	if _, err := it.WriteOCILayout(dir, "example.com/app:1", it.Config{Env: []string{"PATH=/usr/bin", "AWS_ACCESS_KEY_ID=" + akia}}, base, top); err != nil {
		t.Fatal(err)
	}
	img, err := image.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer img.Close()
	fs, err := NewScanner(nil).ScanImage(img)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]Finding{}
	for _, f := range fs {
		got[f.Rule+" "+f.Path] = f
		for _, sec := range []string{akia[4:], pw[3:], key[40:80]} {
			if strings.Contains(f.Preview, sec) {
				t.Errorf("preview shows a secret: %+v", f)
			}
		}
	}
	if len(fs) != 3 {
		t.Errorf("%d findings, want 3: %+v", len(fs), fs)
	}
	if f, ok := got["private-key /root/.ssh/id_rsa"]; !ok || !f.Removed || f.Layer != img.Layers[0].Digest || f.Line != 1 || f.Source != "layer" ||
		f.Preview != "-----BEGIN RSA PRIVATE KEY----- ********" {
		t.Errorf("deleted private key: %+v", f)
	}
	if f, ok := got["password-in-url /app/config.yaml"]; !ok || f.Removed || f.Line != 4 || f.Column != 23 ||
		f.Preview != "url: postgres://app:"+pw[:3]+"********@db/app" {
		t.Errorf("password in URL: %+v", f)
	}
	if f, ok := got["aws-access-key-id config.Env[1]"]; !ok || f.Source != "config" || f.Preview != "AWS_ACCESS_KEY_ID=AKIA********" {
		t.Errorf("config env: %+v", f)
	}
}

// Path-like values are not secrets, whatever the key's name.
func TestPathLikeValues(t *testing.T) {
	s := NewScanner(nil)
	for _, v := range []string{"SECRET_KEY=/etc/secret_key", "TOKEN_PATH=./tokens/ci.token", "private_key: ~/.ssh/id_ed25519",
		"api_key=C:\\keys\\api.key", "password_file=file:///run/secrets/db", "client_secret: secrets/prod/client"} {
		if fs := s.ScanText(Location{}, []byte(v)); len(fs) != 0 {
			t.Errorf("%q: %+v", v, fs)
		}
	}
}
