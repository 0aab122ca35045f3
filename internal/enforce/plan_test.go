package enforce

import (
	"bytes"
	"encoding/json"
	"net/netip"
	"strings"
	"testing"

	"github.com/vigilsec/vigil/internal/event"
	"github.com/vigilsec/vigil/internal/policy"
)

func mustParse(t *testing.T, src string) []*policy.Policy {
	t.Helper()
	ps, err := policy.Parse("t.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	return ps
}

const planSrc = `
- name: web
  scope: {containers: {names: [web-*]}}
  network:
    egress:
      default: block
      rules:
        - {name: lan, action: allow, cidrs: [10.0.0.0/8], ports: [443], protocol: tcp}
        - {name: lan-dns, action: allow, cidrs: [10.1.0.0/16], ports: [53], protocol: udp}
        - {name: v6, action: audit, cidrs: ["fd00::/8"]}
    bind:
      rules:
        - {name: ssh, action: block, ports: [22]}
- name: baseline
  mode: audit
  scope: {containers: {}}
  process:
    rules:
      - {name: nc, action: kill, names: [nc], dirs: [/tmp]}
  file:
    rules:
      - {name: shadow, action: block, access: read, paths: [/etc/shadow]}
- name: host
  scope: {host: true}
  process:
    rules: [{name: miner, action: kill, paths: [/usr/bin/xmrig]}]
`

func planTargets() []Target {
	return []Target{
		{Container: &event.Container{ID: "a", Name: "web-1"}, CgroupPath: "/k/a", CgroupID: 10, RootPID: -1},
		{Container: &event.Container{ID: "b", Name: "web-2"}, CgroupPath: "/k/b", CgroupID: 11, RootPID: -1},
		{Container: &event.Container{ID: "c", Name: "db"}, CgroupPath: "/k/c", CgroupID: 12, RootPID: -1},
		{CgroupPath: "/", CgroupID: 1},
	}
}

func TestBuildPlan(t *testing.T) {
	pl, err := BuildPlan(mustParse(t, planSrc), planTargets(), 1)
	if err != nil {
		t.Fatal(err)
	}
	if !pl.NeedNet || !pl.NeedExec || !pl.NeedFile {
		t.Errorf("mechanisms: net %v exec %v file %v", pl.NeedNet, pl.NeedExec, pl.NeedFile)
	}
	// web-1 and web-2 share one section set; db gets baseline only; host its own.
	if len(pl.Sections) != 3 {
		t.Fatalf("got %d section sets, want 3", len(pl.Sections))
	}
	s := pl.Bindings[0].Sections
	if s != pl.Bindings[1].Sections || s.Egress.Name != "web" || s.Process.Name != "baseline" || s.File.Name != "baseline" {
		t.Errorf("web sections: %+v", s)
	}
	if db := pl.Bindings[2].Sections; db.Egress != nil || db.Process.Name != "baseline" {
		t.Errorf("db sections: %+v", db)
	}
	if h := pl.Bindings[3].Sections; h.Process.Name != "host" || h.File != nil {
		t.Errorf("host sections: %+v", h)
	}
	if got := strings.Join(pl.NetAttach, ","); got != "/k/a,/k/b" {
		t.Errorf("attach = %s", got)
	}
	cfg := pl.policyCfg[s.ID]
	if cfg.EgressDefault != uint8(policy.ActionBlock) || cfg.Flags&polAuditExec == 0 || cfg.Flags&polAuditEgress != 0 || cfg.Flags&polExecDirs == 0 {
		t.Errorf("cfg %+v", cfg)
	}
	if _, ok := pl.exec[enforceExecKey{PolicyId: s.ID, Kind: uint32(enforceExecKindEXEC_NAME), A: fnv64("nc")}]; !ok {
		t.Error("no exec name entry for nc")
	}
	// Dirs are resolved to a device and inode per target, at Apply.
	if n := len(pl.execFiles); n == 0 || pl.execFiles[0].Path != "/tmp/" || pl.execFiles[0].Kind != enforceExecKindEXEC_DIR {
		t.Errorf("exec file rules %+v, want the /tmp/ dir", pl.execFiles)
	}
	if len(pl.Warnings) != 0 {
		t.Errorf("warnings %q", pl.Warnings)
	}
	// A container with no known process gets no file marks, and a warning.
	ts := planTargets()
	ts[2].RootPID = 0
	if pl0, err := BuildPlan(mustParse(t, planSrc), ts, 1); err != nil || len(pl0.Warnings) != 1 || !strings.Contains(pl0.Warnings[0], "container c") {
		t.Errorf("no-process container: %v %q", err, pl0.Warnings)
	}
	var buf bytes.Buffer
	pl.WriteTo(&buf)
	for _, want := range []string{"cgroup-bpf", "fanotify", "inode(<container root>/etc/shadow: open)", "cgroup /k/c [container c (db)]"} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("plan text lacks %q:\n%s", want, buf.String())
		}
	}
}

