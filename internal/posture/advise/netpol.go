package advise

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"net/netip"
	"regexp"
	"sort"
	"strings"
	"syscall"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"

	"github.com/vigilsec/vigil/internal/event"
	"github.com/vigilsec/vigil/internal/posture/manifest"
	"github.com/vigilsec/vigil/internal/posture/netpol"
)

// Endpoint is one side of a connection: a pod (Namespace and Labels set)
// or a bare address.
type Endpoint struct {
	Namespace string            `json:"namespace,omitempty"`
	Labels    map[string]string `json:"labels,omitempty"`
	Pod       string            `json:"pod,omitempty"`
	IP        string            `json:"ip,omitempty"`
}

// IsPod reports whether the endpoint is a known pod.
func (e Endpoint) IsPod() bool { return e.Namespace != "" && len(e.Labels) > 0 }

// Connection is one observed connection. Port is the destination port as
// the destination pod sees it; Proto is TCP, UDP or SCTP ("" = TCP).
type Connection struct {
	Src   Endpoint `json:"src"`
	Dst   Endpoint `json:"dst"`
	Port  uint16   `json:"port"`
	Proto string   `json:"proto,omitempty"`
}

// volatileLabels are set per pod or per revision by controllers; they are
// dropped from selectors so a policy survives a rollout.
var volatileLabels = map[string]bool{
	"pod-template-hash": true, "controller-revision-hash": true, "pod-template-generation": true,
	"statefulset.kubernetes.io/pod-name": true, "apps.kubernetes.io/pod-index": true,
	"controller-uid": true, "batch.kubernetes.io/controller-uid": true,
}

// StableLabels returns l without the per-pod and per-revision labels.
func StableLabels(l map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range l {
		if !volatileLabels[k] {
			out[k] = v
		}
	}
	return out
}

// Resolver maps addresses to pods using a manifest inventory: Pods with a
// status.podIP, and Services with a clusterIP (their selector stands for
// the pods behind them, and service ports are translated to target ports).
type Resolver struct {
	byIP map[netip.Addr]resolved
}

type resolved struct {
	ns     string
	labels map[string]string
	name   string
	ports  map[int32]int32 // service port -> numeric target port
}

// NewResolver indexes inv (nil gives a resolver that knows nothing).
func NewResolver(inv *manifest.Inventory) *Resolver {
	r := &Resolver{byIP: map[netip.Addr]resolved{}}
	if inv == nil {
		return r
	}
	for _, o := range inv.Objects {
		switch x := o.Obj.(type) {
		case *corev1.Pod:
			for _, s := range append([]string{x.Status.PodIP}, podIPs(x)...) {
				if ip, err := netip.ParseAddr(s); err == nil {
					r.byIP[ip] = resolved{ns: o.Namespace, labels: x.Labels, name: x.Name}
				}
			}
		case *corev1.Service:
			if len(x.Spec.Selector) == 0 {
				continue
			}
			ports := map[int32]int32{}
			for _, p := range x.Spec.Ports {
				t := p.Port
				if p.TargetPort.Type == intstr.Int && p.TargetPort.IntVal != 0 {
					t = p.TargetPort.IntVal
				}
				ports[p.Port] = t
			}
			for _, s := range append([]string{x.Spec.ClusterIP}, x.Spec.ClusterIPs...) {
				if ip, err := netip.ParseAddr(s); err == nil {
					r.byIP[ip] = resolved{ns: o.Namespace, labels: x.Spec.Selector, ports: ports}
				}
			}
		}
	}
	return r
}

func podIPs(p *corev1.Pod) []string {
	var out []string
	for _, ip := range p.Status.PodIPs {
		out = append(out, ip.IP)
	}
	return out
}

