package profile

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// ErrInvalid matches (errors.Is) every error of Decode.
var ErrInvalid = errors.New("invalid profile")

// DecodeError is a positioned error in a profile document.
type DecodeError struct {
	File      string
	Line, Col int
	Msg       string
}

func (e *DecodeError) Error() string {
	return fmt.Sprintf("%s:%d:%d: %s", e.File, e.Line, e.Col, e.Msg)
}

// Is makes errors.Is(e, ErrInvalid) true.
func (e *DecodeError) Is(t error) bool { return t == ErrInvalid }

// doc is the JSON form of a profile: one array per kind, in text form.
type doc struct {
	Name       string    `json:"name"`
	Version    uint64    `json:"version"`
	State      State     `json:"state"`
	LearnStart time.Time `json:"learn_start"`
	LearnEnd   time.Time `json:"learn_end"`
	Updated    time.Time `json:"updated"`
	Hosts      []string  `json:"hosts,omitempty"`
	// SyscallSets: the syscalls are complete (Profile.SyscallsComplete).
	SyscallSets bool              `json:"syscall_sets,omitempty"`
	Program     []string          `json:"program"`
	Read        []string          `json:"read"`
	Write       []string          `json:"write"`
	Egress      []string          `json:"egress"`
	Ingress     []string          `json:"ingress"`
	Listen      []string          `json:"listen"`
	Syscall     []string          `json:"syscall"`
	Cap         []string          `json:"cap"`
	CapUsed     []string          `json:"cap_used,omitempty"`
	UID         []string          `json:"uid"`
	Overflow    map[string]uint64 `json:"overflow,omitempty"`
}

func (d *doc) items(k Kind) *[]string {
	switch k {
	case KindProgram:
		return &d.Program
	case KindRead:
		return &d.Read
	case KindWrite:
		return &d.Write
	case KindEgress:
		return &d.Egress
	case KindIngress:
		return &d.Ingress
	case KindListen:
		return &d.Listen
	case KindSyscall:
		return &d.Syscall
	case KindCap:
		return &d.Cap
	case KindCapUsed:
		return &d.CapUsed
	case KindUID:
		return &d.UID
	}
	return nil
}

// MarshalJSON writes the profile as an indented, sorted JSON document
// (what `vigil profile export` prints and the store keeps).
func (p *Profile) MarshalJSON() ([]byte, error) {
	d := doc{Name: p.Name, Version: p.Version, State: p.State, LearnStart: p.LearnStart.UTC(), LearnEnd: p.LearnEnd.UTC(),
		Updated: p.Updated.UTC(), Hosts: p.Hosts, SyscallSets: p.syscallSets}
	for _, k := range Kinds {
		it := p.Items(k)
		if it == nil {
			it = []string{}
		}
		*d.items(k) = it
		if n := p.Overflow(k); n > 0 {
			if d.Overflow == nil {
				d.Overflow = map[string]uint64{}
			}
			d.Overflow[string(k)] = n
		}
	}
	return json.MarshalIndent(&d, "", "  ")
}

// Decode reads one profile document; file names it in errors. Unknown
// keys, wrong types, bad values and a missing name are positioned errors
// (file:line:col).
func Decode(data []byte, file string, limits Limits) (*Profile, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var d doc
	if err := dec.Decode(&d); err != nil {
		return nil, jsonError(data, file, err)
	}
	if dec.More() {
		return nil, posError(data, file, int(dec.InputOffset()), "more than one document")
	}
	if d.Name == "" {
		return nil, posError(data, file, 0, "name: missing")
	}
	switch d.State {
	case Learning, Monitoring:
	case "":
		d.State = Monitoring
	default:
		return nil, posError(data, file, valueOffset(data, "state", string(d.State)), fmt.Sprintf("state %q: want learning or monitoring", d.State))
	}
	p := &Profile{Name: d.Name, Version: d.Version, State: d.State, LearnStart: d.LearnStart, LearnEnd: d.LearnEnd,
		Updated: d.Updated, limits: limits.withDefaults(), syscallSets: d.SyscallSets}
	for _, h := range d.Hosts {
		p.addHost(h)
	}
	for _, k := range Kinds {
		for _, v := range *d.items(k) {
			if err := p.Add(Item{Kind: k, Value: v}); err != nil {
				return nil, posError(data, file, valueOffset(data, string(k), v), string(k)+": "+err.Error())
			}
		}
	}
	for k, n := range d.Overflow {
		kind, err := ParseKind(k)
		if err != nil {
			return nil, posError(data, file, valueOffset(data, "overflow", k), "overflow: "+err.Error())
		}
		p.setOverflow(kind, p.Overflow(kind)+n)
	}
	return p, nil
}

// jsonError positions a decoding error.
func jsonError(data []byte, file string, err error) error {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case errors.As(err, &se):
		return posError(data, file, int(se.Offset), se.Error())
	case errors.As(err, &te):
		return posError(data, file, int(te.Offset), fmt.Sprintf("%s: want %s, not %s", te.Field, te.Type, te.Value))
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		f := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return posError(data, file, bytes.Index(data, []byte(`"`+f+`"`)), "unknown key "+f)
	case errors.Is(err, errEOF(err)):
		return posError(data, file, len(data), "unexpected end of document")
	}
	return posError(data, file, 0, err.Error())
}

func errEOF(err error) error {
	if err.Error() == "EOF" || err.Error() == "unexpected EOF" {
		return err
	}
	return errors.New("not eof")
}

// valueOffset is where the value v of key first appears in data (after
// the key), or where the key does.
func valueOffset(data []byte, key, v string) int {
	k := bytes.Index(data, []byte(`"`+key+`"`))
	if k < 0 {
		return 0
	}
	enc, _ := json.Marshal(v)
	if i := bytes.Index(data[k:], enc); i >= 0 {
		return k + i
	}
	return k
}

func posError(data []byte, file string, off int, msg string) error {
	if off < 0 {
		off = 0
	}
	if off > len(data) {
		off = len(data)
	}
	line := 1 + bytes.Count(data[:off], []byte("\n"))
	col := off - bytes.LastIndexByte(data[:off], '\n')
	return &DecodeError{File: file, Line: line, Col: col, Msg: msg}
}
