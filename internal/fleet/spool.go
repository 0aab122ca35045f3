package fleet

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/vigilsec/vigil/internal/queue"
	"github.com/vigilsec/vigil/internal/safefile"
)

// Record is one message waiting for the hub: its JetStream message id (the
// hub and JetStream drop a second copy of an id), its subject and its body.
type Record struct {
	ID      string
	Subject string
	Data    []byte
}

// ErrSpoolFull is returned by Append when the spool holds its bound: the
// record is dropped and counted.
var ErrSpoolFull = errors.New("fleet spool full")

// SpoolOptions configure a Spool.
type SpoolOptions struct {
	// Dir holds the segment files (created 0700).
	Dir string
	// MaxBytes bounds the bytes on disk; a record that would pass it is
	// dropped (counted). 0 means 256 MiB.
	MaxBytes int64
	// SegmentBytes is the size at which a new segment file starts; 0 means
	// 4 MiB.
	SegmentBytes int64
	// Overflow reports the drops as the queue "fleet.spool" (nil: counted
	// only).
	Overflow *queue.Overflow
}

// Spool is a bounded FIFO of records on disk: the messages the hub did not
// take yet, in the order they were produced. It survives a restart of the
// agent. Safe for concurrent use.
type Spool struct {
	opts  SpoolOptions
	drops *queue.Drops

	mu    sync.Mutex
	segs  []*segment // oldest first; the last is the one appended to
	tail  *os.File   // open for append on segs[len-1], nil before the first append
	bytes int64      // bytes of records not yet popped
	count int        // records not yet popped
	torn  uint64     // records lost to a torn write found at open
}

type segment struct {
	seq  uint64
	path string
	size int64    // bytes written
	off  int64    // read position (head segment only)
	rd   *os.File // open for reading (head segment only)
}

