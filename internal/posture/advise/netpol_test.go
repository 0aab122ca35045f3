package advise

import (
	"bytes"
	"fmt"
	"net/netip"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"

	"github.com/vigilsec/vigil/internal/event"
	"github.com/vigilsec/vigil/internal/posture/manifest"
	"github.com/vigilsec/vigil/internal/posture/netpol"
)

// A small shop: web -> api -> db, api -> payment gateway outside, everyone
// -> dns, a load balancer address -> web, and an idle pod that did nothing.
type pod struct {
	ns, name string
	labels   map[string]string
	ip       string
}

var pods = []pod{
	{"shop", "web-7d9f-abcde", map[string]string{"app": "web", "pod-template-hash": "7d9f"}, "10.1.0.10"},
	{"shop", "api-5c4b-fghij", map[string]string{"app": "api", "tier": "backend", "pod-template-hash": "5c4b"}, "10.1.0.11"},
	{"data", "db-0", map[string]string{"app": "db", "statefulset.kubernetes.io/pod-name": "db-0"}, "10.1.1.5"},
	{"kube-system", "coredns-1", map[string]string{"k8s-app": "kube-dns"}, "10.1.2.2"},
	{"shop", "idle", map[string]string{"app": "idle"}, "10.1.0.99"},
}

const (
	gateway = "203.0.113.10"
	lb      = "198.51.100.7"
)

type flow struct {
	src, dst string // pod name or IP
	port     uint16
	proto    string
}

var recorded = []flow{
	{"web-7d9f-abcde", "api-5c4b-fghij", 8080, "TCP"},
	{"api-5c4b-fghij", "db-0", 5432, "TCP"},
	{"api-5c4b-fghij", gateway, 443, "TCP"},
	{"web-7d9f-abcde", "coredns-1", 53, "UDP"},
	{"api-5c4b-fghij", "coredns-1", 53, "UDP"},
	{lb, "web-7d9f-abcde", 8443, "TCP"},
}

func podByName(n string) *pod {
	for i := range pods {
		if pods[i].name == n {
			return &pods[i]
		}
	}
	return nil
}

func container(p *pod) *event.Container {
	return &event.Container{ID: "c0ffee" + p.name, FullID: "c0ffee" + p.name, Type: "containerd", MetadataKnown: true,
		Name: p.name, PodName: p.name, PodNamespace: p.ns, PodLabels: p.labels}
}

// capture writes the recorded flows as a `vigil trace --json` capture:
// connect events from the source pod, and an accept event in the web pod
// for the load balancer's connection. Destinations are plain IPs: the
// resolver maps them to pods through the manifests.
func capture(t *testing.T) []byte {
	t.Helper()
	var buf []byte
	ts := int64(1795777446000000000)
	for _, f := range recorded {
		ev := event.Event{Time: ts, PID: 100, TID: 100, Comm: "app", FD: 3, FD2: -1, DirFD: -1, DirFD2: -1}
		ts += 1000
		l4 := strings.ToLower(f.proto)
		if src := podByName(f.src); src != nil {
			ev.Type = event.TypeConnect
			dstIP := f.dst
			if d := podByName(f.dst); d != nil {
				dstIP = d.ip
			}
			ev.Addr = event.SockAddr{Family: 2, IP: netip.MustParseAddr(dstIP), Port: f.port}
			ev.Container = container(src)
			ev.FDInfo = &event.FDInfo{Num: 3, Type: event.FDIPv4, L4Proto: l4}
		} else {
			dst := podByName(f.dst)
			ev.Type = event.TypeAccept4
			ev.Ret = 4
			ev.Addr = event.SockAddr{Family: 2, IP: netip.MustParseAddr(f.src), Port: 40000}
			ev.Local = event.SockAddr{Family: 2, IP: netip.MustParseAddr(dst.ip), Port: f.port}
			ev.Container = container(dst)
			ev.FDInfo = &event.FDInfo{Num: 4, Type: event.FDIPv4, L4Proto: l4}
		}
		buf = event.AppendJSON(buf, &ev)
		buf = append(buf, '\n')
	}
	// A failed connect must not become an allowed flow.
	ev := event.Event{Type: event.TypeConnect, Time: ts, PID: 100, TID: 100, Comm: "app", Ret: -111, FD: 3, FD2: -1, DirFD: -1, DirFD2: -1,
		Addr: event.SockAddr{Family: 2, IP: netip.MustParseAddr("10.1.1.5"), Port: 6379}, Container: container(podByName("web-7d9f-abcde"))}
	buf = event.AppendJSON(buf, &ev)
	return append(buf, '\n')
}

// inventory is the pod list as `kubectl get pods -o yaml` would give it.
func inventory(t *testing.T) *manifest.Inventory {
	t.Helper()
	var b strings.Builder
	b.WriteString("apiVersion: v1\nkind: List\nitems:\n")
	for _, p := range pods {
		fmt.Fprintf(&b, "- apiVersion: v1\n  kind: Pod\n  metadata:\n    name: %s\n    namespace: %s\n    labels:\n", p.name, p.ns)
		for k, v := range p.labels {
			fmt.Fprintf(&b, "      %s: %q\n", k, v)
		}
		fmt.Fprintf(&b, "  spec:\n    containers: [{name: c, image: x}]\n  status:\n    podIP: %s\n", p.ip)
	}
	inv := &manifest.Inventory{}
	inv.AddBytes("pods.yaml", []byte(b.String()))
	if len(inv.Errors) > 0 || len(inv.Objects) != len(pods) {
		t.Fatalf("inventory: %v, %d objects", inv.Errors, len(inv.Objects))
	}
	return inv
}

