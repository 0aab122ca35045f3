package profile

import (
	"encoding/json"
	"fmt"
	"path"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// seccompProfile is the OCI/Docker seccomp profile document (what `docker
// run --security-opt seccomp=FILE` reads).
type seccompProfile struct {
	DefaultAction   string           `json:"defaultAction"`
	DefaultErrnoRet int              `json:"defaultErrnoRet"`
	Architectures   []string         `json:"architectures"`
	Syscalls        []seccompSyscall `json:"syscalls"`
}

type seccompSyscall struct {
	Names  []string `json:"names"`
	Action string   `json:"action"`
}

// Seccomp returns a seccomp profile that allows the system calls of the
// profile and fails every other with EPERM (x86_64; the sensor records
// x86_64 syscalls only). It errors when the profile's syscalls are not
// complete (SyscallsComplete): such a profile would stop the workload.
func Seccomp(p *Profile) ([]byte, error) {
	names := p.Items(KindSyscall)
	if len(names) == 0 || !p.syscallSets {
		return nil, fmt.Errorf("seccomp: profile %s has only the syscalls the sensor reports as events, not every syscall "+
			"(no per-cgroup syscall set: profiles off in the sensor, or the workload's cgroup v2 is shared, as for Docker on cgroup v1)", p.Name)
	}
	doc := seccompProfile{DefaultAction: "SCMP_ACT_ERRNO", DefaultErrnoRet: 1, // EPERM
		Architectures: []string{"SCMP_ARCH_X86_64"},
		Syscalls:      []seccompSyscall{{Names: names, Action: "SCMP_ACT_ALLOW"}}}
	return json.MarshalIndent(doc, "", "  ")
}

// Landlock access rights (names as in the kernel's LANDLOCK_ACCESS_FS_* and
// LANDLOCK_ACCESS_NET_*, lower case).
var (
	landlockFSAll = []string{"execute", "write_file", "read_file", "read_dir", "remove_dir", "remove_file",
		"make_char", "make_dir", "make_reg", "make_sock", "make_fifo", "make_block", "make_sym", "refer", "truncate"}
	landlockNetAll = []string{"bind_tcp", "connect_tcp"}
)

// LandlockRuleset is a Landlock ruleset description: the rights the
// ruleset handles (everything not granted by a rule is denied) and the
// rules that grant them beneath paths or on TCP ports.
type LandlockRuleset struct {
	ABI              int            `json:"abi"` // least Landlock ABI that has every right used (4: TCP ports)
	HandledAccessFS  []string       `json:"handled_access_fs"`
	HandledAccessNet []string       `json:"handled_access_net"`
	Rules            []LandlockRule `json:"rules"`
}

// LandlockRule grants rights beneath a path (type path_beneath) or on a
// TCP port (type net_port).
type LandlockRule struct {
	Type    string   `json:"type"`
	Path    string   `json:"path,omitempty"`
	Port    uint16   `json:"port,omitempty"`
	Allowed []string `json:"allowed_access"`
}

// Landlock returns the profile as a Landlock ruleset: programs may be
// executed and read, read files read (a directory: listed and read
// beneath), written files written and truncated, and files created,
// written or removed in their directory (Landlock needs write_file beneath
// the directory for a file created there); listening TCP ports may be bound, egress TCP ports
// connected to. Landlock has no address rules: a port is allowed towards
// every address, and UDP is not handled. An applier drops rights that do
// not apply to a path's type (a file gets no directory rights) and rules
// whose path does not exist.
func Landlock(p *Profile) *LandlockRuleset {
	rs := &LandlockRuleset{ABI: 4, HandledAccessFS: landlockFSAll, HandledAccessNet: landlockNetAll}
	grants := map[string][]string{}
	grant := func(path string, rights ...string) {
		for _, r := range rights {
			if !slices.Contains(grants[path], r) {
				grants[path] = append(grants[path], r)
			}
		}
	}
	for _, pr := range p.programs.keys() {
		grant(pr.Path, "execute", "read_file")
	}
	for _, f := range p.Items(KindRead) {
		grant(f, "read_file", "read_dir")
	}
	for _, f := range p.Items(KindWrite) {
		grant(f, "write_file", "truncate", "read_file")
		grant(path.Dir(f), "write_file", "truncate", "make_reg", "remove_file")
	}
	paths := make([]string, 0, len(grants))
	for k := range grants {
		paths = append(paths, k)
	}
	slices.Sort(paths)
	for _, k := range paths {
		rights := grants[k]
		slices.SortFunc(rights, func(a, b string) int { return slices.Index(landlockFSAll, a) - slices.Index(landlockFSAll, b) })
		rs.Rules = append(rs.Rules, LandlockRule{Type: "path_beneath", Path: k, Allowed: rights})
	}
	ports := map[uint16][]string{}
	for x := range p.listen.m {
		if x.Proto == "tcp" && !slices.Contains(ports[x.Port], "bind_tcp") {
			ports[x.Port] = append(ports[x.Port], "bind_tcp")
		}
	}
	for x := range p.egress.m {
		if x.Proto == "tcp" && !slices.Contains(ports[x.Port], "connect_tcp") {
			ports[x.Port] = append(ports[x.Port], "connect_tcp")
		}
	}
	var ps []uint16
	for k := range ports {
		ps = append(ps, k)
	}
	slices.Sort(ps)
	for _, port := range ps {
		rights := ports[port]
		slices.Sort(rights)
		rs.Rules = append(rs.Rules, LandlockRule{Type: "net_port", Port: port, Allowed: rights})
	}
	return rs
}

// JSON is the ruleset's document.
func (rs *LandlockRuleset) JSON() ([]byte, error) { return json.MarshalIndent(rs, "", "  ") }

// PolicyScope selects what a generated policy applies to: by default the
// profile's workload (image: images, label: podLabels); Names selects
// containers by name glob instead.
type PolicyScope struct {
	Names []string
}

// Policy returns a Vigil prevention policy (docs/policy.md) in allow-list
// mode from the profile: only its programs may run (others are killed at
// exec), writes are allowed to its written files and blocked elsewhere
// under the top directories it used, only its egress peers may be
// connected to and only its listening ports bound. A multi-call binary
// (busybox) is one program for the policy: its path rule allows every
// name it is run by.
func Policy(p *Profile, scope PolicyScope) ([]byte, error) {
	type rule struct {
		Name     string   `yaml:"name"`
		Action   string   `yaml:"action"`
		Access   string   `yaml:"access,omitempty"`
		Protocol string   `yaml:"protocol,omitempty"`
		Paths    []string `yaml:"paths,omitempty"`
		Dirs     []string `yaml:"dirs,omitempty"`
		Cidrs    []string `yaml:"cidrs,omitempty"`
		Ports    []int    `yaml:"ports,omitempty"`
	}
	type section struct {
		Default string `yaml:"default,omitempty"`
		Rules   []rule `yaml:"rules,omitempty"`
	}
	type containers struct {
		Images    []string          `yaml:"images,omitempty"`
		Names     []string          `yaml:"names,omitempty"`
		PodLabels map[string]string `yaml:"podLabels,omitempty"`
	}
	type doc struct {
		Name  string `yaml:"name"`
		Mode  string `yaml:"mode"`
		Scope struct {
			Containers containers `yaml:"containers"`
		} `yaml:"scope"`
		Process section `yaml:"process"`
		File    section `yaml:"file"`
		Network struct {
			Egress section `yaml:"egress"`
			Bind   section `yaml:"bind"`
		} `yaml:"network"`
	}
	var d doc
	d.Name = policyName(p.Name)
	d.Mode = "enforce"
	switch {
	case len(scope.Names) > 0:
		d.Scope.Containers.Names = scope.Names
	case strings.HasPrefix(p.Name, "image:"):
		d.Scope.Containers.Images = []string{strings.TrimPrefix(p.Name, "image:")}
	case strings.HasPrefix(p.Name, "label:"):
		k, v, _ := strings.Cut(strings.TrimPrefix(p.Name, "label:"), "=")
		d.Scope.Containers.PodLabels = map[string]string{k: v}
	default:
		return nil, fmt.Errorf("policy: profile %s: unknown key kind", p.Name)
	}
	var progs []string
	for _, pr := range p.programs.keys() {
		if !slices.Contains(progs, pr.Path) {
			progs = append(progs, pr.Path)
		}
	}
	slices.Sort(progs)
	d.Process.Default = "kill"
	if len(progs) > 0 {
		d.Process.Rules = []rule{{Name: "profile-programs", Action: "allow", Paths: progs}}
	}
	// The file section has no default: only opens under its rules'
	// directories are decided (an allow default would send every open of
	// the container to the fanotify gate for nothing).
	if w := p.Items(KindWrite); len(w) > 0 {
		d.File.Rules = append(d.File.Rules, rule{Name: "profile-writes", Action: "allow", Access: "write", Paths: w})
	}
	var tops []string
	for _, k := range []Kind{KindProgram, KindRead, KindWrite} {
		for _, v := range p.Items(k) {
			if k == KindProgram {
				v = strings.SplitN(v, " (", 2)[0]
			}
			if parts := strings.SplitN(strings.TrimPrefix(v, "/"), "/", 2); len(parts) == 2 && parts[0] != "" {
				if t := "/" + parts[0]; !slices.Contains(tops, t) {
					tops = append(tops, t)
				}
			}
		}
	}
	if !slices.Contains(tops, "/etc") {
		tops = append(tops, "/etc")
	}
	slices.Sort(tops)
	d.File.Rules = append(d.File.Rules, rule{Name: "unlearned-writes", Action: "block", Access: "write", Dirs: tops})
	d.Network.Egress.Default = "block"
	egress := p.egress.keys()
	slices.SortFunc(egress, comparePeer)
	for i, pe := range egress {
		d.Network.Egress.Rules = append(d.Network.Egress.Rules, rule{Name: fmt.Sprintf("profile-egress-%d", i+1), Action: "allow",
			Protocol: pe.Proto, Cidrs: []string{peerAddr(pe)}, Ports: []int{int(pe.Port)}})
	}
	d.Network.Bind.Default = "block"
	for _, proto := range []string{"tcp", "udp"} {
		var ports []int
		for x := range p.listen.m {
			if x.Proto == proto {
				ports = append(ports, int(x.Port))
			}
		}
		slices.Sort(ports)
		if len(ports) > 0 {
			d.Network.Bind.Rules = append(d.Network.Bind.Rules, rule{Name: "profile-listen-" + proto, Action: "allow", Protocol: proto, Ports: ports})
		}
	}
	return yaml.Marshal(&d)
}

func peerAddr(pe Peer) string {
	if pe.Addr.Is4() {
		return pe.Addr.String() + "/32"
	}
	return pe.Addr.String() + "/128"
}

// policyName makes a policy name (letters, digits, _ . -; at most 63)
// from a profile name.
func policyName(name string) string {
	b := []byte("profile-")
	for _, c := range []byte(name) {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '_', c == '.', c == '-':
			b = append(b, c)
		default:
			b = append(b, '-')
		}
	}
	if len(b) > 63 {
		b = b[:63]
	}
	return string(b)
}
