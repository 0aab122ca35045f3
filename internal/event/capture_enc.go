package event

// JSONEncoder appends events in the capture format exactly as AppendJSON
// does, byte for byte, but reuses the encoding of the enriched parts that
// repeat from event to event: the process (proc, with its ancestors, often
// kilobytes of escaped command lines) and the container. A stream of events
// from a few processes is then mostly copied, not escaped again.
//
// A process's cached encoding is reused only while the process and its
// ancestors still hold the same values (compared field by field; strings
// the table did not replace compare by pointer), so a Process may change in
// place between events, as internal/state's do. A Container is treated as
// an immutable snapshot, as container.Manager publishes them: its encoding
// is cached per pointer (with a check of its identity fields), so do not
// modify a Container after an event carrying it was encoded.
//
// The zero JSONEncoder is ready to use. It is not safe for concurrent use;
// its caches are bounded.
type JSONEncoder struct {
	procs map[uint32]*procEnc
	conts map[*Container]*contEnc
}

// Bounds of the caches: past them a cache is emptied (a trace with that
// many live processes or containers re-encodes each once).
const (
	maxProcEnc = 4096
	maxContEnc = 1024
)

type procEnc struct {
	p   Process // Parent nil, Args a copy of the slice
	anc []ancEnc
	enc []byte
}

type ancEnc struct {
	pid                uint32
	comm, exe, exepath string
	args               []string
	ids                NSIDs
}

type contEnc struct {
	id, fullID, typ, name, image string
	known                        bool
	nMounts, nLabels, nPodLabels int
	enc                          []byte
}

// Append appends ev as one capture-format JSON line, like AppendJSON.
func (e *JSONEncoder) Append(dst []byte, ev *Event) []byte {
	return appendJSON(dst, ev, e)
}

func (e *JSONEncoder) appendProc(dst []byte, p *Process) []byte {
	c := e.procs[p.PID]
	if c != nil && c.matches(p) {
		return append(dst, c.enc...)
	}
	if e.procs == nil || len(e.procs) >= maxProcEnc {
		e.procs = make(map[uint32]*procEnc)
	}
	if c == nil {
		c = &procEnc{}
	}
	e.procs[p.PID] = c
	c.set(p)
	return append(dst, c.enc...)
}

func (c *procEnc) set(p *Process) {
	c.p = *p
	c.p.Parent = nil
	c.p.Args = append([]string(nil), p.Args...)
	c.p.Env = append([]string(nil), p.Env...)
	c.anc = c.anc[:0]
	n := 0
	for a := p.Parent; a != nil && n < MaxCaptureAncestors; a = a.Parent {
		n++
		c.anc = append(c.anc, ancEnc{pid: a.PID, comm: a.Comm, exe: a.Exe, exepath: a.ExePath, args: append([]string(nil), a.Args...), ids: a.IDs})
	}
	c.enc = appendProc(c.enc[:0], p)
}

func (c *procEnc) matches(p *Process) bool {
	q := &c.p
	if p.PID != q.PID || p.PPID != q.PPID || p.Comm != q.Comm || p.Exe != q.Exe || p.ExePath != q.ExePath ||
		p.Cwd != q.Cwd || p.Tty != q.Tty || p.UID != q.UID || p.GID != q.GID || p.LoginUID != q.LoginUID ||
		p.CapEff != q.CapEff || p.CapPrm != q.CapPrm || p.CapInh != q.CapInh ||
		p.StartTime != q.StartTime || p.ExecTime != q.ExecTime || p.CgroupID != q.CgroupID ||
		p.ExeUpperLayer != q.ExeUpperLayer || p.ExeFromMemfd != q.ExeFromMemfd || p.ExeWritable != q.ExeWritable ||
		p.IDs != q.IDs || p.ExeIno != q.ExeIno || p.ExeCtime != q.ExeCtime || p.ExeMtime != q.ExeMtime ||
		!stringsEqual(p.Args, q.Args) || !stringsEqual(p.Env, q.Env) {
		return false
	}
	n := 0
	for a := p.Parent; a != nil && n < MaxCaptureAncestors; a = a.Parent {
		if n >= len(c.anc) {
			return false
		}
		s := &c.anc[n]
		if a.PID != s.pid || a.Comm != s.comm || a.Exe != s.exe || a.ExePath != s.exepath || a.IDs != s.ids || !stringsEqual(a.Args, s.args) {
			return false
		}
		n++
	}
	return n == len(c.anc)
}

func stringsEqual(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func (e *JSONEncoder) appendContainer(dst []byte, c *Container) []byte {
	k := e.conts[c]
	if k != nil && k.id == c.ID && k.fullID == c.FullID && k.typ == c.Type && k.name == c.Name &&
		k.image == c.Image && k.known == c.MetadataKnown && k.nMounts == len(c.Mounts) &&
		k.nLabels == len(c.Labels) && k.nPodLabels == len(c.PodLabels) {
		return append(dst, k.enc...)
	}
	if e.conts == nil || len(e.conts) >= maxContEnc {
		e.conts = make(map[*Container]*contEnc)
	}
	if k == nil {
		k = &contEnc{}
	}
	e.conts[c] = k
	*k = contEnc{id: c.ID, fullID: c.FullID, typ: c.Type, name: c.Name, image: c.Image, known: c.MetadataKnown,
		nMounts: len(c.Mounts), nLabels: len(c.Labels), nPodLabels: len(c.PodLabels), enc: appendContainer(k.enc[:0], c)}
	return append(dst, k.enc...)
}