// Resolve fills in pod identity for endpoints known only by address and
// translates service ports to target ports.
func (r *Resolver) Resolve(c *Connection) {
	if !c.Src.IsPod() && c.Src.IP != "" {
		if ip, err := netip.ParseAddr(c.Src.IP); err == nil {
			if p, ok := r.byIP[ip.Unmap()]; ok && p.ports == nil {
				c.Src.Namespace, c.Src.Labels, c.Src.Pod = p.ns, p.labels, p.name
			}
		}
	}
	if !c.Dst.IsPod() && c.Dst.IP != "" {
		if ip, err := netip.ParseAddr(c.Dst.IP); err == nil {
			if p, ok := r.byIP[ip.Unmap()]; ok {
				c.Dst.Namespace, c.Dst.Labels, c.Dst.Pod = p.ns, p.labels, p.name
				if t, ok := p.ports[int32(c.Port)]; ok {
					c.Port = uint16(t)
				}
			}
		}
	}
}

// connectionsFile is the simple JSON input: either this object or a bare
// list of connections.
type connectionsFile struct {
	Connections []Connection `json:"connections"`
}

// ReadConnections reads the simple JSON connection list (an array, or an
// object with a "connections" array) and resolves addresses with res.
func ReadConnections(r io.Reader, res *Resolver) ([]Connection, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("read connections: %w", err)
	}
	var conns []Connection
	t := bytes.TrimSpace(data)
	if len(t) > 0 && t[0] == '[' {
		err = json.Unmarshal(t, &conns)
	} else {
		var f connectionsFile
		err = json.Unmarshal(t, &f)
		conns = f.Connections
	}
	if err != nil {
		return nil, fmt.Errorf("read connections: %w", err)
	}
	for i := range conns {
		if conns[i].Port == 0 {
			return nil, fmt.Errorf("read connections: connection %d: port is required", i)
		}
		if res != nil {
			res.Resolve(&conns[i])
		}
	}
	return conns, nil
}

// FromCapture reads connect and accept events of pods from a capture
// (`vigil trace --json` JSON lines) and resolves addresses with res.
// Failed connects (other than EINPROGRESS) are ignored.
func FromCapture(r io.Reader, name string, res *Resolver) ([]Connection, error) {
	cr := event.NewCaptureReader(r)
	cr.Name = name
	var ev event.Event
	var out []Connection
	seen := map[string]bool{}
	for {
		err := cr.Next(&ev)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("read capture: %w", err)
		}
		c := ev.Container
		if c == nil || c.PodNamespace == "" {
			continue
		}
		self := Endpoint{Namespace: c.PodNamespace, Labels: c.PodLabels, Pod: c.PodName}
		proto := "TCP"
		if ev.FDInfo != nil && ev.FDInfo.L4Proto != "" {
			proto = strings.ToUpper(ev.FDInfo.L4Proto)
		}
		var conn Connection
		switch ev.Type {
		case event.TypeConnect:
			if ev.Ret != 0 && ev.Ret != -int64(syscall.EINPROGRESS) {
				continue
			}
			if !ev.Addr.IP.IsValid() || ev.Addr.Port == 0 {
				continue
			}
			conn = Connection{Src: self, Dst: Endpoint{IP: ev.Addr.IP.Unmap().String()}, Port: ev.Addr.Port, Proto: proto}
		case event.TypeAccept, event.TypeAccept4:
			if ev.Ret < 0 || !ev.Addr.IP.IsValid() || ev.Local.Port == 0 {
				continue
			}
			conn = Connection{Src: Endpoint{IP: ev.Addr.IP.Unmap().String()}, Dst: self, Port: ev.Local.Port, Proto: proto}
		default:
			continue
		}
		if res != nil {
			res.Resolve(&conn)
		}
		k := connKey(conn)
		if !seen[k] {
			seen[k] = true
			out = append(out, conn)
		}
	}
	return out, nil
}

func connKey(c Connection) string {
	return identKey(c.Src) + "|" + c.Src.IP + ">" + identKey(c.Dst) + "|" + c.Dst.IP + fmt.Sprintf(":%d/%s", c.Port, c.Proto)
}