// lookup mimics the kernel: longest prefix, then the first rule matching
// port and protocol; the default otherwise.
func lookup(pl *Plan, id uint32, addr netip.Addr, port uint16, proto policy.Proto) (policy.Action, string) {
	a16 := addr.As16()
	best := -1
	for i, e := range pl.egress {
		if e.Key.PolicyId != id {
			continue
		}
		pfx := netip.PrefixFrom(netip.AddrFrom16(e.Key.Addr), int(e.Key.Prefixlen)-32)
		if pfx.Contains(netip.AddrFrom16(a16)) && (best < 0 || pfx.Bits() > int(pl.egress[best].Key.Prefixlen)-32) {
			best = i
		}
	}
	cfg := pl.policyCfg[id]
	if best >= 0 {
		rs := pl.egress[best].Val
		for _, r := range rs.R[:rs.N] {
			if r.Proto&uint8(proto) != 0 && port >= r.PortLo && port <= r.PortHi {
				return policy.Action(r.Action), pl.Rules[r.RuleId].Rule
			}
		}
	}
	return policy.Action(cfg.EgressDefault), pl.Rules[cfg.EgressDefaultRule].Rule
}

func TestEgressLPMCompile(t *testing.T) {
	pl, err := BuildPlan(mustParse(t, planSrc), planTargets(), 1)
	if err != nil {
		t.Fatal(err)
	}
	id := pl.Bindings[0].Sections.ID
	for _, tc := range []struct {
		addr  string
		port  uint16
		proto policy.Proto
		want  policy.Action
		rule  string
	}{
		{"10.9.9.9", 443, policy.ProtoTCP, policy.ActionAllow, "lan"},
		{"10.9.9.9", 80, policy.ProtoTCP, policy.ActionBlock, "egress-default"},
		// 10.1/16 is inside 10/8: its entry must carry the /8 rules too.
		{"10.1.2.3", 443, policy.ProtoTCP, policy.ActionAllow, "lan"},
		{"10.1.2.3", 53, policy.ProtoUDP, policy.ActionAllow, "lan-dns"},
		{"10.1.2.3", 53, policy.ProtoTCP, policy.ActionBlock, "egress-default"},
		{"192.168.1.1", 443, policy.ProtoTCP, policy.ActionBlock, "egress-default"},
		{"fd00::1", 22, policy.ProtoTCP, policy.ActionAudit, "v6"},
		{"2001:db8::1", 443, policy.ProtoTCP, policy.ActionBlock, "egress-default"},
	} {
		a := netip.MustParseAddr(tc.addr)
		got, rule := lookup(pl, id, a, tc.port, tc.proto)
		if got != tc.want || rule != tc.rule {
			t.Errorf("%s:%d/%s = %s (%s), want %s (%s)", tc.addr, tc.port, tc.proto, got, rule, tc.want, tc.rule)
		}
	}
}

func TestPlanTooManyRules(t *testing.T) {
	var b strings.Builder
	b.WriteString("name: x\nscope: {host: true}\nnetwork:\n  egress:\n    rules:\n")
	for i := range MaxNetRules + 1 {
		b.WriteString("      - {action: block, ports: [" + string(rune('1'+i%9)) + "]}\n")
	}
	_, err := BuildPlan(mustParse(t, b.String()), []Target{{CgroupPath: "/", CgroupID: 1}}, 1)
	if err == nil || !strings.Contains(err.Error(), "more than 16") {
		t.Fatalf("err = %v", err)
	}
}

func TestFileTable(t *testing.T) {
	pl, err := BuildPlan(mustParse(t, planSrc+`
- name: keys
  scope: {host: true}
  file:
    default: audit
    access: write
    rules: [{name: ssh, action: block, dirs: [/root/.ssh]}]
`), planTargets(), 1)
	if err != nil {
		t.Fatal(err)
	}
	ft := pl.files
	if !ft.HasDefault || !ft.relevant("/anything") {
		t.Error("host default should make every path relevant")
	}
	web := ft.binding("/k/a/sub")
	if web == nil || web.Sec == nil {
		t.Fatal("no binding for /k/a/sub")
	}
	if a, _ := web.Sec.decide("/etc/shadow", policy.AccessRead); a != policy.ActionBlock {
		t.Errorf("shadow read: %s", a)
	}
	if a, _ := web.Sec.decide("/etc/shadow", policy.AccessWrite); a != policy.ActionNone {
		t.Errorf("shadow write (rule is read-only): %s", a)
	}
	host := ft.binding("/system.slice/x.service")
	if a, _ := host.Sec.decide("/root/.ssh/id_rsa", policy.AccessRead); a != policy.ActionBlock {
		t.Errorf("host ssh: %s", a)
	}
	if a, _ := host.Sec.decide("/etc/passwd", policy.AccessWrite); a != policy.ActionAudit {
		t.Errorf("host default write: %s", a)
	}
	if a, _ := host.Sec.decide("/etc/passwd", policy.AccessRead); a != policy.ActionNone {
		t.Errorf("host default read: %s", a)
	}
}

// Decisions cross from the gate process as JSON: the round trip is exact.
func TestDecisionJSONRoundTrip(t *testing.T) {
	d := Decision{Mechanism: MechFanotify, Kind: KindOpen, Action: policy.ActionKill, Enforced: true, Mode: policy.ModeAudit,
		Policy: "p", Rule: "r", PID: 7, CgroupPath: "/a", Path: "/etc/shadow", Access: policy.AccessRead,
		Addr: netip.MustParseAddrPort("[::1]:80"), Proto: policy.ProtoUDP}
	b, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"Kind":"open","Action":"kill"`) {
		t.Errorf("json %s", b)
	}
	var got Decision
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if !got.Time.Equal(d.Time) {
		t.Errorf("time %v", got.Time)
	}
	got.Time = d.Time
	if got != d {
		t.Errorf("round trip:\n got %+v\nwant %+v", got, d)
	}
}
