package sbom

import (
	"encoding/binary"
	"testing"
)

// fuzzHeader is a minimal package header blob (name, version, release).
func fuzzHeader(name string) []byte {
	var index, data []byte
	for i, v := range []string{name, "1.0", "1"} {
		e := make([]byte, 16)
		binary.BigEndian.PutUint32(e, uint32(rpmTagName+i))
		binary.BigEndian.PutUint32(e[4:], rpmTypeString)
		binary.BigEndian.PutUint32(e[8:], uint32(len(data)))
		binary.BigEndian.PutUint32(e[12:], 1)
		index = append(index, e...)
		data = append(data, append([]byte(v), 0)...)
	}
	b := make([]byte, 8)
	binary.BigEndian.PutUint32(b, uint32(len(index)/16))
	binary.BigEndian.PutUint32(b[4:], uint32(len(data)))
	return append(append(b, index...), data...)
}

// FuzzRPMNDB: whatever the bytes, parseRPMNDB returns packages, warnings
// or an error, never panics, and never returns a package without a name.
// The seed corpus (testdata/fuzz/FuzzRPMNDB) holds databases written by
// WriteNDB.
func FuzzRPMNDB(f *testing.F) {
	f.Add(WriteNDB([][]byte{fuzzHeader("a"), nil, fuzzHeader("b")}))
	f.Add(WriteNDB(nil))
	f.Fuzz(func(t *testing.T, b []byte) {
		pkgs, _, err := parseRPMNDB(b)
		if err != nil && len(pkgs) > 0 {
			t.Fatalf("error %v with %d packages", err, len(pkgs))
		}
		for _, p := range pkgs {
			if p.Name == "" {
				t.Fatalf("package without a name: %+v", p)
			}
		}
	})
}
