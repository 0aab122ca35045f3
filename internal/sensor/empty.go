package sensor

import (
	"errors"
	"fmt"

	"github.com/cilium/ebpf/link"

	"github.com/vigilsec/vigil/internal/event"
)

// Empty is a set of do-nothing BPF programs attached to the tracepoints the
// sensor would use for the same types: the cost floor of any eBPF sensor,
// used as a benchmark baseline.
type Empty struct {
	objs  emptyObjects
	links []link.Link
}

// AttachEmpty attaches empty programs where New(opts) would attach the
// sensor's (opts.Types, plus fork and exit when a pid tree is followed).
func AttachEmpty(opts *Options) (*Empty, error) {
	if opts == nil {
		opts = &Options{}
	}
	if err := EnsureTracefs(); err != nil {
		return nil, fmt.Errorf("sensor: %w", err)
	}
	types := opts.Types
	if len(types) == 0 {
		for t := event.Type(1); t < event.NumTypes; t++ {
			types = append(types, t)
		}
	}
	e := &Empty{}
	if err := loadEmptyObjects(&e.objs, nil); err != nil {
		return nil, fmt.Errorf("sensor: load empty programs: %w", err)
	}
	progs := vigilPrograms{OnSysExit: e.objs.EmptySysExit, OnExec: e.objs.EmptyExec, OnFork: e.objs.EmptyFork, OnExit: e.objs.EmptyExit}
	for _, h := range hooksFor(types, opts.FilterPIDTree != 0, &progs) {
		var l link.Link
		var err error
		if h.raw {
			l, err = link.AttachRawTracepoint(link.RawTracepointOptions{Name: h.name, Program: h.prog})
		} else {
			l, err = link.Tracepoint(h.group, h.name, h.prog, nil)
		}
		if err == nil {
			e.links = append(e.links, l)
		}
	}
	if len(e.links) == 0 {
		e.Close()
		return nil, ErrNothingAttached
	}
	return e, nil
}

// Close detaches and unloads the programs.
func (e *Empty) Close() error {
	var errs []error
	for _, l := range e.links {
		errs = append(errs, l.Close())
	}
	e.links = nil
	errs = append(errs, e.objs.Close())
	return errors.Join(errs...)
}
