package profile

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/policy"
)

func webProfile(t *testing.T) *Profile {
	t.Helper()
	p := New("label:app=web", Limits{}, time.Unix(1_700_000_000, 0), time.Minute)
	for _, it := range []Item{{KindProgram, "/bin/busybox (httpd)"}, {KindProgram, "/usr/bin/curl"}, {KindRead, "/etc/passwd"},
		{KindWrite, "/var/log/web.log"}, {KindEgress, "10.0.0.5:5432/tcp"}, {KindEgress, "[fd00::53]:53/udp"},
		{KindListen, "8080/tcp"}, {KindListen, "5353/udp"}, {KindSyscall, "read"}, {KindSyscall, "accept4"}} {
		if err := p.Add(it); err != nil {
			t.Fatal(err)
		}
	}
	return p
}

// TestGeneratedPolicyParses: the policy of a profile is valid Vigil policy
// language with the profile's programs, writes, peers and ports as its
// allow-lists.
func TestGeneratedPolicyParses(t *testing.T) {
	y, err := Policy(webProfile(t), PolicyScope{})
	if err != nil {
		t.Fatal(err)
	}
	ps, err := policy.Parse("gen.yaml", y)
	if err != nil {
		t.Fatalf("%v\n%s", err, y)
	}
	if len(ps) != 1 || ps[0].Name != "profile-label-app-web" {
		t.Fatalf("policies %+v", ps)
	}
	for _, want := range []string{"podLabels:\n            app: web", "default: kill", "- /bin/busybox", "- /usr/bin/curl",
		"- /var/log/web.log", "- 10.0.0.5/32", "- fd00::53/128", "- 5432", "- 8080", "- 5353", "- /etc\n", "- /var\n"} {
		if !strings.Contains(string(y), want) {
			t.Errorf("policy lacks %q:\n%s", want, y)
		}
	}
	if y, err = Policy(webProfile(t), PolicyScope{Names: []string{"web-*"}}); err != nil || !strings.Contains(string(y), "names:\n            - web-*") {
		t.Fatalf("names scope: %v\n%s", err, y)
	}
}

// TestSeccompAndLandlock: the seccomp profile allows exactly the
// syscalls; the Landlock ruleset grants the programs, files and TCP ports.
func TestSeccompAndLandlock(t *testing.T) {
	p := webProfile(t)
	if _, err := Seccomp(p); err == nil {
		t.Fatal("seccomp from event-type syscalls only")
	}
	p.syscallSets = true
	js, err := Seccomp(p)
	if err != nil {
		t.Fatal(err)
	}
	var sc seccompProfile
	if err := json.Unmarshal(js, &sc); err != nil {
		t.Fatal(err)
	}
	if sc.DefaultAction != "SCMP_ACT_ERRNO" || sc.DefaultErrnoRet != 1 || strings.Join(sc.Syscalls[0].Names, ",") != "accept4,read" {
		t.Fatalf("seccomp %s", js)
	}
	if _, err := Seccomp(New("x", Limits{}, time.Now(), 0)); err == nil {
		t.Fatal("seccomp of a profile without syscalls")
	}
	ll, _ := Landlock(p).JSON()
	for _, want := range []string{`"path": "/bin/busybox"`, `"execute"`, `"path": "/var/log"`, `"make_reg"`, `"port": 8080`,
		`"bind_tcp"`, `"port": 5432`, `"connect_tcp"`} {
		if !strings.Contains(string(ll), want) {
			t.Errorf("landlock lacks %s:\n%s", want, ll)
		}
	}
	if strings.Contains(string(ll), `"port": 53,`) || strings.Contains(string(ll), `"port": 5353`) {
		t.Errorf("landlock has UDP ports:\n%s", ll)
	}
}
