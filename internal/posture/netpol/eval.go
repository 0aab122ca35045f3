package netpol

import (
	"net/netip"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// NamespaceNameLabel is the label the API server puts on every namespace.
const NamespaceNameLabel = "kubernetes.io/metadata.name"

// Pod is what the evaluator needs to know about a pod.
type Pod struct {
	Namespace string
	Name      string
	Labels    map[string]string
	IP        netip.Addr       // optional: used by ipBlock peers
	Ports     map[string]int32 // named container ports, optional
}

// Peer is one end of a connection: a pod, or an address outside the
// cluster's pods (Pod nil).
type Peer struct {
	Pod *Pod
	IP  netip.Addr
}

// Evaluator decides whether NetworkPolicies allow a connection, following
// the Kubernetes semantics: a pod selected by no policy of a direction is
// open in that direction; once selected, only what some selecting policy's
// rules allow passes; egress from the source and ingress to the destination
// must both allow.
type Evaluator struct {
	policies []*networkingv1.NetworkPolicy
	nsLabels map[string]map[string]string
}

// NewEvaluator builds an evaluator. nsLabels gives namespace labels; every
// namespace also carries kubernetes.io/metadata.name=<name>.
func NewEvaluator(policies []*networkingv1.NetworkPolicy, nsLabels map[string]map[string]string) *Evaluator {
	return &Evaluator{policies: policies, nsLabels: nsLabels}
}

func (e *Evaluator) namespaceLabels(ns string) labels.Set {
	s := labels.Set{NamespaceNameLabel: ns}
	for k, v := range e.nsLabels[ns] {
		s[k] = v
	}
	return s
}

// HasIngress reports whether the policy governs ingress.
func HasIngress(p *networkingv1.NetworkPolicy) bool {
	if len(p.Spec.PolicyTypes) == 0 {
		return true
	}
	for _, t := range p.Spec.PolicyTypes {
		if t == networkingv1.PolicyTypeIngress {
			return true
		}
	}
	return false
}

// HasEgress reports whether the policy governs egress.
func HasEgress(p *networkingv1.NetworkPolicy) bool {
	if len(p.Spec.PolicyTypes) == 0 {
		return len(p.Spec.Egress) > 0
	}
	for _, t := range p.Spec.PolicyTypes {
		if t == networkingv1.PolicyTypeEgress {
			return true
		}
	}
	return false
}

// Selects reports whether p's podSelector selects a pod with these labels in
// namespace ns.
func Selects(p *networkingv1.NetworkPolicy, ns string, podLabels map[string]string) bool {
	return p.Namespace == ns && selectorMatches(&p.Spec.PodSelector, podLabels)
}

func selectorMatches(sel *metav1.LabelSelector, l map[string]string) bool {
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		return false
	}
	return s.Matches(labels.Set(l))
}

// Allowed reports whether a connection from src to dst on port/proto is
// allowed. proto "" means TCP.
func (e *Evaluator) Allowed(src, dst Peer, port int32, proto corev1.Protocol) bool {
	if proto == "" {
		proto = corev1.ProtocolTCP
	}
	return e.egressAllowed(src, dst, port, proto) && e.ingressAllowed(src, dst, port, proto)
}

func (e *Evaluator) egressAllowed(src, dst Peer, port int32, proto corev1.Protocol) bool {
	if src.Pod == nil {
		return true
	}
	selected := false
	for _, p := range e.policies {
		if !HasEgress(p) || !Selects(p, src.Pod.Namespace, src.Pod.Labels) {
			continue
		}
		selected = true
		for _, r := range p.Spec.Egress {
			if e.portsMatch(r.Ports, dst.Pod, port, proto) && e.peersMatch(r.To, p.Namespace, dst) {
				return true
			}
		}
	}
	return !selected
}

func (e *Evaluator) ingressAllowed(src, dst Peer, port int32, proto corev1.Protocol) bool {
	if dst.Pod == nil {
		return true
	}
	selected := false
	for _, p := range e.policies {
		if !HasIngress(p) || !Selects(p, dst.Pod.Namespace, dst.Pod.Labels) {
			continue
		}
		selected = true
		for _, r := range p.Spec.Ingress {
			if e.portsMatch(r.Ports, dst.Pod, port, proto) && e.peersMatch(r.From, p.Namespace, src) {
				return true
			}
		}
	}
	return !selected
}

func (e *Evaluator) portsMatch(ports []networkingv1.NetworkPolicyPort, dstPod *Pod, port int32, proto corev1.Protocol) bool {
	if len(ports) == 0 {
		return true
	}
	for _, p := range ports {
		pp := corev1.ProtocolTCP
		if p.Protocol != nil {
			pp = *p.Protocol
		}
		if pp != proto {
			continue
		}
		if p.Port == nil {
			return true
		}
		var want int32
		if p.Port.Type == intstr.String {
			if dstPod == nil {
				continue
			}
			n, ok := dstPod.Ports[p.Port.StrVal]
			if !ok {
				continue
			}
			want = n
		} else {
			want = p.Port.IntVal
		}
		if p.EndPort != nil && p.Port.Type == intstr.Int {
			if port >= want && port <= *p.EndPort {
				return true
			}
			continue
		}
		if port == want {
			return true
		}
	}
	return false
}

func (e *Evaluator) peersMatch(peers []networkingv1.NetworkPolicyPeer, policyNS string, other Peer) bool {
	if len(peers) == 0 {
		return true
	}
	for _, p := range peers {
		if p.IPBlock != nil {
			ip := other.IP
			if other.Pod != nil {
				ip = other.Pod.IP
			}
			if ip.IsValid() && inBlock(p.IPBlock, ip) {
				return true
			}
			continue
		}
		if other.Pod == nil {
			continue
		}
		if p.NamespaceSelector == nil {
			if other.Pod.Namespace != policyNS {
				continue
			}
		} else if !selectorMatches(p.NamespaceSelector, e.namespaceLabels(other.Pod.Namespace)) {
			continue
		}
		if p.PodSelector == nil || selectorMatches(p.PodSelector, other.Pod.Labels) {
			return true
		}
	}
	return false
}

func inBlock(b *networkingv1.IPBlock, ip netip.Addr) bool {
	pfx, err := netip.ParsePrefix(b.CIDR)
	if err != nil || !pfx.Contains(ip) {
		return false
	}
	for _, ex := range b.Except {
		if x, err := netip.ParsePrefix(ex); err == nil && x.Contains(ip) {
			return false
		}
	}
	return true
}
