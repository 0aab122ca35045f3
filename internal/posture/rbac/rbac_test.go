package rbac

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/vigilsec/vigil/internal/posture/finding"
	"github.com/vigilsec/vigil/internal/posture/manifest"
)

const fixture = `apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: monitoring}
aggregationRule:
  clusterRoleSelectors:
  - matchLabels: {rbac.example.com/aggregate-to-monitoring: "true"}
rules: []
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: mon-pods
  labels: {rbac.example.com/aggregate-to-monitoring: "true"}
rules:
- {apiGroups: [""], resources: [pods], verbs: [get, list]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: mon-secrets
  labels: {rbac.example.com/aggregate-to-monitoring: "true"}
rules:
- {apiGroups: [""], resources: [secrets], verbs: [get], resourceNames: [mon-token]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: unrelated}
rules:
- {apiGroups: [apps], resources: [deployments], verbs: [delete]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: mon}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: monitoring}
subjects:
- {kind: Group, name: monitoring-team, apiGroup: rbac.authorization.k8s.io}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: deployer, namespace: shop}
rules:
- {apiGroups: [apps], resources: [deployments], verbs: [create, update]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: alice-deploys, namespace: shop}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: deployer}
subjects:
- {kind: User, name: alice, apiGroup: rbac.authorization.k8s.io}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: builder-reads, namespace: shop}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: mon-pods}
subjects:
- {kind: ServiceAccount, name: builder}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: debugger, namespace: shop}
rules:
- {apiGroups: [""], resources: ["*/exec"], verbs: [create]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: carol-debugs, namespace: shop}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: debugger}
subjects:
- {kind: User, name: carol}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: everything-core}
rules:
- {apiGroups: [""], resources: ["*"], verbs: ["*"]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: robot}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: everything-core}
subjects:
- {kind: ServiceAccount, name: robot, namespace: ops}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: admins}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin}
subjects:
- {kind: Group, name: "system:masters"}
- {kind: User, name: bob}
`

func inventory(t *testing.T, docs ...string) *manifest.Inventory {
	t.Helper()
	inv := &manifest.Inventory{}
	inv.AddBytes("rbac.yaml", []byte(strings.Join(docs, "\n---\n")))
	if len(inv.Errors) > 0 {
		t.Fatalf("load: %v", inv.Errors)
	}
	return inv
}

func answers(as []Answer) []string {
	var out []string
	for _, a := range as {
		s := fmt.Sprintf("%s @%s via %s -> %s", a.Subject, a.Scope, a.Binding, a.Role)
		if a.RuleFrom != a.Role {
			s += " (rule from " + a.RuleFrom.String() + ")"
		}
		if len(a.ResourceNames) > 0 {
			s += " names=" + strings.Join(a.ResourceNames, ",")
		}
		out = append(out, s)
	}
	return out
}

