package policy

import (
	"errors"
	"fmt"
	"net/netip"
	"path"

	"github.com/distribution/reference"

	"github.com/vigilsec/vigil/internal/event"
)

// ErrInvalid is matched (errors.Is) by every policy parse or validation error.
var ErrInvalid = errors.New("invalid policy")

// Error is a policy error at a position in a policy file.
type Error struct {
	File      string
	Line, Col int
	Msg       string
}

func (e *Error) Error() string { return fmt.Sprintf("%s:%d:%d: %s", e.File, e.Line, e.Col, e.Msg) }

// Is makes every *Error match ErrInvalid.
func (e *Error) Is(t error) bool { return t == ErrInvalid }

// Pos is where something was declared.
type Pos struct {
	File      string
	Line, Col int
}

func (p Pos) String() string { return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Col) }

// Mode says whether a policy acts or only reports.
type Mode uint8

const (
	// ModeEnforce blocks or kills as the rules say.
	ModeEnforce Mode = iota
	// ModeAudit reports what would have been blocked or killed, without acting.
	ModeAudit
)

func (m Mode) String() string {
	if m == ModeAudit {
		return "audit"
	}
	return "enforce"
}

// Action is what a rule does when it matches. The numeric values cross into
// BPF (enforce/bpf/enforce.c ACT_*): append, never reorder.
type Action uint8

const (
	ActionNone  Action = iota // no rule matched and no default: allow, not reported
	ActionAllow               // allowed explicitly (allow-list entry)
	ActionBlock               // the operation fails with EPERM
	ActionKill                // the process is killed (SIGKILL)
	ActionAudit               // allowed, reported as an alert
)

var actionNames = [...]string{"none", "allow", "block", "kill", "audit"}

func (a Action) String() string {
	if int(a) < len(actionNames) {
		return actionNames[a]
	}
	return fmt.Sprintf("action(%d)", a)
}

// Denies reports whether the action stops the operation in enforce mode.
func (a Action) Denies() bool { return a == ActionBlock || a == ActionKill }

// Access is the kind of file access a file rule covers.
type Access uint8

const (
	AccessRead  Access = 1 << iota // opened for reading
	AccessWrite                    // opened for writing
	AccessAny   = AccessRead | AccessWrite
)

func (a Access) String() string {
	switch a {
	case AccessRead:
		return "read"
	case AccessWrite:
		return "write"
	}
	return "any"
}

// Proto is a transport protocol set for network rules.
type Proto uint8

const (
	ProtoTCP Proto = 1 << iota
	ProtoUDP
	ProtoAny = ProtoTCP | ProtoUDP
)

func (p Proto) String() string {
	switch p {
	case ProtoTCP:
		return "tcp"
	case ProtoUDP:
		return "udp"
	}
	return "any"
}

// Policy is one validated prevention policy.
type Policy struct {
	Name    string
	Mode    Mode
	Scope   Scope
	Process ProcessRules
	File    FileRules
	Network NetworkRules
	Pos     Pos
}

// Scope selects the processes a policy applies to: the host (processes in
// no known container), or containers. Container selectors combine with AND;
// the values of one selector combine with OR. Values are path.Match globs.
type Scope struct {
	Host       bool
	Images     []string          // image repository globs (Container.Repository, or Image when empty)
	Names      []string          // container name globs
	Namespaces []string          // Kubernetes namespace globs
	PodLabels  map[string]string // every label must be present, value glob
}

// Matches reports whether the scope selects container c. A nil c or the
// host container ("host" ID) is matched only by host scope.
func (s *Scope) Matches(c *event.Container) bool {
	if c == nil || c.ID == "host" || c.ID == "" {
		return s.Host
	}
	if s.Host {
		return false
	}
	repo := c.Repository
	if repo == "" {
		repo = c.Image
	}
	if len(s.Images) > 0 && !anyGlob(s.Images, repo) && !anyGlobNames(s.Images, repo) {
		return false
	}
	if len(s.Names) > 0 && !anyGlob(s.Names, c.Name) {
		return false
	}
	if len(s.Namespaces) > 0 && !anyGlob(s.Namespaces, c.PodNamespace) {
		return false
	}
	for k, v := range s.PodLabels {
		got, ok := c.PodLabels[k]
		if !ok || !glob(v, got) {
			return false
		}
	}
	return true
}

// anyGlobNames reports whether a pattern matches one of the other names of
// image repository repo: Docker reports docker.io images as written
// ("busybox", "vigiltest/busybox"), containerd's CRI fully qualified
// ("docker.io/library/busybox"); a scope selects the image under either
// name, whichever the runtime reports.
func anyGlobNames(pats []string, repo string) bool {
	named, err := reference.ParseNormalizedNamed(repo)
	if err != nil {
		return false
	}
	full, familiar := named.Name(), reference.FamiliarName(named)
	return (full != repo && anyGlob(pats, full)) || (familiar != repo && anyGlob(pats, familiar))
}

func anyGlob(pats []string, s string) bool {
	for _, p := range pats {
		if glob(p, s) {
			return true
		}
	}
	return false
}

