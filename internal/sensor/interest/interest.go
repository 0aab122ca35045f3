package interest

import (
	"strings"

	"github.com/vigilsec/vigil/internal/event"
	"github.com/vigilsec/vigil/internal/rules"
	"github.com/vigilsec/vigil/internal/sensor"
)

// Of compiles a ruleset into what the sensor must report for it: the event
// types its rules can match, plus base (the types the consumer needs for
// itself, such as those the process table consumes), and the in-kernel
// open filter. The filter is sound: an open it drops can match no rule. It
// is built from each rule's condition restricted to opens:
// evt.is_open_read/write give access modes; fd.name = / in / startswith
// and fd.directory = / in give path prefixes; fd.nameraw contains "../"
// needs none (the kernel reports every path holding ".."); and, or, not
// and macros combine them, anything else meaning "any". It is left off
// (every open reported) when a rule reads fd.* on an event type whose fd
// a dropped open could have created (close, fchmod, fchdir, ...): the fd
// table must then see every open. When no rule matches close, the close
// of an fd that a dropped open created is dropped in the kernel too
// (OpenFilter.Closes): only the process table wants closes, and it never
// saw that fd.
func Of(rs *rules.Ruleset, base event.TypeSet) sensor.Interest {
	in := sensor.Interest{Types: base}
	f := &sensor.OpenFilter{Prefixes: map[string]sensor.Access{}}
	filter := true
	var ruleTypes event.TypeSet
	for _, r := range rs.Rules {
		ruleTypes = ruleTypes.Union(r.Types)
		in.Types = in.Types.Union(r.Types)
		for _, c := range conditions(r) {
			if readsFileFD(c) {
				filter = false
			}
			if !c.types.Intersect(openTypes).Empty() {
				p := openPred(c.cond)
				if p.names == nil {
					f.AnyPath |= p.acc
				} else {
					for _, n := range p.names {
						f.Prefixes[n] |= p.acc
					}
				}
			}
		}
	}
	if filter && in.Types.Intersect(openTypes) != (event.TypeSet{}) {
		f.Closes = !ruleTypes.Has(event.TypeClose)
		in.Open = f
	}
	in.Connects = connectFamilies(rs)
	for _, r := range rs.Rules {
		if readsBuffer(r) {
			in.Snap = in.Snap.Union(r.Types.Intersect(ioTypes))
		}
	}
	return in
}

// connectFamilies returns the socket families of the connects the rules
// can match (0: every connect). Each condition that can match a connect
// gives the families its fd.typechar, fd.type, fd.sockfamily, fd.l4proto,
// IP address and network comparisons allow (and, or and macros combine
// them, anything else meaning every family). The filter is left off
// (every connect) when a rule reads fd.* on an event type other than
// connect whose fd a dropped connect could have described (a send on that
// socket, its dup, its close...), since the fd table then needs every
// connect, and when the rules need no family at all (the process table
// still takes connects: filtering is for rules that name families).
func connectFamilies(rs *rules.Ruleset) sensor.Families {
	var fams sensor.Families
	for _, r := range rs.Rules {
		for _, c := range conditions(r) {
			if readsConnectedFD(c) {
				return 0
			}
			if c.types.Has(event.TypeConnect) {
				fams |= connectPred(c.cond)
			}
		}
	}
	if fams == 0 || fams == sensor.AllFamilies {
		return 0
	}
	return fams
}

// connectSafeTypes are the types whose fd.* fields a dropped connect
// cannot affect: connect itself (its filter covers it) and the types that
// make a new fd from the event alone (open, socket, accept...; not dup,
// which copies an existing fd's description).
var connectSafeTypes = func() event.TypeSet {
	s := event.TypeSetOf(event.TypeConnect)
	for t := event.Type(1); t < event.NumTypes; t++ {
		if event.Lookup(t).CreatesFD() {
			s.Add(t)
		}
	}
	return s.Minus(event.TypeSetOf(event.TypeDup, event.TypeDup2, event.TypeDup3))
}()

// readsConnectedFD reports whether c's outcome (or a field it keeps) can
// depend on an fd.* field of an event type outside connectSafeTypes.
func readsConnectedFD(c condition) bool {
	t := fdTypes(c.cond, c.types)
	for _, k := range c.keep {
		if isFDField(k) {
			t = t.Union(c.types)
		}
	}
	return !t.Minus(connectSafeTypes).Empty()
}

// ipFamilies are the families whose connects an IPv4 address (fd.typechar
// 4) can describe: an IPv6 socket connected to an IPv4-mapped address is
// shown as IPv4.
const ipFamilies = sensor.FamilyInet | sensor.FamilyInet6

