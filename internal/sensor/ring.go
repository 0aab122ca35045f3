package sensor

import (
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
)

// ring reads one BPF ring buffer map. Unlike cilium/ebpf's ringbuf.Reader,
// it maps the data pages once: the kernel offers them twice in a row (so
// that a record wrapping around the end reads as one piece), and every page
// mapped counts in the agent's RSS from the start, since the kernel inserts
// them all at mmap time; a ring of N MiB costs N MiB of RSS here instead of
// 2N. The rare record that wraps is copied into spill. Records are read in
// place: the decoder copies what it keeps, and the space is handed back to
// the kernel (next) only after that.
//
// One goroutine reads a ring; close must not run during peek or next
// (Sensor's readMu orders them).
type ring struct {
	cons    []byte // consumer position page (read-write)
	prod    []byte // producer position page, then the data pages (read-only)
	data    []byte
	mask    uint64
	consPos *uint64
	prodPos *uint64
	spill   []byte // a record that wraps around the end, copied
	cur     []byte // the record peek returned, until next
	curLen  uint64 // its size in the ring (header and padding), 0: none
}

// The kernel's struct bpf_ringbuf_hdr and its length bits.
const (
	ringHdrSize    = 8
	ringBusyBit    = 1 << 31
	ringDiscardBit = 1 << 30
)

func newRing(m *ebpf.Map) (*ring, error) {
	size := int(m.MaxEntries())
	page := os.Getpagesize()
	if size < page || size&(size-1) != 0 {
		return nil, fmt.Errorf("sensor: ring size %d is not a power of two of at least a page", size)
	}
	cons, err := unix.Mmap(m.FD(), 0, page, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("sensor: map ring consumer page: %w", err)
	}
	prod, err := unix.Mmap(m.FD(), int64(page), page+size, unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		_ = unix.Munmap(cons)
		return nil, fmt.Errorf("sensor: map ring data pages: %w", err)
	}
	return &ring{
		cons: cons, prod: prod, data: prod[page:], mask: uint64(size - 1),
		consPos: (*uint64)(unsafe.Pointer(&cons[0])), prodPos: (*uint64)(unsafe.Pointer(&prod[0])),
	}, nil
}

// peek returns the oldest committed record, or nil when the ring holds
// none. It returns the same record until next. A record still being
// written (reserved, not committed) is waited for: nothing behind it can be
// read before it, and BPF programs commit within microseconds.
func (r *ring) peek() []byte {
	if r.curLen != 0 {
		return r.cur
	}
	for {
		cons := atomic.LoadUint64(r.consPos)
		if cons >= atomic.LoadUint64(r.prodPos) {
			return nil
		}
		l := atomic.LoadUint32((*uint32)(unsafe.Pointer(&r.data[cons&r.mask])))
		if l&ringBusyBit != 0 {
			continue
		}
		n := uint64(l &^ (ringBusyBit | ringDiscardBit))
		total := (n + ringHdrSize + 7) &^ 7
		if l&ringDiscardBit != 0 {
			atomic.StoreUint64(r.consPos, cons+total)
			continue
		}
		start := (cons + ringHdrSize) & r.mask
		if start+n <= uint64(len(r.data)) {
			r.cur = r.data[start : start+n : start+n]
		} else {
			first := uint64(len(r.data)) - start
			r.spill = append(append(r.spill[:0], r.data[start:]...), r.data[:n-first]...)
			r.cur = r.spill
		}
		r.curLen = total
		return r.cur
	}
}

// next hands the record peek returned back to the kernel.
func (r *ring) next() {
	if r.curLen == 0 {
		return
	}
	atomic.StoreUint64(r.consPos, atomic.LoadUint64(r.consPos)+r.curLen)
	r.cur, r.curLen = nil, 0
}

// pending returns the bytes written and not yet handed back (committed or
// not).
func (r *ring) pending() uint64 {
	return atomic.LoadUint64(r.prodPos) - atomic.LoadUint64(r.consPos)
}

func (r *ring) close() error {
	if r.prod == nil {
		return nil
	}
	err := errors.Join(unix.Munmap(r.prod), unix.Munmap(r.cons))
	r.prod, r.cons, r.data, r.cur, r.curLen = nil, nil, nil, nil, 0
	return err
}

// waiter blocks until one of the rings has data to read (the kernel wakes
// it past a ring's WakeupBytes), a timeout passes, or wake is called.
type waiter struct {
	epfd int
	evfd int // eventfd: wake
	evs  [4]unix.EpollEvent
}

func newWaiter(fds ...int) (*waiter, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("sensor: epoll: %w", err)
	}
	evfd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		unix.Close(epfd)
		return nil, fmt.Errorf("sensor: eventfd: %w", err)
	}
	w := &waiter{epfd: epfd, evfd: evfd}
	for _, fd := range append(fds, evfd) {
		if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, fd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(fd)}); err != nil {
			w.close()
			return nil, fmt.Errorf("sensor: epoll add: %w", err)
		}
	}
	return w, nil
}

// wait returns when a ring may have data, after timeout, or after wake
// (and at once from then on: the eventfd is never read).
func (w *waiter) wait(timeout time.Duration) error {
	_, err := unix.EpollWait(w.epfd, w.evs[:], int(timeout.Milliseconds()))
	if err != nil && !errors.Is(err, unix.EINTR) {
		return fmt.Errorf("sensor: epoll wait: %w", err)
	}
	return nil
}

// wake makes a wait in progress, and every later one, return.
func (w *waiter) wake() {
	var one = [8]byte{1}
	_, _ = unix.Write(w.evfd, one[:])
}

func (w *waiter) close() error {
	return errors.Join(unix.Close(w.epfd), unix.Close(w.evfd))
}
