package event

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestFieldsDocIsCurrent(t *testing.T) {
	got, err := os.ReadFile(filepath.Join("..", "..", "docs", "fields.md"))
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != FieldsMarkdown() {
		t.Fatal("docs/fields.md is stale: run `vigil rules fields --markdown > docs/fields.md`")
	}
}

func TestFieldRegistry(t *testing.T) {
	seen := map[string]bool{}
	for _, f := range Fields() {
		if seen[f.Name] || f.Extract == nil || f.Doc == "" || f.Type == 0 {
			t.Errorf("bad or duplicate field %q", f.Name)
		}
		if f.Multi != MultiNone && f.Elem == nil {
			t.Errorf("multi-valued field %q has no Elem", f.Name)
		}
		seen[f.Name] = true
	}
}

func TestAppendFlagsFalcoOrder(t *testing.T) {
	cases := []struct {
		table string
		v     uint64
		want  string
	}{
		{"file_flags", OpenFlagsToPPM(0o2000000), "O_RDONLY|O_CLOEXEC"},
		{"file_flags", OpenFlagsToPPM(0o1101), "O_TRUNC|O_CREAT|O_WRONLY"},
		{"file_flags", OpenFlagsToPPM(0o2), "O_RDWR"}, // suppresses O_WRONLY|O_RDONLY
		{"file_flags", PPMORdonly | PPMOCloexec | PPMFDLowerLayer, "O_RDONLY|O_CLOEXEC|FD_LOWER_LAYER"},
		{"file_flags", 0, "O_NONE"},
		{"execve_flags", 0, "0"},
		{"execve_flags", PPMExeWritable | PPMExeLowerLayer, "EXE_WRITABLE|EXE_LOWER_LAYER"},
		{"socket_families", 1, "AF_LOCAL|AF_UNIX"},
		{"socket_families", 16, "AF_ROUTE|AF_NETLINK"},
		{"socket_families", 17, "AF_PACKET"},
		{"ptrace_requests", 16, "PTRACE_ATTACH"},
		{"ptrace_requests", 999, "PTRACE_UNKNOWN"},
	}
	for _, c := range cases {
		if got := string(AppendFlags(nil, Flags(c.table), c.v)); got != c.want {
			t.Errorf("%s %#x: got %s, want %s", c.table, c.v, got, c.want)
		}
	}
	if got := string(AppendCaps(nil, 1<<0|1<<21)); got != "CAP_CHOWN CAP_SYS_ADMIN" {
		t.Errorf("caps %q", got)
	}
	if got := string(AppendJoinPath(nil, "/a/b/", "../c/./d//")); got != "/a/c/d" {
		t.Errorf("join %q", got)
	}
	if got := string(AppendJoinPath(nil, "/", "../../x")); got != "/x" {
		t.Errorf("join root %q", got)
	}
}

func TestPasswdDBCachesPerRoot(t *testing.T) {
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(passwd, group string) {
		os.WriteFile(filepath.Join(root, "etc", "passwd"), []byte(passwd), 0o644)
		os.WriteFile(filepath.Join(root, "etc", "group"), []byte(group), 0o644)
	}
	write("root:x:0:0::/root:/bin/sh\n# comment\nalice:x:1000:1000::/home/alice:/bin/sh\nbad line\n", "staff:x:50:\n")
	db := NewPasswdDB(root)
	host := &Event{Container: &Container{ID: "host"}}
	if n, ok := db.UserName(host, 1000); !ok || n != "alice" {
		t.Fatalf("uid 1000: %q %v", n, ok)
	}
	if n, ok := db.GroupName(host, 50); !ok || n != "staff" {
		t.Fatalf("gid 50: %q %v", n, ok)
	}
	// Cached: a changed file is not re-read on the event path.
	write("bob:x:1000:1000::/:/bin/sh\n", "")
	if n, _ := db.UserName(host, 1000); n != "alice" {
		t.Fatalf("re-read the file: %q", n)
	}
	// Through the field: unknown uid is the literal <NA>, uid 0 is root.
	c := &FieldCtx{Users: db}
	f := LookupField("user.name")
	ev := &Event{UID: 4242, Container: &Container{ID: "host"}}
	if v, ok := f.Extract(c, ev, &FieldArg{}); !ok || v.Str != "<NA>" {
		t.Fatalf("unknown uid: %q", v.Str)
	}
	ev.UID = 0
	if v, _ := f.Extract(c, ev, &FieldArg{}); v.Str != "root" {
		t.Fatalf("uid 0: %q", v.Str)
	}
}

