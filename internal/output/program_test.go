package output

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

func TestProgram(t *testing.T) {
	out := filepath.Join(t.TempDir(), "out.jsonl")
	p := NewProgram(ProgramOptions{Command: "exec cat >> " + out, Format: FormatJSON})
	for i := 0; i < 5; i++ {
		if err := p.Write(context.Background(), testAlert(i)); err != nil {
			t.Fatal(err)
		}
	}
	pid := p.cmd.Process.Pid
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	// Close waited for the command to exit: everything is in the file.
	ls := lines(t, out)
	if len(ls) != 5 {
		t.Fatalf("%d lines, want 5", len(ls))
	}
	for _, l := range ls {
		checkFalcoShape(t, []byte(l))
	}
	if _, err := os.Stat("/proc/" + strconv.Itoa(pid)); err == nil {
		t.Errorf("command %d still running after Close", pid)
	}
}

func TestProgramRestart(t *testing.T) {
	out := filepath.Join(t.TempDir(), "out.txt")
	// The command takes one line and exits; the output starts it again.
	p := NewProgram(ProgramOptions{Command: "head -n 1 >> " + out, Format: FormatText})
	defer p.Close()
	ctx := context.Background()
	if err := p.Write(ctx, testAlert(1)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "first line", 5*time.Second, func() bool { _, err := os.Stat(out); return err == nil && len(lines(t, out)) == 1 })
	deadline := time.Now().Add(10 * time.Second)
	for len(lines(t, out)) < 2 {
		if time.Now().After(deadline) {
			t.Fatal("command not restarted")
		}
		_ = p.Write(ctx, testAlert(2)) // fails while the command is gone, then succeeds
		time.Sleep(20 * time.Millisecond)
	}
}