func TestAdviceAllowsExactlyTheRecordedConnections(t *testing.T) {
	conns, err := FromCapture(bytes.NewReader(capture(t)), "trace.jsonl", NewResolver(inventory(t)))
	if err != nil {
		t.Fatal(err)
	}
	if len(conns) != len(recorded) {
		t.Fatalf("got %d connections from the capture, want %d: %+v", len(conns), len(recorded), conns)
	}
	pols := NetworkPolicies(conns, nil)

	// Round-trip through YAML and the manifest loader, as a user would
	// apply them.
	var out bytes.Buffer
	if err := WriteYAML(&out, pols); err != nil {
		t.Fatal(err)
	}
	inv := &manifest.Inventory{}
	inv.AddBytes("advice.yaml", out.Bytes())
	if len(inv.Errors) > 0 {
		t.Fatalf("generated YAML does not load: %v\n%s", inv.Errors, out.String())
	}
	var applied []*networkingv1.NetworkPolicy
	for _, o := range inv.OfKind("NetworkPolicy") {
		applied = append(applied, o.Obj.(*networkingv1.NetworkPolicy))
	}
	if len(applied) != len(pols) {
		t.Fatalf("loaded %d policies, generated %d", len(applied), len(pols))
	}

	ev := netpol.NewEvaluator(applied, nil)
	peer := func(s string) netpol.Peer {
		if p := podByName(s); p != nil {
			return netpol.Peer{Pod: &netpol.Pod{Namespace: p.ns, Name: p.name, Labels: p.labels, IP: netip.MustParseAddr(p.ip)}}
		}
		return netpol.Peer{IP: netip.MustParseAddr(s)}
	}
	want := map[flow]bool{}
	for _, f := range recorded {
		want[f] = true
	}
	endpoints := []string{gateway, lb, "192.0.2.1"}
	for _, p := range pods {
		endpoints = append(endpoints, p.name)
	}
	ports := []uint16{53, 80, 443, 5432, 6379, 8080, 8443}
	checked, allowed := 0, 0
	for _, s := range endpoints {
		for _, d := range endpoints {
			if podByName(s) == nil && podByName(d) == nil {
				continue // neither end is a pod: no NetworkPolicy applies
			}
			for _, port := range ports {
				for _, proto := range []string{"TCP", "UDP"} {
					f := flow{s, d, port, proto}
					got := ev.Allowed(peer(s), peer(d), int32(port), corev1.Protocol(proto))
					checked++
					if got {
						allowed++
					}
					if got != want[f] {
						t.Errorf("%s -> %s %d/%s: allowed=%v, recorded=%v", s, d, port, proto, got, want[f])
					}
				}
			}
		}
	}
	if allowed != len(recorded) {
		t.Errorf("%d flows allowed, want exactly the %d recorded", allowed, len(recorded))
	}
	t.Logf("checked %d flows, %d allowed; %d policies", checked, allowed, len(pols))

	// Selectors drop per-revision labels.
	for _, p := range pols {
		for k := range p.Spec.PodSelector.MatchLabels {
			if volatileLabels[k] {
				t.Errorf("%s selects on volatile label %s", p.Name, k)
			}
		}
	}
}

func TestReadConnectionsWithServices(t *testing.T) {
	inv := &manifest.Inventory{}
	inv.AddBytes("svc.yaml", []byte(`apiVersion: v1
kind: Service
metadata: {name: api, namespace: shop}
spec:
  clusterIP: 10.96.0.20
  selector: {app: api}
  ports: [{port: 80, targetPort: 8080}]
`))
	in := `{"connections": [
	  {"src": {"namespace": "shop", "labels": {"app": "web"}}, "dst": {"ip": "10.96.0.20"}, "port": 80},
	  {"src": {"namespace": "shop", "labels": {"app": "web"}}, "dst": {"ip": "8.8.8.8"}, "port": 53, "proto": "UDP"}
	]}`
	conns, err := ReadConnections(strings.NewReader(in), NewResolver(inv))
	if err != nil {
		t.Fatal(err)
	}
	if !conns[0].Dst.IsPod() || conns[0].Dst.Labels["app"] != "api" || conns[0].Port != 8080 {
		t.Fatalf("service address not resolved to its pods and target port: %+v", conns[0])
	}
	pols := NetworkPolicies(conns, &Options{NoDefaultDeny: true})
	if len(pols) != 2 {
		t.Fatalf("want a policy for web and one for api, got %d", len(pols))
	}
	ev := netpol.NewEvaluator(pols, nil)
	web := netpol.Peer{Pod: &netpol.Pod{Namespace: "shop", Labels: map[string]string{"app": "web"}}}
	api := netpol.Peer{Pod: &netpol.Pod{Namespace: "shop", Labels: map[string]string{"app": "api"}}}
	if !ev.Allowed(web, api, 8080, "TCP") || ev.Allowed(web, api, 80, "TCP") {
		t.Error("policy must allow web->api on the target port 8080 only")
	}
	if !ev.Allowed(web, netpol.Peer{IP: netip.MustParseAddr("8.8.8.8")}, 53, "UDP") || ev.Allowed(web, netpol.Peer{IP: netip.MustParseAddr("8.8.4.4")}, 53, "UDP") {
		t.Error("egress must allow exactly 8.8.8.8:53/udp")
	}
	if _, err := ReadConnections(strings.NewReader(`[{"src": {}, "dst": {}}]`), nil); err == nil {
		t.Error("connection without a port accepted")
	}
	if _, err := ReadConnections(strings.NewReader(`{"connections": [`), nil); err == nil {
		t.Error("truncated JSON accepted")
	}
}
