package netpol

import (
	"fmt"
	"slices"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/vigilsec/vigil/internal/posture/finding"
	"github.com/vigilsec/vigil/internal/posture/manifest"
)

// CiliumNamespaceLabel is the label Cilium gives every endpoint with its
// namespace; clusterwide rules select namespaces with it.
const CiliumNamespaceLabel = "io.kubernetes.pod.namespace"

// ciliumRule is one compiled rule of a CiliumNetworkPolicy (namespaced) or
// CiliumClusterwideNetworkPolicy.
type ciliumRule struct {
	obj     *manifest.Object
	field   string // "spec" or "specs[i]"
	ns      string // "" for clusterwide
	sel     labels.Selector
	in, out bool // default-deny (isolated) direction
	rule    manifest.CiliumRule
}

// ciliumRules compiles the endpoint selectors of the Cilium policies of inv.
// Host policies (nodeSelector) select no pods.
func ciliumRules(inv *manifest.Inventory) []ciliumRule {
	var out []ciliumRule
	for _, kind := range []string{"CiliumNetworkPolicy", "CiliumClusterwideNetworkPolicy"} {
		for _, o := range inv.OfKind(kind) {
			p := o.Obj.(*manifest.CiliumNetworkPolicy)
			for i, r := range p.Rules() {
				field := "spec"
				if p.Spec == nil || i > 0 {
					field = fmt.Sprintf("specs[%d]", i-boolInt(p.Spec != nil))
				}
				c := ciliumRule{obj: o, field: field, ns: o.Namespace, rule: r, sel: labels.Nothing()}
				if r.EndpointSelector != nil {
					c.sel = ciliumSelector(r.EndpointSelector)
				}
				c.in = len(r.Ingress) > 0 || len(r.IngressDeny) > 0
				c.out = len(r.Egress) > 0 || len(r.EgressDeny) > 0
				if d := r.EnableDefaultDeny; d != nil {
					if d.Ingress != nil && !*d.Ingress {
						c.in = false
					}
					if d.Egress != nil && !*d.Egress {
						c.out = false
					}
				}
				out = append(out, c)
			}
		}
	}
	return out
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// ciliumSelector converts a Cilium endpoint selector to a label selector:
// the "k8s:" and "any:" label sources are dropped; a key of another source
// (reserved:, cidr:, …) selects no pod.
func ciliumSelector(s *metav1.LabelSelector) labels.Selector {
	key := func(k string) (string, bool) {
		src, rest, ok := strings.Cut(k, ":")
		if !ok {
			return k, true
		}
		if src == "k8s" || src == "any" {
			return rest, true
		}
		return "", false
	}
	ls := metav1.LabelSelector{MatchLabels: map[string]string{}}
	for k, v := range s.MatchLabels {
		kk, ok := key(k)
		if !ok {
			return labels.Nothing()
		}
		ls.MatchLabels[kk] = v
	}
	for _, e := range s.MatchExpressions {
		kk, ok := key(e.Key)
		if !ok {
			return labels.Nothing()
		}
		e.Key = kk
		ls.MatchExpressions = append(ls.MatchExpressions, e)
	}
	sel, err := metav1.LabelSelectorAsSelector(&ls)
	if err != nil {
		return labels.Nothing()
	}
	return sel
}

// selects reports whether the rule selects pods with these labels in ns.
func (c *ciliumRule) selects(ns string, podLabels map[string]string) bool {
	if c.ns != "" && c.ns != ns {
		return false
	}
	set := labels.Set{CiliumNamespaceLabel: ns}
	for k, v := range podLabels {
		set[k] = v
	}
	return c.sel.Matches(set)
}

// ciliumAllowAll reports the rules that admit every peer on every port:
// the "all" entity, or a 0.0.0.0/0 or ::/0 CIDR, without toPorts.
func ciliumAllowAll(c *ciliumRule) []finding.Finding {
	var out []finding.Finding
	check := func(dir string, rules []manifest.CiliumPeerRule, peers func(r manifest.CiliumPeerRule) ([]string, []string, []manifest.CiliumCIDRRule)) {
		for i, r := range rules {
			if len(r.ToPorts) > 0 {
				continue
			}
			entities, cidrs, sets := peers(r)
			all := slices.Contains(entities, "all") || slices.Contains(cidrs, "0.0.0.0/0") || slices.Contains(cidrs, "::/0")
			for _, s := range sets {
				all = all || ((s.CIDR == "0.0.0.0/0" || s.CIDR == "::/0") && len(s.Except) == 0)
			}
			if all {
				out = append(out, finding.New(AllowAll, c.obj, fmt.Sprintf("%s.%s[%d]", c.field, dir, i),
					fmt.Sprintf("Cilium %s rule allows every peer on every port", dir)))
			}
		}
	}
	check("ingress", c.rule.Ingress, func(r manifest.CiliumPeerRule) ([]string, []string, []manifest.CiliumCIDRRule) {
		return r.FromEntities, r.FromCIDR, r.FromCIDRSet
	})
	check("egress", c.rule.Egress, func(r manifest.CiliumPeerRule) ([]string, []string, []manifest.CiliumCIDRRule) {
		return r.ToEntities, r.ToCIDR, r.ToCIDRSet
	})
	return out
}
