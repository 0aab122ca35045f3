package pipeline

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vigilsec/vigil/internal/alert"
	"github.com/vigilsec/vigil/internal/engine"
	"github.com/vigilsec/vigil/internal/event"
	"github.com/vigilsec/vigil/internal/rules"
	"github.com/vigilsec/vigil/internal/sensor"
	"github.com/vigilsec/vigil/internal/state"
	"github.com/vigilsec/vigil/internal/testkernel"
)

// fieldRules are the rules of TestFieldsOnRealKernel: each holds only when
// its fields have the values the script's syscalls give them. @DIR@,
// @PORT@ and @T@ are replaced by the test.
const fieldRules = `
- rule: mkdir
  desc: fs.path.name, event counters and timing
  condition: >
    evt.type in (mkdir, mkdirat) and fs.path.name = @DIR@/sub and fs.path.nameraw = sub and evt.count = 1
    and evt.count.error = 0 and evt.count.error.other = 0 and evt.count.exit = 1 and not evt.count.error.file exists
    and evt.latency = 0 and evt.latency.human = 0ns and evt.wait_latency = 0 and evt.is_wait = false
    and evt.info contains sub and evt.rawarg.res = 0 and evt.reltime > 0 and evt.reltime.s < 60
    and evt.deltatime > 0 and evt.deltatime.s < 60 and evt.deltatime.ns < 1000000000 and evt.reltime.ns < 1000000000
    and evt.around[@T@] = 60000 and not evt.around[1000] = 60000
  output: mkdir %fs.path.name rel=%evt.reltime delta=%evt.deltatime
  priority: INFO
- rule: rename
  desc: fs.path.source/target and evt.abspath on rename
  condition: >
    evt.type in (rename, renameat, renameat2) and fs.path.source = @DIR@/sub and fs.path.sourceraw = sub
    and fs.path.target = @DIR@/sub2 and fs.path.targetraw = sub2 and evt.abspath.src = @DIR@/sub and evt.abspath.dst = @DIR@/sub2
  output: rename %fs.path.source %fs.path.target
  priority: INFO
- rule: symlink
  desc: fs.path.* of symlink
  condition: evt.type in (symlink, symlinkat) and fs.path.source = @DIR@/lnk and fs.path.targetraw = sub2 and evt.abspath = @DIR@/lnk
  output: symlink %fs.path.source -> %fs.path.targetraw
  priority: INFO
- rule: unlinkat dirfd
  desc: evt.abspath resolves a dirfd through the fd table; fs.path.name uses the cwd, as Falco's does
  condition: evt.type = unlinkat and evt.abspath = @DIR@/sub2/x and fs.path.nameraw = x and fs.path.name = @DIR@/x
  output: unlinkat %evt.abspath %fs.path.name
  priority: INFO
- rule: open
  desc: fd, process and user fields of an open
  condition: >
    evt.type = openat and fd.name = @DIR@/f and fd.types intersects (file) and fd.types[0] in (file, pipe, unix, ipv4, ipv6)
    and fd.uid exists and proc.nthreads = 1 and proc.nchilds = 0 and proc.fdopencount > 0 and user.homedir = /root and user.shell exists
    and evt.count.error.file = 0 and fd.is_server = false and evt.rawarg.flags > 0 and evt.rawarg.name = ./f
  output: open %fd.name types=%fd.types uid=%fd.uid home=%user.homedir shell=%user.shell threads=%proc.nthreads
  priority: INFO
- rule: open existing file
  desc: fd.dev/fd.ino read by the sensor at open exit equal stat(2)'s; the file existed
  condition: >
    evt.type = openat and fd.name = @DIR@/f and evt.is_open_create = false and fd.ino = @INO@ and fd.dev = @DEV@
    and fd.dev.major = @MAJOR@ and fd.dev.minor = @MINOR@ and evt.arg.ino = @INO@ and evt.arg.dev = @DEV@
  output: open %fd.name ino=%fd.ino dev=%fd.dev
  priority: INFO
- rule: O_CREAT open of an existing file
  desc: evt.is_open_create is false when O_CREAT found the file
  condition: evt.type = openat and fd.name = @DIR@/f and evt.arg.flags contains O_CREAT and evt.is_open_create = false and not evt.arg.flags contains O_F_CREATED
  output: append %fd.name flags=%evt.arg.flags
  priority: INFO
- rule: open that creates
  desc: evt.is_open_create on an open that created its file; fd.ino/fd.dev compared with stat(2) by the test
  condition: evt.type = openat and fd.name = @DIR@/newfile and evt.is_open_create = true and evt.arg.flags contains O_F_CREATED
  output: created ino=%fd.ino dev=%fd.dev major=%fd.dev.major minor=%fd.dev.minor
  priority: INFO
- rule: close keeps the file's identity
  desc: the fd table carries fd.ino/fd.dev from the open to the close
  condition: evt.type = close and fd.name = @DIR@/f and fd.ino = @INO@ and fd.dev = @DEV@ and evt.is_open_create = false
  output: close %fd.name ino=%fd.ino
  priority: INFO
- rule: busy thread
  desc: thread.cpu* and thread.totexectime of a shell that spun for a second before opening a file; proc.fdusage of its fds
  condition: >
    evt.type = openat and fd.name = /etc/hostname and proc.name = sh and thread.cpu > 50 and thread.cpu.user > 25
    and thread.cpu.system >= 0 and proc.fdusage > 0 and proc.fdusage < 100 and thread.totexectime > 500000000
  output: busy cpu=%thread.cpu user=%thread.cpu.user system=%thread.cpu.system fdusage=%proc.fdusage fds=%proc.fdopencount limit=%proc.fdlimit run=%thread.totexectime
  priority: INFO
- rule: failed open
  desc: error counters
  condition: evt.type = openat and fd.name = @DIR@/nonexistent and evt.count.error = 1 and evt.count.error.file = 1 and evt.rawarg.fd < 0 and fd.uid endswith -1
  output: failed open %evt.res
  priority: INFO
- rule: exec ctime after pidns start
  desc: what the sensor reads at exec
  condition: evt.type = execve and proc.exepath = @DIR@/mytrue and proc.exe_ino.ctime_duration_pidns_start > 0
  output: exec ctime after pidns start vm=%proc.vmsize rss=%proc.vmrss swap=%proc.vmswap pf=%thread.pfminor/%thread.pfmajor fdlimit=%proc.fdlimit pidns=%proc.pidns_init_start_ts d=%proc.exe_ino.ctime_duration_pidns_start cpu=%evt.cpu
  priority: INFO
- rule: exec pidns start
  desc: what the sensor reads at exec
  condition: evt.type = execve and proc.exepath = @DIR@/mytrue and proc.pidns_init_start_ts > 0
  output: exec pidns start vm=%proc.vmsize rss=%proc.vmrss swap=%proc.vmswap pf=%thread.pfminor/%thread.pfmajor fdlimit=%proc.fdlimit pidns=%proc.pidns_init_start_ts d=%proc.exe_ino.ctime_duration_pidns_start cpu=%evt.cpu
  priority: INFO
- rule: exec vmsize
  desc: what the sensor reads at exec
  condition: evt.type = execve and proc.exepath = @DIR@/mytrue and proc.vmsize > 0 and thread.vmsize > 0
  output: exec vmsize vm=%proc.vmsize rss=%proc.vmrss swap=%proc.vmswap pf=%thread.pfminor/%thread.pfmajor fdlimit=%proc.fdlimit pidns=%proc.pidns_init_start_ts d=%proc.exe_ino.ctime_duration_pidns_start cpu=%evt.cpu
  priority: INFO
- rule: exec vmrss
  desc: what the sensor reads at exec
  condition: evt.type = execve and proc.exepath = @DIR@/mytrue and proc.vmrss <= val(proc.vmsize) and thread.vmrss <= val(thread.vmsize)
  output: exec vmrss vm=%proc.vmsize rss=%proc.vmrss swap=%proc.vmswap pf=%thread.pfminor/%thread.pfmajor fdlimit=%proc.fdlimit pidns=%proc.pidns_init_start_ts d=%proc.exe_ino.ctime_duration_pidns_start cpu=%evt.cpu
  priority: INFO
- rule: exec vmswap
  desc: what the sensor reads at exec
  condition: evt.type = execve and proc.exepath = @DIR@/mytrue and proc.vmswap >= 0
  output: exec vmswap vm=%proc.vmsize rss=%proc.vmrss swap=%proc.vmswap pf=%thread.pfminor/%thread.pfmajor fdlimit=%proc.fdlimit pidns=%proc.pidns_init_start_ts d=%proc.exe_ino.ctime_duration_pidns_start cpu=%evt.cpu
  priority: INFO
- rule: exec page faults
  desc: what the sensor reads at exec
  condition: evt.type = execve and proc.exepath = @DIR@/mytrue and thread.pfminor > 0 and thread.pfmajor >= 0
  output: exec page faults vm=%proc.vmsize rss=%proc.vmrss swap=%proc.vmswap pf=%thread.pfminor/%thread.pfmajor fdlimit=%proc.fdlimit pidns=%proc.pidns_init_start_ts d=%proc.exe_ino.ctime_duration_pidns_start cpu=%evt.cpu
  priority: INFO
- rule: exec fdlimit
  desc: what the sensor reads at exec
  condition: evt.type = execve and proc.exepath = @DIR@/mytrue and proc.fdlimit > 0
  output: exec fdlimit vm=%proc.vmsize rss=%proc.vmrss swap=%proc.vmswap pf=%thread.pfminor/%thread.pfmajor fdlimit=%proc.fdlimit pidns=%proc.pidns_init_start_ts d=%proc.exe_ino.ctime_duration_pidns_start cpu=%evt.cpu
  priority: INFO
- rule: exec cpu
  desc: what the sensor reads at exec
  condition: evt.type = execve and proc.exepath = @DIR@/mytrue and evt.cpu >= 0 and evt.cpu < 4096
  output: exec cpu vm=%proc.vmsize rss=%proc.vmrss swap=%proc.vmswap pf=%thread.pfminor/%thread.pfmajor fdlimit=%proc.fdlimit pidns=%proc.pidns_init_start_ts d=%proc.exe_ino.ctime_duration_pidns_start cpu=%evt.cpu
  priority: INFO
- rule: write buffer
  desc: the write hook and its buffer, on because this rule reads evt.buffer on write
  condition: >
    evt.type = write and evt.buffer contains VIGILSECRET and fd.name = @DIR@/out and evt.arg.data startswith VIGILSECRET
    and evt.is_io_write = true and evt.buflen = 20 and evt.rawarg.size > 0 and evt.is_syslog = false
  output: write %evt.arg.data to %fd.name
  priority: INFO
- rule: syslog write
  desc: a write to an fd whose name contains /dev/log
  condition: evt.type = write and evt.is_syslog = true and fd.name = @DIR@/dev/log
  output: syslog write %evt.buffer
  priority: INFO
- rule: connect
  desc: protocol fields of a TCP connection
  condition: >
    evt.type = connect and fd.sport = @PORT@ and fd.sproto = "@PORT@" and fd.rproto = "@PORT@" and fd.proto = @PORT@
    and fd.cproto exists and fd.lproto exists and fd.is_server = false and evt.count.error.net = 0
  output: connect %fd.name sproto=%fd.sproto cproto=%fd.cproto
  priority: INFO
`

