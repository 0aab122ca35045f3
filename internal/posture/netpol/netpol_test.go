package netpol

import (
	"net/netip"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"

	"github.com/vigilsec/vigil/internal/posture/finding"
	"github.com/vigilsec/vigil/internal/posture/manifest"
)

func load(t *testing.T, docs ...string) *manifest.Inventory {
	t.Helper()
	inv := &manifest.Inventory{}
	inv.AddBytes("np.yaml", []byte(strings.Join(docs, "\n---\n")))
	if len(inv.Errors) > 0 {
		t.Fatalf("load: %v", inv.Errors)
	}
	return inv
}

func pod(ns string, ip string, kv ...string) Peer {
	l := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		l[kv[i]] = kv[i+1]
	}
	p := &Pod{Namespace: ns, Labels: l, Ports: map[string]int32{"http": 8080}}
	if ip != "" {
		p.IP = netip.MustParseAddr(ip)
	}
	return Peer{Pod: p}
}

func ext(ip string) Peer { return Peer{IP: netip.MustParseAddr(ip)} }

const policies = `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: api-in, namespace: shop}
spec:
  podSelector: {matchLabels: {app: api}}
  ingress:
  - from:
    - podSelector: {matchLabels: {app: web}}
    ports: [{port: http}]
  - from:
    - namespaceSelector: {matchLabels: {team: ops}}
      podSelector: {matchLabels: {app: prom}}
    ports: [{port: 9000, endPort: 9100}]
  - from:
    - ipBlock: {cidr: 10.0.0.0/8, except: [10.9.0.0/16]}
    ports: [{port: 443}]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web-out, namespace: shop}
spec:
  podSelector: {matchLabels: {app: web}}
  policyTypes: [Egress]
  egress:
  - to:
    - podSelector: {matchLabels: {app: api}}
  - to:
    - namespaceSelector: {}
      podSelector: {matchLabels: {k8s-app: kube-dns}}
    ports: [{port: 53, protocol: UDP}]`