// connectPred returns the families of the connects x can hold for.
func connectPred(x rules.Expr) sensor.Families {
	switch x := x.(type) {
	case *rules.And:
		f := sensor.AllFamilies
		for _, y := range x.Xs {
			f &= connectPred(y)
		}
		return f
	case *rules.Or:
		var f sensor.Families
		for _, y := range x.Xs {
			f |= connectPred(y)
		}
		return f
	case *rules.Cached:
		return connectPred(x.X)
	case *rules.Const:
		if !x.V {
			return 0
		}
	case *rules.Cmp:
		return connectCmp(x)
	}
	return sensor.AllFamilies // rules.Not and anything unknown
}

func connectCmp(c *rules.Cmp) sensor.Families {
	if c.IsEvtType {
		if c.EvtTypes.Has(event.TypeConnect) == c.EvtTypesNeg {
			return 0 // the comparison excludes connect
		}
		return sensor.AllFamilies
	}
	if c.L.Field == nil || len(c.L.Trans) > 0 || c.R != nil || c.Mod != rules.ModNone || c.L.Step != 0 {
		return sensor.AllFamilies
	}
	if c.Op != rules.OpEq && c.Op != rules.OpIn {
		return sensor.AllFamilies
	}
	var f sensor.Families
	if byValue, ok := socketValueFamilies[c.L.Field.Name]; ok {
		for _, v := range c.Strs {
			if _, ok := byValue[v]; !ok {
				return sensor.AllFamilies
			}
			f |= byValue[v]
		}
		for v := range c.Set {
			if _, ok := byValue[v]; !ok {
				return sensor.AllFamilies
			}
			f |= byValue[v]
		}
		return f
	}
	switch c.L.Field.Name {
	case "fd.sip", "fd.cip", "fd.rip", "fd.lip", "fd.net", "fd.snet", "fd.cnet", "fd.rnet", "fd.lnet":
		if len(c.IPs) == 0 && len(c.Nets) == 0 {
			return sensor.AllFamilies
		}
		for _, ip := range c.IPs {
			f |= ipFamily(ip.Is4() || ip.Is4In6())
		}
		for _, n := range c.Nets {
			f |= ipFamily(n.Addr().Is4() || n.Addr().Is4In6())
		}
	default:
		return sensor.AllFamilies
	}
	return f
}

// socketValueFamilies are, per socket field, the families of connects
// each of its values can stand for (any other value: every family).
var socketValueFamilies = map[string]map[string]sensor.Families{
	"fd.typechar":   {"4": ipFamilies, "6": sensor.FamilyInet6, "u": sensor.FamilyUnix},
	"fd.type":       {"ipv4": ipFamilies, "ipv6": sensor.FamilyInet6, "unix": sensor.FamilyUnix},
	"fd.sockfamily": {"ip": ipFamilies, "unix": sensor.FamilyUnix},
	"fd.l4proto":    {"tcp": ipFamilies, "udp": ipFamilies, "icmp": ipFamilies, "raw": ipFamilies},
}

// ipFamily returns the families of connects an address of the family
// (IPv4 or not) can be the address of.
func ipFamily(v4 bool) sensor.Families {
	if v4 {
		return ipFamilies
	}
	return sensor.FamilyInet6
}

// ioTypes are the I/O calls whose data buffer the sensor can capture.
var ioTypes = event.IOTypes.Union(event.TypeSetOf(event.TypeSendto, event.TypeSendmsg, event.TypeRecvfrom, event.TypeRecvmsg))

// readsBuffer reports whether r's condition, a step of it or its output
// reads evt.buffer (or evt.arg.data, evt.rawarg.data): the sensor then
// copies the I/O buffers of its types.
func readsBuffer(r *rules.Rule) bool {
	for _, c := range conditions(r) {
		if usesBuffer(c.cond) {
			return true
		}
		for _, k := range c.keep {
			if isBuffer(k) {
				return true
			}
		}
	}
	if r.Output != nil {
		for _, o := range r.Output.Fields {
			if isBuffer(o) {
				return true
			}
		}
	}
	return false
}

func usesBuffer(x rules.Expr) bool {
	switch x := x.(type) {
	case *rules.And:
		for _, y := range x.Xs {
			if usesBuffer(y) {
				return true
			}
		}
	case *rules.Or:
		for _, y := range x.Xs {
			if usesBuffer(y) {
				return true
			}
		}
	case *rules.Not:
		return usesBuffer(x.X)
	case *rules.Cached:
		return usesBuffer(x.X)
	case *rules.Cmp:
		return isBuffer(&x.L) || (x.R != nil && isBuffer(x.R))
	}
	return false
}