// identKey names a pod identity: namespace plus stable labels.
func identKey(e Endpoint) string {
	if !e.IsPod() {
		return ""
	}
	l := StableLabels(e.Labels)
	keys := make([]string, 0, len(l))
	for k := range l {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString(e.Namespace)
	for _, k := range keys {
		b.WriteString("," + k + "=" + l[k])
	}
	return b.String()
}

// Options tunes NetworkPolicies. A nil *Options means defaults.
type Options struct {
	// NoDefaultDeny skips the per-namespace default-deny policy that
	// isolates pods the recording never saw.
	NoDefaultDeny bool
}

type identity struct {
	ns      string
	labels  map[string]string
	ingress map[string]*rule // by peer key
	egress  map[string]*rule
}

type rule struct {
	peer  networkingv1.NetworkPolicyPeer
	ports map[string]networkingv1.NetworkPolicyPort
}

func peerOf(e Endpoint) (networkingv1.NetworkPolicyPeer, string, bool) {
	if e.IsPod() {
		l := StableLabels(e.Labels)
		return networkingv1.NetworkPolicyPeer{
			PodSelector:       &metav1.LabelSelector{MatchLabels: l},
			NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{netpol.NamespaceNameLabel: e.Namespace}},
		}, "pod:" + identKey(e), true
	}
	ip, err := netip.ParseAddr(e.IP)
	if err != nil {
		return networkingv1.NetworkPolicyPeer{}, "", false
	}
	ip = ip.Unmap()
	cidr := netip.PrefixFrom(ip, ip.BitLen()).String()
	return networkingv1.NetworkPolicyPeer{IPBlock: &networkingv1.IPBlock{CIDR: cidr}}, "ip:" + cidr, true
}

func (r *rule) addPort(port uint16, proto string) {
	if proto == "" {
		proto = "TCP"
	}
	p := corev1.Protocol(strings.ToUpper(proto))
	v := intstr.FromInt32(int32(port))
	r.ports[fmt.Sprintf("%s/%05d", p, port)] = networkingv1.NetworkPolicyPort{Protocol: &p, Port: &v}
}

var nameClean = regexp.MustCompile(`[^a-z0-9-]+`)

func policyName(id *identity) string {
	keys := make([]string, 0, len(id.labels))
	for k := range id.labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	base := ""
	for _, k := range []string{"app.kubernetes.io/name", "app", "k8s-app", "name"} {
		if v, ok := id.labels[k]; ok {
			base = v
			break
		}
	}
	if base == "" && len(keys) > 0 {
		base = id.labels[keys[0]]
	}
	h := fnv.New32a()
	for _, k := range keys {
		h.Write([]byte(k + "=" + id.labels[k] + ";"))
	}
	base = strings.Trim(nameClean.ReplaceAllString(strings.ToLower(base), "-"), "-")
	if len(base) > 40 {
		base = base[:40]
	}
	return fmt.Sprintf("vigil-allow-%s-%06x", base, h.Sum32()&0xffffff)
}