// TestFieldsOnRealKernel runs a script under the real sensor, through the
// pipeline with a process table and the rules engine, and checks that each
// rule of fieldRules fires: the fields of Falco's reference that Vigil
// derives (fs.path.*, evt.abspath through the fd table, the evt.count.*
// counters, timing, raw arguments, fd protocols, fd.types, thread counts,
// the user's home and shell) have their values on real events.
func TestFieldsOnRealKernel(t *testing.T) {
	testkernel.RequireRoot(t)
	testkernel.SkipIfErr(t, sensor.EnsureTracefs())
	dir, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "f"), []byte("x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var fst unix.Stat_t
	if err := unix.Stat(filepath.Join(dir, "f"), &fst); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	u := func(v uint64) string { return strconv.FormatUint(v, 10) }
	y := strings.NewReplacer("@INO@", u(fst.Ino), "@DEV@", u(fst.Dev), "@MAJOR@", u(uint64(unix.Major(fst.Dev))),
		"@MINOR@", u(uint64(unix.Minor(fst.Dev))), "@DIR@", dir, "@PORT@", port, "@T@", strconv.FormatInt(time.Now().UnixNano(), 10)).Replace(fieldRules)
	rs := rules.LoadAndCompile(nil, rules.File{Name: "fields.yaml", Data: []byte(y)})
	if err := rs.Err(); err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{}
	for _, r := range rs.Rules {
		want[r.Name] = true
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	script := "cd " + dir + " && mkdir sub && mv sub sub2 && touch sub2/x && ln -s sub2 lnk && cat ./f >/dev/null && : >> f && : > newfile && " +
		exe + " unlinkat " + dir + "/sub2 x && rm -r sub2 && echo VIGILSECRET-payload > out && mkdir dev && echo hi > dev/log && cp /bin/true mytrue && ./mytrue; cat ./nonexistent 2>/dev/null; busybox nc 127.0.0.1 " + port + " </dev/null; " +
		"nice -n -20 sh -c 'i=0; while [ $i -lt 600000 ]; do i=$((i+1)); done; read x </etc/hostname; sleep 1'; true"
	tmpl := exec.Command("sh")
	tmpl.Env = append(os.Environ(), envHelper+"=1")
	h, err := sensor.StartHeld([]string{"sh", "-c", script}, tmpl)
	if err != nil {
		t.Fatal(err)
	}
	tbl, err := state.New(state.Config{})
	if err != nil {
		h.Abort()
		t.Fatal(err)
	}
	var (
		mu    sync.Mutex
		fired = map[string]string{}
	)
	p := New(Options{Table: tbl, Engine: engine.New(rs, &engine.Options{Hostname: "h", Users: event.NewPasswdDB("/")}),
		OnAlert: func(_ *event.Event, m *engine.Match, _ *alert.Alert) {
			mu.Lock()
			fired[m.Rule.Name] = m.Output
			mu.Unlock()
		}})
	s, err := sensor.New(p.SensorOptions(sensor.Options{FilterPIDTree: h.Pid(), ExcludeSelf: true}))
	if err != nil {
		h.Abort()
		testkernel.SkipIfErr(t, err)
	}
	defer s.Close()
	if err := tbl.Seed(); err != nil {
		h.Abort()
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx, s) }()
	if err := h.Release(); err != nil {
		t.Fatal(err)
	}
	h.Cmd.Wait()
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		mu.Lock()
		n := len(fired)
		mu.Unlock()
		if n == len(want) {
			break
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	for name := range want {
		if out, ok := fired[name]; !ok {
			t.Errorf("rule %q did not fire", name)
		} else {
			t.Logf("%s: %s", name, out)
		}
	}
	var nst unix.Stat_t
	if err := unix.Stat(filepath.Join(dir, "newfile"), &nst); err != nil {
		t.Fatal(err)
	}
	wantOut := "created ino=" + u(nst.Ino) + " dev=" + u(nst.Dev) + " major=" + u(uint64(unix.Major(nst.Dev))) + " minor=" + u(uint64(unix.Minor(nst.Dev)))
	if got := fired["open that creates"]; got != "" && got != wantOut {
		t.Errorf("created file: got %q, stat(2) says %q", got, wantOut)
	}
}