func TestEvaluator(t *testing.T) {
	inv := load(t, policies)
	ev := NewEvaluator(Policies(inv), map[string]map[string]string{"monitoring": {"team": "ops"}})
	web := pod("shop", "10.1.0.1", "app", "web")
	api := pod("shop", "10.1.0.2", "app", "api")
	other := pod("shop", "10.1.0.3", "app", "other")
	prom := pod("monitoring", "10.2.0.1", "app", "prom")
	promElsewhere := pod("dev", "10.3.0.1", "app", "prom")
	dns := pod("kube-system", "10.4.0.1", "k8s-app", "kube-dns")
	cases := []struct {
		name     string
		src, dst Peer
		port     int32
		proto    string
		want     bool
	}{
		{"named port", web, api, 8080, "TCP", true},
		{"other port", web, api, 8081, "TCP", false},
		{"udp on named tcp port", web, api, 8080, "UDP", false},
		{"unlisted pod", other, api, 8080, "TCP", false},
		{"ns+pod selector AND", prom, api, 9050, "TCP", true},
		{"endPort upper bound", prom, api, 9100, "TCP", true},
		{"beyond endPort", prom, api, 9101, "TCP", false},
		{"wrong namespace", promElsewhere, api, 9050, "TCP", false},
		{"ipBlock", ext("10.200.0.1"), api, 443, "TCP", true},
		{"ipBlock except", ext("10.9.1.1"), api, 443, "TCP", false},
		{"ipBlock outside", ext("192.168.1.1"), api, 443, "TCP", false},
		{"ipBlock matches pod ip", other, api, 443, "TCP", true},
		{"unselected dst is open", other, web, 1234, "TCP", true},
		{"web egress to dns", web, dns, 53, "UDP", true},
		{"web egress dns tcp", web, dns, 53, "TCP", false},
		{"web egress elsewhere", web, other, 80, "TCP", false},
		{"web egress outside", web, ext("1.1.1.1"), 443, "TCP", false},
		{"ingress-only policy leaves egress open", api, ext("1.1.1.1"), 443, "TCP", true},
	}
	for _, tc := range cases {
		if got := ev.Allowed(tc.src, tc.dst, tc.port, coreProto(tc.proto)); got != tc.want {
			t.Errorf("%s: Allowed = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func ids(fs []finding.Finding) []string {
	var out []string
	for _, f := range fs {
		out = append(out, f.CheckID+" "+f.Object.String()+" "+f.Field)
	}
	return out
}

const deploy = `apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: a, image: x}]}`

const denyAll = `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny, namespace: shop}
spec:
  podSelector: {}
  policyTypes: [Ingress, Egress]`

func TestChecks(t *testing.T) {
	cases := []struct {
		name       string
		check      finding.Check
		at         string
		fail, pass []string
	}{
		{"no ingress", NoIngressPolicy, "Deployment/shop/web spec.template.metadata.labels",
			[]string{deploy}, []string{deploy, denyAll}},
		{"no egress", NoEgressPolicy, "Deployment/shop/web spec.template.metadata.labels",
			[]string{deploy, strings.Replace(denyAll, "[Ingress, Egress]", "[Ingress]", 1)}, []string{deploy, denyAll}},
		{"no default deny", NoDefaultDeny, "Namespace/shop ",
			[]string{deploy, `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: web, namespace: shop}
spec:
  podSelector: {matchLabels: {app: web}}
  policyTypes: [Ingress, Egress]`}, []string{deploy, denyAll}},
		{"allow all ingress", AllowAll, "NetworkPolicy/shop/open spec.ingress[0]",
			[]string{deploy, denyAll, `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: open, namespace: shop}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress: [{}]`}, []string{deploy, denyAll, `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: open, namespace: shop}
spec:
  podSelector: {matchLabels: {app: web}}
  ingress: [{from: [{podSelector: {matchLabels: {app: lb}}}]}]`}},
		{"allow all egress via namespaceSelector {}", AllowAll, "NetworkPolicy/shop/out spec.egress[0]",
			[]string{deploy, denyAll, `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: out, namespace: shop}
spec:
  podSelector: {matchLabels: {app: web}}
  policyTypes: [Egress]
  egress: [{to: [{namespaceSelector: {}}]}]`}, []string{deploy, denyAll, `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: out, namespace: shop}
spec:
  podSelector: {matchLabels: {app: web}}
  policyTypes: [Egress]
  egress: [{to: [{namespaceSelector: {}}], ports: [{port: 443}]}]`}},
		{"selects nothing", SelectsNothing, "NetworkPolicy/shop/typo spec.podSelector",
			[]string{deploy, denyAll, `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: typo, namespace: shop}
spec:
  podSelector: {matchLabels: {app: wbe}}
  policyTypes: [Ingress]`}, []string{deploy, denyAll, `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: typo, namespace: shop}
spec:
  podSelector: {matchLabels: {app: web}}
  policyTypes: [Ingress]`}},
	}
	covered := map[string]bool{}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			covered[tc.check.ID] = true
			got := ids(Audit(load(t, tc.fail...)))
			if !slices.Contains(got, tc.check.ID+" "+tc.at) {
				t.Errorf("failing manifests: want %q in %v", tc.check.ID+" "+tc.at, got)
			}
			for _, g := range ids(Audit(load(t, tc.pass...))) {
				if strings.HasPrefix(g, tc.check.ID+" ") {
					t.Errorf("passing manifests triggered %s", g)
				}
			}
		})
	}
	for _, c := range Checks {
		if !covered[c.ID] {
			t.Errorf("check %s has no test case", c.ID)
		}
	}
}

func TestPolicyTypesDefault(t *testing.T) {
	inv := load(t, `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: p, namespace: a}
spec:
  podSelector: {}
  egress: [{}]`)
	p := Policies(inv)[0]
	if !HasIngress(p) || !HasEgress(p) {
		t.Error("no policyTypes with egress rules means Ingress and Egress")
	}
	p.Spec.Egress = nil
	if !HasIngress(p) || HasEgress(p) {
		t.Error("no policyTypes and no egress rules means Ingress only")
	}
	_ = networkingv1.PolicyTypeIngress
}

func coreProto(s string) corev1.Protocol { return corev1.Protocol(s) }

