package enforce

import (
	"cmp"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash/fnv"
	"io"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"

	"github.com/vigilsec/vigil/internal/event"
	"github.com/vigilsec/vigil/internal/policy"
	"golang.org/x/sys/unix"
)

// Target is a place policies can apply to: a container (or the host) and
// its cgroup v2 directory.
type Target struct {
	// Container selects policies by scope; nil (or ID "host") is the host.
	Container *event.Container
	// CgroupPath is the cgroup v2 directory, absolute (under the v2 mount)
	// or relative to it ("/kubepods/..."). For the host it is the v2 root.
	CgroupPath string
	// CgroupID is the cgroup v2 id (the directory's inode); when 0, Apply
	// stats CgroupPath. BuildPlan leaves it as given.
	CgroupID uint64
	// RootPID is a process of the container, used to reach its root
	// filesystem (/proc/RootPID/root) for file marks. For the host it is 0
	// (the host's /, reached through /proc/1/root when the agent runs in a
	// container of its own). For a container, 0 means unknown: Apply looks for
	// one in the cgroup, and without one the container's file and
	// exec-block rules are not applied (a plan warning says so). A negative
	// value makes a display-only plan (vigil policy validate).
	RootPID int
}

// MaxNetRules is the most egress rule entries (rule × port range) that may
// cover one address, and the most bind entries per section.
const MaxNetRules = 16

// RuleRef names the rule a decision came from.
type RuleRef struct {
	Policy string
	Rule   string // "default" for a section's default
	Mode   policy.Mode
	Action policy.Action
}

// Sections is one combination of policy sections; each section comes from
// the first policy (in load order) selecting the target that defines it.
type Sections struct {
	ID                          uint32 // BPF policy id
	Egress, Bind, Process, File *policy.Policy
}

func (s *Sections) key() [4]*policy.Policy {
	return [4]*policy.Policy{s.Egress, s.Bind, s.Process, s.File}
}

// Binding ties a cgroup to a section combination (nil: explicitly none).
type Binding struct {
	Target   Target
	Sections *Sections
}

// Plan is what enforcing a set of policies on a set of targets takes: the
// mechanisms, attach points and map contents. It is pure data; Apply loads it.
type Plan struct {
	Sections []*Sections
	Bindings []Binding
	// NetAttach are the cgroup paths the cgroup-bpf programs attach to
	// (no path below another one).
	NetAttach []string
	NeedNet   bool // cgroup-bpf connect/sendmsg/bind programs
	NeedExec  bool // the sched_process_exec program
	NeedFile  bool // fanotify
	Rules     []RuleRef
	Warnings  []string
	// Unmarked are the fanotify marks Apply could not place because their
	// path does not exist (a file rule's path that a target lacks, as the
	// agent reaches it: /proc/PID/root/...): the other marks are in force,
	// those files are protected once they exist and the policy is applied
	// again (MarksMissing tells when).
	Unmarked []string

	policyCfg map[uint32]enforcePolicyCfg
	egress    []lpmEntry
	bind      map[uint32]enforceNetRules
	exec      map[enforceExecKey]enforceExecVal
	execFiles []execFileRule // paths and dirs, resolved per target by resolveExec
	files     *fileTable
}

// execFileRule is a process rule's path or directory, to be resolved to a
// device and inode in the root of each target bound to the section.
type execFileRule struct {
	Section *Sections
	Kind    enforceExecKind // EXEC_INODE (a path) or EXEC_DIR
	Path    string
	Val     enforceExecVal
}

type lpmEntry struct {
	Key enforceLpmKey
	Val enforceNetRules
}

