package rbac

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	rbacv1 "k8s.io/api/rbac/v1"

	"github.com/vigilsec/vigil/internal/posture/finding"
	"github.com/vigilsec/vigil/internal/posture/manifest"
)

// Check ids.
var (
	ClusterAdminBinding = finding.Check{ID: "VGL-RBAC-001", Severity: finding.Critical, Title: "cluster-admin bound to a non-system subject", Fix: "Bind a narrower role; keep cluster-admin for break-glass users only."}
	WildcardVerbs       = finding.Check{ID: "VGL-RBAC-002", Severity: finding.High, Title: "Wildcard verbs", Fix: "List the verbs the subject needs instead of \"*\"."}
	WildcardResources   = finding.Check{ID: "VGL-RBAC-003", Severity: finding.High, Title: "Wildcard resources", Fix: "List the resources the subject needs instead of \"*\"."}
	WildcardAPIGroups   = finding.Check{ID: "VGL-RBAC-004", Severity: finding.Medium, Title: "Wildcard API groups", Fix: "List the API groups the subject needs instead of \"*\"."}
	ReadSecrets         = finding.Check{ID: "VGL-RBAC-005", Severity: finding.High, Title: "Can read secrets", Fix: "Remove get/list/watch on secrets, or restrict the rule with resourceNames."}
	Escalate            = finding.Check{ID: "VGL-RBAC-006", Severity: finding.Critical, Title: "Can escalate roles", Fix: "Remove the escalate verb on roles/clusterroles."}
	Bind                = finding.Check{ID: "VGL-RBAC-007", Severity: finding.Critical, Title: "Can bind roles", Fix: "Remove the bind verb on roles/clusterroles."}
	Impersonate         = finding.Check{ID: "VGL-RBAC-008", Severity: finding.Critical, Title: "Can impersonate users, groups or service accounts", Fix: "Remove the impersonate verb."}
	PodsExec            = finding.Check{ID: "VGL-RBAC-009", Severity: finding.High, Title: "Can exec into pods", Fix: "Remove create on pods/exec."}
	PodsAttach          = finding.Check{ID: "VGL-RBAC-010", Severity: finding.High, Title: "Can attach to pods", Fix: "Remove create on pods/attach."}
	PodsPortForward     = finding.Check{ID: "VGL-RBAC-011", Severity: finding.Medium, Title: "Can port-forward to pods", Fix: "Remove create on pods/portforward."}
	NodesProxy          = finding.Check{ID: "VGL-RBAC-012", Severity: finding.Critical, Title: "Can use the node proxy (kubelet API)", Fix: "Remove access to nodes/proxy."}
	CreatePods          = finding.Check{ID: "VGL-RBAC-013", Severity: finding.High, Title: "Can create pods or workloads", Fix: "Grant workload creation only to deployment pipelines, in specific namespaces."}
	CreatePV            = finding.Check{ID: "VGL-RBAC-014", Severity: finding.High, Title: "Can create persistent volumes", Fix: "Let users claim storage through PersistentVolumeClaims instead."}
	CreateSAToken       = finding.Check{ID: "VGL-RBAC-015", Severity: finding.High, Title: "Can mint service-account tokens", Fix: "Remove create on serviceaccounts/token."}
	ApproveCSR          = finding.Check{ID: "VGL-RBAC-016", Severity: finding.Critical, Title: "Can approve certificate signing requests", Fix: "Remove update on certificatesigningrequests/approval and approve on signers."}
	EditWebhooks        = finding.Check{ID: "VGL-RBAC-017", Severity: finding.Critical, Title: "Can edit admission webhooks", Fix: "Remove write access to mutating/validating webhook configurations."}
	DeleteEvents        = finding.Check{ID: "VGL-RBAC-018", Severity: finding.Medium, Title: "Can delete events", Fix: "Remove delete/deletecollection on events: it lets an attacker erase traces."}
	DefaultSARoles      = finding.Check{ID: "VGL-RBAC-019", Severity: finding.Medium, Title: "Default service account granted a role", Fix: "Create a dedicated service account for the workload and bind the role to it."}
	WorkloadSATakeover  = finding.Check{ID: "VGL-RBAC-020", Severity: finding.Critical, Title: "Workload service account holds administrative or takeover permissions", Fix: "Give the workload a service account with only the permissions it uses."}
)

// Checks is the catalogue of RBAC checks.
var Checks = []finding.Check{
	ClusterAdminBinding, WildcardVerbs, WildcardResources, WildcardAPIGroups, ReadSecrets, Escalate, Bind,
	Impersonate, PodsExec, PodsAttach, PodsPortForward, NodesProxy, CreatePods, CreatePV, CreateSAToken,
	ApproveCSR, EditWebhooks, DeleteEvents, DefaultSARoles, WorkloadSATakeover,
}

