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
	"log"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vigilsec/vigil/internal/alert"
	"github.com/vigilsec/vigil/internal/fleet"
)

func main() {
	mode := flag.String("mode", "nodes", "nodes or opens")
	url := flag.String("url", "nats://127.0.0.1:4222", "hub NATS URL (nodes)")
	nodes := flag.Int("nodes", 1000, "simulated nodes (nodes)")
	rate := flag.Float64("rate", 5, "alerts/s per node (nodes), or opens/s (opens)")
	hb := flag.Duration("heartbeat", 10*time.Second, "heartbeat interval (nodes)")
	dur := flag.Duration("duration", 60*time.Second, "how long")
	dir := flag.String("dir", "", "spool directories go here (nodes)")
	file := flag.String("file", "", "file to open (opens)")
	flag.Parse()
	ctx, cancel := context.WithTimeout(context.Background(), *dur)
	defer cancel()
	switch *mode {
	case "opens":
		opens(ctx, *file, *rate)
	case "nodes":
		simulate(ctx, *url, *nodes, *rate, *hb, *dir)
	default:
		log.Fatalf("unknown mode %q", *mode)
	}
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
