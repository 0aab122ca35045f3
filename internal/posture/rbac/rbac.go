package rbac

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/vigilsec/vigil/internal/posture/manifest"
)

// Subject is who a binding grants to. Kind is User, Group or
// ServiceAccount; Namespace is set only for service accounts.
type Subject struct {
	Kind      string `json:"kind"`
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name"`
}

func (s Subject) String() string {
	if s.Kind == rbacv1.ServiceAccountKind {
		return "ServiceAccount/" + s.Namespace + "/" + s.Name
	}
	return s.Kind + "/" + s.Name
}

// IsSystem reports whether the subject is a Kubernetes system identity
// (a user or group whose name starts with "system:").
func (s Subject) IsSystem() bool {
	return s.Kind != rbacv1.ServiceAccountKind && strings.HasPrefix(s.Name, "system:")
}

// SourcedRule is a policy rule with the role (and rule index) it was
// written in. For an aggregated ClusterRole, Source is the aggregated role.
type SourcedRule struct {
	Rule   rbacv1.PolicyRule
	Source manifest.Ref
	Index  int
	Object *manifest.Object // nil for the built-in cluster-admin
}

// Grant is one rule one subject holds through one binding. Namespace is ""
// when the grant is cluster-wide (ClusterRoleBinding).
type Grant struct {
	Subject   Subject
	Namespace string
	Binding   manifest.Ref
	Role      manifest.Ref
	Rule      SourcedRule
}

// Analyzer resolves bindings × roles (with ClusterRole aggregation) into
// grants. Build it with New; it is read-only afterwards.
type Analyzer struct {
	roles        map[string]*manifest.Object // "ns/name"
	clusterRoles map[string]*manifest.Object
	resolved     map[string][]SourcedRule // cache: role ref string
	grants       []Grant
	bySubject    map[Subject][]int // indices into grants
	bindings     []*manifest.Object
	// Notes lists bindings whose role is not in the inventory.
	Notes []string
}

// builtinClusterAdmin stands in for the cluster-admin ClusterRole when the
// manifests do not include it (it exists in every cluster).
var builtinClusterAdmin = []SourcedRule{
	{Rule: rbacv1.PolicyRule{APIGroups: []string{"*"}, Resources: []string{"*"}, Verbs: []string{"*"}}, Source: manifest.Ref{Kind: "ClusterRole", Name: "cluster-admin"}},
	{Rule: rbacv1.PolicyRule{NonResourceURLs: []string{"*"}, Verbs: []string{"*"}}, Source: manifest.Ref{Kind: "ClusterRole", Name: "cluster-admin"}, Index: 1},
}

// New indexes the RBAC objects of inv.
func New(inv *manifest.Inventory) *Analyzer {
	a := &Analyzer{roles: map[string]*manifest.Object{}, clusterRoles: map[string]*manifest.Object{}, resolved: map[string][]SourcedRule{}}
	for _, o := range inv.Objects {
		switch o.Kind {
		case "Role":
			a.roles[o.Namespace+"/"+o.Name] = o
		case "ClusterRole":
			a.clusterRoles[o.Name] = o
		case "RoleBinding", "ClusterRoleBinding":
			a.bindings = append(a.bindings, o)
		}
	}
	for _, b := range a.bindings {
		var subjects []rbacv1.Subject
		var ref rbacv1.RoleRef
		ns := ""
		switch x := b.Obj.(type) {
		case *rbacv1.RoleBinding:
			subjects, ref, ns = x.Subjects, x.RoleRef, b.Namespace
		case *rbacv1.ClusterRoleBinding:
			subjects, ref = x.Subjects, x.RoleRef
		}
		roleRef := manifest.Ref{Kind: ref.Kind, Name: ref.Name}
		if ref.Kind == "Role" {
			roleRef.Namespace = ns
		}
		rules, ok := a.RoleRules(roleRef)
		if !ok {
			a.Notes = append(a.Notes, fmt.Sprintf("%s refers to %s, which is not in the manifests", b.Ref(), roleRef))
			continue
		}
		for _, s := range subjects {
			subj := Subject{Kind: s.Kind, Name: s.Name}
			if s.Kind == rbacv1.ServiceAccountKind {
				subj.Namespace = s.Namespace
				if subj.Namespace == "" {
					subj.Namespace = ns
				}
			}
			for _, r := range rules {
				a.grants = append(a.grants, Grant{Subject: subj, Namespace: ns, Binding: b.Ref(), Role: roleRef, Rule: r})
			}
		}
	}
	a.bySubject = map[Subject][]int{}
	for i, g := range a.grants {
		a.bySubject[g.Subject] = append(a.bySubject[g.Subject], i)
	}
	return a
}

