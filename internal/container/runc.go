package container

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/vigilsec/vigil/internal/host"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/vigilsec/vigil/internal/event"
)

// runcClient reads plain runc containers from runc's state directory
// (containerd's and Docker's runc containers live elsewhere). Metadata is
// the bundle's OCI spec: no image.
type runcClient struct {
	root string
}

func newRuncClient(root string) *runcClient { return &runcClient{root: root} }

func (c *runcClient) name() string          { return TypeRunc }
func (c *runcClient) socket() string        { return c.root }
func (c *runcClient) handles(t string) bool { return t == TypeRunc }

// runcPoll is how often the state directory is listed for containers
// created without a Resolve asking for them.
const runcPoll = 2 * time.Second

func (c *runcClient) watch(ctx context.Context, s *clientSink) error {
	if _, err := os.Stat(c.root); err != nil {
		return fmt.Errorf("runc: %w", err)
	}
	s.Connected("")
	seen := map[string]bool{}
	t := time.NewTicker(runcPoll)
	defer t.Stop()
	for {
		ents, err := os.ReadDir(c.root)
		if err != nil {
			return fmt.Errorf("runc: %w", err)
		}
		now := map[string]bool{}
		for _, e := range ents {
			if !e.IsDir() {
				continue
			}
			now[e.Name()] = true
			if seen[e.Name()] {
				continue
			}
			if ct, err := c.read(e.Name()); err == nil {
				s.Put(ct)
			}
		}
		for id := range seen {
			if !now[id] {
				s.Delete(id)
			}
		}
		seen = now
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

func (c *runcClient) inspect(_ context.Context, info PathInfo) (*event.Container, error) {
	return c.read(info.ID)
}

// runcState is the part of runc's state.json Vigil reads.
type runcState struct {
	ID          string            `json:"id"`
	InitPID     int               `json:"init_process_pid"`
	Created     string            `json:"created"`
	CgroupPaths map[string]string `json:"cgroup_paths"`
	Config      struct {
		Labels []string `json:"labels"`
	} `json:"config"`
}

func (c *runcClient) read(id string) (*event.Container, error) {
	if id == "" || strings.ContainsAny(id, "/\x00") {
		return nil, ErrNotFound
	}
	data, err := os.ReadFile(filepath.Join(c.root, id, "state.json"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("runc: read state of %s: %w", id, err)
	}
	var st runcState
	if err := json.Unmarshal(data, &st); err != nil {
		return nil, fmt.Errorf("runc: parse state of %s: %w", id, err)
	}
	ct := &event.Container{ID: shortID(st.ID), FullID: st.ID, Type: TypeRunc, MetadataKnown: true, Name: st.ID}
	labels := map[string]string{}
	for _, l := range st.Config.Labels {
		k, v, _ := strings.Cut(l, "=")
		labels[k] = v
	}
	ct.Labels = labels
	if bundle := labels["bundle"]; bundle != "" {
		if sd, err := os.ReadFile(filepath.Join(bundle, "config.json")); err == nil {
			var spec specs.Spec
			if json.Unmarshal(sd, &spec) == nil {
				ct.Privileged = SpecPrivileged(&spec)
				ct.Mounts = SpecMounts(&spec)
				if spec.Annotations != nil {
					setPod(ct, spec.Annotations, nil)
				}
			}
		}
	}
	if root, err := host.Cgroup2Root(); err == nil {
		if p, ok := strings.CutPrefix(st.CgroupPaths[""], root); ok && p != "" {
			ct.CgroupPath = p
		}
	}
	if st.InitPID > 0 {
		if ts, err := ProcStartTime(uint32(st.InitPID)); err == nil {
			ct.StartTS = ts
		}
	}
	if ct.StartTS == 0 {
		if t, err := time.Parse(time.RFC3339Nano, st.Created); err == nil {
			ct.StartTS = t.UnixNano()
		}
	}
	return ct, nil
}
