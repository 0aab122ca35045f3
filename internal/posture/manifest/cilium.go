package manifest

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// CiliumNetworkPolicy is the part of a cilium.io/v2 CiliumNetworkPolicy or
// CiliumClusterwideNetworkPolicy the network checks read (Cilium's own Go
// types are not a dependency). A policy holds one rule (spec) or several
// (specs).
type CiliumNetworkPolicy struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              *CiliumRule  `json:"spec,omitempty"`
	Specs             []CiliumRule `json:"specs,omitempty"`
}

// Rules returns spec and specs together.
func (p *CiliumNetworkPolicy) Rules() []CiliumRule {
	var out []CiliumRule
	if p.Spec != nil {
		out = append(out, *p.Spec)
	}
	return append(out, p.Specs...)
}

// CiliumRule is one Cilium policy rule. An endpoint selected by a rule with
// an ingress (egress) section, allow or deny, is in default-deny for that
// direction unless enableDefaultDeny turns it off.
type CiliumRule struct {
	EndpointSelector  *metav1.LabelSelector `json:"endpointSelector,omitempty"`
	NodeSelector      *metav1.LabelSelector `json:"nodeSelector,omitempty"`
	Ingress           []CiliumPeerRule      `json:"ingress,omitempty"`
	IngressDeny       []CiliumPeerRule      `json:"ingressDeny,omitempty"`
	Egress            []CiliumPeerRule      `json:"egress,omitempty"`
	EgressDeny        []CiliumPeerRule      `json:"egressDeny,omitempty"`
	EnableDefaultDeny *struct {
		Ingress *bool `json:"ingress,omitempty"`
		Egress  *bool `json:"egress,omitempty"`
	} `json:"enableDefaultDeny,omitempty"`
	Description string `json:"description,omitempty"`
}

// CiliumPeerRule is one ingress or egress rule: the peers (from* for
// ingress, to* for egress) and the ports.
type CiliumPeerRule struct {
	FromEndpoints []metav1.LabelSelector `json:"fromEndpoints,omitempty"`
	FromCIDR      []string               `json:"fromCIDR,omitempty"`
	FromCIDRSet   []CiliumCIDRRule       `json:"fromCIDRSet,omitempty"`
	FromEntities  []string               `json:"fromEntities,omitempty"`
	ToEndpoints   []metav1.LabelSelector `json:"toEndpoints,omitempty"`
	ToCIDR        []string               `json:"toCIDR,omitempty"`
	ToCIDRSet     []CiliumCIDRRule       `json:"toCIDRSet,omitempty"`
	ToEntities    []string               `json:"toEntities,omitempty"`
	ToFQDNs       []map[string]string    `json:"toFQDNs,omitempty"`
	ToServices    []map[string]any       `json:"toServices,omitempty"`
	ToPorts       []CiliumPortRule       `json:"toPorts,omitempty"`
}

// CiliumCIDRRule is a CIDR with exceptions.
type CiliumCIDRRule struct {
	CIDR   string   `json:"cidr"`
	Except []string `json:"except,omitempty"`
}

// CiliumPortRule lists ports (and optional L7 rules, not read).
type CiliumPortRule struct {
	Ports []struct {
		Port     string `json:"port"`
		EndPort  int32  `json:"endPort,omitempty"`
		Protocol string `json:"protocol,omitempty"`
	} `json:"ports,omitempty"`
}
