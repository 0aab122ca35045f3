package sbom

import (
	"bytes"
	"debug/buildinfo"
	"os"
	"runtime"
	"runtime/debug"
	"testing"

	"github.com/vigilsec/vigil/internal/testkernel"
)

// Item 1: a Go binary whose build info has no GOOS/GOARCH settings (built
// before Go 1.18, or stripped of them) gets its platform from its ELF
// header; here the header of a real ELF executable (busybox, built for this
// machine).
func TestGoPlatformFromELFHeader(t *testing.T) {
	bb, err := os.ReadFile("/bin/busybox")
	if err != nil {
		testkernel.Skip(t, "busybox-static not installed")
	}
	for _, useReaderAt := range []bool{true, false} {
		var buf bytes.Buffer
		var r interface{ Read([]byte) (int, error) } = bytes.NewReader(bb)
		if !useReaderAt {
			buf.Write(bb) // the layer path: the binary is buffered
			r = &bytes.Buffer{}
		}
		goos, goarch := goPlatform(&buildinfo.BuildInfo{}, r, &buf)
		if goos != "linux" || goarch != runtime.GOARCH {
			t.Errorf("ReaderAt %v: platform %s/%s, want linux/%s", useReaderAt, goos, goarch, runtime.GOARCH)
		}
	}
	// Settings win over the header.
	bi := &buildinfo.BuildInfo{Settings: []debug.BuildSetting{{Key: "GOOS", Value: "windows"}, {Key: "GOARCH", Value: "arm64"}}}
	if goos, goarch := goPlatform(bi, bytes.NewReader(bb), nil); goos != "windows" || goarch != "arm64" {
		t.Errorf("settings: %s/%s", goos, goarch)
	}
}
