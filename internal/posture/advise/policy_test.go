package advise

import (
	"bytes"
	"errors"
	"net/netip"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/vigilsec/vigil/internal/event"
	"github.com/vigilsec/vigil/internal/policy"
)

func TestLearnPolicy(t *testing.T) {
	web := &event.Container{ID: "aaaaaaaaaaaa", FullID: "aaaaaaaaaaaa" + strings.Repeat("1", 52), Type: "containerd", MetadataKnown: true,
		Name: "web", Image: "docker.io/library/nginx:1.27", Repository: "docker.io/library/nginx", PodName: "web-1", PodNamespace: "shop"}
	other := &event.Container{ID: "bbbbbbbbbbbb", FullID: "bbbbbbbbbbbb", Type: "containerd", Name: "other"}
	var buf []byte
	add := func(c *event.Container, ev event.Event) {
		ev.PID, ev.TID, ev.Comm, ev.Time = 10, 10, "x", 1795777446000000000
		if ev.FD == 0 {
			ev.FD = -1
		}
		ev.FD2, ev.DirFD2 = -1, -1
		if ev.DirFD == 0 {
			ev.DirFD = event.AtFDCWD
		}
		ev.Container = c
		buf = event.AppendJSON(buf, &ev)
		buf = append(buf, '\n')
	}
	add(web, event.Event{Type: event.TypeExecve, Exec: &event.Exec{Filename: "/usr/sbin/nginx", ExePath: "/usr/sbin/nginx"}})
	add(web, event.Event{Type: event.TypeExecve, Exec: &event.Exec{Filename: "/bin/sh", ExePath: "/usr/bin/dash"}})
	add(web, event.Event{Type: event.TypeExecve, Ret: -2, Exec: &event.Exec{Filename: "/usr/bin/curl"}})
	add(web, event.Event{Type: event.TypeOpenat, Ret: 5, Path: "/var/cache/nginx/client_temp/1", Flags: syscall.O_WRONLY | syscall.O_CREAT})
	add(web, event.Event{Type: event.TypeOpenat, Ret: 6, Path: "/etc/nginx/nginx.conf", Flags: syscall.O_RDONLY})
	add(web, event.Event{Type: event.TypeOpenat, Ret: -13, Path: "/etc/shadow", Flags: syscall.O_RDWR})
	add(web, event.Event{Type: event.TypeConnect, FD: 7, Addr: event.SockAddr{Family: 2, IP: netip.MustParseAddr("10.1.1.5"), Port: 5432},
		FDInfo: &event.FDInfo{Num: 7, Type: event.FDIPv4, L4Proto: "tcp"}})
	add(web, event.Event{Type: event.TypeConnect, FD: 8, Addr: event.SockAddr{Family: 2, IP: netip.MustParseAddr("10.96.0.10"), Port: 53},
		FDInfo: &event.FDInfo{Num: 8, Type: event.FDIPv4, L4Proto: "udp"}})
	add(web, event.Event{Type: event.TypeConnect, FD: 9, Ret: -111, Addr: event.SockAddr{Family: 2, IP: netip.MustParseAddr("10.1.1.6"), Port: 5432}})
	add(web, event.Event{Type: event.TypeBind, FD: 3, Addr: event.SockAddr{Family: 2, IP: netip.MustParseAddr("0.0.0.0"), Port: 8080},
		FDInfo: &event.FDInfo{Num: 3, Type: event.FDIPv4, L4Proto: "tcp"}})
	add(other, event.Event{Type: event.TypeExecve, Exec: &event.Exec{Filename: "/usr/bin/xmrig", ExePath: "/usr/bin/xmrig"}})

	act, err := Learn(bytes.NewReader(buf), "trace.jsonl", "aaaaaaaa")
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := act.WritePolicy(&out, &PolicyOptions{Source: "trace.jsonl"}); err != nil {
		t.Fatal(err)
	}
	pols, err := policy.Parse("learned.yaml", out.Bytes())
	if err != nil {
		t.Fatalf("generated policy does not parse: %v\n%s", err, out.String())
	}
	if len(pols) != 1 {
		t.Fatalf("got %d policies", len(pols))
	}
	p := pols[0]
	if p.Mode.String() != "audit" || p.Name != "learned-web" {
		t.Errorf("name %q mode %s, want learned-web in audit mode", p.Name, p.Mode)
	}
	if !p.Scope.Matches(web) || p.Scope.Matches(other) {
		t.Error("scope must select the learned container and not the other one")
	}
	if p.Process.Default != policy.ActionBlock || len(p.Process.Rules) != 1 ||
		!slices.Equal(p.Process.Rules[0].Paths, []string{"/usr/bin/dash", "/usr/sbin/nginx"}) {
		t.Errorf("process allow-list = %+v", p.Process)
	}
	if p.File.Default != policy.ActionBlock || len(p.File.Rules) != 1 || !slices.Equal(p.File.Rules[0].Dirs, []string{"/var/cache/nginx/client_temp/"}) {
		t.Errorf("file allow-list = %+v", p.File)
	}
	eg := p.Network.Egress
	if eg.Default != policy.ActionBlock || len(eg.Rules) != 2 {
		t.Fatalf("egress = %+v", eg)
	}
	if r := eg.Rules[0]; r.Protocol != policy.ProtoTCP || r.CIDRs[0] != netip.MustParsePrefix("10.1.1.5/32") || !r.Ports[0].Contains(5432) || r.Ports[0].Contains(5433) {
		t.Errorf("tcp egress rule = %+v", r)
	}
	if r := eg.Rules[1]; r.Protocol != policy.ProtoUDP || r.CIDRs[0] != netip.MustParsePrefix("10.96.0.10/32") || !r.Ports[0].Contains(53) {
		t.Errorf("udp egress rule = %+v", r)
	}
	if b := p.Network.Bind; b.Default != policy.ActionBlock || len(b.Rules) != 1 || !b.Rules[0].Ports[0].Contains(8080) {
		t.Errorf("bind = %+v", b)
	}
	if strings.Contains(out.String(), "xmrig") || strings.Contains(out.String(), "curl") || strings.Contains(out.String(), "10.1.1.6") {
		t.Errorf("policy includes activity of another container or failed calls:\n%s", out.String())
	}

	if _, err := Learn(bytes.NewReader(buf), "trace.jsonl", "cccc"); !errors.Is(err, ErrNoContainer) {
		t.Errorf("unknown container: err = %v, want ErrNoContainer", err)
	}
}
