package container_test

import (
	"encoding/json"
	"github.com/vigilsec/vigil/internal/host"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/container"
	"github.com/vigilsec/vigil/internal/containertest"
	"github.com/vigilsec/vigil/internal/testkernel"
)

// TestSlowRuntime serves the Docker Engine API from a fake daemon whose
// container inspection answers after 300ms. With a 50ms lookup budget the
// first Resolve gives the id only (never blocks for the slow answer, never
// guesses); the background retry then fills the metadata in.
func TestSlowRuntime(t *testing.T) {
	testkernel.RequireRoot(t)
	root, err := host.Cgroup2Root()
	testkernel.SkipIfErr(t, err)
	id := containertest.NewID()
	sock := filepath.Join(t.TempDir(), "docker.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	mux := http.NewServeMux()
	mux.HandleFunc("/version", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(map[string]string{"Version": "fake-1"})
	})
	mux.HandleFunc("/events", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		select {
		case <-r.Context().Done():
		case <-release:
		}
	})
	mux.HandleFunc("/containers/json", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("[]")) })
	mux.HandleFunc("/containers/", func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.URL.Path, "/containers/"+id+"/") {
			http.NotFound(w, r)
			return
		}
		// The slow daemon: answer after 300ms.
		select {
		case <-time.After(300 * time.Millisecond):
		case <-r.Context().Done():
			return
		}
		json.NewEncoder(w).Encode(map[string]any{
			"Id": id, "Name": "/slow", "Image": "sha256:00",
			"Config": map[string]any{"Image": "fake/app:1", "Labels": map[string]string{"k": "v"}},
		})
	})
	srv := &http.Server{Handler: mux}
	go srv.Serve(ln)
	t.Cleanup(func() { close(release); srv.Close() })

	dir := filepath.Join(root, "docker", id)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(dir) })
	cg, err := container.CgroupID(root, "/docker/"+id)
	if err != nil {
		t.Fatal(err)
	}
	m := startManager(t, container.Options{DockerSocket: sock, LookupTimeout: 50 * time.Millisecond}, container.TypeDocker)
	first := m.Resolve(cg, 0)
	if first == nil || first.FullID != id || first.Type != container.TypeDocker || first.MetadataKnown || first.Image != "" {
		t.Fatalf("first Resolve %+v, want id-only docker %s", first, id)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := m.Resolve(cg, 0)
		if got.MetadataKnown {
			if got.Image != "fake/app:1" || got.Repository != "fake/app" || got.Tag != "1" || got.Name != "slow" || got.Labels["k"] != "v" {
				t.Fatalf("metadata %+v", got)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("metadata never arrived; stats %+v", m.Stats())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if st := m.Stats(); st.LookupFailures < 1 || st.Lookups < 2 {
		t.Fatalf("stats %+v: want a failed (timed out) lookup and a later one", st)
	}
}