// BuildPlan computes the plan for policies on targets. Policy ids start at
// firstID (Apply alternates ranges so an update never reuses live ids).
// targets must include the host (Container nil) for host-scope policies to
// apply.
func BuildPlan(policies []*policy.Policy, targets []Target, firstID uint32) (*Plan, error) {
	pl := &Plan{
		policyCfg: map[uint32]enforcePolicyCfg{},
		bind:      map[uint32]enforceNetRules{},
		exec:      map[enforceExecKey]enforceExecVal{},
	}
	ruleIDs := map[string]uint32{}
	ruleID := func(p *policy.Policy, rule string, a policy.Action) uint32 {
		k := p.Name + "\x00" + rule
		if id, ok := ruleIDs[k]; ok {
			return id
		}
		id := uint32(len(pl.Rules))
		pl.Rules = append(pl.Rules, RuleRef{Policy: p.Name, Rule: rule, Mode: p.Mode, Action: a})
		ruleIDs[k] = id
		return id
	}
	combos := map[[4]*policy.Policy]*Sections{}
	for _, t := range targets {
		var s Sections
		for _, p := range policies {
			if !p.Scope.Matches(t.Container) {
				continue
			}
			if p.HasEgress() && s.Egress == nil {
				s.Egress = p
			}
			if p.HasBind() && s.Bind == nil {
				s.Bind = p
			}
			if p.HasProcess() && s.Process == nil {
				s.Process = p
			}
			if p.HasFile() && s.File == nil {
				s.File = p
			}
		}
		if s.key() == ([4]*policy.Policy{}) {
			pl.Bindings = append(pl.Bindings, Binding{Target: t})
			continue
		}
		c, ok := combos[s.key()]
		if !ok {
			c = &s
			c.ID = firstID + uint32(len(pl.Sections))
			combos[s.key()] = c
			pl.Sections = append(pl.Sections, c)
		}
		pl.Bindings = append(pl.Bindings, Binding{Target: t, Sections: c})
	}
	for _, s := range pl.Sections {
		var cfg enforcePolicyCfg
		if p := s.Egress; p != nil {
			pl.NeedNet = true
			cfg.EgressDefault = uint8(p.Network.Egress.Default)
			cfg.EgressDefaultRule = ruleID(p, "egress-default", p.Network.Egress.Default)
			if p.Mode == policy.ModeAudit {
				cfg.Flags |= polAuditEgress
			}
			ents, err := compileEgress(s.ID, p, ruleID)
			if err != nil {
				return nil, err
			}
			pl.egress = append(pl.egress, ents...)
		}
		if p := s.Bind; p != nil {
			pl.NeedNet = true
			cfg.BindDefault = uint8(p.Network.Bind.Default)
			cfg.BindDefaultRule = ruleID(p, "bind-default", p.Network.Bind.Default)
			if p.Mode == policy.ModeAudit {
				cfg.Flags |= polAuditBind
			}
			rs, err := compileBind(p, ruleID)
			if err != nil {
				return nil, err
			}
			pl.bind[s.ID] = rs
		}
		if p := s.Process; p != nil {
			// kill and audit are in-kernel (tracepoint + SIGKILL); block
			// needs exec to fail with EPERM, which only fanotify's
			// FAN_OPEN_EXEC_PERM can do here. allow entries go to both.
			d := p.Process.Default
			if d == policy.ActionBlock {
				pl.NeedFile = true
				d = policy.ActionNone
			}
			cfg.ExecDefault = uint8(d)
			cfg.ExecDefaultRule = ruleID(p, "process-default", p.Process.Default)
			if p.Mode == policy.ModeAudit {
				cfg.Flags |= polAuditExec
			}
			if d != policy.ActionNone {
				pl.NeedExec = true
			}
			for _, r := range p.Process.Rules {
				if r.Action == policy.ActionBlock {
					pl.NeedFile = true
					continue
				}
				if r.Action != policy.ActionAllow {
					pl.NeedExec = true
				}
				v := enforceExecVal{Action: uint32(r.Action), RuleId: ruleID(p, r.Name, r.Action)}
				for _, x := range r.Paths {
					pl.execFiles = append(pl.execFiles, execFileRule{Section: s, Kind: enforceExecKindEXEC_INODE, Path: x, Val: v})
				}
				for _, x := range r.Dirs {
					pl.execFiles = append(pl.execFiles, execFileRule{Section: s, Kind: enforceExecKindEXEC_DIR, Path: x, Val: v})
					cfg.Flags |= polExecDirs
				}
				for _, x := range r.Names {
					pl.addExec(enforceExecKey{PolicyId: s.ID, Kind: uint32(enforceExecKindEXEC_NAME), A: fnv64(x)}, v)
				}
				for _, x := range r.SHA256 {
					a, b := sha256Key(x)
					pl.addExec(enforceExecKey{PolicyId: s.ID, Kind: uint32(enforceExecKindEXEC_SHA256), A: a, B: b}, v)
					cfg.Flags |= polExecHash
				}
			}
		}
		if s.File != nil {
			pl.NeedFile = true
		}
		pl.policyCfg[s.ID] = cfg
	}
	if pl.NeedFile {
		pl.files = compileFiles(pl, ruleID)
	}
	if pl.NeedNet {
		pl.NetAttach = netAttach(pl.Bindings)
	}
	return pl, nil
}