// RoleRules returns the effective rules of a Role or ClusterRole,
// resolving aggregationRule label selectors. ok is false when the role is
// unknown (cluster-admin is always known).
func (a *Analyzer) RoleRules(ref manifest.Ref) ([]SourcedRule, bool) {
	return a.roleRules(ref, map[string]bool{})
}

func (a *Analyzer) roleRules(ref manifest.Ref, seen map[string]bool) ([]SourcedRule, bool) {
	key := ref.String()
	if r, ok := a.resolved[key]; ok {
		return r, true
	}
	if seen[key] {
		return nil, true
	}
	seen[key] = true
	var out []SourcedRule
	switch ref.Kind {
	case "Role":
		o, ok := a.roles[ref.Namespace+"/"+ref.Name]
		if !ok {
			return nil, false
		}
		for i, r := range o.Obj.(*rbacv1.Role).Rules {
			out = append(out, SourcedRule{Rule: r, Source: o.Ref(), Index: i, Object: o})
		}
	case "ClusterRole":
		o, ok := a.clusterRoles[ref.Name]
		if !ok {
			if ref.Name == "cluster-admin" {
				return builtinClusterAdmin, true
			}
			return nil, false
		}
		cr := o.Obj.(*rbacv1.ClusterRole)
		for i, r := range cr.Rules {
			out = append(out, SourcedRule{Rule: r, Source: o.Ref(), Index: i, Object: o})
		}
		if cr.AggregationRule != nil {
			for _, name := range a.aggregated(cr.AggregationRule.ClusterRoleSelectors, ref.Name) {
				rs, _ := a.roleRules(manifest.Ref{Kind: "ClusterRole", Name: name}, seen)
				for _, r := range rs {
					if !slices.ContainsFunc(out, func(x SourcedRule) bool { return x.Source == r.Source && x.Index == r.Index }) {
						out = append(out, r)
					}
				}
			}
		}
	default:
		return nil, false
	}
	a.resolved[key] = out
	return out, true
}

// aggregated lists the ClusterRoles (sorted by name) whose labels match any
// of the selectors.
func (a *Analyzer) aggregated(sels []metav1.LabelSelector, self string) []string {
	var names []string
	for name, o := range a.clusterRoles {
		if name == self {
			continue
		}
		for i := range sels {
			sel, err := metav1.LabelSelectorAsSelector(&sels[i])
			if err != nil || sel.Empty() {
				continue
			}
			if sel.Matches(labels.Set(o.Labels)) {
				names = append(names, name)
				break
			}
		}
	}
	sort.Strings(names)
	return names
}

// Grants returns every (subject, rule) pair the bindings create.
func (a *Analyzer) Grants() []Grant { return a.grants }

// Subjects lists every bound subject, sorted.
func (a *Analyzer) Subjects() []Subject {
	seen := map[Subject]bool{}
	var out []Subject
	for _, g := range a.grants {
		if !seen[g.Subject] {
			seen[g.Subject] = true
			out = append(out, g.Subject)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].String() < out[j].String() })
	return out
}

// Permissions returns the grants that apply to s, including those given to
// the groups a service account belongs to (system:serviceaccounts,
// system:serviceaccounts:NS, system:authenticated).
func (a *Analyzer) Permissions(s Subject) []Grant {
	var idx []int
	idx = append(idx, a.bySubject[s]...)
	if s.Kind == rbacv1.ServiceAccountKind {
		for _, g := range []string{"system:serviceaccounts", "system:serviceaccounts:" + s.Namespace, "system:authenticated"} {
			idx = append(idx, a.bySubject[Subject{Kind: rbacv1.GroupKind, Name: g}]...)
		}
	}
	sort.Ints(idx)
	out := make([]Grant, 0, len(idx))
	for _, i := range idx {
		out = append(out, a.grants[i])
	}
	return out
}

