package advise

import (
	"errors"
	"fmt"
	"io"
	"net/netip"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"

	"github.com/vigilsec/vigil/internal/event"
)

// ErrNoContainer is returned by LearnPolicy when the capture holds no event
// of the requested container.
var ErrNoContainer = errors.New("no events for container")

// Activity is what one container did in a capture.
type Activity struct {
	Container event.Container
	Events    int
	Execs     map[string]bool // executable paths
	WriteDirs map[string]bool // directories files were written in
	Egress    map[egressKey]map[netip.Prefix]bool
	Binds     map[egressKey]bool // proto + port (no address)
}

type egressKey struct {
	proto string // tcp or udp
	port  uint16
}

// Learn reads a capture and collects the activity of the container whose
// ID or full ID starts with id.
func Learn(r io.Reader, name, id string) (*Activity, error) {
	if id == "" {
		return nil, fmt.Errorf("learn policy: a container id is required")
	}
	cr := event.NewCaptureReader(r)
	cr.Name = name
	a := &Activity{Execs: map[string]bool{}, WriteDirs: map[string]bool{}, Egress: map[egressKey]map[netip.Prefix]bool{}, Binds: map[egressKey]bool{}}
	var ev event.Event
	for {
		err := cr.Next(&ev)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("learn policy: %w", err)
		}
		c := ev.Container
		if c == nil || !(strings.HasPrefix(c.ID, id) || strings.HasPrefix(c.FullID, id)) {
			continue
		}
		if a.Events == 0 || (c.MetadataKnown && !a.Container.MetadataKnown) {
			a.Container = *c
		}
		a.Events++
		proto := "tcp"
		if ev.FDInfo != nil && strings.EqualFold(ev.FDInfo.L4Proto, "udp") {
			proto = "udp"
		}
		switch ev.Type {
		case event.TypeExecve, event.TypeExecveat:
			if ev.Ret != 0 {
				continue
			}
			p := ""
			if ev.Exec != nil {
				p = ev.Exec.ExePath
				if p == "" {
					p = ev.Exec.Filename
				}
			}
			if p == "" && ev.Proc != nil {
				p = ev.Proc.ExePath
			}
			if strings.HasPrefix(p, "/") {
				a.Execs[path.Clean(p)] = true
			}
		case event.TypeOpen, event.TypeOpenat, event.TypeOpenat2, event.TypeCreat:
			if ev.Ret < 0 {
				continue
			}
			const wr = syscall.O_WRONLY | syscall.O_RDWR | syscall.O_CREAT | syscall.O_TRUNC | syscall.O_APPEND
			if ev.Type != event.TypeCreat && ev.Flags&wr == 0 {
				continue
			}
			p := ev.Path
			if ev.FDInfo != nil && strings.HasPrefix(ev.FDInfo.Name, "/") {
				p = ev.FDInfo.Name
			}
			if strings.HasPrefix(p, "/") {
				a.WriteDirs[path.Dir(path.Clean(p))] = true
			}
		case event.TypeConnect:
			if ev.Ret != 0 && ev.Ret != -int64(syscall.EINPROGRESS) {
				continue
			}
			if !ev.Addr.IP.IsValid() || ev.Addr.Port == 0 {
				continue
			}
			ip := ev.Addr.IP.Unmap()
			k := egressKey{proto, ev.Addr.Port}
			if a.Egress[k] == nil {
				a.Egress[k] = map[netip.Prefix]bool{}
			}
			a.Egress[k][netip.PrefixFrom(ip, ip.BitLen())] = true
		case event.TypeBind:
			if ev.Ret != 0 || ev.Addr.Port == 0 {
				continue
			}
			a.Binds[egressKey{proto, ev.Addr.Port}] = true
		}
	}
	if a.Events == 0 {
		return nil, fmt.Errorf("learn policy: %w %q in %s", ErrNoContainer, id, name)
	}
	return a, nil
}

var policyNameClean = regexp.MustCompile(`[^a-z0-9-]+`)

// PolicyOptions tunes the written policy. A nil *PolicyOptions means
// defaults (audit mode).
type PolicyOptions struct {
	Enforce bool
	Name    string
	Source  string // capture name, for the header comment
}