// Section flags and exec key kinds; values match bpf/enforce.c.
const (
	polAuditEgress = 1
	polAuditBind   = 2
	polAuditExec   = 4
	polExecDirs    = 8
	polExecHash    = 16
)

func fnv64(s string) uint64 {
	h := fnv.New64a()
	io.WriteString(h, s)
	return h.Sum64()
}

// addExec adds an exec rule key; the first rule (in order) for a key wins.
func (pl *Plan) addExec(k enforceExecKey, v enforceExecVal) {
	if _, ok := pl.exec[k]; !ok {
		pl.exec[k] = v
	}
}

// sha256Key is the map key of a hex sha256 digest: its first 16 bytes.
func sha256Key(hexDigest string) (a, b uint64) {
	d, _ := hex.DecodeString(hexDigest) // validated by the policy parser
	if len(d) < 16 {
		return 0, 0
	}
	return binary.LittleEndian.Uint64(d[0:8]), binary.LittleEndian.Uint64(d[8:16])
}

// kernelDev converts a stat device number to the kernel's dev_t encoding
// (major << 20 | minor), which the BPF programs read from super blocks.
func kernelDev(d uint64) uint64 { return uint64(unix.Major(d))<<20 | uint64(unix.Minor(d)) }

// resolveExec adds the exec entries of path and dir rules: for each target
// bound to a section with such rules, the device and inode the path
// resolves to in the target's root (symlinks followed). It needs the
// targets' processes (RootPID), so Apply calls it, not BuildPlan.
func (pl *Plan) resolveExec() {
	if len(pl.execFiles) == 0 {
		return
	}
	done := map[string]bool{} // section id + root: resolved once
	hostRoot := hostFSRoot()
	for _, b := range pl.Bindings {
		if b.Sections == nil {
			continue
		}
		root := hostRoot
		switch {
		case b.Target.RootPID < 0:
			continue // display only
		case b.Target.RootPID > 0:
			root = fmt.Sprintf("/proc/%d/root", b.Target.RootPID)
		case b.Target.Container != nil && b.Target.Container.ID != "host":
			pl.Warnings = append(pl.Warnings, fmt.Sprintf("container %s: no process known, exec path and dir rules not applied", b.Target.Container.ID))
			continue
		}
		for _, r := range pl.execFiles {
			if r.Section != b.Sections {
				continue
			}
			k := fmt.Sprint(r.Section.ID, root, r.Path)
			if done[k] {
				continue
			}
			done[k] = true
			full := filepath.Join(root, r.Path)
			var st unix.Stat_t
			if err := unix.Stat(full, &st); err != nil {
				pl.Warnings = append(pl.Warnings, fmt.Sprintf("exec rule path %s in %s: %v (not applied)", r.Path, root, err))
				continue
			}
			if r.Kind == enforceExecKindEXEC_INODE {
				var lst unix.Stat_t
				if unix.Lstat(full, &lst) == nil && lst.Mode&unix.S_IFMT == unix.S_IFLNK {
					pl.Warnings = append(pl.Warnings, fmt.Sprintf("exec rule path %s in %s is a symlink: the rule matches the file it resolves to, under every name", r.Path, root))
				}
			}
			pl.addExec(enforceExecKey{PolicyId: r.Section.ID, Kind: uint32(r.Kind), A: kernelDev(st.Dev), B: st.Ino}, r.Val)
		}
	}
}

type netItem struct {
	pfx   netip.Prefix // IPv6 (IPv4 as v4-mapped)
	order int
	rule  enforceNetRule
}

func mapped(p netip.Prefix) netip.Prefix {
	if p.Addr().Is4() {
		return netip.PrefixFrom(netip.AddrFrom16(p.Addr().As16()), 96+p.Bits())
	}
	return p
}

func ruleEntries(a policy.Action, id uint32, ports []policy.PortRange, proto policy.Proto) []enforceNetRule {
	if len(ports) == 0 {
		ports = []policy.PortRange{{Lo: 0, Hi: 65535}}
	}
	out := make([]enforceNetRule, 0, len(ports))
	for _, pr := range ports {
		out = append(out, enforceNetRule{PortLo: pr.Lo, PortHi: pr.Hi, Proto: uint8(proto), Action: uint8(a), RuleId: id})
	}
	return out
}

