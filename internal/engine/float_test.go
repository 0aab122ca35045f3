package engine

import (
	"testing"

	"github.com/vigilsec/vigil/internal/event"
	"github.com/vigilsec/vigil/internal/rules"
)

// cpuState is a process's live state with n open fds whose thread uses
// user and system percent of a CPU.
type cpuState struct {
	n            int
	user, system float64
}

func (s cpuState) FD(int64) (*event.FDInfo, bool) { return nil, false }
func (s cpuState) EachFD(fn func(*event.FDInfo) bool) {
	for range s.n {
		if !fn(&event.FDInfo{}) {
			return
		}
	}
}
func (s cpuState) Threads() (bool, int) { return true, 0 }
func (s cpuState) ThreadCPU(uint32) (float64, float64, bool) {
	return s.user, s.system, true
}
func (s cpuState) ThreadRunTime(uint32) (int64, bool) { return 0, false }

// floatEvent: 3 fds open of a limit of 8 (proc.fdusage 37.5), a thread at
// 62.5% user and 12.5% system (thread.cpu 75).
func floatEvent() *event.Event {
	ev := richEvent()
	ev.Proc.Usage = event.Usage{Known: true, FDLimit: 8}
	ev.Proc.State = cpuState{n: 3, user: 62.5, system: 12.5}
	return ev
}

func TestFloatFields(t *testing.T) {
	for _, c := range []struct {
		cond string
		want bool
	}{
		{"proc.fdusage = 37.5", true},
		{"proc.fdusage = 3.75e1", true},
		{"proc.fdusage == 37", false},
		{"proc.fdusage != 37.5", false},
		{"proc.fdusage != 37", true},
		{"proc.fdusage < 37.6", true},
		{"proc.fdusage < 37.5", false},
		{"proc.fdusage <= 37.5", true},
		{"proc.fdusage > 37.49", true},
		{"proc.fdusage > 37.5", false},
		{"proc.fdusage >= 37.5", true},
		{"proc.fdusage >= 38", false},
		{"proc.fdusage in (1, 2.5, 37.5)", true},
		{"proc.fdusage in (1, 2.5)", false},
		{"proc.fdusage > -1", true},
		{"thread.cpu = 75", true},
		{"thread.cpu > 50", true},
		{"thread.cpu.user = 62.5 and thread.cpu.system = 12.5", true},
		{"thread.cpu.system > 50", false},
		{"thread.cpu exists", true},
	} {
		t.Run(c.cond, func(t *testing.T) {
			rs, err := compileRule(t, "", c.cond)
			if err != nil {
				t.Fatal(err)
			}
			if got := New(rs, nil).Evaluate(floatEvent(), nil) == 1; got != c.want {
				t.Fatalf("got %v, want %v", got, c.want)
			}
		})
	}
	// Without live state (a replayed capture) there is no value.
	rs, err := compileRule(t, "", "thread.cpu exists or proc.fdusage exists")
	if err != nil {
		t.Fatal(err)
	}
	if New(rs, nil).Evaluate(richEvent(), nil) != 0 {
		t.Fatal("thread.cpu/proc.fdusage have a value without process state")
	}
}

// TestFloatOutput: Falco prints a DOUBLE with "%.1lf"; JSON output fields
// carry the number.
func TestFloatOutput(t *testing.T) {
	y := `
- rule: r
  desc: d
  condition: evt.type = openat
  output: "fdusage=%proc.fdusage cpu=%thread.cpu user=%thread.cpu.user"
  priority: INFO
`
	rs := rules.LoadAndCompile(nil, rules.File{Name: "o.yaml", Data: []byte(y)})
	if err := rs.Err(); err != nil {
		t.Fatal(err)
	}
	var m *Match
	New(rs, nil).Evaluate(floatEvent(), func(x *Match) { m = x })
	if m == nil {
		t.Fatal("no match")
	}
	if want := "fdusage=37.5 cpu=75.0 user=62.5"; m.Output != want {
		t.Fatalf("output %q, want %q", m.Output, want)
	}
	if len(m.Fields) != 3 || m.Fields[1].Name != "thread.cpu" || m.Fields[1].Value != 75.0 {
		t.Fatalf("fields %+v", m.Fields)
	}
}
