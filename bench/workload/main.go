// Command workload generates the syscall load of bench/sensor.sh: an
// open+close loop, a fork+exec loop and a loopback connect loop. It prints
// its own wall time so that the tracer's start-up is not measured.
package main

import (
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vigilsec/vigil/internal/sensor"
)

func main() {
	w := flag.String("w", "open", "workload: open, exec, connect, mixed (the three at once: n opens, n/20 connects, n/200 execs, each loop in its own goroutine), hold (with -empty: keep the empty programs attached until SIGTERM)")
	n := flag.Int("n", 1000000, "iterations")
	empty := flag.Bool("empty", false, "attach empty BPF programs on the sensor's tracepoints first")
	out := flag.String("o", "", "append the result line to this file (default stdout)")
	flag.Parse()
	if *empty {
		e, err := sensor.AttachEmpty(nil)
		if err != nil {
			fmt.Fprintln(os.Stderr, "workload:", err)
			os.Exit(1)
		}
		defer e.Close()
	}
	if *w == "hold" {
		fmt.Println("attached")
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
		<-sig
		return
	}
	start := time.Now()
	var err error
	switch *w {
	case "open":
		err = openLoop(*n)
	case "exec":
		err = execLoop(*n)
	case "connect":
		err = connectLoop(*n)
	case "mixed":
		err = mixed(*n)
	default:
		err = fmt.Errorf("unknown workload %q", *w)
	}
	el := time.Since(start)
	if err != nil {
		fmt.Fprintln(os.Stderr, "workload:", err)
		os.Exit(1)
	}
	// CPU time (user+sys) of this process and its children: on a shared
	// machine it is a steadier measure than wall time, and the BPF
	// programs run in the syscall's context, so their cost is in sys time.
	var ru, rc unix.Rusage
	unix.Getrusage(unix.RUSAGE_SELF, &ru)
	unix.Getrusage(unix.RUSAGE_CHILDREN, &rc)
	cpu := tv(ru.Utime) + tv(ru.Stime) + tv(rc.Utime) + tv(rc.Stime)
	line := fmt.Sprintf("%s %d %.3f %.3f\n", *w, *n, el.Seconds(), cpu)
	if *out == "" {
		os.Stdout.WriteString(line)
		return
	}
	f, err := os.OpenFile(*out, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		fmt.Fprintln(os.Stderr, "workload:", err)
		os.Exit(1)
	}
	f.WriteString(line)
	f.Close()
}

func tv(t unix.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }

func openLoop(n int) error {
	for i := 0; i < n; i++ {
		fd, err := unix.Open("/etc/hostname", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return err
		}
		unix.Close(fd)
	}
	return nil
}

func execLoop(n int) error {
	for i := 0; i < n; i++ {
		if err := exec.Command("/bin/true").Run(); err != nil {
			return err
		}
	}
	return nil
}

func connectLoop(n int) error {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		return err
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
	addr := ln.Addr().String()
	for i := 0; i < n; i++ {
		c, err := net.Dial("tcp4", addr)
		if err != nil {
			return err
		}
		c.Close()
	}
	return nil
}

// mixed runs the three loops at once, flat out on every core: n opens,
// n/20 connects and n/200 execs.
func mixed(n int) error {
	errs := make(chan error, 3)
	go func() { errs <- openLoop(n) }()
	go func() { errs <- connectLoop(n / 20) }()
	go func() { errs <- execLoop(n / 200) }()
	var first error
	for i := 0; i < 3; i++ {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	return first
}
