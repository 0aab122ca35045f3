package event

import (
	"strings"
	"testing"
)

func TestTypeSetPast64(t *testing.T) {
	// The set is sized from NumTypes, so the last type of the table, past
	// bit 63 once the table has more than 64 rows, is a member like any other.
	var s TypeSet
	last := NumTypes - 1
	s.Add(last)
	s.Add(1)
	if !s.Has(last) || !s.Has(1) || s.Has(2) || s.Len() != 2 {
		t.Fatalf("set %v len %d", s, s.Len())
	}
	if s.Has(NumTypes) || s.Has(NumTypes+100) {
		t.Fatal("types outside the table are never members")
	}
	s.Add(NumTypes + 100) // ignored, no panic
	if got := AllTypes().Minus(s).Len(); got != int(NumTypes)-3 {
		t.Fatalf("all minus 2 = %d", got)
	}
	if !AllTypes().Intersect(s).Has(last) || AllTypes().Union(s) != AllTypes() {
		t.Fatal("intersect/union")
	}
	if AllTypes().String() != "all" || TypeSetOf(TypeOpenat, TypeExecve).String() != "execve,openat" {
		t.Fatalf("%q", TypeSetOf(TypeOpenat, TypeExecve).String())
	}
	if !(TypeSet{}).Empty() || s.Empty() {
		t.Fatal("empty")
	}
}

func TestParseTypes(t *testing.T) {
	all, err := ParseTypes("")
	if err != nil || all != AllTypes().Minus(IOTypes) || all.Len() != int(NumTypes)-1-IOTypes.Len() {
		t.Fatalf("ParseTypes(\"\") = %d types, %v", all.Len(), err)
	}
	// The read/write family only by name.
	if s, _ := ParseTypes("file,all"); !s.Intersect(IOTypes).Empty() {
		t.Errorf("file,all include %v", s.Intersect(IOTypes).Types())
	}
	if s, _ := ParseTypes("write"); s != TypeSetOf(TypeWrite) {
		t.Errorf("write: %v", s.Types())
	}
	got, err := ParseTypes("network, openat,openat", "execve")
	if err != nil {
		t.Fatal(err)
	}
	if !got.Has(TypeOpenat) || !got.Has(TypeExecve) || !got.Has(TypeConnect) || got.Has(TypeOpen) {
		t.Errorf("got %v", got)
	}
	for _, ty := range got.Types() {
		if ty != TypeOpenat && ty != TypeExecve && Lookup(ty).Category != CatNetwork {
			t.Errorf("%v is not a network type", ty)
		}
	}
	if _, err := ParseTypes("openat,bogus"); err == nil || !strings.Contains(err.Error(), `"bogus"`) {
		t.Errorf("bogus type: %v", err)
	}
}
