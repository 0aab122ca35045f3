package secrets

import (
	"encoding/base64"
	"encoding/json"
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"
)

// The corpus is written for these tests. Every secret in it is generated
// at run time from a fixed seed in the shape the rules expect: nothing in
// the repository is a real credential (nor looks like one to a scanner).

const (
	upper  = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	digits = "0123456789"
	alnum  = upper + lower + digits
	b64    = alnum + "+/"
	b64url = alnum + "-_"
)

type gen struct{ r *rand.Rand }

func (g gen) s(n int, set string) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = set[g.r.IntN(len(set))]
	}
	return string(b)
}

func (g gen) pem(kind string) string {
	var b strings.Builder
	b.WriteString("-----BEGIN " + kind + "-----\n")
	for range 8 {
		b.WriteString(g.s(64, b64) + "\n")
	}
	b.WriteString(g.s(20, b64) + "==\n-----END " + kind + "-----\n")
	return b.String()
}

func (g gen) jwt() string {
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(`{"alg":"HS256","typ":"JWT"}`)) + "." + enc([]byte(`{"sub":"`+g.s(8, digits)+`","name":"svc","iat":1700000000}`)) + "." + g.s(43, b64url)
}

var placeholderRE = regexp.MustCompile(`\{[A-Z0-9]+\}`)

// expand fills the placeholders of a template; it returns the text and the
// generated secrets (which must never appear in a finding).
func (g gen) expand(tmpl string) (string, []string) {
	var secrets []string
	out := placeholderRE.ReplaceAllStringFunc(tmpl, func(p string) string {
		var v string
		switch p {
		case "{AKIA}":
			v = "AKIA" + g.s(16, upper+"234567")
		case "{ASIA}":
			v = "ASIA" + g.s(16, upper+"234567")
		case "{AWSSECRET}":
			v = g.s(40, b64)
		case "{GCPKEY}":
			v = "AIza" + g.s(35, b64url)
		case "{HEX40}":
			v = g.s(40, "0123456789abcdef")
		case "{HEX64}":
			v = g.s(64, "0123456789abcdef")
		case "{AZKEY}":
			v = g.s(86, b64) + "=="
		case "{AZSECRET}":
			v = g.s(3, alnum) + "8Q~" + g.s(34, alnum+"_~.-")
		case "{GHP}":
			v = "ghp_" + g.s(36, alnum)
		case "{GHPAT}":
			v = "github_pat_" + g.s(82, alnum+"_")
		case "{SLACK}":
			v = "xoxb-" + g.s(12, digits) + "-" + g.s(13, digits) + "-" + g.s(24, alnum)
		case "{SLACKHOOK}":
			v = "T" + g.s(9, upper+digits) + "/B" + g.s(9, upper+digits) + "/" + g.s(24, alnum)
		case "{JWT}":
			v = g.jwt()
		case "{RSA}":
			v = g.pem("RSA PRIVATE KEY")
		case "{EC}":
			v = g.pem("EC PRIVATE KEY")
		case "{OPENSSH}":
			v = g.pem("OPENSSH PRIVATE KEY")
		case "{PUBLIC}":
			return g.pem("PUBLIC KEY") // not a secret
		case "{RAND8}":
			v = g.s(8, alnum)
		case "{RAND12}":
			v = g.s(12, alnum+"!#%&*")
		case "{RAND16}":
			v = g.s(16, alnum)
		case "{RAND24}":
			v = g.s(24, alnum)
		case "{RAND32}":
			v = g.s(32, alnum+"-_")
		case "{RAND40}":
			v = g.s(40, alnum)
		default:
			panic("unknown placeholder " + p)
		}
		secrets = append(secrets, v)
		return v
	})
	return out, secrets
}

