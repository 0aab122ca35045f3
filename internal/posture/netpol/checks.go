package netpol

import (
	"fmt"
	"sort"
	"strings"

	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/vigilsec/vigil/internal/posture/finding"
	"github.com/vigilsec/vigil/internal/posture/manifest"
)

// Check ids.
var (
	NoIngressPolicy = finding.Check{ID: "VGL-NET-001", Severity: finding.Medium, Title: "Pods selected by no ingress NetworkPolicy", Fix: "Add a NetworkPolicy that selects these pods and lists the allowed sources (see `vigil k8s advise netpol`)."}
	NoEgressPolicy  = finding.Check{ID: "VGL-NET-002", Severity: finding.Medium, Title: "Pods selected by no egress NetworkPolicy", Fix: "Add a NetworkPolicy with policyTypes [Egress] that selects these pods and lists the allowed destinations."}
	NoDefaultDeny   = finding.Check{ID: "VGL-NET-003", Severity: finding.Medium, Title: "Namespace without a default-deny NetworkPolicy", Fix: "Add a policy with an empty podSelector and policyTypes [Ingress, Egress] and no rules."}
	AllowAll        = finding.Check{ID: "VGL-NET-004", Severity: finding.High, Title: "NetworkPolicy rule allows all traffic", Fix: "Name the peers (podSelector/namespaceSelector/ipBlock) and ports the rule should allow."}
	SelectsNothing  = finding.Check{ID: "VGL-NET-005", Severity: finding.Low, Title: "NetworkPolicy selects no pods", Fix: "Fix the podSelector labels or delete the policy."}
)

// Checks is the catalogue of network checks.
var Checks = []finding.Check{NoIngressPolicy, NoEgressPolicy, NoDefaultDeny, AllowAll, SelectsNothing}

// Policies returns the NetworkPolicies of inv.
func Policies(inv *manifest.Inventory) []*networkingv1.NetworkPolicy {
	var out []*networkingv1.NetworkPolicy
	for _, o := range inv.OfKind("NetworkPolicy") {
		out = append(out, o.Obj.(*networkingv1.NetworkPolicy))
	}
	return out
}

// NamespaceLabels returns the labels of the Namespace objects of inv.
func NamespaceLabels(inv *manifest.Inventory) map[string]map[string]string {
	out := map[string]map[string]string{}
	for _, o := range inv.OfKind("Namespace") {
		out[o.Name] = o.Labels
	}
	return out
}

