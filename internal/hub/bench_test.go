package hub

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/vigilsec/vigil/internal/fleet"
)

// BenchmarkIngest measures the hub's ingest: b.N alerts already in the
// stream (published by 10 nodes), taken by the durable consumer and stored,
// in alerts/s, with SQLite and with PostgreSQL; the baseline is the same
// store's AddAlerts alone (no NATS) on the same alerts in the same run, so
// ingest/store is the share of the store's rate the hub keeps.
//
//	go test -bench Ingest -run XXX -benchtime 50000x ./internal/hub
func BenchmarkIngest(b *testing.B) {
	for _, kind := range []string{"sqlite", "postgres"} {
		b.Run(kind, func(b *testing.B) {
			dir := b.TempDir()
			dsn := filepath.Join(dir, "hub.db")
			dsnBase := filepath.Join(dir, "base.db")
			if kind == "postgres" {
				dsn, dsnBase = postgresDSN(b), postgresDSN(b)
			}
			in := make([]Incoming, b.N)
			t0 := time.Now()
			for i := range in {
				in[i] = testAlert(i, fmt.Sprint("rule ", i%20), "ns", t0)
				in[i].Node = fmt.Sprint("node", i%10)
			}
			// Baseline: the store alone, batches of fetchBatch.
			base, err := OpenStore(context.Background(), dsnBase)
			if err != nil {
				b.Fatal(err)
			}
			start := time.Now()
			for i := 0; i < len(in); i += fetchBatch {
				if _, err := base.AddAlerts(context.Background(), in[i:min(i+fetchBatch, len(in))]); err != nil {
					b.Fatal(err)
				}
			}
			storeRate := float64(len(in)) / time.Since(start).Seconds()
			base.Close()

			h, err := New(context.Background(), Options{Store: dsn,
				NATS: NATSOptions{Name: "hub", Listen: "127.0.0.1:0", StoreDir: filepath.Join(dir, "js")}})
			if err != nil {
				b.Fatal(err)
			}
			defer h.Close()
			nc, err := nats.Connect(h.NATSURL())
			if err != nil {
				b.Fatal(err)
			}
			defer nc.Close()
			js, _ := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(4096))
			for _, x := range in {
				for {
					_, err := js.PublishAsync(fleet.AlertSubject(x.Node), x.JSON, jetstream.WithMsgID(x.Alert.UUID))
					if err == nil {
						break
					}
					if !errors.Is(err, jetstream.ErrTooManyStalledMsgs) {
						b.Fatal(err)
					}
					<-js.PublishAsyncComplete()
				}
			}
			select {
			case <-js.PublishAsyncComplete():
			case <-time.After(5 * time.Minute):
				b.Fatal("publish did not complete")
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			b.ResetTimer()
			start = time.Now()
			go h.Run(ctx)
			for {
				if h.Stats().Alerts >= uint64(b.N) {
					break
				}
				time.Sleep(5 * time.Millisecond)
			}
			el := time.Since(start)
			b.StopTimer()
			rate := float64(b.N) / el.Seconds()
			b.ReportMetric(rate, "alerts/s")
			b.ReportMetric(storeRate, "store-alone-alerts/s")
			b.ReportMetric(rate/storeRate, "ingest/store")
			cancel()
		})
	}
}