func q(verb, group, resource string) Query {
	res, sub, _ := strings.Cut(resource, "/")
	return Query{Verb: verb, APIGroup: group, Resource: res, Subresource: sub}
}

func qs(verbs []string, group string, resources ...string) []Query {
	var out []Query
	for _, r := range resources {
		for _, v := range verbs {
			out = append(out, q(v, group, r))
		}
	}
	return out
}

const rbacGroup = "rbac.authorization.k8s.io"

// dangers maps each permission check to the requests that trigger it.
var dangers = []struct {
	check   finding.Check
	queries []Query
}{
	{ReadSecrets, qs([]string{"get", "list", "watch"}, "", "secrets")},
	{Escalate, qs([]string{"escalate"}, rbacGroup, "roles", "clusterroles")},
	{Bind, qs([]string{"bind"}, rbacGroup, "roles", "clusterroles")},
	{Impersonate, append(qs([]string{"impersonate"}, "", "users", "groups", "serviceaccounts"), qs([]string{"impersonate"}, "authentication.k8s.io", "uids", "userextras")...)},
	{PodsExec, qs([]string{"create"}, "", "pods/exec")},
	{PodsAttach, qs([]string{"create"}, "", "pods/attach")},
	{PodsPortForward, qs([]string{"create"}, "", "pods/portforward")},
	{NodesProxy, qs([]string{"get", "create", "update", "patch"}, "", "nodes/proxy")},
	{CreatePods, append(append(qs([]string{"create"}, "", "pods", "replicationcontrollers"),
		qs([]string{"create"}, "apps", "deployments", "daemonsets", "statefulsets", "replicasets")...),
		qs([]string{"create"}, "batch", "jobs", "cronjobs")...)},
	{CreatePV, qs([]string{"create"}, "", "persistentvolumes")},
	{CreateSAToken, qs([]string{"create"}, "", "serviceaccounts/token")},
	{ApproveCSR, append(qs([]string{"update", "patch"}, "certificates.k8s.io", "certificatesigningrequests/approval"),
		qs([]string{"approve"}, "certificates.k8s.io", "signers")...)},
	{EditWebhooks, qs([]string{"create", "update", "patch", "delete"}, "admissionregistration.k8s.io", "mutatingwebhookconfigurations", "validatingwebhookconfigurations")},
	{DeleteEvents, append(qs([]string{"delete", "deletecollection"}, "", "events"), qs([]string{"delete", "deletecollection"}, "events.k8s.io", "events")...)},
}

// takeover lists the checks that make a workload's service account a path
// to cluster or node takeover.
var takeover = []string{ReadSecrets.ID, Escalate.ID, Bind.ID, Impersonate.ID, PodsExec.ID, NodesProxy.ID,
	CreatePods.ID, CreateSAToken.ID, ApproveCSR.ID, EditWebhooks.ID}

// Dangers returns the permission checks rule r triggers. namespaced is true
// when the rule is granted only inside a namespace (a Role, or any role
// bound by a RoleBinding): cluster-scoped resources are then out of reach.
func Dangers(r rbacv1.PolicyRule, namespaced bool) []finding.Check {
	var out []finding.Check
	for _, d := range dangers {
		for _, qq := range d.queries {
			if namespaced && qq.ClusterScoped() {
				continue
			}
			if Allows(r, qq) {
				out = append(out, d.check)
				break
			}
		}
	}
	return out
}

