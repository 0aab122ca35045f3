package agent

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// releaseBinaryPages lets the kernel map the agent's own executable by
// small pages and forgets the mappings made so far, so that its resident
// size counts only the code and data it runs from now on.
//
// Why: the page cache holds a freshly written or read binary in large
// folios, and the kernel maps a 2 MiB folio of a read-only file mapping
// with one PMD entry, so a single instruction fetched in a 2 MiB region
// makes all of it resident: the agent's binary (text, rodata, pclntab and
// the dynamic symbol table the stdlib plugin package brings in, about 58
// MiB) counted whole in its RSS. MADV_NOHUGEPAGE and MADV_RANDOM on those
// mappings make later faults map 4 KiB pages without read-around; then
// MADV_DONTNEED drops what start-up mapped and FADV_DONTNEED the large
// folios from the page cache (clean file pages: they fault back in, page
// by page, when used). The writable data segment
// is left alone, and so is any mapping holding private copies (the
// relocated GOT, read-only after relocation). It returns the bytes of the mappings released; an error
// leaves the mappings as they were (only RSS is at stake).
func releaseBinaryPages() (int64, error) {
	exe, err := os.Readlink("/proc/self/exe")
	if err != nil {
		return 0, err
	}
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	type span struct{ start, end uintptr }
	var spans []span
	var cur *span // the current mapping, while it qualifies
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) == 0 {
			continue
		}
		if lo, hi, ok := strings.Cut(fs[0], "-"); ok && len(fs) >= 5 {
			// A mapping: start-end perms offset dev inode [path]. Only
			// the executable's read-only private mappings qualify.
			cur = nil
			s, err1 := strconv.ParseUint(lo, 16, 64)
			e, err2 := strconv.ParseUint(hi, 16, 64)
			if err1 == nil && err2 == nil && e > s && len(fs) >= 6 && strings.Join(fs[5:], " ") == exe &&
				fs[1][1] != 'w' && fs[1][3] == 'p' {
				spans = append(spans, span{uintptr(s), uintptr(e)})
				cur = &spans[len(spans)-1]
			}
			continue
		}
		// A private copy in a read-only mapping is not the file's: the
		// relocated GOT (RELRO, made read-only after relocation) must
		// not be dropped.
		if cur != nil && fs[0] == "Anonymous:" && len(fs) >= 2 && fs[1] != "0" {
			spans = spans[:len(spans)-1]
			cur = nil
		}
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	if len(spans) == 0 {
		return 0, fmt.Errorf("no read-only mapping of %s", exe)
	}
	ef, err := os.Open(exe)
	if err != nil {
		return 0, err
	}
	defer ef.Close()
	var n int64
	// Twice: what other goroutines fault back in between the unmapping
	// and the page cache drop is still a large folio; the second pass
	// catches most of it.
	for pass := 0; pass < 2; pass++ {
		for _, sp := range spans {
			for _, advice := range []uintptr{unix.MADV_NOHUGEPAGE, unix.MADV_RANDOM, unix.MADV_DONTNEED} {
				if _, _, e := unix.Syscall(unix.SYS_MADVISE, sp.start, sp.end-sp.start, advice); e != 0 {
					return n, fmt.Errorf("madvise %#x-%#x: %w", sp.start, sp.end, e)
				}
			}
			if pass == 0 {
				n += int64(sp.end - sp.start)
			}
		}
		// The folios now unmapped leave the page cache (clean ones:
		// a binary just written is dirty until written back), so that
		// what faults back in is read page by page (MADV_RANDOM: no
		// read-around) instead of mapped whole again (the kernel maps
		// an entire large folio at a fault).
		_ = unix.Fadvise(int(ef.Fd()), 0, 0, unix.FADV_DONTNEED)
	}
	return n, nil
}
