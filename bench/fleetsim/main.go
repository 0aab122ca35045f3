// Command fleetsim is the fleet benchmarks' load: -mode nodes simulates
// many agents publishing to a hub (each its own NATS connection, spool,
// heartbeats and alerts at a rate); -mode opens opens a file at a rate,
// for a rule of a real agent to raise alerts at that rate. See
// bench/fleet.sh.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"path/filepath"
	"runtime/pprof"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/vigilsec/vigil/internal/alert"
	"github.com/vigilsec/vigil/internal/fleet"
	"github.com/vigilsec/vigil/internal/output"
	"github.com/vigilsec/vigil/internal/rules"
)

func main() {
	mode := flag.String("mode", "nodes", "nodes, opens or client")
	url := flag.String("url", "nats://127.0.0.1:4222", "hub NATS URL (nodes)")
	nodes := flag.Int("nodes", 1000, "simulated nodes (nodes)")
	rate := flag.Float64("rate", 5, "alerts/s per node (nodes), or opens/s (opens)")
	hb := flag.Duration("heartbeat", 10*time.Second, "heartbeat interval (nodes)")
	dur := flag.Duration("duration", 60*time.Second, "how long")
	dir := flag.String("dir", "", "spool directories go here (nodes)")
	file := flag.String("file", "", "file to open (opens)")
	prof := flag.String("cpuprofile", "", "write a CPU profile here")
	flag.Parse()
	if *prof != "" {
		f, err := os.Create(*prof)
		if err != nil {
			log.Fatal(err)
		}
		pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}
	ctx, cancel := context.WithTimeout(context.Background(), *dur)
	defer cancel()
	switch *mode {
	case "opens":
		opens(ctx, *file, *rate)
	case "nodes":
		simulate(ctx, *url, *nodes, *rate, *hb, *dir)
	case "client":
		clientCost(*url, *rate, *dur, *dir)
	default:
		log.Fatalf("unknown mode %q", *mode)
	}
}

// cpuSeconds is this process's user+system CPU time.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