// WritePolicy writes a Vigil prevention policy (internal/policy YAML) that
// allows exactly what the activity shows: the programs executed, writes in
// the directories written to, connections to the addresses and ports
// contacted, and binds on the ports bound. Everything else is blocked (in
// audit mode unless opts.Enforce, so it can be reviewed first).
func (a *Activity) WritePolicy(w io.Writer, opts *PolicyOptions) error {
	if opts == nil {
		opts = &PolicyOptions{}
	}
	c := a.Container
	name := opts.Name
	if name == "" {
		base := c.Name
		if base == "" {
			base = c.ID
		}
		name = "learned-" + strings.Trim(policyNameClean.ReplaceAllString(strings.ToLower(base), "-"), "-")
	}
	mode := "audit"
	if opts.Enforce {
		mode = "enforce"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# Learned by `vigil advise policy` from %d events of container %s", a.Events, c.ID)
	if opts.Source != "" {
		fmt.Fprintf(&b, " in %s", opts.Source)
	}
	b.WriteString(".\n# It allows only what the container did while it was recorded; review it before enforcing.\n")
	fmt.Fprintf(&b, "name: %s\nmode: %s\nscope:\n  containers:\n", q(name), mode)
	switch {
	case c.Name != "":
		fmt.Fprintf(&b, "    names: [%s]\n", q(globEscape(c.Name)))
	case c.Repository != "" || c.Image != "":
		img := c.Repository
		if img == "" {
			img = c.Image
		}
		fmt.Fprintf(&b, "    images: [%s]\n", q(globEscape(img)))
	}
	if c.PodNamespace != "" {
		fmt.Fprintf(&b, "    namespaces: [%s]\n", q(globEscape(c.PodNamespace)))
	}
	b.WriteString("process:\n  default: block\n")
	if len(a.Execs) > 0 {
		fmt.Fprintf(&b, "  rules:\n    - name: observed-programs\n      action: allow\n      paths: [%s]\n", list(sorted(a.Execs)))
	}
	b.WriteString("file:\n  default: block\n  access: write\n")
	if len(a.WriteDirs) > 0 {
		fmt.Fprintf(&b, "  rules:\n    - name: observed-writes\n      action: allow\n      access: write\n      dirs: [%s]\n", list(sorted(a.WriteDirs)))
	}
	b.WriteString("network:\n  egress:\n    default: block\n")
	keys := make([]egressKey, 0, len(a.Egress))
	for k := range a.Egress {
		keys = append(keys, k)
	}
	sortKeys(keys)
	if len(keys) > 0 {
		b.WriteString("    rules:\n")
	}
	for _, k := range keys {
		var cidrs []string
		for p := range a.Egress[k] {
			cidrs = append(cidrs, p.String())
		}
		sort.Strings(cidrs)
		fmt.Fprintf(&b, "      - name: observed-%s-%d\n        action: allow\n        protocol: %s\n        cidrs: [%s]\n        ports: [%d]\n", k.proto, k.port, k.proto, list(cidrs), k.port)
	}
	b.WriteString("  bind:\n    default: block\n")
	bkeys := make([]egressKey, 0, len(a.Binds))
	for k := range a.Binds {
		bkeys = append(bkeys, k)
	}
	sortKeys(bkeys)
	if len(bkeys) > 0 {
		b.WriteString("    rules:\n")
	}
	for _, k := range bkeys {
		fmt.Fprintf(&b, "      - name: observed-bind-%s-%d\n        action: allow\n        protocol: %s\n        ports: [%d]\n", k.proto, k.port, k.proto, k.port)
	}
	if _, err := io.WriteString(w, b.String()); err != nil {
		return fmt.Errorf("write policy: %w", err)
	}
	return nil
}

func sortKeys(ks []egressKey) {
	sort.Slice(ks, func(i, j int) bool {
		if ks[i].proto != ks[j].proto {
			return ks[i].proto < ks[j].proto
		}
		return ks[i].port < ks[j].port
	})
}

func sorted(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func q(s string) string { return strconv.Quote(s) }

func list(ss []string) string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = q(s)
	}
	return strings.Join(out, ", ")
}

// globEscape escapes path.Match metacharacters so a literal name matches
// only itself.
func globEscape(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `*`, `\*`, `?`, `\?`, `[`, `\[`)
	return r.Replace(s)
}