// NetworkPolicies writes least-privilege policies from connections: one
// policy per pod identity (namespace + stable labels) that selects exactly
// those labels, with policyTypes Ingress and Egress, an ingress rule per
// observed source and an egress rule per observed destination, each listing
// only the ports that source or destination used. Unless
// opts.NoDefaultDeny, each namespace also gets a default-deny policy, so
// pods the recording did not see are isolated too. Output is sorted and
// deterministic.
func NetworkPolicies(conns []Connection, opts *Options) []*networkingv1.NetworkPolicy {
	if opts == nil {
		opts = &Options{}
	}
	ids := map[string]*identity{}
	get := func(e Endpoint) *identity {
		k := identKey(e)
		id, ok := ids[k]
		if !ok {
			id = &identity{ns: e.Namespace, labels: StableLabels(e.Labels), ingress: map[string]*rule{}, egress: map[string]*rule{}}
			ids[k] = id
		}
		return id
	}
	add := func(m map[string]*rule, peer networkingv1.NetworkPolicyPeer, pk string, port uint16, proto string) {
		r, ok := m[pk]
		if !ok {
			r = &rule{peer: peer, ports: map[string]networkingv1.NetworkPolicyPort{}}
			m[pk] = r
		}
		r.addPort(port, proto)
	}
	for _, c := range conns {
		if c.Src.IsPod() {
			if peer, pk, ok := peerOf(c.Dst); ok {
				add(get(c.Src).egress, peer, pk, c.Port, c.Proto)
			}
		}
		if c.Dst.IsPod() {
			if peer, pk, ok := peerOf(c.Src); ok {
				add(get(c.Dst).ingress, peer, pk, c.Port, c.Proto)
			}
		}
	}
	var out []*networkingv1.NetworkPolicy
	namespaces := map[string]bool{}
	for _, id := range ids {
		namespaces[id.ns] = true
		p := &networkingv1.NetworkPolicy{
			TypeMeta:   metav1.TypeMeta{APIVersion: "networking.k8s.io/v1", Kind: "NetworkPolicy"},
			ObjectMeta: metav1.ObjectMeta{Name: policyName(id), Namespace: id.ns, Labels: map[string]string{"app.kubernetes.io/managed-by": "vigil"}},
			Spec: networkingv1.NetworkPolicySpec{
				PodSelector: metav1.LabelSelector{MatchLabels: id.labels},
				PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress},
				Ingress:     []networkingv1.NetworkPolicyIngressRule{},
				Egress:      []networkingv1.NetworkPolicyEgressRule{},
			},
		}
		for _, k := range sortedKeys(id.ingress) {
			r := id.ingress[k]
			p.Spec.Ingress = append(p.Spec.Ingress, networkingv1.NetworkPolicyIngressRule{From: []networkingv1.NetworkPolicyPeer{r.peer}, Ports: r.sortedPorts()})
		}
		for _, k := range sortedKeys(id.egress) {
			r := id.egress[k]
			p.Spec.Egress = append(p.Spec.Egress, networkingv1.NetworkPolicyEgressRule{To: []networkingv1.NetworkPolicyPeer{r.peer}, Ports: r.sortedPorts()})
		}
		out = append(out, p)
	}
	if !opts.NoDefaultDeny {
		for ns := range namespaces {
			out = append(out, &networkingv1.NetworkPolicy{
				TypeMeta:   metav1.TypeMeta{APIVersion: "networking.k8s.io/v1", Kind: "NetworkPolicy"},
				ObjectMeta: metav1.ObjectMeta{Name: "vigil-default-deny", Namespace: ns, Labels: map[string]string{"app.kubernetes.io/managed-by": "vigil"}},
				Spec: networkingv1.NetworkPolicySpec{
					PodSelector: metav1.LabelSelector{},
					PolicyTypes: []networkingv1.PolicyType{networkingv1.PolicyTypeIngress, networkingv1.PolicyTypeEgress},
				},
			})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Namespace != out[j].Namespace {
			return out[i].Namespace < out[j].Namespace
		}
		return out[i].Name < out[j].Name
	})
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func (r *rule) sortedPorts() []networkingv1.NetworkPolicyPort {
	var out []networkingv1.NetworkPolicyPort
	for _, k := range sortedKeys(r.ports) {
		out = append(out, r.ports[k])
	}
	return out
}

// WriteYAML writes policies as a multi-document YAML stream.
func WriteYAML(w io.Writer, pols []*networkingv1.NetworkPolicy) error {
	for i, p := range pols {
		b, err := yaml.Marshal(p)
		if err != nil {
			return fmt.Errorf("write network policies: %w", err)
		}
		b = bytes.ReplaceAll(b, []byte("  creationTimestamp: null\n"), nil)
		b = bytes.ReplaceAll(b, []byte("status: {}\n"), nil)
		if i > 0 {
			if _, err := io.WriteString(w, "---\n"); err != nil {
				return fmt.Errorf("write network policies: %w", err)
			}
		}
		if _, err := w.Write(b); err != nil {
			return fmt.Errorf("write network policies: %w", err)
		}
	}
	return nil
}