// clientCost measures the agent's side of --hub alone, in this process: one
// fleet client behind an output.Dispatcher as in the agent, idle for dur
// (heartbeats, rules watch, spool ticks: the baseline), then fed rate
// alerts/s for dur, with their incidents (two per alert, as the agent's
// flight recorder sends them); CPU % of one core of each phase.
func clientCost(url string, rate float64, dur time.Duration, dir string) {
	c, err := fleet.Connect(fleet.Options{URL: url, Node: "overhead", SpoolDir: filepath.Join(dir, "overhead"),
		Heartbeat:  func() fleet.Heartbeat { return fleet.Heartbeat{Time: time.Now().UTC(), Version: "fleetsim"} },
		ApplyRules: func(*fleet.Bundle) (rules.Diagnostics, error) { return nil, nil }, IncidentHold: 7 * time.Second})
	if err != nil {
		log.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go c.Run(ctx)
	time.Sleep(2 * time.Second) // connected, watch set up
	c0, t0 := cpuSeconds(), time.Now()
	time.Sleep(dur)
	idle := (cpuSeconds() - c0) / time.Since(t0).Seconds()
	// feed sends rate alerts/s into d for dur, and when incidents each
	// alert's incident twice, as the agent's flight recorder does (before
	// the after window, then complete; 16 events each); CPU share of one
	// core.
	feed := func(d *output.Dispatcher, incidents func(*alert.Incident)) float64 {
		tick := time.NewTicker(time.Duration(float64(time.Second) / rate))
		defer tick.Stop()
		c0, t0 := cpuSeconds(), time.Now()
		for n := 0; time.Since(t0) < dur; n++ {
			<-tick.C
			uuid := alert.NewUUID()
			d.Send(&alert.Alert{UUID: uuid, Time: time.Now().UTC(), Rule: "Simulated rule", Priority: alert.PriorityWarning,
				Source: alert.SourceSyscall, Hostname: "overhead", Output: fmt.Sprintf("simulated alert %d", n),
				OutputFields: []alert.Field{{Name: "proc.name", Value: "cat"}, {Name: "fd.name", Value: "/etc/shadow"}},
				Vigil: alert.Context{Count: 1, Container: &alert.Container{ID: "0123456789ab", Image: "busybox:1.36"},
					Process: []alert.Process{{PID: 42, Comm: "cat", ExePath: "/usr/bin/cat", Args: []string{"/etc/shadow"}}}}})
			if incidents != nil {
				evs := make([]alert.IncidentEvent, 16)
				for i := range evs {
					evs[i] = alert.IncidentEvent{Time: time.Now().UnixNano(), Type: "openat", PID: 42, PPID: 1, Comm: "cat",
						What: fmt.Sprintf("/usr/lib/x86_64-linux-gnu/lib%d.so.6", i), Ret: 3, Alert: i == 8}
				}
				incidents(&alert.Incident{UUID: uuid, Events: evs[:9]})
				incidents(&alert.Incident{UUID: uuid, Complete: true, Events: evs})
			}
		}
		return (cpuSeconds() - c0) / time.Since(t0).Seconds()
	}
	closeD := func(d *output.Dispatcher) {
		dctx, dcancel := context.WithTimeout(context.Background(), 10*time.Second)
		d.Close(dctx)
		dcancel()
	}
	// Baseline: the same alerts to a JSON output that discards them.
	base := output.NewDispatcher(output.Options{})
	base.Add(output.NewWriter("discard", io.Discard, output.FormatJSON), alert.PriorityDebug, 4096)
	without := feed(base, nil)
	closeD(base)
	d := output.NewDispatcher(output.Options{})
	d.Add(c.Output(), alert.PriorityDebug, 4096)
	with := feed(d, c.SendIncident)
	closeD(d)
	st := c.Stats()
	c.Close()
	fmt.Printf("client idle: cpu=%.3f%%; %.0f alerts/s to a discarding JSON output: cpu=%.3f%%; to the hub: cpu=%.3f%%; cost of --hub=%.3f%% of one core (%.1f us/alert); published=%d spooled=%d\n",
		100*idle, rate, 100*without, 100*with, 100*(with-without), 1e6*(with-without)/rate, st.Published, st.Spooled)
}

// opens opens file rate times a second until ctx ends.
func opens(ctx context.Context, file string, rate float64) {
	t := time.NewTicker(time.Duration(float64(time.Second) / rate))
	defer t.Stop()
	n := 0
	for {
		select {
		case <-ctx.Done():
			fmt.Printf("opens=%d\n", n)
			return
		case <-t.C:
			if f, err := os.Open(file); err == nil {
				f.Close()
				n++
			}
		}
	}
}

func simulate(ctx context.Context, url string, n int, rate float64, hb time.Duration, dir string) {
	var sent, failed atomic.Uint64
	var wg sync.WaitGroup
	clients := make([]*fleet.Client, n)
	for i := range n {
		node := fmt.Sprintf("sim%04d", i)
		c, err := fleet.Connect(fleet.Options{URL: url, Node: node, SpoolDir: filepath.Join(dir, node), HeartbeatInterval: hb,
			Heartbeat: func() fleet.Heartbeat {
				return fleet.Heartbeat{Time: time.Now().UTC(), Version: "fleetsim", EventsPerSec: 1000, Lost: map[string]uint64{}}
			}})
		if err != nil {
			log.Fatal(err)
		}
		clients[i] = c
	}
	start := time.Now()
	for i, c := range clients {
		wg.Add(2)
		go func() { defer wg.Done(); c.Run(ctx) }()
		go func() {
			defer wg.Done()
			out := c.Output()
			// Spread the nodes' ticks over the period.
			period := time.Duration(float64(time.Second) / rate)
			select {
			case <-ctx.Done():
				return
			case <-time.After(period * time.Duration(i) / time.Duration(n)):
			}
			t := time.NewTicker(period)
			defer t.Stop()
			for seq := 0; ; seq++ {
				select {
				case <-ctx.Done():
					return
				case <-t.C:
				}
				a := &alert.Alert{UUID: alert.NewUUID(), Time: time.Now().UTC(), Rule: "Simulated rule", Priority: alert.PriorityWarning,
					Source: alert.SourceSyscall, Hostname: fmt.Sprintf("sim%04d", i), Output: fmt.Sprintf("simulated alert %d", seq),
					Vigil: alert.Context{Count: 1, Container: &alert.Container{ID: "0123456789ab", Image: "busybox:1.36", PodNamespace: "default", PodName: "sim"}}}
				if err := out.Write(ctx, a); err != nil {
					failed.Add(1)
				} else {
					sent.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	el := time.Since(start).Seconds()
	// What the spools hold (acknowledgements that came late) is sent now,
	// as an agent does at shutdown.
	fctx, fcancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer fcancel()
	var spooled uint64
	left := 0
	for _, c := range clients {
		c.Flush(fctx)
		st := c.Stats()
		spooled += st.Spooled
		left += st.SpoolLen
		c.Close()
	}
	fmt.Printf("nodes=%d seconds=%.0f alerts_sent=%d alerts_per_s=%.0f failed=%d spooled=%d left_in_spools=%d\n",
		n, el, sent.Load(), float64(sent.Load())/el, failed.Load(), spooled, left)
}
