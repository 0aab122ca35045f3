package agent

import (
	"bufio"
	"os"
	"os/user"
	"strconv"
	"strings"
	"testing"
)

// exeResident returns the resident KiB of the running executable's
// read-only private mappings that hold no private copy (those
// releaseBinaryPages releases).
func exeResident(t *testing.T) int {
	t.Helper()
	exe, err := os.Readlink("/proc/self/exe")
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	total, rss, in := 0, 0, false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) >= 5 && strings.Contains(fs[0], "-") {
			if in {
				total += rss
			}
			in = len(fs) >= 6 && strings.Join(fs[5:], " ") == exe && fs[1][1] != 'w' && fs[1][3] == 'p'
			rss = 0
			continue
		}
		if in && len(fs) >= 2 && fs[0] == "Rss:" {
			rss, _ = strconv.Atoi(fs[1])
		}
		if in && len(fs) >= 2 && fs[0] == "Anonymous:" && fs[1] != "0" {
			in = false
		}
	}
	if in {
		total += rss
	}
	return total
}

// touchExe reads the executable's read-only private mappings through
// /proc/self/mem, which faults their pages in: they are resident after.
func touchExe(t *testing.T) {
	t.Helper()
	exe, err := os.Readlink("/proc/self/exe")
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		t.Fatal(err)
	}
	mem, err := os.Open("/proc/self/mem")
	if err != nil {
		t.Fatal(err)
	}
	defer mem.Close()
	buf := make([]byte, 1<<20)
	for _, line := range strings.Split(string(b), "\n") {
		fs := strings.Fields(line)
		if len(fs) < 6 || strings.Join(fs[5:], " ") != exe || fs[1][0] != 'r' || fs[1][1] == 'w' || fs[1][3] != 'p' {
			continue
		}
		lo, hi, _ := strings.Cut(fs[0], "-")
		start, err1 := strconv.ParseUint(lo, 16, 64)
		end, err2 := strconv.ParseUint(hi, 16, 64)
		if err1 != nil || err2 != nil {
			t.Fatalf("maps line %q", line)
		}
		for a := start; a < end; a += uint64(len(buf)) {
			n := min(uint64(len(buf)), end-a)
			if _, err := mem.ReadAt(buf[:n], int64(a)); err != nil {
				t.Fatalf("read %s at %#x: %v", exe, a, err)
			}
		}
	}
}

// TestReleaseBinaryPages: the test binary's read-only mappings are
// resident after it touched its code; releasing them leaves a fraction
// resident, and the process goes on running, calling into libc through
// its relocated GOT (a release of the RELRO mapping would jump to 0).
func TestReleaseBinaryPages(t *testing.T) {
	// Other tests of this package may have released the pages already:
	// fault every page of the mappings in first, so that what is resident
	// before does not depend on the order the tests run in.
	touchExe(t)
	before := exeResident(t)
	if before < 1024 {
		t.Fatalf("only %d KiB of the test binary resident before the release", before)
	}
	n, err := releaseBinaryPages()
	if err != nil {
		t.Fatal(err)
	}
	after := exeResident(t)
	t.Logf("released %d bytes of mappings; resident %d KiB → %d KiB", n, before, after)
	if n <= 0 || after >= before/2 {
		t.Errorf("resident %d KiB → %d KiB after releasing %d bytes", before, after, n)
	}
	if _, err := user.Current(); err != nil { // getpwuid_r with cgo
		t.Fatal(err)
	}
	if u, err := user.LookupId("0"); err != nil || u.Username != "root" {
		t.Fatalf("user 0: %v %v", u, err)
	}
}