// Query is one access request: can someone VERB RESOURCE[/SUBRESOURCE] in
// APIGroup (AnyGroup: any group) in Namespace ("" = any namespace), on the
// object Name ("" = any object)?
type Query struct {
	Verb        string
	APIGroup    string
	AnyGroup    bool
	Resource    string
	Subresource string
	Namespace   string
	Name        string
}

func (q Query) String() string {
	r := q.Resource
	if q.Subresource != "" {
		r += "/" + q.Subresource
	}
	if !q.AnyGroup && q.APIGroup != "" {
		r += "." + q.APIGroup
	}
	return q.Verb + " " + r
}

// knownGroups maps common resources to their API group.
var knownGroups = map[string]string{
	"pods": "", "services": "", "secrets": "", "configmaps": "", "serviceaccounts": "", "nodes": "",
	"namespaces": "", "persistentvolumes": "", "persistentvolumeclaims": "", "events": "", "endpoints": "",
	"replicationcontrollers": "", "users": "", "groups": "", "resourcequotas": "", "limitranges": "",
	"deployments": "apps", "daemonsets": "apps", "statefulsets": "apps", "replicasets": "apps", "controllerrevisions": "apps",
	"jobs": "batch", "cronjobs": "batch",
	"roles": "rbac.authorization.k8s.io", "clusterroles": "rbac.authorization.k8s.io",
	"rolebindings": "rbac.authorization.k8s.io", "clusterrolebindings": "rbac.authorization.k8s.io",
	"networkpolicies": "networking.k8s.io", "ingresses": "networking.k8s.io",
	"certificatesigningrequests": "certificates.k8s.io", "signers": "certificates.k8s.io",
	"mutatingwebhookconfigurations": "admissionregistration.k8s.io", "validatingwebhookconfigurations": "admissionregistration.k8s.io",
	"validatingadmissionpolicies": "admissionregistration.k8s.io",
	"customresourcedefinitions":   "apiextensions.k8s.io", "podsecuritypolicies": "policy", "poddisruptionbudgets": "policy",
	"tokenreviews": "authentication.k8s.io", "subjectaccessreviews": "authorization.k8s.io", "uids": "authentication.k8s.io",
	"userextras": "authentication.k8s.io", "storageclasses": "storage.k8s.io", "csidrivers": "storage.k8s.io",
	"priorityclasses": "scheduling.k8s.io", "leases": "coordination.k8s.io",
}

// clusterScoped lists cluster-scoped resources: a RoleBinding (or a Role)
// cannot grant them.
var clusterScoped = map[string]bool{
	"nodes": true, "namespaces": true, "persistentvolumes": true, "clusterroles": true, "clusterrolebindings": true,
	"certificatesigningrequests": true, "signers": true, "mutatingwebhookconfigurations": true,
	"validatingwebhookconfigurations": true, "validatingadmissionpolicies": true, "customresourcedefinitions": true,
	"storageclasses": true, "csidrivers": true, "priorityclasses": true, "podsecuritypolicies": true,
	"tokenreviews": true, "subjectaccessreviews": true, "users": true, "groups": true, "uids": true, "userextras": true,
}

// ClusterScoped reports whether q names a cluster-scoped resource, which
// only ClusterRoleBindings can grant.
func (q Query) ClusterScoped() bool { return clusterScoped[q.Resource] }