func isBuffer(o *rules.Operand) bool {
	if o == nil || o.Field == nil {
		return false
	}
	switch o.Field.Name {
	case "evt.buffer":
		return true
	case "evt.arg", "evt.rawarg", "evt.args", "evt.info":
		return o.Arg.Key == "data" || o.Field.Arg == event.ArgNone || o.Arg.Index == 1
	}
	return false
}

var openTypes = event.TypeSetOf(event.TypeOpen, event.TypeOpenat, event.TypeOpenat2, event.TypeCreat)

// fdSafeTypes are the types whose fd.* fields a dropped open cannot
// affect: the opens themselves, sockets, and dup (its rules ask for
// sockets).
var fdSafeTypes = func() event.TypeSet {
	s := openTypes.Union(event.TypeSetOf(event.TypeDup, event.TypeDup2, event.TypeDup3))
	for t := event.Type(1); t < event.NumTypes; t++ {
		if event.Lookup(t).Category == event.CatNetwork {
			s.Add(t)
		}
	}
	return s
}()

// condition is one condition of a rule over the events it can match: a
// Falco rule has one; a stateful rule (sequence, threshold) has its own
// and one per earlier step, each on its own event types, with the fields
// the step keeps for later (read on the step's event).
type condition struct {
	cond  rules.Expr
	types event.TypeSet
	keep  []*rules.Operand
}

func conditions(r *rules.Rule) []condition {
	if r.State == nil {
		return []condition{{cond: r.Cond, types: r.Types}}
	}
	own := condition{cond: r.Cond, types: r.State.Types}
	if r.State.Distinct != nil {
		own.keep = []*rules.Operand{r.State.Distinct}
	}
	out := []condition{own}
	for _, st := range r.State.Steps {
		out = append(out, condition{cond: st.Cond, types: st.Types, keep: st.Keep})
	}
	return out
}

// readsFileFD reports whether c's outcome (or a field it keeps) can depend
// on an fd.* field of an event type outside fdSafeTypes.
func readsFileFD(c condition) bool {
	t := fdTypes(c.cond, c.types)
	for _, k := range c.keep {
		if isFDField(k) {
			t = t.Union(c.types)
		}
	}
	return !t.Minus(fdSafeTypes).Empty()
}

// fdTypes returns the event types, among ctx, for which x's value can
// depend on an fd.* field: a conjunction only matters for the types its
// evt.type comparisons let through.
func fdTypes(x rules.Expr, ctx event.TypeSet) event.TypeSet {
	var out event.TypeSet
	switch x := x.(type) {
	case *rules.And:
		ctx = ctx.Intersect(typesOf(x))
		for _, y := range x.Xs {
			out = out.Union(fdTypes(y, ctx))
		}
	case *rules.Or:
		for _, y := range x.Xs {
			out = out.Union(fdTypes(y, ctx))
		}
	case *rules.Not:
		out = fdTypes(x.X, ctx)
	case *rules.Cached:
		out = fdTypes(x.X, ctx)
	case *rules.Cmp:
		if isFDField(&x.L) || (x.R != nil && isFDField(x.R)) {
			out = ctx
		}
	}
	return out
}

// typesOf returns the event types for which x can hold, from its evt.type
// comparisons.
func typesOf(x rules.Expr) event.TypeSet {
	switch x := x.(type) {
	case *rules.And:
		s := event.AllTypes()
		for _, y := range x.Xs {
			s = s.Intersect(typesOf(y))
		}
		return s
	case *rules.Or:
		var s event.TypeSet
		for _, y := range x.Xs {
			s = s.Union(typesOf(y))
		}
		return s
	case *rules.Cached:
		return typesOf(x.X)
	case *rules.Const:
		if !x.V {
			return event.TypeSet{}
		}
	case *rules.Cmp:
		if x.IsEvtType {
			if x.EvtTypesNeg {
				return event.AllTypes().Minus(x.EvtTypes)
			}
			return x.EvtTypes
		}
	}
	return event.AllTypes()
}

// isFDField reports whether o reads the fd table for the event evaluated
// (not for an earlier sequence step's event, which that step's condition
// covers): fd.*, and evt.abspath and fs.path.*, which resolve dirfds and
// fds through it.
func isFDField(o *rules.Operand) bool {
	if o.Field == nil || o.Step != 0 {
		return false
	}
	n := o.Field.Name
	return strings.HasPrefix(n, "fd.") || strings.HasPrefix(n, "evt.abspath") || strings.HasPrefix(n, "fs.path.")
}

// pred is a necessary condition on an open: its access mode is in acc and,
// unless names is nil, its resolved path extends one of names.
type pred struct {
	names []string
	acc   sensor.Access
}

var anyOpen = pred{acc: sensor.AccessAll}

