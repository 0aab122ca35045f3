package output

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/alert"
)

// TestHTTPUpdatesOff: with the HTTP output's updates off, the update of a
// coalesced alert (Update true, same UUID, the final count) is not posted:
// falcosidekick, which replaces uuid and drops the vigil object, then never
// sees a repeat as a second identical alert. With updates on (the default)
// both are posted and the update says so in output_fields.
func TestHTTPUpdatesOff(t *testing.T) {
	for _, off := range []bool{false, true} {
		var rcv receiver
		srv := httptest.NewServer(http.HandlerFunc(rcv.handler))
		h, err := NewHTTP(HTTPOptions{URL: srv.URL, Workers: 1, NoUpdates: off})
		if err != nil {
			t.Fatal(err)
		}
		d := NewDispatcher(Options{})
		d.Add(h, alert.PriorityDebug, 16)
		first := &alert.Alert{UUID: "u-1", Rule: "R", Priority: alert.PriorityWarning, Output: "x", Time: time.Unix(1, 0), Vigil: alert.Context{Count: 1}}
		update := *first
		update.Vigil.Update, update.Vigil.Count = true, 5
		d.Send(first)
		d.Send(&update)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if err := d.Close(ctx); err != nil {
			t.Fatal(err)
		}
		cancel()
		srv.Close()
		want := 2
		if off {
			want = 1
		}
		if rcv.count() != want {
			t.Fatalf("updates off=%v: %d posts, want %d", off, rcv.count(), want)
		}
		var got struct {
			OutputFields map[string]any `json:"output_fields"`
		}
		if err := json.Unmarshal(rcv.bodies[want-1], &got); err != nil {
			t.Fatal(err)
		}
		if upd := got.OutputFields["vigil.update"]; upd != !off {
			t.Errorf("updates off=%v: last post has vigil.update %v", off, upd)
		}
		st := d.Stats()[0]
		if st.Sent != uint64(want) || st.Errors != 0 || st.Dropped != 0 {
			t.Errorf("updates off=%v: stats %+v", off, st)
		}
	}
}
