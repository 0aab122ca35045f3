package enforce

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/vigilsec/vigil/internal/policy"
	"github.com/vigilsec/vigil/internal/testkernel"
)

// copyFile copies src to dst (a new inode) with mode 0755.
func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_EXCL, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

func fileSHA256(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// runMarker runs cmd and reports whether it was killed by SIGKILL and
// whether it ran (it creates marker when it runs one instruction of
// busybox's touch).
func runMarker(t *testing.T, cmd *exec.Cmd, marker string) (killed, ran bool, out string) {
	t.Helper()
	b, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	killed = errors.As(err, &ee) && ee.Sys().(syscall.WaitStatus).Signal() == syscall.SIGKILL
	_, serr := os.Stat(marker)
	return killed, serr == nil, string(b)
}

// The evasion set for a kill rule on a program (a copy of busybox at
// DIR/prog): the rule path itself, a rename, a symlink, a hard link, a
// relative path, execveat(fd, "", AT_EMPTY_PATH) and a script whose
// interpreter (#!) is the program are all killed before the program's first
// instruction; so is a copy (a new inode) under a content (sha256) rule.
// An unrelated program runs in the same cgroups.
func TestExecEvasion(t *testing.T) {
	testkernel.RequireRoot(t)
	testkernel.SkipIfErr(t, ProbeHost().ExecKill)
	testkernel.SkipIfErr(t, ProbeHost().ExecGate)
	busybox, err := exec.LookPath("busybox")
	if err != nil {
		testkernel.Skip(t, "busybox not installed")
	}
	e := newEnforcer(t, Options{})
	victim, vfd := testCgroup(t)
	content, cfd := testCgroup(t)
	dir, other := t.TempDir(), t.TempDir()
	prog := filepath.Join(dir, "prog")
	copyFile(t, busybox, prog)
	digest := fileSHA256(t, prog)
	src := fmt.Sprintf(`name: by-path
scope: {containers: {names: [victim]}}
process:
  rules: [{name: prog, action: kill, paths: [%s]}]
---
name: by-content
scope: {containers: {names: [content]}}
process:
  rules: [{name: prog-content, action: kill, sha256: [%s]}]
`, prog, digest)
	ps, err := policy.Parse("evasion.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Apply(ps, []Target{target("victim", victim), target("content", content)}); err != nil {
		t.Fatal(err)
	}
	// Other names of the same file, made after the policy was applied.
	renamed := filepath.Join(dir, "renamed")
	link := filepath.Join(other, "link")
	hard := filepath.Join(other, "hard")
	if err := os.Link(prog, hard); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(prog, renamed); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(renamed, link); err != nil {
		t.Fatal(err)
	}
	script := filepath.Join(other, "script")
	os.WriteFile(script, []byte("#!"+renamed+"\n"), 0o755)
	cp := filepath.Join(other, "copy")
	copyFile(t, renamed, cp)

	n := 0
	run := func(name string, cgfd int, mk func(marker string) *exec.Cmd, wantKilled bool) {
		t.Helper()
		n++
		marker := filepath.Join(t.TempDir(), "ran")
		killed, ran, out := runMarker(t, mk(marker), marker)
		switch {
		case wantKilled && (!killed || ran):
			t.Errorf("%s: killed %v, ran %v (%q); want killed before its first instruction", name, killed, ran, out)
		case !wantKilled && (killed || !ran):
			t.Errorf("%s: killed %v, ran %v (%q); want it to run", name, killed, ran, out)
		}
	}
	// busybox runs the applet named by argv[0]: "busybox touch MARKER".
	bb := func(cgfd int, file string) func(string) *exec.Cmd {
		return func(marker string) *exec.Cmd {
			c := inCgroup(cgfd, file)
			c.Args = []string{"busybox", "touch", marker}
			return c
		}
	}
	run("rename", vfd, bb(vfd, renamed), true)
	run("symlink", vfd, bb(vfd, link), true)
	run("hard link", vfd, bb(vfd, hard), true)
	run("relative path", vfd, func(marker string) *exec.Cmd {
		c := bb(vfd, "./renamed")(marker)
		c.Dir = dir
		c.Path = "./renamed"
		return c
	}, true)
	run("execveat fd", vfd, func(marker string) *exec.Cmd {
		c := inCgroup(vfd, os.Args[0], "-test.run=^$", renamed+" busybox touch "+marker)
		c.Env = append(os.Environ(), helperEnv+"=execveat")
		return c
	}, true)
	run("#! interpreter", vfd, func(marker string) *exec.Cmd { return inCgroup(vfd, script, marker) }, true)
	run("copy, content rule", cfd, bb(cfd, cp), true)
	run("copy, path rule only", vfd, bb(vfd, cp), false)
	run("unrelated, content rule", cfd, func(marker string) *exec.Cmd { return inCgroup(cfd, "/bin/touch", marker) }, false)
	run("unrelated, path rule", vfd, func(marker string) *exec.Cmd { return inCgroup(vfd, "/bin/touch", marker) }, false)

	st, err := e.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if st.Gate.Hashed == 0 || st.Gate.Killed == 0 {
		t.Errorf("gate stats %+v: want the copy hashed and killed while held", st.Gate)
	}
	t.Logf("%d execs; kernel exec counts %+v; held %+v", n, st.Kernel[KindExec], st.Gate)
}