// compileEgress builds the LPM entries of one egress section. The trie
// returns only the longest matching prefix, so each prefix's value holds
// the rules of every prefix containing it, in rule order.
func compileEgress(id uint32, p *policy.Policy, ruleID func(*policy.Policy, string, policy.Action) uint32) ([]lpmEntry, error) {
	var items []netItem
	for _, r := range p.Network.Egress.Rules {
		cidrs := r.CIDRs
		if len(cidrs) == 0 {
			cidrs = []netip.Prefix{netip.MustParsePrefix("::/0")}
		}
		for _, c := range cidrs {
			for _, nr := range ruleEntries(r.Action, ruleID(p, r.Name, r.Action), r.Ports, r.Protocol) {
				items = append(items, netItem{pfx: mapped(c), order: len(items), rule: nr})
			}
		}
	}
	seen := map[netip.Prefix]bool{}
	var out []lpmEntry
	for _, it := range items {
		if seen[it.pfx] {
			continue
		}
		seen[it.pfx] = true
		var rs enforceNetRules
		for _, o := range items { // items are in rule order
			if o.pfx.Bits() <= it.pfx.Bits() && o.pfx.Contains(it.pfx.Addr()) {
				if rs.N == MaxNetRules {
					return nil, fmt.Errorf("policy %q: more than %d egress rule entries (rule x port range) cover %s", p.Name, MaxNetRules, unmapped(it.pfx))
				}
				rs.R[rs.N] = o.rule
				rs.N++
			}
		}
		e := lpmEntry{Key: enforceLpmKey{Prefixlen: 32 + uint32(it.pfx.Bits()), PolicyId: id, Addr: it.pfx.Addr().As16()}, Val: rs}
		out = append(out, e)
	}
	return out, nil
}

func unmapped(p netip.Prefix) netip.Prefix {
	if p.Addr().Is4In6() && p.Bits() >= 96 {
		return netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
	}
	return p
}

func compileBind(p *policy.Policy, ruleID func(*policy.Policy, string, policy.Action) uint32) (enforceNetRules, error) {
	var rs enforceNetRules
	for _, r := range p.Network.Bind.Rules {
		for _, nr := range ruleEntries(r.Action, ruleID(p, r.Name, r.Action), r.Ports, r.Protocol) {
			if rs.N == MaxNetRules {
				return rs, fmt.Errorf("policy %q: more than %d bind rule entries (rule x port range)", p.Name, MaxNetRules)
			}
			rs.R[rs.N] = nr
			rs.N++
		}
	}
	return rs, nil
}

// netAttach returns the cgroup paths the network programs attach to: those
// bound to a section with network rules, without paths under another one.
// Cgroups explicitly bound to nothing under an attached ancestor are
// handled by their cg_policy entry (0 stops the walk).
func netAttach(bs []Binding) []string {
	var paths []string
	for _, b := range bs {
		if b.Sections != nil && (b.Sections.Egress != nil || b.Sections.Bind != nil) {
			paths = append(paths, cleanCgroup(b.Target.CgroupPath))
		}
	}
	slices.SortFunc(paths, func(a, b string) int { return cmp.Compare(len(a), len(b)) })
	var out []string
	for _, p := range paths {
		covered := false
		for _, q := range out {
			if p == q || q == "/" || strings.HasPrefix(p, q+"/") {
				covered = true
				break
			}
		}
		if !covered {
			out = append(out, p)
		}
	}
	slices.Sort(out)
	return out
}

// cleanCgroup returns p relative to the cgroup v2 mount, starting with "/".
func cleanCgroup(p string) string {
	p = strings.TrimPrefix(p, CgroupV2Root)
	if p == "" || p[0] != '/' {
		p = "/" + p
	}
	if len(p) > 1 {
		p = strings.TrimRight(p, "/")
	}
	return p
}

func dflt(on bool, a uint8) string {
	switch {
	case !on:
		return "-"
	case policy.Action(a) == policy.ActionNone:
		return "allow"
	}
	return policy.Action(a).String()
}