// recordHeader: length of the body (u32), CRC-32C of the body (u32).
const recordHeader = 8

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// OpenSpool opens (or creates) the spool in o.Dir and counts what it holds.
// A record torn by a crash in the middle of its write ends its segment: it
// and what follows in that segment are counted as dropped.
func OpenSpool(o SpoolOptions) (*Spool, error) {
	if o.MaxBytes <= 0 {
		o.MaxBytes = 256 << 20
	}
	if o.SegmentBytes <= 0 {
		o.SegmentBytes = 4 << 20
	}
	if err := os.MkdirAll(o.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("fleet spool: %w", err)
	}
	st, err := os.Lstat(o.Dir)
	if err != nil {
		return nil, fmt.Errorf("fleet spool: %w", err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("fleet spool: %s is not a directory (a symbolic link is refused)", o.Dir)
	}
	if err := os.Chmod(o.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("fleet spool: %w", err)
	}
	s := &Spool{opts: o, drops: queue.NewDrops(queue.Options{Name: "fleet.spool", Item: "messages",
		Size: int(o.MaxBytes), Overflow: o.Overflow})}
	ents, err := os.ReadDir(o.Dir)
	if err != nil {
		return nil, fmt.Errorf("fleet spool: %w", err)
	}
	for _, e := range ents {
		name := e.Name()
		if !strings.HasSuffix(name, ".seg") {
			continue
		}
		seq, err := strconv.ParseUint(strings.TrimSuffix(name, ".seg"), 10, 64)
		if err != nil {
			continue
		}
		if !e.Type().IsRegular() {
			return nil, fmt.Errorf("fleet spool: %s is not a regular file (a symbolic link is refused)", filepath.Join(o.Dir, name))
		}
		seg := &segment{seq: seq, path: filepath.Join(o.Dir, name)}
		if err := s.scan(seg); err != nil {
			return nil, err
		}
		s.segs = append(s.segs, seg)
	}
	sort.Slice(s.segs, func(i, j int) bool { return s.segs[i].seq < s.segs[j].seq })
	return s, nil
}

// scan counts seg's whole records; a torn one ends the segment.
func (s *Spool) scan(seg *segment) error {
	f, err := os.OpenFile(seg.path, os.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("fleet spool: %w", err)
	}
	defer f.Close()
	var off int64
	for {
		body, err := readRecord(f, off)
		if err != nil {
			break
		}
		off += recordHeader + int64(len(body))
		s.count++
	}
	if st, err := f.Stat(); err == nil && st.Size() > off {
		s.torn++
		s.drops.Drop()
		// Cut the torn record off: later appends go into a new segment
		// anyway, and the reader stops at off.
		if err := os.Truncate(seg.path, off); err != nil {
			return fmt.Errorf("fleet spool: %w", err)
		}
	}
	seg.size = off
	s.bytes += off
	return nil
}

var errTorn = errors.New("torn record")

// readRecord reads the record body at off of f.
func readRecord(f *os.File, off int64) ([]byte, error) {
	var h [recordHeader]byte
	if _, err := f.ReadAt(h[:], off); err != nil {
		return nil, err
	}
	n := binary.LittleEndian.Uint32(h[:4])
	if n > 64<<20 {
		return nil, errTorn
	}
	body := make([]byte, n)
	if _, err := f.ReadAt(body, off+recordHeader); err != nil {
		return nil, errTorn
	}
	if crc32.Checksum(body, castagnoli) != binary.LittleEndian.Uint32(h[4:]) {
		return nil, errTorn
	}
	return body, nil
}

func encodeRecord(r Record) []byte {
	n := 2 + len(r.ID) + 2 + len(r.Subject) + len(r.Data)
	b := make([]byte, recordHeader, recordHeader+n)
	b = binary.LittleEndian.AppendUint16(b, uint16(len(r.ID)))
	b = append(b, r.ID...)
	b = binary.LittleEndian.AppendUint16(b, uint16(len(r.Subject)))
	b = append(b, r.Subject...)
	b = append(b, r.Data...)
	binary.LittleEndian.PutUint32(b[:4], uint32(n))
	binary.LittleEndian.PutUint32(b[4:8], crc32.Checksum(b[recordHeader:], castagnoli))
	return b
}

func decodeRecord(body []byte) (Record, error) {
	var r Record
	take := func() (string, bool) {
		if len(body) < 2 {
			return "", false
		}
		n := int(binary.LittleEndian.Uint16(body))
		if len(body) < 2+n {
			return "", false
		}
		s := string(body[2 : 2+n])
		body = body[2+n:]
		return s, true
	}
	var ok1, ok2 bool
	r.ID, ok1 = take()
	r.Subject, ok2 = take()
	if !ok1 || !ok2 {
		return r, errTorn
	}
	r.Data = body
	return r, nil
}

// Append adds r at the end. When the spool holds MaxBytes, r is dropped,
// counted (queue "fleet.spool") and ErrSpoolFull returned.
func (s *Spool) Append(r Record) error {
	if len(r.ID) > 0xffff || len(r.Subject) > 0xffff {
		return fmt.Errorf("fleet spool: id or subject too long")
	}
	b := encodeRecord(r)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.bytes+int64(len(b)) > s.opts.MaxBytes {
		s.drops.Drop()
		return ErrSpoolFull
	}
	if err := s.openTail(int64(len(b))); err != nil {
		return err
	}
	if _, err := s.tail.Write(b); err != nil {
		return fmt.Errorf("fleet spool: %w", err)
	}
	seg := s.segs[len(s.segs)-1]
	seg.size += int64(len(b))
	s.bytes += int64(len(b))
	s.count++
	return nil
}

// openTail makes s.tail the segment to append n bytes to.
func (s *Spool) openTail(n int64) error {
	if s.tail != nil && s.segs[len(s.segs)-1].size+n <= s.opts.SegmentBytes {
		return nil
	}
	if s.tail != nil {
		s.tail.Close()
		s.tail = nil
	}
	var seq uint64 = 1
	if len(s.segs) > 0 {
		last := s.segs[len(s.segs)-1]
		if last.size+n <= s.opts.SegmentBytes && last.rd == nil {
			// A segment found at open, not being read: append to it.
			f, err := safefile.OpenAppend(last.path, 0o600)
			if err != nil {
				return fmt.Errorf("fleet spool: %w", err)
			}
			s.tail = f
			return nil
		}
		seq = last.seq + 1
	}
	path := filepath.Join(s.opts.Dir, fmt.Sprintf("%020d.seg", seq))
	f, err := safefile.CreateNew(path, 0o600)
	if err != nil {
		return fmt.Errorf("fleet spool: %w", err)
	}
	s.tail = f
	s.segs = append(s.segs, &segment{seq: seq, path: path})
	return nil
}

// Peek returns the oldest record without removing it; false when empty.
func (s *Spool) Peek() (Record, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for len(s.segs) > 0 {
		h := s.segs[0]
		if h.off >= h.size {
			if len(s.segs) == 1 {
				return Record{}, false, nil
			}
			s.dropHead()
			continue
		}
		if h.rd == nil {
			f, err := os.OpenFile(h.path, os.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
			if err != nil {
				return Record{}, false, fmt.Errorf("fleet spool: %w", err)
			}
			h.rd = f
		}
		body, err := readRecord(h.rd, h.off)
		if err != nil {
			return Record{}, false, fmt.Errorf("fleet spool: %s at %d: %w", h.path, h.off, err)
		}
		r, err := decodeRecord(body)
		if err != nil {
			return Record{}, false, fmt.Errorf("fleet spool: %s at %d: %w", h.path, h.off, err)
		}
		return r, true, nil
	}
	return Record{}, false, nil
}

// Pop removes the oldest record (the one Peek returned).
func (s *Spool) Pop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.segs) == 0 || s.count == 0 {
		return
	}
	h := s.segs[0]
	if h.rd == nil {
		return
	}
	var hb [recordHeader]byte
	if _, err := h.rd.ReadAt(hb[:], h.off); err != nil {
		return
	}
	n := recordHeader + int64(binary.LittleEndian.Uint32(hb[:4]))
	h.off += n
	s.bytes -= n
	s.count--
	if h.off >= h.size {
		if len(s.segs) > 1 {
			s.dropHead()
		} else if s.count == 0 {
			// Everything sent: start afresh with the next append.
			s.dropHead()
			if s.tail != nil {
				s.tail.Close()
				s.tail = nil
			}
		}
	}
}

// dropHead removes the head segment, fully read.
func (s *Spool) dropHead() {
	h := s.segs[0]
	if h.rd != nil {
		h.rd.Close()
	}
	if err := os.Remove(h.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		// Left behind: it is read again (and deduplicated) after a restart.
		_ = err
	}
	s.segs = s.segs[1:]
}

// Len returns the records waiting.
func (s *Spool) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.count
}

// Bytes returns the bytes waiting on disk.
func (s *Spool) Bytes() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.bytes
}

// Dropped returns the records dropped: spool full, or torn by a crash.
func (s *Spool) Dropped() uint64 { return s.drops.Dropped() }

// Close closes the open files; the records stay on disk for the next open.
func (s *Spool) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tail != nil {
		s.tail.Close()
		s.tail = nil
	}
	for _, g := range s.segs {
		if g.rd != nil {
			g.rd.Close()
			g.rd = nil
		}
	}
	return nil
}