// Audit runs the network checks over inv.
func Audit(inv *manifest.Inventory) []finding.Finding {
	pols := Policies(inv)
	polObj := map[*networkingv1.NetworkPolicy]*manifest.Object{}
	for _, o := range inv.OfKind("NetworkPolicy") {
		polObj[o.Obj.(*networkingv1.NetworkPolicy)] = o
	}
	var out []finding.Finding
	namespaces := map[string]*manifest.Object{}
	for _, o := range inv.OfKind("Namespace") {
		namespaces[o.Name] = o
	}
	// Compile each policy's selector once; index policies by namespace.
	type compiled struct {
		p       *networkingv1.NetworkPolicy
		sel     labels.Selector
		in, out bool
	}
	byNS := map[string][]compiled{}
	for _, p := range pols {
		sel, err := metav1.LabelSelectorAsSelector(&p.Spec.PodSelector)
		if err != nil {
			sel = labels.Nothing()
		}
		byNS[p.Namespace] = append(byNS[p.Namespace], compiled{p, sel, HasIngress(p), HasEgress(p)})
	}
	cilium := ciliumRules(inv)
	selected := map[*networkingv1.NetworkPolicy]bool{}
	// workloadNS: the first workload of each namespace, which locates a
	// namespace no Namespace object declares.
	workloadNS := map[string]*manifest.Object{}
	workloads := inv.Workloads()
	for _, w := range workloads {
		if workloadNS[w.Namespace] == nil {
			workloadNS[w.Namespace] = w
		}
		_, meta, base, _ := w.PodTemplate()
		field := metaPath(base) + ".labels"
		var ing, eg bool
		set := labels.Set(meta.Labels)
		for _, c := range byNS[w.Namespace] {
			if c.sel.Matches(set) {
				ing = ing || c.in
				eg = eg || c.out
				selected[c.p] = true
			}
		}
		for i := range cilium {
			if c := &cilium[i]; c.selects(w.Namespace, meta.Labels) {
				ing = ing || c.in
				eg = eg || c.out
			}
		}
		if !ing {
			out = append(out, finding.New(NoIngressPolicy, w, field, fmt.Sprintf("no NetworkPolicy in %s selects pods with labels %s for ingress: any pod can connect to them", w.Namespace, fmtLabels(meta.Labels))))
		}
		if !eg {
			out = append(out, finding.New(NoEgressPolicy, w, field, fmt.Sprintf("no NetworkPolicy in %s selects pods with labels %s for egress: they can connect anywhere", w.Namespace, fmtLabels(meta.Labels))))
		}
	}
	// Namespaces: those declared and those holding workloads.
	nsNames := map[string]bool{}
	for n := range namespaces {
		nsNames[n] = true
	}
	for n := range workloadNS {
		nsNames[n] = true
	}
	var sorted []string
	for n := range nsNames {
		sorted = append(sorted, n)
	}
	sort.Strings(sorted)
	for _, ns := range sorted {
		var denyIn, denyOut bool
		for _, p := range pols {
			if p.Namespace != ns || len(p.Spec.PodSelector.MatchLabels) > 0 || len(p.Spec.PodSelector.MatchExpressions) > 0 {
				continue
			}
			if HasIngress(p) && len(p.Spec.Ingress) == 0 {
				denyIn = true
			}
			if HasEgress(p) && len(p.Spec.Egress) == 0 {
				denyOut = true
			}
		}
		// A Cilium rule that selects every pod of the namespace and has
		// an ingress (egress) section puts them all in default deny.
		for i := range cilium {
			if c := &cilium[i]; c.selects(ns, nil) {
				denyIn = denyIn || c.in
				denyOut = denyOut || c.out
			}
		}
		if denyIn && denyOut {
			continue
		}
		var missing []string
		if !denyIn {
			missing = append(missing, "ingress")
		}
		if !denyOut {
			missing = append(missing, "egress")
		}
		o := namespaces[ns]
		f := finding.New(NoDefaultDeny, o, "", fmt.Sprintf("namespace %s has no default-deny policy for %s", ns, strings.Join(missing, " and ")))
		if o == nil {
			// Implied by its workloads: located at the first of them.
			f.Object = manifest.Ref{Kind: "Namespace", Name: ns}
			if w := workloadNS[ns]; w != nil {
				f.File, f.Line = w.Source.File, w.Source.Line
				f.Message += " (namespace implied by " + w.Ref().String() + ")"
			}
		}
		out = append(out, f)
	}
	// Policy checks.
	for i := range cilium {
		out = append(out, ciliumAllowAll(&cilium[i])...)
	}
	for _, p := range pols {
		o := polObj[p]
		if HasIngress(p) {
			for i, r := range p.Spec.Ingress {
				if len(r.Ports) == 0 && allPeers(r.From) {
					out = append(out, finding.New(AllowAll, o, fmt.Sprintf("spec.ingress[%d]", i), "ingress rule allows every source on every port"))
				}
			}
		}
		if HasEgress(p) {
			for i, r := range p.Spec.Egress {
				if len(r.Ports) == 0 && allPeers(r.To) {
					out = append(out, finding.New(AllowAll, o, fmt.Sprintf("spec.egress[%d]", i), "egress rule allows every destination on every port"))
				}
			}
		}
		sel := p.Spec.PodSelector
		if len(sel.MatchLabels) == 0 && len(sel.MatchExpressions) == 0 {
			continue
		}
		if !selected[p] {
			out = append(out, finding.New(SelectsNothing, o, "spec.podSelector", fmt.Sprintf("podSelector matches no pod of the workloads in namespace %s", p.Namespace)))
		}
	}
	return out
}

// allPeers reports whether a peer list admits everything: no peers, an
// empty namespaceSelector with no podSelector (or an empty one), or an
// ipBlock of 0.0.0.0/0 or ::/0 without exceptions.
func allPeers(peers []networkingv1.NetworkPolicyPeer) bool {
	if len(peers) == 0 {
		return true
	}
	for _, p := range peers {
		if p.IPBlock != nil && (p.IPBlock.CIDR == "0.0.0.0/0" || p.IPBlock.CIDR == "::/0") && len(p.IPBlock.Except) == 0 {
			return true
		}
		if p.NamespaceSelector != nil && emptySel(p.NamespaceSelector.MatchLabels, len(p.NamespaceSelector.MatchExpressions)) &&
			(p.PodSelector == nil || emptySel(p.PodSelector.MatchLabels, len(p.PodSelector.MatchExpressions))) {
			return true
		}
	}
	return false
}

func emptySel(m map[string]string, exprs int) bool { return len(m) == 0 && exprs == 0 }

func metaPath(base string) string {
	if base == "spec" {
		return "metadata"
	}
	return strings.TrimSuffix(base, ".spec") + ".metadata"
}

func fmtLabels(l map[string]string) string {
	if len(l) == 0 {
		return "{}"
	}
	var parts []string
	for k, v := range l {
		parts = append(parts, k+"="+v)
	}
	sort.Strings(parts)
	return "{" + strings.Join(parts, ",") + "}"
}

// PodsOf turns the workloads of inv into evaluator pods (one per workload,
// with the pod template's labels and named container ports).
func PodsOf(inv *manifest.Inventory) []*Pod {
	var out []*Pod
	for _, w := range inv.Workloads() {
		spec, meta, _, _ := w.PodTemplate()
		p := &Pod{Namespace: w.Namespace, Name: w.Name, Labels: meta.Labels, Ports: map[string]int32{}}
		for _, c := range spec.Containers {
			for _, cp := range c.Ports {
				if cp.Name != "" {
					p.Ports[cp.Name] = cp.ContainerPort
				}
			}
		}
		out = append(out, p)
	}
	return out
}