// ParseQuery reads a kubectl-style resource: "pods", "pods/exec",
// "deployments.apps", "deployments.apps/scale". The group of a known
// resource is filled in; an unknown resource without a group matches rules
// of any group.
func ParseQuery(verb, resource, namespace string) Query {
	q := Query{Verb: strings.ToLower(verb), Namespace: namespace}
	res, sub, _ := strings.Cut(resource, "/")
	q.Subresource = sub
	if name, group, ok := strings.Cut(res, "."); ok {
		q.Resource, q.APIGroup = name, group
		if group == "core" {
			q.APIGroup = ""
		}
	} else if g, ok := knownGroups[res]; ok {
		q.Resource, q.APIGroup = res, g
	} else {
		q.Resource, q.AnyGroup = res, true
	}
	return q
}

// Allows reports whether rule r permits q. A rule restricted by
// resourceNames permits a query with no Name (the caller sees the names on
// the rule).
func Allows(r rbacv1.PolicyRule, q Query) bool {
	if !has(r.Verbs, q.Verb) {
		return false
	}
	if len(r.Resources) == 0 {
		return false
	}
	if !q.AnyGroup && !has(r.APIGroups, q.APIGroup) {
		return false
	}
	if !resourceMatches(r.Resources, q.Resource, q.Subresource) {
		return false
	}
	if len(r.ResourceNames) > 0 && q.Name != "" && !slices.Contains(r.ResourceNames, q.Name) {
		return false
	}
	return true
}

func has(list []string, v string) bool {
	for _, x := range list {
		if x == "*" || x == v {
			return true
		}
	}
	return false
}

// resourceMatches follows the API server: "*" matches everything, exact
// "resource/sub" matches, and "*/sub" matches any resource's subresource.
func resourceMatches(rules []string, res, sub string) bool {
	combined := res
	if sub != "" {
		combined = res + "/" + sub
	}
	for _, r := range rules {
		if r == "*" || r == combined {
			return true
		}
		if sub != "" && r == "*/"+sub {
			return true
		}
	}
	return false
}

// Answer is one way a subject holds a permission.
type Answer struct {
	Subject Subject      `json:"subject"`
	Scope   string       `json:"scope"` // namespace, or "cluster"
	Binding manifest.Ref `json:"binding"`
	Role    manifest.Ref `json:"role"`
	// RuleFrom is the role the matching rule was written in (differs from
	// Role for aggregated ClusterRoles).
	RuleFrom      manifest.Ref `json:"rule_from"`
	ResourceNames []string     `json:"resource_names,omitempty"`
}

// WhoCan answers which subjects may perform q, and through which binding
// and role. With q.Namespace set, only grants that apply in that namespace
// (cluster-wide or bound there) are returned. Answers are sorted by
// subject, then binding.
func (a *Analyzer) WhoCan(q Query) []Answer {
	var out []Answer
	seen := map[string]bool{}
	for _, g := range a.grants {
		if q.Namespace != "" && g.Namespace != "" && g.Namespace != q.Namespace {
			continue
		}
		if g.Namespace != "" && q.ClusterScoped() {
			continue
		}
		if !Allows(g.Rule.Rule, q) {
			continue
		}
		ans := Answer{Subject: g.Subject, Scope: g.Namespace, Binding: g.Binding, Role: g.Role, RuleFrom: g.Rule.Source, ResourceNames: g.Rule.Rule.ResourceNames}
		if ans.Scope == "" {
			ans.Scope = "cluster"
		}
		key := fmt.Sprint(ans.Subject, ans.Scope, ans.Binding, ans.Role, ans.RuleFrom, ans.ResourceNames)
		if seen[key] {
			continue
		}
		seen[key] = true
		out = append(out, ans)
	}
	sort.SliceStable(out, func(i, j int) bool {
		if si, sj := out[i].Subject.String(), out[j].Subject.String(); si != sj {
			return si < sj
		}
		return out[i].Binding.String() < out[j].Binding.String()
	})
	return out
}

// Can reports whether subject s may perform q.
func (a *Analyzer) Can(s Subject, q Query) bool {
	for _, g := range a.Permissions(s) {
		if q.Namespace != "" && g.Namespace != "" && g.Namespace != q.Namespace {
			continue
		}
		if g.Namespace != "" && q.ClusterScoped() {
			continue
		}
		if Allows(g.Rule.Rule, q) {
			return true
		}
	}
	return false
}
