// Command vigil-action performs one real security-relevant action for the
// rule captures (rules/testdata/record.sh builds it statically, so it also
// runs inside the busybox test containers):
//
//	vigil-action memfd-exec PROG ARGS...  copy PROG into a memfd and execveat it
//	vigil-action exec PROG ARGS...        plain execve of PROG (benign twin)
//	vigil-action ptrace-attach            PTRACE_ATTACH to a child and detach
//	vigil-action traceme                  PTRACE_TRACEME on itself
//	vigil-action finit-module FILE        finit_module(FILE) (fails on a non-module)
//	vigil-action bpf-load                 load a 2-instruction socket filter
//	vigil-action userfaultfd              userfaultfd(UFFD_USER_MODE_ONLY)
//	vigil-action packet-socket            socket(AF_PACKET, SOCK_RAW)
//	vigil-action udp-socket               socket(AF_INET, SOCK_DGRAM) (benign twin)
//	vigil-action listen PORT              accept one TCP connection on 127.0.0.1:PORT (10 s at most)
//	vigil-action pty PROG ARGS...         run PROG in a new session on a new pseudo-terminal
//	vigil-action http-serve PORT DIR N    serve DIR over HTTP on 127.0.0.1:PORT for N requests (10 s at most)
package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: vigil-action ACTION [ARGS]")
		os.Exit(2)
	}
	if err := run(os.Args[1], os.Args[2:]); err != nil {
		fmt.Fprintf(os.Stderr, "vigil-action %s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
}

func run(action string, args []string) error {
	switch action {
	case "memfd-exec":
		b, err := os.ReadFile(args[0])
		if err != nil {
			return err
		}
		fd, err := unix.MemfdCreate("payload", 0)
		if err != nil {
			return fmt.Errorf("memfd_create: %w", err)
		}
		if _, err := unix.Write(fd, b); err != nil {
			return err
		}
		argv := append([]string{args[0]}, args[1:]...)
		return execveat(fd, argv)
	case "listen":
		l, err := net.Listen("tcp", "127.0.0.1:"+args[0])
		if err != nil {
			return err
		}
		defer l.Close()
		l.(*net.TCPListener).SetDeadline(time.Now().Add(10 * time.Second))
		c, err := l.Accept()
		if err != nil {
			return err
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(3 * time.Second))
		io.Copy(io.Discard, c)
		return nil
	case "pty":
		return runOnPty(args)
	case "http-serve":
		return httpServe(args[0], args[1], args[2])
	case "exec":
		return syscall.Exec(args[0], args, os.Environ())
	case "ptrace-attach":
		c := exec.Command("/bin/sleep", "5")
		if err := c.Start(); err != nil {
			return err
		}
		defer c.Process.Kill()
		if err := unix.PtraceAttach(c.Process.Pid); err != nil {
			return fmt.Errorf("attach: %w", err)
		}
		var ws unix.WaitStatus
		unix.Wait4(c.Process.Pid, &ws, 0, nil)
		return unix.PtraceDetach(c.Process.Pid)
	case "traceme":
		_, _, e := unix.RawSyscall(unix.SYS_PTRACE, unix.PTRACE_TRACEME, 0, 0)
		if e != 0 {
			return fmt.Errorf("ptrace(PTRACE_TRACEME): %w", e)
		}
		return nil
	case "finit-module":
		f, err := os.Open(args[0])
		if err != nil {
			return err
		}
		defer f.Close()
		err = unix.FinitModule(int(f.Fd()), "", 0)
		fmt.Fprintf(os.Stderr, "finit_module: %v\n", err)
		return nil
	case "bpf-load":
		// r0 = 0; exit
		insns := [2]uint64{0x00000000000000b7, 0x0000000000000095}
		license := []byte("GPL\x00")
		attr := struct {
			progType, insnCnt uint32
			insns, license    uint64
		}{unix.BPF_PROG_TYPE_SOCKET_FILTER, 2, uint64(uintptr(unsafe.Pointer(&insns[0]))), uint64(uintptr(unsafe.Pointer(&license[0])))}
		fd, _, e := unix.Syscall(unix.SYS_BPF, unix.BPF_PROG_LOAD, uintptr(unsafe.Pointer(&attr)), unsafe.Sizeof(attr))
		if e != 0 {
			return fmt.Errorf("bpf(BPF_PROG_LOAD): %w", e)
		}
		unix.Close(int(fd))
		return nil
	case "userfaultfd":
		const uffdUserModeOnly = 1
		fd, _, e := unix.Syscall(unix.SYS_USERFAULTFD, unix.O_CLOEXEC|uffdUserModeOnly, 0, 0)
		if e != 0 {
			return fmt.Errorf("userfaultfd: %w", e)
		}
		unix.Close(int(fd))
		return nil
	case "packet-socket":
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW, 0)
		if err != nil {
			return fmt.Errorf("socket(AF_PACKET): %w", err)
		}
		unix.Close(fd)
		return nil
	case "udp-socket":
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM, 0)
		if err != nil {
			return fmt.Errorf("socket(AF_INET): %w", err)
		}
		unix.Close(fd)
		return nil
	}
	return fmt.Errorf("unknown action")
}

