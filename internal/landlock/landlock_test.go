package landlock

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"

	"github.com/vigilsec/vigil/internal/policy"
	"github.com/vigilsec/vigil/internal/testkernel"
)

// sandboxEnv makes the test binary a sandbox wrapper: the policy file in
// it, the program in the arguments.
const sandboxEnv = "VIGIL_LANDLOCK_TEST_POLICY"

func TestMain(m *testing.M) {
	if f := os.Getenv(sandboxEnv); f != "" {
		os.Exit(sandboxMain(f, os.Args[1:]))
	}
	os.Exit(m.Run())
}

func sandboxMain(file string, prog []string) int {
	ps, err := policy.ParseFiles(file)
	if err != nil {
		os.Stderr.WriteString(err.Error() + "\n")
		return 2
	}
	rs, err := Compile(ps[0], "/")
	if err != nil {
		os.Stderr.WriteString(err.Error() + "\n")
		return 2
	}
	runtime.LockOSThread()
	if err := rs.Restrict(); err != nil {
		os.Stderr.WriteString(err.Error() + "\n")
		return 2
	}
	err = syscall.Exec(prog[0], prog, os.Environ())
	os.Stderr.WriteString(err.Error() + "\n")
	return 2
}

// tree makes dir/{a/secret,a/ok,b/x} and returns dir.
func tree(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, f := range []string{"a/secret", "a/ok", "b/x"} {
		p := filepath.Join(dir, f)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(f+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func parse(t *testing.T, src string) *policy.Policy {
	t.Helper()
	ps, err := policy.Parse("p.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	return ps[0]
}

func grants(rs *Ruleset, under string) []string {
	var out []string
	for _, g := range rs.Grants {
		if strings.HasPrefix(g.Path, under) {
			out = append(out, strings.TrimPrefix(g.Path, under)+":"+g.Access.String())
		}
	}
	return out
}

// Compile grants what the first-match decision allows: a deny-list grants
// everything but the denied file (the directories on the way are walked);
// an allow-list grants its allow rules' hierarchies without what an earlier
// deny rule inside them takes; a deny rule an earlier allow rule shadows
// denies nothing; audit mode is not expressible.
func TestCompile(t *testing.T) {
	dir := tree(t)
	rs, err := Compile(parse(t, `name: deny
scope: {containers: {}}
file:
  rules:
    - {name: b-ok, action: allow, dirs: [`+dir+`/b]}
    - {name: shadowed, action: block, paths: [`+dir+`/b/x]}
    - {name: secret, action: kill, access: read, paths: [`+dir+`/a/secret]}
`), "/")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(grants(rs, dir), " "), "/a/ok:read /b:read"; rs.Handled != policy.AccessRead || got != want {
		t.Errorf("deny-list: handles %s, grants %q; want read, %q", rs.Handled, got, want)
	}
	if len(rs.Notes) != 1 || !strings.Contains(rs.Notes[0], "kill is enforced as block") {
		t.Errorf("notes %q", rs.Notes)
	}
	rs, err = Compile(parse(t, `name: allow
scope: {containers: {}}
file:
  default: block
  access: any
  rules:
    - {name: no-secret, action: block, paths: [`+dir+`/a/secret]}
    - {name: a, action: allow, dirs: [`+dir+`/a]}
    - {name: b, action: allow, access: read, paths: [`+dir+`/b/x]}
`), "/")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(grants(rs, dir), " "), "/a/ok:any /b/x:read"; rs.Handled != policy.AccessAny || got != want {
		t.Errorf("allow-list: handles %s, grants %q; want any, %q", rs.Handled, got, want)
	}
	if _, err := Compile(parse(t, "name: au\nmode: audit\nscope: {containers: {}}\nfile:\n  rules: [{action: block, paths: [/etc/shadow]}]\n"), "/"); !errors.Is(err, ErrNotExpressible) {
		t.Errorf("audit mode: %v, want ErrNotExpressible", err)
	}
}

// The kernel enforces the compiled ruleset on the program and its children:
// the denied file cannot be read (EACCES) while its neighbours, other
// directories and writes can; an entry created later in a directory on the
// way to it is denied (the documented snapshot); and a second sandbox with
// nothing denied cannot lift the first.
func TestRestrict(t *testing.T) {
	if _, err := ABI(); err != nil {
		testkernel.Skip(t, "Landlock not available: "+err.Error())
	}
	dir := tree(t)
	pf := filepath.Join(dir, "p.yaml")
	os.WriteFile(pf, []byte("name: s\nscope: {containers: {}}\nfile:\n  rules: [{name: secret, action: block, access: read, paths: ["+dir+"/a/secret]}]\n"), 0o644)
	open := filepath.Join(dir, "open.yaml")
	os.WriteFile(open, []byte("name: o\nscope: {containers: {}}\nfile:\n  rules: [{name: none, action: block, access: read, paths: [/nonexistent-vigil]}]\n"), 0o644)
	script := `cat a/secret; cat a/ok; cat b/x; head -c0 /etc/hostname && echo etc-ok; echo new > a/new && echo wrote; cat a/new;
` + os.Args[0] + ` /bin/cat a/secret`
	cmd := exec.Command("/bin/sh", "-c", script)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), sandboxEnv+"="+pf)
	// The inner sandbox (the test binary again, with open.yaml) is
	// started from inside the outer one.
	cmd.Args = []string{"/bin/sh", "-c", strings.Replace(script, os.Args[0], sandboxEnv+"="+open+" "+os.Args[0], 1)}
	wrapper := exec.Command(os.Args[0], cmd.Args...)
	wrapper.Dir, wrapper.Env = dir, cmd.Env
	out, _ := wrapper.CombinedOutput()
	got := string(out)
	for _, want := range []string{"a/ok", "b/x", "etc-ok", "wrote"} {
		if !strings.Contains(got, want) {
			t.Errorf("sandboxed output lacks %q:\n%s", want, got)
		}
	}
	if n := strings.Count(got, "a/secret: Permission denied"); n != 2 || strings.Contains(got, "a/secret\n") {
		t.Errorf("a/secret read, or not denied twice (outer and under the inner sandbox):\n%s", got)
	}
	if !strings.Contains(got, "a/new: Permission denied") {
		t.Errorf("a file created later beside the denied one was readable:\n%s", got)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "a/secret")); err != nil || string(b) != "a/secret\n" {
		t.Errorf("outside the sandbox: %q %v", b, err)
	}
}