// Item 9: CiliumNetworkPolicy and CiliumClusterwideNetworkPolicy count as
// network policy for the coverage checks, with Cilium's default-deny
// semantics (a rule with an ingress/egress section isolates what it selects,
// enableDefaultDeny can turn that off).
func TestCiliumPoliciesCount(t *testing.T) {
	web := `apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: a, image: x}]}`
	db := `apiVersion: apps/v1
kind: Deployment
metadata: {name: db, namespace: shop}
spec:
  template:
    metadata: {labels: {app: db}}
    spec: {containers: [{name: a, image: x}]}`
	cnpWeb := `apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: web, namespace: shop}
spec:
  endpointSelector: {matchLabels: {"k8s:app": web}}
  ingress:
  - fromEndpoints: [{matchLabels: {app: lb}}]
    toPorts: [{ports: [{port: "8080", protocol: TCP}]}]
  egress:
  - toEndpoints: [{matchLabels: {app: db}}]
  - toCIDR: [10.0.0.0/8]
    toPorts: [{ports: [{port: "53", protocol: UDP}]}]`
	cnpDenyAll := `apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: deny, namespace: shop}
specs:
- endpointSelector: {}
  ingress: [{}]
- endpointSelector: {}
  egress: [{}]`
	ccnpShop := `apiVersion: cilium.io/v2
kind: CiliumClusterwideNetworkPolicy
metadata: {name: shop-deny}
spec:
  endpointSelector: {matchLabels: {"k8s:io.kubernetes.pod.namespace": shop}}
  ingress: [{}]
  egress: [{}]`
	ccnpOther := `apiVersion: cilium.io/v2
kind: CiliumClusterwideNetworkPolicy
metadata: {name: other-deny}
spec:
  endpointSelector: {matchLabels: {"k8s:io.kubernetes.pod.namespace": other}}
  ingress: [{}]
  egress: [{}]`
	cnpNoDeny := `apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: audit-only, namespace: shop}
spec:
  endpointSelector: {}
  enableDefaultDeny: {ingress: false, egress: false}
  ingress: [{fromEntities: [cluster]}]
  egress: [{toEntities: [cluster]}]`
	cnpOpen := `apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: {name: open, namespace: shop}
spec:
  endpointSelector: {matchLabels: {app: web}}
  ingress: [{fromEntities: [all]}]
  egress: [{toCIDRSet: [{cidr: 0.0.0.0/0}]}]`
	count := func(fs []finding.Finding, id string) []string {
		var out []string
		for _, f := range fs {
			if f.CheckID == id {
				out = append(out, f.Object.String()+" "+f.Field)
			}
		}
		return out
	}
	for _, tc := range []struct {
		name                   string
		docs                   []string
		noIngress, noEgress    []string
		noDefaultDeny, openAll []string
	}{
		{"no policy", []string{web, db},
			[]string{"Deployment/shop/db", "Deployment/shop/web"}, []string{"Deployment/shop/db", "Deployment/shop/web"}, []string{"Namespace/shop"}, nil},
		{"cnp selects web", []string{web, db, cnpWeb},
			[]string{"Deployment/shop/db"}, []string{"Deployment/shop/db"}, []string{"Namespace/shop"}, nil},
		{"cnp default deny", []string{web, db, cnpDenyAll}, nil, nil, nil, nil},
		{"ccnp selects the namespace", []string{web, db, ccnpShop}, nil, nil, nil, nil},
		{"ccnp of another namespace", []string{web, db, ccnpOther},
			[]string{"Deployment/shop/db", "Deployment/shop/web"}, []string{"Deployment/shop/db", "Deployment/shop/web"}, []string{"Namespace/shop"}, nil},
		{"enableDefaultDeny false", []string{web, db, cnpNoDeny},
			[]string{"Deployment/shop/db", "Deployment/shop/web"}, []string{"Deployment/shop/db", "Deployment/shop/web"}, []string{"Namespace/shop"}, nil},
		{"allow all", []string{web, db, cnpDenyAll, cnpOpen}, nil, nil, nil,
			[]string{"CiliumNetworkPolicy/shop/open spec.egress[0]", "CiliumNetworkPolicy/shop/open spec.ingress[0]"}},
	} {
		fs := Audit(load(t, tc.docs...))
		trim := func(ss []string) []string {
			for i := range ss {
				ss[i] = strings.TrimSpace(strings.Split(ss[i], " spec.template")[0])
			}
			slices.Sort(ss)
			return ss
		}
		for _, c := range []struct {
			id   string
			want []string
		}{{NoIngressPolicy.ID, tc.noIngress}, {NoEgressPolicy.ID, tc.noEgress}, {NoDefaultDeny.ID, tc.noDefaultDeny}, {AllowAll.ID, tc.openAll}} {
			if got := trim(count(fs, c.id)); !slices.Equal(got, c.want) {
				t.Errorf("%s: %s on %q, want %q", tc.name, c.id, got, c.want)
			}
		}
	}
}
