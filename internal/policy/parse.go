package policy

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path"
	"regexp"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// MaxPathLen is the longest process path or name a rule may hold: the
// in-kernel exec check reads at most this many bytes of the exec filename.
const MaxPathLen = 255

var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$`)

// ParseFiles parses and validates every policy in the named files. Policy
// names must be unique across all files. All problems are reported at once
// (errors.Join of *Error); on any error no policy is returned.
func ParseFiles(files ...string) ([]*Policy, error) {
	var all []*Policy
	var errs []error
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			errs = append(errs, fmt.Errorf("read policy: %w", err))
			continue
		}
		ps, err := Parse(f, data)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		all = append(all, ps...)
	}
	if err := checkUnique(all); err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return all, nil
}

func checkUnique(ps []*Policy) error {
	seen := make(map[string]*Policy, len(ps))
	var errs []error
	for _, p := range ps {
		if q, ok := seen[p.Name]; ok {
			errs = append(errs, &Error{File: p.Pos.File, Line: p.Pos.Line, Col: p.Pos.Col,
				Msg: fmt.Sprintf("policy %q already defined at %s", p.Name, q.Pos)})
			continue
		}
		seen[p.Name] = p
	}
	return errors.Join(errs...)
}

// Parse parses policies from data; file names the source in errors. A YAML
// document is either one policy (a mapping) or a list of policies.
func Parse(file string, data []byte) ([]*Policy, error) {
	p := &parser{file: file}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var out []*Policy
	for {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, &Error{File: file, Line: yamlErrLine(err), Col: 1, Msg: "yaml: " + err.Error()}
		}
		if len(doc.Content) == 0 {
			continue
		}
		root := doc.Content[0]
		switch root.Kind {
		case yaml.MappingNode:
			out = append(out, p.policy(root))
		case yaml.SequenceNode:
			for _, n := range root.Content {
				out = append(out, p.policy(n))
			}
		default:
			p.errf(root, "a policy document must be a mapping or a list of policies")
		}
	}
	if len(p.errs) == 0 {
		if err := checkUnique(out); err != nil {
			p.errs = append(p.errs, err)
		}
	}
	if len(p.errs) > 0 {
		return nil, errors.Join(p.errs...)
	}
	if len(out) == 0 {
		return nil, &Error{File: file, Line: 1, Col: 1, Msg: "no policy in file"}
	}
	return out, nil
}

var lineRE = regexp.MustCompile(`line (\d+)`)

func yamlErrLine(err error) int {
	if m := lineRE.FindStringSubmatch(err.Error()); m != nil {
		n, _ := strconv.Atoi(m[1])
		return n
	}
	return 1
}

type parser struct {
	file string
	errs []error
}

func (p *parser) errf(n *yaml.Node, format string, args ...any) {
	p.errs = append(p.errs, &Error{File: p.file, Line: n.Line, Col: n.Column, Msg: fmt.Sprintf(format, args...)})
}

func (p *parser) pos(n *yaml.Node) Pos { return Pos{File: p.file, Line: n.Line, Col: n.Column} }

// fields walks mapping n, calling the handler of each key; unknown and
// duplicate keys are errors. It returns false when n is not a mapping.
func (p *parser) fields(n *yaml.Node, what string, h map[string]func(v *yaml.Node)) bool {
	if n.Kind != yaml.MappingNode {
		p.errf(n, "%s must be a mapping", what)
		return false
	}
	seen := make(map[string]bool, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if seen[k.Value] {
			p.errf(k, "%s: duplicate key %q", what, k.Value)
			continue
		}
		seen[k.Value] = true
		fn, ok := h[k.Value]
		if !ok {
			p.errf(k, "%s: unknown key %q (known: %s)", what, k.Value, keys(h))
			continue
		}
		fn(v)
	}
	return true
}

func keys(h map[string]func(*yaml.Node)) string {
	ks := make([]string, 0, len(h))
	for k := range h {
		ks = append(ks, k)
	}
	// small fixed sets: a simple insertion sort keeps the message stable
	for i := 1; i < len(ks); i++ {
		for j := i; j > 0 && ks[j] < ks[j-1]; j-- {
			ks[j], ks[j-1] = ks[j-1], ks[j]
		}
	}
	return strings.Join(ks, ", ")
}

func (p *parser) str(n *yaml.Node, what string) string {
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		p.errf(n, "%s must be a string", what)
		return ""
	}
	return n.Value
}

func (p *parser) boolean(n *yaml.Node, what string) bool {
	if n.Kind != yaml.ScalarNode || n.Tag != "!!bool" {
		p.errf(n, "%s must be true or false", what)
		return false
	}
	return n.Value == "true"
}

func (p *parser) strs(n *yaml.Node, what string, check func(n *yaml.Node, s string) bool) []string {
	if n.Kind == yaml.ScalarNode && n.Tag != "!!null" {
		s := n.Value
		if check(n, s) {
			return []string{s}
		}
		return nil
	}
	if n.Kind != yaml.SequenceNode {
		p.errf(n, "%s must be a string or a list of strings", what)
		return nil
	}
	out := make([]string, 0, len(n.Content))
	for _, c := range n.Content {
		s := p.str(c, what+" entry")
		if s != "" && check(c, s) {
			out = append(out, s)
		}
	}
	return out
}

func (p *parser) policy(n *yaml.Node) *Policy {
	pol := &Policy{Pos: p.pos(n)}
	var haveName, haveScope bool
	p.fields(n, "policy", map[string]func(*yaml.Node){
		"name": func(v *yaml.Node) {
			haveName = true
			pol.Name = p.str(v, "name")
			if pol.Name != "" && !nameRE.MatchString(pol.Name) {
				p.errf(v, "name %q: use letters, digits, '_', '.', '-' (at most 63)", pol.Name)
			}
		},
		"mode": func(v *yaml.Node) {
			switch s := p.str(v, "mode"); s {
			case "enforce", "":
			case "audit":
				pol.Mode = ModeAudit
			default:
				p.errf(v, "mode %q: want enforce or audit", s)
			}
		},
		"scope":   func(v *yaml.Node) { haveScope = true; p.scope(v, &pol.Scope) },
		"process": func(v *yaml.Node) { p.process(v, &pol.Process) },
		"file":    func(v *yaml.Node) { p.fileRules(v, &pol.File) },
		"network": func(v *yaml.Node) {
			p.fields(v, "network", map[string]func(*yaml.Node){
				"egress": func(v *yaml.Node) { p.egress(v, &pol.Network.Egress) },
				"bind":   func(v *yaml.Node) { p.bind(v, &pol.Network.Bind) },
			})
		},
	})
	if n.Kind == yaml.MappingNode {
		if !haveName {
			p.errf(n, "policy: missing name")
		}
		if !haveScope {
			p.errf(n, "policy %q: missing scope (host: true, or containers: {...})", pol.Name)
		}
		if !pol.HasProcess() && !pol.HasFile() && !pol.HasEgress() && !pol.HasBind() {
			p.errf(n, "policy %q: no rules (process, file or network)", pol.Name)
		}
	}
	return pol
}

func (p *parser) checkGlob(n *yaml.Node, s string) bool {
	if _, err := path.Match(s, ""); err != nil {
		p.errf(n, "bad glob %q: %v", s, err)
		return false
	}
	return true
}

func (p *parser) scope(n *yaml.Node, s *Scope) {
	var host, containers *yaml.Node
	p.fields(n, "scope", map[string]func(*yaml.Node){
		"host": func(v *yaml.Node) { host = v; s.Host = p.boolean(v, "scope.host") },
		"containers": func(v *yaml.Node) {
			containers = v
			if v.Kind == yaml.MappingNode && len(v.Content) == 0 {
				return // {}: every container
			}
			p.fields(v, "scope.containers", map[string]func(*yaml.Node){
				"images":     func(v *yaml.Node) { s.Images = p.strs(v, "images", p.checkGlob) },
				"names":      func(v *yaml.Node) { s.Names = p.strs(v, "names", p.checkGlob) },
				"namespaces": func(v *yaml.Node) { s.Namespaces = p.strs(v, "namespaces", p.checkGlob) },
				"podLabels": func(v *yaml.Node) {
					if v.Kind != yaml.MappingNode {
						p.errf(v, "podLabels must be a mapping of label to value glob")
						return
					}
					s.PodLabels = make(map[string]string, len(v.Content)/2)
					for i := 0; i+1 < len(v.Content); i += 2 {
						k := p.str(v.Content[i], "label")
						val := p.str(v.Content[i+1], "label value")
						if p.checkGlob(v.Content[i+1], val) {
							s.PodLabels[k] = val
						}
					}
				},
			})
		},
	})
	if n.Kind != yaml.MappingNode {
		return
	}
	switch {
	case host != nil && containers != nil && s.Host:
		p.errf(n, "scope: host and containers are exclusive")
	case host != nil && !s.Host && containers == nil:
		p.errf(host, "scope: host: false selects nothing; use containers: {...}")
	case host == nil && containers == nil:
		p.errf(n, "scope: want host: true or containers: {...}")
	}
}

// action parses a rule action.
func (p *parser) action(n *yaml.Node, what string) Action {
	switch s := p.str(n, what); s {
	case "allow":
		return ActionAllow
	case "block":
		return ActionBlock
	case "kill":
		return ActionKill
	case "audit":
		return ActionAudit
	case "":
		return ActionNone
	default:
		p.errf(n, "%s %q: want allow, block, kill or audit", what, s)
		return ActionAudit // the policy is rejected; avoid a second "missing action" error
	}
}

// dflt parses a section default: allow means no default action.
func (p *parser) dflt(n *yaml.Node) Action {
	a := p.action(n, "default")
	if a == ActionAllow {
		return ActionNone
	}
	return a
}

func (p *parser) ruleList(n *yaml.Node, what string, each func(i int, r *yaml.Node)) {
	if n.Kind != yaml.SequenceNode {
		p.errf(n, "%s.rules must be a list", what)
		return
	}
	for i, r := range n.Content {
		each(i, r)
	}
}

// ruleHead handles the name and action keys shared by every rule.
func (p *parser) ruleHead(name *string, act *Action, section string, i int, h map[string]func(*yaml.Node)) {
	*name = fmt.Sprintf("%s-%d", section, i+1)
	h["name"] = func(v *yaml.Node) {
		*name = p.str(v, "rule name")
		if *name != "" && !nameRE.MatchString(*name) {
			p.errf(v, "rule name %q: use letters, digits, '_', '.', '-' (at most 63)", *name)
		}
	}
	h["action"] = func(v *yaml.Node) { *act = p.action(v, "action") }
}

func (p *parser) needAction(r *yaml.Node, a Action, name string) {
	if r.Kind == yaml.MappingNode && a == ActionNone {
		p.errf(r, "rule %q: missing action (allow, block, kill or audit)", name)
	}
}

func (p *parser) uniqueRules(names []string, nodes []*yaml.Node) {
	seen := map[string]bool{}
	for i, n := range names {
		if seen[n] {
			p.errf(nodes[i], "duplicate rule name %q", n)
		}
		seen[n] = true
	}
}

func (p *parser) absPath(n *yaml.Node, s string) bool {
	if !strings.HasPrefix(s, "/") {
		p.errf(n, "path %q must be absolute", s)
		return false
	}
	if len(s) > MaxPathLen {
		p.errf(n, "path %q longer than %d bytes", s, MaxPathLen)
		return false
	}
	return true
}

func (p *parser) process(n *yaml.Node, pr *ProcessRules) {
	var names []string
	var nodes []*yaml.Node
	p.fields(n, "process", map[string]func(*yaml.Node){
		"default": func(v *yaml.Node) { pr.Default = p.dflt(v) },
		"rules": func(v *yaml.Node) {
			p.ruleList(v, "process", func(i int, r *yaml.Node) {
				var rule ProcessRule
				rule.Pos = p.pos(r)
				h := map[string]func(*yaml.Node){
					"paths": func(v *yaml.Node) { rule.Paths = p.strs(v, "paths", p.absPath) },
					"dirs": func(v *yaml.Node) {
						rule.Dirs = p.strs(v, "dirs", p.absPath)
						for i, d := range rule.Dirs {
							rule.Dirs[i] = dirSlash(d)
						}
					},
					"names": func(v *yaml.Node) {
						rule.Names = p.strs(v, "names", func(n *yaml.Node, s string) bool {
							if strings.Contains(s, "/") || len(s) > MaxPathLen {
								p.errf(n, "name %q: a base name has no '/' and at most %d bytes", s, MaxPathLen)
								return false
							}
							return true
						})
					},
					"sha256": func(v *yaml.Node) {
						rule.SHA256 = p.strs(v, "sha256", func(n *yaml.Node, s string) bool {
							if len(s) != 64 || strings.Trim(strings.ToLower(s), "0123456789abcdef") != "" {
								p.errf(n, "sha256 %q: want 64 hex digits", s)
								return false
							}
							return true
						})
						for i, d := range rule.SHA256 {
							rule.SHA256[i] = strings.ToLower(d)
						}
					},
				}
				p.ruleHead(&rule.Name, &rule.Action, "process", i, h)
				if !p.fields(r, "process rule", h) {
					return
				}
				p.needAction(r, rule.Action, rule.Name)
				if len(rule.Paths)+len(rule.Dirs)+len(rule.Names)+len(rule.SHA256) == 0 {
					p.errf(r, "process rule %q: needs paths, dirs, names or sha256", rule.Name)
				}
				if len(rule.SHA256) > 0 && rule.Action == ActionBlock {
					p.errf(r, "process rule %q: sha256 rules kill, audit or allow (block is decided by path)", rule.Name)
				}
				names, nodes = append(names, rule.Name), append(nodes, r)
				pr.Rules = append(pr.Rules, rule)
			})
		},
	})
	p.uniqueRules(names, nodes)
}

func dirSlash(d string) string {
	d = path.Clean(d)
	if d != "/" {
		d += "/"
	}
	return d
}

func (p *parser) access(n *yaml.Node) Access {
	switch s := p.str(n, "access"); s {
	case "read":
		return AccessRead
	case "write":
		return AccessWrite
	case "any", "":
		return AccessAny
	default:
		p.errf(n, "access %q: want read, write or any", s)
		return AccessAny
	}
}

func (p *parser) fileRules(n *yaml.Node, fr *FileRules) {
	var names []string
	var nodes []*yaml.Node
	fr.DefaultAccess = AccessAny
	p.fields(n, "file", map[string]func(*yaml.Node){
		"default": func(v *yaml.Node) { fr.Default = p.dflt(v) },
		"access":  func(v *yaml.Node) { fr.DefaultAccess = p.access(v) },
		"rules": func(v *yaml.Node) {
			p.ruleList(v, "file", func(i int, r *yaml.Node) {
				rule := FileRule{Access: AccessAny, Pos: p.pos(r)}
				h := map[string]func(*yaml.Node){
					"access": func(v *yaml.Node) { rule.Access = p.access(v) },
					"paths": func(v *yaml.Node) {
						rule.Paths = p.strs(v, "paths", p.absPath)
						for i, s := range rule.Paths {
							rule.Paths[i] = path.Clean(s)
						}
					},
					"dirs": func(v *yaml.Node) {
						rule.Dirs = p.strs(v, "dirs", p.absPath)
						for i, d := range rule.Dirs {
							rule.Dirs[i] = dirSlash(d)
						}
					},
				}
				p.ruleHead(&rule.Name, &rule.Action, "file", i, h)
				if !p.fields(r, "file rule", h) {
					return
				}
				p.needAction(r, rule.Action, rule.Name)
				if len(rule.Paths)+len(rule.Dirs) == 0 {
					p.errf(r, "file rule %q: needs paths or dirs", rule.Name)
				}
				names, nodes = append(names, rule.Name), append(nodes, r)
				fr.Rules = append(fr.Rules, rule)
			})
		},
	})
	p.uniqueRules(names, nodes)
}

func (p *parser) proto(n *yaml.Node) Proto {
	switch s := p.str(n, "protocol"); s {
	case "tcp":
		return ProtoTCP
	case "udp":
		return ProtoUDP
	case "any", "":
		return ProtoAny
	default:
		p.errf(n, "protocol %q: want tcp, udp or any", s)
		return ProtoAny
	}
}

func (p *parser) ports(n *yaml.Node) []PortRange {
	var items []*yaml.Node
	switch n.Kind {
	case yaml.ScalarNode:
		items = []*yaml.Node{n}
	case yaml.SequenceNode:
		items = n.Content
	default:
		p.errf(n, "ports must be a port, a range \"lo-hi\" or a list of them")
		return nil
	}
	var out []PortRange
	for _, it := range items {
		if it.Kind != yaml.ScalarNode {
			p.errf(it, "port must be a number or \"lo-hi\"")
			continue
		}
		lo, hi, isRange := strings.Cut(it.Value, "-")
		if !isRange {
			hi = lo
		}
		l, err1 := strconv.ParseUint(strings.TrimSpace(lo), 10, 16)
		h, err2 := strconv.ParseUint(strings.TrimSpace(hi), 10, 16)
		if err1 != nil || err2 != nil || l == 0 || h < l {
			p.errf(it, "port %q: want 1-65535 or lo-hi with lo <= hi", it.Value)
			continue
		}
		out = append(out, PortRange{Lo: uint16(l), Hi: uint16(h)})
	}
	return out
}

func (p *parser) egress(n *yaml.Node, er *EgressRules) {
	var names []string
	var nodes []*yaml.Node
	p.fields(n, "network.egress", map[string]func(*yaml.Node){
		"default": func(v *yaml.Node) { er.Default = p.dflt(v) },
		"rules": func(v *yaml.Node) {
			p.ruleList(v, "network.egress", func(i int, r *yaml.Node) {
				rule := EgressRule{Protocol: ProtoAny, Pos: p.pos(r)}
				h := map[string]func(*yaml.Node){
					"cidrs": func(v *yaml.Node) {
						for _, s := range p.strs(v, "cidrs", func(*yaml.Node, string) bool { return true }) {
							pfx, err := parsePrefix(s)
							if err != nil {
								p.errf(v, "cidr %q: %v", s, err)
								continue
							}
							rule.CIDRs = append(rule.CIDRs, pfx)
						}
					},
					"ports":    func(v *yaml.Node) { rule.Ports = p.ports(v) },
					"protocol": func(v *yaml.Node) { rule.Protocol = p.proto(v) },
				}
				p.ruleHead(&rule.Name, &rule.Action, "egress", i, h)
				if !p.fields(r, "egress rule", h) {
					return
				}
				p.needAction(r, rule.Action, rule.Name)
				names, nodes = append(names, rule.Name), append(nodes, r)
				er.Rules = append(er.Rules, rule)
			})
		},
	})
	p.uniqueRules(names, nodes)
}

func parsePrefix(s string) (netip.Prefix, error) {
	if !strings.Contains(s, "/") {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return netip.Prefix{}, err
		}
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	pfx, err := netip.ParsePrefix(s)
	if err != nil {
		return pfx, err
	}
	if pfx.Masked() != pfx {
		return pfx, fmt.Errorf("host bits set (did you mean %s?)", pfx.Masked())
	}
	return pfx, nil
}

func (p *parser) bind(n *yaml.Node, br *BindRules) {
	var names []string
	var nodes []*yaml.Node
	p.fields(n, "network.bind", map[string]func(*yaml.Node){
		"default": func(v *yaml.Node) { br.Default = p.dflt(v) },
		"rules": func(v *yaml.Node) {
			p.ruleList(v, "network.bind", func(i int, r *yaml.Node) {
				rule := BindRule{Protocol: ProtoAny, Pos: p.pos(r)}
				h := map[string]func(*yaml.Node){
					"ports":    func(v *yaml.Node) { rule.Ports = p.ports(v) },
					"protocol": func(v *yaml.Node) { rule.Protocol = p.proto(v) },
				}
				p.ruleHead(&rule.Name, &rule.Action, "bind", i, h)
				if !p.fields(r, "bind rule", h) {
					return
				}
				p.needAction(r, rule.Action, rule.Name)
				names, nodes = append(names, rule.Name), append(nodes, r)
				br.Rules = append(br.Rules, rule)
			})
		},
	})
	p.uniqueRules(names, nodes)
}