// corpus: each text with the rule that must find it ("" = no finding).
var corpus = []struct{ text, rule string }{
	// True positives.
	{"aws_access_key_id = {AKIA}\n", "aws-access-key-id"},
	{`export AWS_ACCESS_KEY_ID="{ASIA}"` + "\n", "aws-access-key-id"},
	{"AWS_SECRET_ACCESS_KEY={AWSSECRET}\n", "aws-secret-access-key"},
	{"[default]\naws_secret_access_key = {AWSSECRET}\n", "aws-secret-access-key"},
	{`{"type": "service_account", "project_id": "demo",` + "\n" + `  "private_key_id": "{HEX40}",` + "\n}", "gcp-service-account-key"},
	{"GOOGLE_MAPS_KEY: {GCPKEY}\n", "gcp-api-key"},
	{"DefaultEndpointsProtocol=https;AccountName=acme;AccountKey={AZKEY};EndpointSuffix=core.windows.net\n", "azure-storage-key"},
	{"AZURE_CLIENT_SECRET={AZSECRET}\n", "azure-client-secret"},
	{"token: {GHP}\n", "github-token"},
	{"GITHUB_TOKEN={GHPAT}\n", "github-token"},
	{`slack_bot = "{SLACK}"` + "\n", "slack-token"},
	{"notify: https://hooks.slack.com/services/{SLACKHOOK}\n", "slack-webhook"},
	{"Authorization: Bearer {JWT}\n", "jwt"},
	{"id_token: {JWT}\n", "jwt"},
	{`curl -H "Authorization: Bearer {RAND32}" https://api.internal/v1` + "\n", "bearer-token"},
	{"DATABASE_URL=postgres://app:{RAND16}@db.internal:5432/app\n", "password-in-url"},
	{"broker: amqp://worker:{RAND12}@rabbit.internal/\n", "password-in-url"},
	{"git clone https://deploy:{RAND24}@git.acme.internal/team/repo.git\n", "password-in-url"},
	{"{RSA}", "private-key"},
	{"key: |\n  {EC}", "private-key"},
	{"{OPENSSH}", "private-key"},
	{`db_password: "{RAND16}"` + "\n", "generic-secret"},
	{"SECRET_KEY = '{RAND32}'\n", "generic-secret"},
	{"api_key={RAND24}\n", "generic-secret"},
	{`  "password": "{RAND12}",` + "\n", "generic-secret"},
	{"spring.datasource.password={RAND16}\n", "generic-secret"},
	{"session_token = {RAND40}\n", "generic-secret"},
	{"MYSQL_ROOT_PASSWORD={RAND16}\n", "generic-secret"},
	{`private_key = "{RAND40}"` + "\n", "generic-secret"},
	{"client_secret => '{RAND24}'\n", "generic-secret"},
	// False positives: paths, templates, placeholders, documentation
	// keys, prose, public keys, hashes.
	{"SECRET_KEY_FILE=/etc/secret_key\n", ""},
	{"password_file: /run/secrets/db_password\n", ""},
	{"ssh_private_key: ~/.ssh/id_ed25519\n", ""},
	{"DB_PASSWORD=${DB_PASSWORD}\n", ""},
	{"password: {{ .Values.db.password }}\n", ""},
	{"client_secret: $(CLIENT_SECRET)\n", ""},
	{`export PGPASSWORD="$PGPASS"` + "\n", ""},
	{"aws_access_key_id = AKIAIOSFODNN7EXAMPLE\n", ""},
	{"aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n", ""},
	{"password = changeme\n", ""},
	{"token = xxxxxxxxxxxxxxxxxxxx\n", ""},
	{"api_key: YOUR_API_KEY_HERE\n", ""},
	{"api_key: SECRET_API_KEY\n", ""},
	{"# Set password= to the password of the service account\n", ""},
	{"GITHUB_TOKEN=ghp_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n", ""},
	{"The key starts with -----BEGIN RSA PRIVATE KEY----- and ends with the END line.\n", ""},
	{"{PUBLIC}", ""},
	{"https://example.com/search?user=alice&page=2\n", ""},
	{"postgres://app@db.internal:5432/app\n", ""},
	{"C<http://user:{RAND12}@proxy.example.com/> in the module documentation\n", ""},
	{`REQUEST_TYPE_ACCESS_TOKEN = "auth-request-type/at"` + "\n", ""},
	{"token_uri=_GOOGLE_OAUTH2_TOKEN_ENDPOINT,  # always overrides\n", ""},
	{"def decrypt(self, token: typing.Union[bytes, str], ttl: int) -> bytes:\n", ""},
	{"password_ptr = self._ffi.new(\"char []\", password)\n", ""},
	{"postgres://app:${DB_PASS}@db.internal/app\n", ""},
	{"git@github.com:team/repo.git\n", ""},
	{"sha256: {HEX64}\n", ""},
	{"TOKEN_URL=https://auth.example.com/oauth/token\n", ""},
	{"password_hash = $2b$12$abcdefghijklmnopqrstuuVGjRzv2Zt0a3QnlRTpq4nW2S0xVd1q\n", ""},
	{`password: "********"` + "\n", ""},
	{"request_id=123e4567-e89b-12d3-a456-426614174000\n", ""},
	{"Bearer token required for this endpoint\n", ""},
	{"secret: null\n", ""},
	{"password_min_length: 12\n", ""},
	{"token_endpoint_auth_method: client_secret_basic\n", ""},
	{"secretRef: db-credentials\n", ""},
}

// TestCorpusPrecisionRecall measures the built-in rules on the corpus and
// checks that no finding carries a secret.
func TestCorpusPrecisionRecall(t *testing.T) {
	g := gen{rand.New(rand.NewPCG(17, 4))}
	s := NewScanner(nil)
	var tp, fp, fn int
	for _, c := range corpus {
		text, secrets := g.expand(c.text)
		fs := s.ScanText(Location{Source: "text", Path: "corpus"}, []byte(text))
		js, _ := json.Marshal(fs)
		for _, sec := range secrets {
			if len(sec) >= 8 && strings.Contains(string(js), sec[min(4, len(sec)/5):]) {
				t.Errorf("finding shows the secret: %s", js)
			}
		}
		hit := false
		for _, f := range fs {
			if c.rule != "" && f.Rule == c.rule && !hit {
				hit = true
				tp++
				continue
			}
			fp++
			t.Logf("false positive: %s on %q (%s)", f.Rule, f.Preview, c.text)
		}
		if c.rule != "" && !hit {
			fn++
			t.Logf("missed %s in %q", c.rule, c.text)
		}
	}
	precision := float64(tp) / float64(tp+fp)
	recall := float64(tp) / float64(tp+fn)
	t.Logf("corpus: %d texts, %d true positives, %d false positives, %d false negatives: precision %.3f, recall %.3f", len(corpus), tp, fp, fn, precision, recall)
	if precision < 0.95 || recall < 0.95 {
		t.Errorf("precision %.3f, recall %.3f: want both >= 0.95", precision, recall)
	}
}