// TestPasswdDBContainerRootNotReady reproduces issue 14 item 5: the first
// event of a container process comes before its root filesystem is ready
// (runc init has not pivoted yet: /proc/PID/root is the host's root, or the
// container's /etc/passwd is not there yet). That miss must not be cached
// for the container's lifetime: the names resolve from the container's root
// once it is ready, and a uid added later resolves on a retry.
func TestPasswdDBContainerRootNotReady(t *testing.T) {
	host := t.TempDir()
	ctrRoot := t.TempDir()
	proc := t.TempDir()
	mkfile := func(dir, name, data string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Join(dir, "etc"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "etc", name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	mkfile(host, "passwd", "root:x:0:0::/root:/bin/sh\nhostuser:x:1000:1000::/:/bin/sh\n")
	mkfile(host, "group", "hostgroup:x:1000:\n")
	if err := os.MkdirAll(filepath.Join(proc, "77"), 0o755); err != nil {
		t.Fatal(err)
	}
	setRoot := func(target string) {
		t.Helper()
		link := filepath.Join(proc, "77", "root")
		os.Remove(link)
		if err := os.Symlink(target, link); err != nil {
			t.Fatal(err)
		}
	}
	db := NewPasswdDB(host)
	db.ProcRoot = proc
	now := time.Unix(1000, 0)
	db.now = func() time.Time { return now }
	ev := &Event{PID: 77, Container: &Container{ID: "abc123"}}

	// runc init before pivot_root: the process's root is the host's.
	setRoot(host)
	if n, ok := db.UserName(ev, 1000); ok {
		t.Fatalf("resolved %q from the host's passwd for a container process", n)
	}
	// The container's root, but its /etc/passwd is not there yet.
	setRoot(ctrRoot)
	if n, ok := db.UserName(ev, 1000); ok {
		t.Fatalf("resolved %q with no container passwd", n)
	}
	// Ready: the names come from the container's files.
	mkfile(ctrRoot, "passwd", "root:x:0:0::/root:/bin/sh\napp:x:1000:1000::/app:/bin/sh\n")
	mkfile(ctrRoot, "group", "appgroup:x:1000:\n")
	if n, ok := db.UserName(ev, 1000); !ok || n != "app" {
		t.Fatalf("uid 1000 after the root is ready: %q %v", n, ok)
	}
	if n, ok := db.GroupName(ev, 1000); !ok || n != "appgroup" {
		t.Fatalf("gid 1000 after the root is ready: %q %v", n, ok)
	}
	// A uid the file does not list: retried, at most once per interval.
	if _, ok := db.UserName(ev, 1001); ok {
		t.Fatal("uid 1001 resolved before it exists")
	}
	mkfile(ctrRoot, "passwd", "root:x:0:0::/root:/bin/sh\napp:x:1000:1000::/app:/bin/sh\nworker:x:1001:1001::/:/bin/sh\n")
	if _, ok := db.UserName(ev, 1001); ok {
		t.Fatal("re-read the file on every miss (want at most once per retry interval)")
	}
	now = now.Add(passwdRetry)
	if n, ok := db.UserName(ev, 1001); !ok || n != "worker" {
		t.Fatalf("uid 1001 after the retry interval: %q %v", n, ok)
	}
}
