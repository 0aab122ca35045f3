package hub

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/vigilsec/vigil/internal/alert"
	"github.com/vigilsec/vigil/internal/fleet"
)

// envHubChild makes the test binary a hub process (hubChild): the JSON of
// a hubChildConfig.
const envHubChild = "VIGIL_TEST_HUB_CHILD"

type hubChildConfig struct {
	NATSURL string
	Store   string
	AckWait time.Duration
}

// hubChild runs a hub over an external NATS until SIGTERM, then prints its
// Stats as JSON. It is what TestHubKilledMidBatch kills.
func hubChild(env string) int {
	var c hubChildConfig
	if err := json.Unmarshal([]byte(env), &c); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	h, err := New(ctx, Options{NATSURL: c.NATSURL, Store: c.Store, Stream: StreamOptions{AckWait: c.AckWait}})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	err = h.Run(ctx)
	h.Close()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	json.NewEncoder(os.Stdout).Encode(h.Stats())
	return 0
}

// TestHubKilledMidBatch: a hub process is killed (SIGKILL, not a clean
// stop) while it holds a batch it took from the stream and had not
// acknowledged, with an agent publishing all along; the next hub process
// gets that batch again after the consumer's ack wait, and every alert the
// agent sent is in the store exactly once.
func TestHubKilledMidBatch(t *testing.T) {
	dir := t.TempDir()
	srv, err := StartNATS(NATSOptions{Name: "kill", Listen: "127.0.0.1:0", StoreDir: filepath.Join(dir, "js")})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown()
	url := srv.ClientURL()
	cfg := hubChildConfig{NATSURL: url, Store: filepath.Join(dir, "hub.db"), AckWait: time.Second}
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cons, _, err := ensureStream(ctx, js, StreamOptions{AckWait: cfg.AckWait})
	if err != nil {
		t.Fatal(err)
	}

	c, err := fleet.Connect(fleet.Options{URL: url, Node: "n1", SpoolDir: filepath.Join(dir, "spool")})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	go c.Run(ctx)
	out := c.Output()
	var mu sync.Mutex
	var sent []string
	write := func(n int) {
		as := make([]*alert.Alert, n)
		mu.Lock()
		for i := range as {
			as[i] = newAlert("n1", len(sent))
			sent = append(sent, as[i].UUID)
		}
		mu.Unlock()
		if err := out.WriteBatch(ctx, as); err != nil {
			t.Error(err)
		}
	}
	// A backlog, so that the hub is busy with batches when it is killed.
	for range 10 {
		write(500)
	}
	// And the agent goes on publishing, 400 alerts/s, until told.
	stopProducing := make(chan struct{})
	produced := make(chan struct{})
	go func() {
		defer close(produced)
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stopProducing:
				return
			case <-tick.C:
				write(20)
			}
		}
	}()

	start := func() (*exec.Cmd, *bytes.Buffer) {
		b, _ := json.Marshal(cfg)
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), envHubChild+"="+string(b))
		var stdout bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		return cmd, &stdout
	}
	first, _ := start()
	// Kill it once it has acknowledged some batches and holds one it has
	// not: alerts delivered to it and not acknowledged.
	deadline := time.Now().Add(30 * time.Second)
	for {
		info, err := cons.Info(ctx)
		if err == nil && info.AckFloor.Stream > 0 && info.NumAckPending > 0 {
			break
		}
		if time.Now().After(deadline) {
			first.Process.Kill()
			first.Wait()
			t.Fatalf("the hub took no batch in 30s: %+v %v", info, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := first.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	first.Wait()
	info, err := cons.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.NumAckPending == 0 {
		t.Fatalf("killed with no batch in hand (nothing delivered unacknowledged): %+v", info)
	}
	killedWith := info.NumAckPending
	stored := func() int64 {
		st, err := OpenStore(ctx, cfg.Store)
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		n, err := st.CountAlerts(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	atKill := stored()

	second, stdout := start()
	time.Sleep(time.Second)
	close(stopProducing)
	<-produced
	mu.Lock()
	total := len(sent)
	mu.Unlock()
	deadline = time.Now().Add(30 * time.Second)
	for {
		if info, err := cons.Info(ctx); err == nil && info.AckFloor.Stream == info.Delivered.Stream && info.NumPending == 0 &&
			info.NumAckPending == 0 && c.Stats().SpoolLen == 0 {
			si, _ := js.Stream(ctx, fleet.Stream)
			if sinfo, err := si.Info(ctx); err == nil && sinfo.State.LastSeq == info.AckFloor.Stream {
				break
			}
		}
		if time.Now().After(deadline) {
			second.Process.Kill()
			second.Wait()
			t.Fatalf("the second hub did not take everything in 30s: %+v", info)
		}
		time.Sleep(20 * time.Millisecond)
	}
	second.Process.Signal(syscall.SIGTERM)
	if err := second.Wait(); err != nil {
		t.Fatalf("second hub: %v", err)
	}
	var st Stats
	if err := json.Unmarshal(stdout.Bytes(), &st); err != nil {
		t.Fatalf("second hub's stats %q: %v", stdout.String(), err)
	}

	// End to end: each alert the agent sent is stored once, none other.
	s, err := OpenStore(ctx, cfg.Store)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	as, err := s.Alerts(ctx, AlertFilter{Limit: 100000})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for _, x := range as {
		var a alert.Alert
		if err := a.UnmarshalJSON(x.Alert); err != nil {
			t.Fatal(err)
		}
		got[a.UUID]++
	}
	lost := 0
	for _, u := range sent {
		if got[u] != 1 {
			lost++
		}
	}
	if lost != 0 || len(as) != total {
		t.Fatalf("%d alerts sent, %d stored, %d not stored exactly once", total, len(as), lost)
	}
	t.Logf("%d alerts sent; hub killed with %d delivered and not acknowledged, %d stored then; the next hub stored %d, dropped %d already stored: each stored once",
		total, killedWith, atKill, st.Alerts, st.Duplicates)
}