// WriteTo prints the plan for people (vigil policy validate).
func (pl *Plan) WriteTo(w io.Writer) (int64, error) {
	var b strings.Builder
	mech := func(on bool, s string) string {
		if on {
			return s
		}
		return ""
	}
	var ms []string
	for _, s := range []string{
		mech(pl.NeedNet, "cgroup-bpf (connect4/6, sendmsg4/6, bind4/6)"),
		mech(pl.NeedExec, "raw tracepoint sched_process_exec (bpf_send_signal SIGKILL)"),
		mech(pl.NeedFile, "fanotify (FAN_CLASS_CONTENT, FAN_OPEN_PERM, FAN_OPEN_EXEC_PERM)"),
	} {
		if s != "" {
			ms = append(ms, s)
		}
	}
	fmt.Fprintf(&b, "mechanisms: %s\n", strings.Join(ms, "; "))
	for _, s := range pl.Sections {
		fmt.Fprintf(&b, "section set %d:\n", s.ID)
		name := func(p *policy.Policy) string {
			if p == nil {
				return "-"
			}
			return fmt.Sprintf("%s (%s)", p.Name, p.Mode)
		}
		fmt.Fprintf(&b, "  egress: %s  bind: %s  process: %s  file: %s\n", name(s.Egress), name(s.Bind), name(s.Process), name(s.File))
		cfg := pl.policyCfg[s.ID]
		fmt.Fprintf(&b, "  defaults: egress %s, bind %s, process %s", dflt(s.Egress != nil, cfg.EgressDefault),
			dflt(s.Bind != nil, cfg.BindDefault), dflt(s.Process != nil, cfg.ExecDefault))
		if s.File != nil {
			fmt.Fprintf(&b, ", file %s (%s)", dflt(true, uint8(s.File.File.Default)), s.File.File.DefaultAccess)
		}
		b.WriteString("\n")
	}
	for _, bd := range pl.Bindings {
		who := "host"
		if c := bd.Target.Container; c != nil && c.ID != "host" {
			who = "container " + c.ID
			if c.Name != "" {
				who += " (" + c.Name + ")"
			}
		}
		set := "none"
		if bd.Sections != nil {
			set = fmt.Sprint(bd.Sections.ID)
		}
		fmt.Fprintf(&b, "cgroup %s [%s] -> section set %s\n", cleanCgroup(bd.Target.CgroupPath), who, set)
	}
	if len(pl.NetAttach) > 0 {
		fmt.Fprintf(&b, "cgroup-bpf attach: %s\n", strings.Join(pl.NetAttach, ", "))
	}
	fmt.Fprintf(&b, "maps: cg_policy=%d policies=%d egress_rules(lpm)=%d bind_rules=%d exec_rules=%d (+%d path and dir rules resolved per target)\n",
		len(pl.Bindings), len(pl.policyCfg), len(pl.egress), len(pl.bind), len(pl.exec), len(pl.execFiles))
	for _, e := range pl.egress {
		pfx := unmapped(netip.PrefixFrom(netip.AddrFrom16(e.Key.Addr), int(e.Key.Prefixlen)-32))
		var rs []string
		for _, r := range e.Val.R[:e.Val.N] {
			ref := pl.Rules[r.RuleId]
			rs = append(rs, fmt.Sprintf("%s/%s ports %d-%d %s -> %s", ref.Policy, ref.Rule, r.PortLo, r.PortHi, policy.Proto(r.Proto), policy.Action(r.Action)))
		}
		fmt.Fprintf(&b, "  egress set %d %s: %s\n", e.Key.PolicyId, pfx, strings.Join(rs, "; "))
	}
	if pl.files != nil {
		fmt.Fprintf(&b, "fanotify marks:")
		for _, m := range pl.files.Marks {
			kind := "inode"
			if m.Mount {
				kind = "mount"
			}
			var ev []string
			if m.Mask&unix.FAN_OPEN_PERM != 0 {
				ev = append(ev, "open")
			}
			if m.Mask&unix.FAN_OPEN_EXEC_PERM != 0 {
				ev = append(ev, "exec")
			}
			fmt.Fprintf(&b, " %s(%s: %s)", kind, m.Path, strings.Join(ev, "+"))
		}
		b.WriteString("\n")
	}
	for _, w := range pl.Warnings {
		fmt.Fprintf(&b, "warning: %s\n", w)
	}
	n, err := io.WriteString(w, b.String())
	return int64(n), err
}