// Audit runs the RBAC checks over inv.
func Audit(inv *manifest.Inventory) []finding.Finding {
	a := New(inv)
	var out []finding.Finding

	// Who holds each role (for messages).
	holders := map[manifest.Ref][]string{}
	// Where each role's rules apply: a ClusterRole bound only through
	// RoleBindings grants its rules in those namespaces only, so
	// cluster-scoped resources are out of its reach (as who-can answers).
	clusterWide, inNamespace := map[manifest.Ref]bool{}, map[manifest.Ref]bool{}
	for _, g := range a.grants {
		if g.Namespace == "" {
			clusterWide[g.Rule.Source] = true
		} else {
			inNamespace[g.Rule.Source] = true
		}
		s := g.Subject.String()
		if !slices.Contains(holders[g.Rule.Source], s) {
			holders[g.Rule.Source] = append(holders[g.Rule.Source], s)
		}
	}
	held := func(ref manifest.Ref) string {
		h := holders[ref]
		if len(h) == 0 {
			return "not bound to any subject in the manifests"
		}
		sort.Strings(h)
		return "granted to " + strings.Join(h, ", ")
	}

	// Rule checks on every Role and ClusterRole.
	for _, o := range inv.Objects {
		var rules []rbacv1.PolicyRule
		namespaced := false
		switch r := o.Obj.(type) {
		case *rbacv1.Role:
			rules, namespaced = r.Rules, true
		case *rbacv1.ClusterRole:
			rules = r.Rules
			namespaced = inNamespace[o.Ref()] && !clusterWide[o.Ref()]
		default:
			continue
		}
		for i, r := range rules {
			rp := fmt.Sprintf("rules[%d]", i)
			who := held(o.Ref())
			if slices.Contains(r.Verbs, "*") {
				out = append(out, finding.New(WildcardVerbs, o, rp+".verbs", fmt.Sprintf("rule %d allows every verb; %s", i, who)))
			}
			if slices.Contains(r.Resources, "*") {
				out = append(out, finding.New(WildcardResources, o, rp+".resources", fmt.Sprintf("rule %d covers every resource; %s", i, who)))
			}
			if slices.Contains(r.APIGroups, "*") {
				out = append(out, finding.New(WildcardAPIGroups, o, rp+".apiGroups", fmt.Sprintf("rule %d covers every API group; %s", i, who)))
			}
			for _, c := range Dangers(r, namespaced) {
				msg := fmt.Sprintf("rule %d (verbs %v on %v): %s", i, r.Verbs, r.Resources, who)
				if len(r.ResourceNames) > 0 {
					msg += fmt.Sprintf(" (limited to %v)", r.ResourceNames)
				}
				out = append(out, finding.New(c, o, rp, msg))
			}
		}
	}

	// Binding checks.
	for _, b := range a.bindings {
		var subjects []rbacv1.Subject
		var ref rbacv1.RoleRef
		switch x := b.Obj.(type) {
		case *rbacv1.RoleBinding:
			subjects, ref = x.Subjects, x.RoleRef
		case *rbacv1.ClusterRoleBinding:
			subjects, ref = x.Subjects, x.RoleRef
		}
		for i, s := range subjects {
			subj := Subject{Kind: s.Kind, Name: s.Name, Namespace: s.Namespace}
			if s.Kind == rbacv1.ServiceAccountKind && subj.Namespace == "" {
				subj.Namespace = b.Namespace
			}
			field := fmt.Sprintf("subjects[%d]", i)
			if ref.Kind == "ClusterRole" && ref.Name == "cluster-admin" && !subj.IsSystem() {
				scope := "cluster-wide"
				if b.Kind == "RoleBinding" {
					scope = "in namespace " + b.Namespace
				}
				out = append(out, finding.New(ClusterAdminBinding, b, field, fmt.Sprintf("%s holds cluster-admin %s", subj, scope)))
			}
			if s.Kind == rbacv1.ServiceAccountKind && s.Name == "default" {
				out = append(out, finding.New(DefaultSARoles, b, field, fmt.Sprintf("%s is bound to %s %s; every pod without its own service account gets it", subj, ref.Kind, ref.Name)))
			}
		}
	}

	// Workloads whose service account can take over.
	// A pod that does not mount its token cannot use its service account.
	for _, w := range inv.Workloads() {
		if !inv.MountsToken(w) {
			continue
		}
		_, _, base, _ := w.PodTemplate()
		sa, _ := w.ServiceAccountOf()
		subj := Subject{Kind: rbacv1.ServiceAccountKind, Namespace: w.Namespace, Name: sa}
		var what []string
		for _, g := range a.Permissions(subj) {
			r := g.Rule.Rule
			admin := has(r.Verbs, "*") && has(r.Resources, "*") && has(r.APIGroups, "*")
			var names []string
			if admin {
				names = append(names, "all verbs on all resources")
			}
			for _, c := range Dangers(r, g.Namespace != "") {
				if slices.Contains(takeover, c.ID) {
					names = append(names, strings.ToLower(c.Title))
				}
			}
			for _, n := range names {
				s := fmt.Sprintf("%s (via %s -> %s)", n, g.Binding, g.Role)
				if !slices.Contains(what, s) {
					what = append(what, s)
				}
			}
		}
		if len(what) > 0 {
			out = append(out, finding.New(WorkloadSATakeover, w, base+".serviceAccountName",
				fmt.Sprintf("pods run as %s, which %s", subj, strings.Join(what, "; "))))
		}
	}
	return out
}