// glob matches with path.Match; patterns were validated at parse time.
func glob(pat, s string) bool {
	ok, _ := path.Match(pat, s)
	return ok
}

// ProcessRules decide which executables may run.
type ProcessRules struct {
	// Default applies to an exec no rule matched: ActionNone (allow) or,
	// for an allow-list, ActionBlock/ActionKill/ActionAudit.
	Default Action
	Rules   []ProcessRule
}

// ProcessRule matches an exec by the executable the kernel loaded: the
// file a path in Paths resolves to (by device and inode, in the target's
// root), a file under a directory in Dirs (ending in "/"), a base name in
// Names (the executable's own name, or the base name it was run by), or its
// content (SHA256, lower-case hex digests).
type ProcessRule struct {
	Name   string
	Action Action
	Paths  []string
	Dirs   []string
	Names  []string
	SHA256 []string
	Pos    Pos
}

// FileRules decide which files may be opened.
type FileRules struct {
	Default       Action // for opens no rule matched (allow-list when Block/Audit)
	DefaultAccess Access // accesses Default applies to
	Rules         []FileRule
}

// FileRule matches an open of one of Paths, or of a file under one of Dirs,
// for the Access kinds given.
type FileRule struct {
	Name   string
	Action Action
	Access Access
	Paths  []string
	Dirs   []string // cleaned, with a trailing "/"
	Pos    Pos
}

// NetworkRules decide egress connections and bind ports.
type NetworkRules struct {
	Egress EgressRules
	Bind   BindRules
}

// EgressRules decide connect(2) and UDP sendmsg destinations.
type EgressRules struct {
	Default Action
	Rules   []EgressRule
}

// EgressRule matches a destination in one of CIDRs (all when empty), on one
// of Ports (all when empty), for Protocol.
type EgressRule struct {
	Name     string
	Action   Action
	CIDRs    []netip.Prefix
	Ports    []PortRange
	Protocol Proto
	Pos      Pos
}

// BindRules decide which local ports may be bound.
type BindRules struct {
	Default Action
	Rules   []BindRule
}

// BindRule matches a bind to one of Ports (all when empty) for Protocol.
type BindRule struct {
	Name     string
	Action   Action
	Ports    []PortRange
	Protocol Proto
	Pos      Pos
}

// PortRange is an inclusive port range; a single port has Lo == Hi.
type PortRange struct{ Lo, Hi uint16 }

func (r PortRange) String() string {
	if r.Lo == r.Hi {
		return fmt.Sprint(r.Lo)
	}
	return fmt.Sprintf("%d-%d", r.Lo, r.Hi)
}

// Contains reports whether port p is in the range.
func (r PortRange) Contains(p uint16) bool { return p >= r.Lo && p <= r.Hi }

// HasProcess, HasFile, HasEgress and HasBind report which mechanisms the
// policy needs.
func (p *Policy) HasProcess() bool {
	return len(p.Process.Rules) > 0 || p.Process.Default != ActionNone
}

func (p *Policy) HasFile() bool { return len(p.File.Rules) > 0 || p.File.Default != ActionNone }

func (p *Policy) HasEgress() bool {
	return len(p.Network.Egress.Rules) > 0 || p.Network.Egress.Default != ActionNone
}

func (p *Policy) HasBind() bool {
	return len(p.Network.Bind.Rules) > 0 || p.Network.Bind.Default != ActionNone
}

// Text forms, for JSON outputs and the enforcer's gate protocol.

func (a Action) MarshalText() ([]byte, error) { return []byte(a.String()), nil }

func (a *Action) UnmarshalText(b []byte) error {
	for i, n := range actionNames {
		if n == string(b) {
			*a = Action(i)
			return nil
		}
	}
	return fmt.Errorf("unknown action %q", b)
}

func (m Mode) MarshalText() ([]byte, error) { return []byte(m.String()), nil }

func (m *Mode) UnmarshalText(b []byte) error {
	switch string(b) {
	case "enforce":
		*m = ModeEnforce
	case "audit":
		*m = ModeAudit
	default:
		return fmt.Errorf("unknown mode %q", b)
	}
	return nil
}

func (a Access) MarshalText() ([]byte, error) {
	if a == 0 {
		return []byte(""), nil
	}
	return []byte(a.String()), nil
}

func (a *Access) UnmarshalText(b []byte) error {
	switch string(b) {
	case "":
		*a = 0
	case "read":
		*a = AccessRead
	case "write":
		*a = AccessWrite
	case "any":
		*a = AccessAny
	default:
		return fmt.Errorf("unknown access %q", b)
	}
	return nil
}

func (p Proto) MarshalText() ([]byte, error) {
	if p == 0 {
		return []byte(""), nil
	}
	return []byte(p.String()), nil
}

func (p *Proto) UnmarshalText(b []byte) error {
	switch string(b) {
	case "":
		*p = 0
	case "tcp":
		*p = ProtoTCP
	case "udp":
		*p = ProtoUDP
	case "any":
		*p = ProtoAny
	default:
		return fmt.Errorf("unknown protocol %q", b)
	}
	return nil
}