func TestWhoCan(t *testing.T) {
	a := New(inventory(t, fixture))
	masters := "Group/system:masters @cluster via ClusterRoleBinding/admins -> ClusterRole/cluster-admin"
	bob := "User/bob @cluster via ClusterRoleBinding/admins -> ClusterRole/cluster-admin"
	robot := "ServiceAccount/ops/robot @cluster via ClusterRoleBinding/robot -> ClusterRole/everything-core"
	cases := []struct {
		verb, resource, ns string
		want               []string
	}{
		{"get", "pods", "shop", []string{
			"Group/monitoring-team @cluster via ClusterRoleBinding/mon -> ClusterRole/monitoring (rule from ClusterRole/mon-pods)",
			masters, "ServiceAccount/ops/robot @cluster via ClusterRoleBinding/robot -> ClusterRole/everything-core",
			"ServiceAccount/shop/builder @shop via RoleBinding/shop/builder-reads -> ClusterRole/mon-pods",
			bob}},
		{"get", "pods", "other", []string{
			"Group/monitoring-team @cluster via ClusterRoleBinding/mon -> ClusterRole/monitoring (rule from ClusterRole/mon-pods)",
			masters, robot, bob}},
		{"get", "secrets", "", []string{
			"Group/monitoring-team @cluster via ClusterRoleBinding/mon -> ClusterRole/monitoring (rule from ClusterRole/mon-secrets) names=mon-token",
			masters, robot, bob}},
		{"create", "deployments.apps", "shop", []string{masters, "User/alice @shop via RoleBinding/shop/alice-deploys -> Role/shop/deployer", bob}},
		{"create", "deployments", "other", []string{masters, bob}},
		{"create", "pods/exec", "shop", []string{masters, robot, "User/bob @cluster via ClusterRoleBinding/admins -> ClusterRole/cluster-admin",
			"User/carol @shop via RoleBinding/shop/carol-debugs -> Role/shop/debugger"}},
		{"delete", "deployments.apps", "", []string{masters, bob}},
		{"list", "secrets", "", []string{masters, robot, bob}},
	}
	for _, tc := range cases {
		t.Run(tc.verb+" "+tc.resource+" -n "+tc.ns, func(t *testing.T) {
			got := answers(a.WhoCan(ParseQuery(tc.verb, tc.resource, tc.ns)))
			if !slices.Equal(got, tc.want) {
				t.Errorf("got\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(tc.want, "\n  "))
			}
		})
	}
}

func TestAggregationAndNames(t *testing.T) {
	a := New(inventory(t, fixture))
	rules, ok := a.RoleRules(manifest.Ref{Kind: "ClusterRole", Name: "monitoring"})
	if !ok || len(rules) != 2 {
		t.Fatalf("monitoring has %d rules (ok=%v), want the 2 aggregated ones", len(rules), ok)
	}
	team := Subject{Kind: "Group", Name: "monitoring-team"}
	if !a.Can(team, Query{Verb: "get", Resource: "secrets", Name: "mon-token"}) {
		t.Error("monitoring-team should get secret mon-token")
	}
	if a.Can(team, Query{Verb: "get", Resource: "secrets", Name: "db-password"}) {
		t.Error("monitoring-team must not get secret db-password (resourceNames)")
	}
	if a.Can(team, Query{Verb: "delete", APIGroup: "apps", Resource: "deployments"}) {
		t.Error("unlabelled role must not be aggregated")
	}
	// Service accounts inherit grants to system:serviceaccounts groups.
	inv := inventory(t, `apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: all-sa}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin}
subjects: [{kind: Group, name: "system:serviceaccounts:dev"}]`)
	b := New(inv)
	if !b.Can(Subject{Kind: "ServiceAccount", Namespace: "dev", Name: "x"}, ParseQuery("delete", "nodes", "")) {
		t.Error("dev service account should inherit its namespace group's cluster-admin")
	}
	if b.Can(Subject{Kind: "ServiceAccount", Namespace: "prod", Name: "x"}, ParseQuery("delete", "nodes", "")) {
		t.Error("prod service account must not inherit dev's group")
	}
}

// ruleDoc is a ClusterRole "r" with one rule, bound to User u.
func ruleDoc(rule string) string {
	return `apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: r}
rules:
- ` + rule + `
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: rb}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: r}
subjects: [{kind: User, name: u}]`
}

func hasFinding(fs []finding.Finding, id, object, field string) bool {
	for _, f := range fs {
		if f.CheckID == id && f.Object.String() == object && f.Field == field {
			return true
		}
	}
	return false
}

func hasID(fs []finding.Finding, id string) bool {
	return slices.ContainsFunc(fs, func(f finding.Finding) bool { return f.CheckID == id })
}

func TestRuleChecks(t *testing.T) {
	cases := []struct {
		check      finding.Check
		field      string
		fail, pass string
	}{
		{WildcardVerbs, "rules[0].verbs", `{apiGroups: [""], resources: [configmaps], verbs: ["*"]}`, `{apiGroups: [""], resources: [configmaps], verbs: [get]}`},
		{WildcardResources, "rules[0].resources", `{apiGroups: [""], resources: ["*"], verbs: [list]}`, `{apiGroups: [""], resources: [configmaps], verbs: [list]}`},
		{WildcardAPIGroups, "rules[0].apiGroups", `{apiGroups: ["*"], resources: [configmaps], verbs: [get]}`, `{apiGroups: [""], resources: [configmaps], verbs: [get]}`},
		{ReadSecrets, "rules[0]", `{apiGroups: [""], resources: [secrets], verbs: [list]}`, `{apiGroups: [""], resources: [configmaps, services], verbs: [list]}`},
		{Escalate, "rules[0]", `{apiGroups: [rbac.authorization.k8s.io], resources: [clusterroles], verbs: [escalate]}`, `{apiGroups: [rbac.authorization.k8s.io], resources: [clusterroles], verbs: [get]}`},
		{Bind, "rules[0]", `{apiGroups: [rbac.authorization.k8s.io], resources: [roles], verbs: [bind]}`, `{apiGroups: [rbac.authorization.k8s.io], resources: [rolebindings], verbs: [list]}`},
		{Impersonate, "rules[0]", `{apiGroups: [""], resources: [serviceaccounts], verbs: [impersonate]}`, `{apiGroups: [""], resources: [serviceaccounts], verbs: [get]}`},
		{PodsExec, "rules[0]", `{apiGroups: [""], resources: [pods/exec], verbs: [create]}`, `{apiGroups: [""], resources: [pods/log], verbs: [get]}`},
		{PodsAttach, "rules[0]", `{apiGroups: [""], resources: [pods/attach], verbs: [create]}`, `{apiGroups: [""], resources: [pods], verbs: [get]}`},
		{PodsPortForward, "rules[0]", `{apiGroups: [""], resources: [pods/portforward], verbs: [create]}`, `{apiGroups: [""], resources: [services/proxy], verbs: [get]}`},
		{NodesProxy, "rules[0]", `{apiGroups: [""], resources: [nodes/proxy], verbs: [get]}`, `{apiGroups: [""], resources: [nodes], verbs: [get]}`},
		{CreatePods, "rules[0]", `{apiGroups: [apps], resources: [daemonsets], verbs: [create]}`, `{apiGroups: [apps], resources: [daemonsets], verbs: [get]}`},
		{CreatePV, "rules[0]", `{apiGroups: [""], resources: [persistentvolumes], verbs: [create]}`, `{apiGroups: [""], resources: [persistentvolumeclaims], verbs: [create]}`},
		{CreateSAToken, "rules[0]", `{apiGroups: [""], resources: [serviceaccounts/token], verbs: [create]}`, `{apiGroups: [""], resources: [serviceaccounts], verbs: [get]}`},
		{ApproveCSR, "rules[0]", `{apiGroups: [certificates.k8s.io], resources: [certificatesigningrequests/approval], verbs: [update]}`, `{apiGroups: [certificates.k8s.io], resources: [certificatesigningrequests], verbs: [create]}`},
		{EditWebhooks, "rules[0]", `{apiGroups: [admissionregistration.k8s.io], resources: [mutatingwebhookconfigurations], verbs: [patch]}`, `{apiGroups: [admissionregistration.k8s.io], resources: [mutatingwebhookconfigurations], verbs: [list]}`},
		{DeleteEvents, "rules[0]", `{apiGroups: [events.k8s.io], resources: [events], verbs: [deletecollection]}`, `{apiGroups: [""], resources: [events], verbs: [create]}`},
	}
	for _, tc := range cases {
		t.Run(tc.check.ID, func(t *testing.T) {
			fs := Audit(inventory(t, ruleDoc(tc.fail)))
			if !hasFinding(fs, tc.check.ID, "ClusterRole/r", tc.field) {
				t.Errorf("failing rule %s: %s not reported at ClusterRole/r %s", tc.fail, tc.check.ID, tc.field)
			}
			if fs := Audit(inventory(t, ruleDoc(tc.pass))); hasID(fs, tc.check.ID) {
				t.Errorf("passing rule %s triggered %s", tc.pass, tc.check.ID)
			}
		})
	}
}

func TestBindingChecks(t *testing.T) {
	binding := func(role, subject string) string {
		return `apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: b, namespace: web}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: ` + role + `}
subjects: [` + subject + `]`
	}
	view := `apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: view}
rules: [{apiGroups: [""], resources: [configmaps], verbs: [get]}]`

	fs := Audit(inventory(t, binding("cluster-admin", "{kind: User, name: dave}")))
	if !hasFinding(fs, ClusterAdminBinding.ID, "RoleBinding/web/b", "subjects[0]") {
		t.Error("cluster-admin bound to user dave not reported")
	}
	if fs := Audit(inventory(t, binding("cluster-admin", `{kind: Group, name: "system:masters"}`))); hasID(fs, ClusterAdminBinding.ID) {
		t.Error("cluster-admin bound to system:masters reported")
	}
	fs = Audit(inventory(t, view, binding("view", "{kind: ServiceAccount, name: default}")))
	if !hasFinding(fs, DefaultSARoles.ID, "RoleBinding/web/b", "subjects[0]") {
		t.Errorf("default service account with a role not reported: %v", fs)
	}
	if fs := Audit(inventory(t, view, binding("view", "{kind: ServiceAccount, name: web-reader}"))); hasID(fs, DefaultSARoles.ID) {
		t.Error("dedicated service account reported as default")
	}
}

func TestWorkloadServiceAccount(t *testing.T) {
	deploy := func(sa string) string {
		return `apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: web}
spec:
  template:
    spec:
      serviceAccountName: ` + sa + `
      containers: [{name: a, image: x}]`
	}
	bind := func(sa, role string) string {
		return `apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: b-` + sa + `, namespace: web}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: ` + role + `}
subjects: [{kind: ServiceAccount, name: ` + sa + `}]`
	}
	roles := `apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: secrets}
rules: [{apiGroups: [""], resources: [secrets], verbs: [get]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: cm}
rules: [{apiGroups: [""], resources: [configmaps], verbs: [get]}]`
	fs := Audit(inventory(t, roles, deploy("reader"), bind("reader", "secrets")))
	if !hasFinding(fs, WorkloadSATakeover.ID, "Deployment/web/web", "spec.template.spec.serviceAccountName") {
		t.Errorf("workload whose SA reads secrets not reported: %v", fs)
	}
	if fs := Audit(inventory(t, roles, deploy("cm"), bind("cm", "cm"))); hasID(fs, WorkloadSATakeover.ID) {
		t.Error("workload whose SA reads configmaps reported")
	}
}

// A Role (or a RoleBinding) cannot grant cluster-scoped resources.
func TestClusterScopedThroughNamespacedGrants(t *testing.T) {
	inv := inventory(t, `apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: everything, namespace: a}
rules: [{apiGroups: ["*"], resources: ["*"], verbs: ["*"]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: b, namespace: a}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: everything}
subjects: [{kind: User, name: ns-admin}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: c, namespace: a}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin}
subjects: [{kind: User, name: ns-admin2}]`)
	a := New(inv)
	if got := answers(a.WhoCan(ParseQuery("get", "nodes/proxy", ""))); len(got) != 0 {
		t.Errorf("nodes/proxy through RoleBindings: %v", got)
	}
	if got := answers(a.WhoCan(ParseQuery("get", "secrets", "a"))); len(got) != 2 {
		t.Errorf("secrets in a: %v, want ns-admin and ns-admin2", got)
	}
	fs := Audit(inv)
	for _, c := range []finding.Check{NodesProxy, CreatePV, ApproveCSR, EditWebhooks} {
		if hasID(fs, c.ID) {
			t.Errorf("%s reported for a namespaced Role", c.ID)
		}
	}
	for _, c := range []finding.Check{ReadSecrets, PodsExec, WildcardVerbs} {
		if !hasID(fs, c.ID) {
			t.Errorf("%s not reported for the namespaced Role", c.ID)
		}
	}
}

// A ClusterRole bound only through a RoleBinding grants its rules in that
// namespace only: audit must not report cluster-scoped dangers for it, as
// who-can does not (issue 17, item 10).
func TestClusterRoleBoundOnlyByRoleBinding(t *testing.T) {
	role := `apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: node-ops}
rules:
- {apiGroups: [""], resources: [nodes/proxy], verbs: [get]}
- {apiGroups: [""], resources: [persistentvolumes], verbs: [create]}
- {apiGroups: [certificates.k8s.io], resources: [certificatesigningrequests/approval], verbs: [update]}
- {apiGroups: [admissionregistration.k8s.io], resources: [validatingwebhookconfigurations], verbs: [patch]}
- {apiGroups: [""], resources: [secrets], verbs: [get]}`
	rb := `apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: ops, namespace: team}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: node-ops}
subjects: [{kind: User, name: carol}]`
	crb := `apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: ops-everywhere}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: node-ops}
subjects: [{kind: User, name: dave}]`
	clusterScoped := []finding.Check{NodesProxy, CreatePV, ApproveCSR, EditWebhooks}

	inv := inventory(t, role, rb)
	if got := answers(New(inv).WhoCan(ParseQuery("get", "nodes/proxy", ""))); len(got) != 0 {
		t.Fatalf("who-can nodes/proxy: %v", got)
	}
	fs := Audit(inv)
	for _, c := range clusterScoped {
		if hasID(fs, c.ID) {
			t.Errorf("%s reported for a ClusterRole bound only in namespace team", c.ID)
		}
	}
	if !hasID(fs, ReadSecrets.ID) {
		t.Errorf("%s (namespaced) not reported", ReadSecrets.ID)
	}
	// Bound cluster-wide too: the cluster-scoped rules are real.
	fs = Audit(inventory(t, role, rb, crb))
	for _, c := range clusterScoped {
		if !hasID(fs, c.ID) {
			t.Errorf("%s not reported for a ClusterRole bound by a ClusterRoleBinding", c.ID)
		}
	}
}

// A pod that does not mount its token cannot use its service account's
// permissions; the pod's setting wins over the ServiceAccount's (item 11).
func TestTakeoverNeedsMountedToken(t *testing.T) {
	roles := `apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: secrets}
rules: [{apiGroups: [""], resources: [secrets], verbs: [get]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: b, namespace: web}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: secrets}
subjects: [{kind: ServiceAccount, name: reader}]`
	deploy := func(automount string) string {
		return `apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: web}
spec:
  template:
    spec:
      serviceAccountName: reader` + automount + `
      containers: [{name: a, image: x}]`
	}
	sa := func(automount string) string {
		return `apiVersion: v1
kind: ServiceAccount
metadata: {name: reader, namespace: web}
automountServiceAccountToken: ` + automount
	}
	for _, tc := range []struct {
		name string
		docs []string
		want bool
	}{
		{"pod opts out", []string{roles, deploy("\n      automountServiceAccountToken: false")}, false},
		{"service account opts out", []string{roles, sa("false"), deploy("")}, false},
		{"pod opts in over the service account", []string{roles, sa("false"), deploy("\n      automountServiceAccountToken: true")}, true},
		{"pod opts out over the service account", []string{roles, sa("true"), deploy("\n      automountServiceAccountToken: false")}, false},
		{"default", []string{roles, deploy("")}, true},
	} {
		if got := hasID(Audit(inventory(t, tc.docs...)), WorkloadSATakeover.ID); got != tc.want {
			t.Errorf("%s: %s reported %v, want %v", tc.name, WorkloadSATakeover.ID, got, tc.want)
		}
	}
}