func execveat(fd int, argv []string) error {
	path, _ := unix.BytePtrFromString("")
	av, err := cstrings(argv)
	if err != nil {
		return err
	}
	env, err := cstrings(os.Environ())
	if err != nil {
		return err
	}
	_, _, e := unix.Syscall6(unix.SYS_EXECVEAT, uintptr(fd), uintptr(unsafe.Pointer(path)),
		uintptr(unsafe.Pointer(&av[0])), uintptr(unsafe.Pointer(&env[0])), unix.AT_EMPTY_PATH, 0)
	return fmt.Errorf("execveat: %w", e)
}

func cstrings(ss []string) ([]*byte, error) {
	out := make([]*byte, 0, len(ss)+1)
	for _, s := range ss {
		p, err := unix.BytePtrFromString(s)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return append(out, nil), nil
}

func runOnPty(argv []string) error {
	ptm, err := os.OpenFile("/dev/ptmx", os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer ptm.Close()
	if err := unix.IoctlSetPointerInt(int(ptm.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		return fmt.Errorf("unlockpt: %w", err)
	}
	n, err := unix.IoctlGetInt(int(ptm.Fd()), unix.TIOCGPTN)
	if err != nil {
		return fmt.Errorf("ptsname: %w", err)
	}
	pts, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		return err
	}
	defer pts.Close()
	go func() {
		b := make([]byte, 4096)
		for {
			n, err := ptm.Read(b)
			if err != nil {
				return
			}
			os.Stdout.Write(b[:n])
		}
	}()
	c := exec.Command(argv[0], argv[1:]...)
	c.Stdin, c.Stdout, c.Stderr = pts, pts, pts
	c.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	return c.Run()
}

// httpServe serves dir on 127.0.0.1:port until n requests were answered or
// 10 s passed: the download source of the stateful captures.
func httpServe(port, dir, n string) error {
	var want int
	if _, err := fmt.Sscan(n, &want); err != nil {
		return err
	}
	l, err := net.Listen("tcp", "127.0.0.1:"+port)
	if err != nil {
		return err
	}
	done := make(chan struct{}, want)
	files := http.FileServer(http.Dir(dir))
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		files.ServeHTTP(w, r)
		done <- struct{}{}
	})}
	go srv.Serve(l)
	deadline := time.After(10 * time.Second)
	for i := 0; i < want; i++ {
		select {
		case <-done:
		case <-deadline:
			srv.Close()
			return fmt.Errorf("served %d of %d requests", i, want)
		}
	}
	time.Sleep(100 * time.Millisecond) // the last response reaches the client
	return srv.Close()
}