// accessRead and accessWrite are the access modes for which evt.is_open_read (read) and
// evt.is_open_write (write) hold, from the same flag conversion the field
// uses.
var accessRead, accessWrite = func() (r, w sensor.Access) {
	for m := uint64(0); m < 4; m++ {
		ppm := event.OpenFlagsToPPM(m)
		if ppm&event.PPMORdonly != 0 {
			r |= 1 << m
		}
		if ppm&event.PPMOWronly != 0 {
			w |= 1 << m
		}
	}
	return r, w
}()

func openPred(x rules.Expr) pred {
	switch x := x.(type) {
	case *rules.And:
		p := anyOpen
		for _, y := range x.Xs {
			q := openPred(y)
			p.acc &= q.acc
			if q.names != nil && (p.names == nil || len(q.names) < len(p.names)) {
				p.names = q.names
			}
		}
		return p
	case *rules.Or:
		p := pred{names: []string{}}
		for _, y := range x.Xs {
			q := openPred(y)
			if q.acc == 0 {
				continue // this branch cannot match an open
			}
			p.acc |= q.acc
			if p.names != nil && q.names != nil {
				p.names = append(p.names, q.names...)
			} else {
				p.names = nil
			}
		}
		return p
	case *rules.Cached:
		return openPred(x.X)
	case *rules.Const:
		if !x.V {
			return pred{names: []string{}}
		}
	case *rules.Cmp:
		return cmpPred(x)
	}
	return anyOpen // rules.Not and anything unknown
}

func cmpPred(c *rules.Cmp) pred {
	if c.IsEvtType {
		if c.EvtTypes.Intersect(openTypes).Empty() != c.EvtTypesNeg {
			return pred{names: []string{}} // the comparison excludes every open
		}
		return anyOpen
	}
	if c.L.Field == nil || len(c.L.Trans) > 0 || c.R != nil || c.Mod != rules.ModNone {
		return anyOpen
	}
	switch c.L.Field.Name {
	case "evt.is_open_read", "evt.is_open_write":
		if c.Op != rules.OpEq || len(c.Nums) != 1 || c.Nums[0] != 1 {
			return anyOpen
		}
		if c.L.Field.Name == "evt.is_open_read" {
			return pred{acc: accessRead}
		}
		return pred{acc: accessWrite}
	case "fd.nameraw":
		// The kernel reports every path holding "..": a rule that needs
		// one wants no prefix.
		if c.Op != rules.OpContains || len(c.Strs) == 0 {
			return anyOpen
		}
		for _, v := range c.Strs {
			if !strings.Contains(v, "..") {
				return anyOpen
			}
		}
		return pred{names: []string{}, acc: sensor.AccessAll}
	case "fd.name", "fd.directory":
		var vals []string
		switch c.Op {
		case rules.OpEq, rules.OpIn, rules.OpStartsWith:
			vals = append(vals, c.Strs...)
			for v := range c.Set {
				vals = append(vals, v)
			}
		default:
			return anyOpen
		}
		if c.Op == rules.OpStartsWith && c.L.Field.Name == "fd.directory" {
			return anyOpen
		}
		names := []string{}
		for _, v := range vals {
			if !strings.HasPrefix(v, "/") {
				continue // cannot be the resolved name of an absolute path
			}
			if c.L.Field.Name == "fd.directory" && !strings.HasSuffix(v, "/") {
				v += "/"
			}
			names = append(names, v)
		}
		return pred{names: names, acc: sensor.AccessAll}
	}
	return anyOpen
}

// With returns in extended with what another consumer needs (the
// profiler): the event types types, and every open whose path extends one
// of prefixes ("/": every absolute path), in any access mode. An open
// filter that was off (every open reported) stays off; when in asked for
// no open at all, the filter keeps only the prefixes.
func With(in sensor.Interest, types event.TypeSet, prefixes []string) sensor.Interest {
	hadOpens := !in.Types.Intersect(openTypes).Empty()
	out := sensor.Interest{Types: in.Types.Union(types), Open: in.Open, Snap: in.Snap, Connects: in.Connects}
	if types.Has(event.TypeConnect) {
		out.Connects = 0 // the other consumer takes every connect
	}
	if types.Intersect(openTypes).Empty() || (hadOpens && in.Open == nil) {
		return out
	}
	f := &sensor.OpenFilter{Prefixes: map[string]sensor.Access{}}
	if in.Open != nil {
		f.AnyPath = in.Open.AnyPath
		for p, a := range in.Open.Prefixes {
			f.Prefixes[p] = a
		}
	}
	for _, p := range prefixes {
		f.Prefixes[p] |= sensor.AccessAll
	}
	out.Open = f
	return out
}
