package event

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the generated part of docs/events.md")

const (
	docPath   = "../../docs/events.md"
	beginMark = "<!-- BEGIN GENERATED: event table (go test ./internal/event -run TestEventsDoc -update) -->"
	endMark   = "<!-- END GENERATED: event table -->"
)

var kindNames = map[Kind]string{
	KindInt: "int", KindUint: "uint", KindFD: "fd", KindErrno: "errno", KindPath: "path",
	KindRelPath: "relpath", KindString: "string", KindFlags: "flags", KindEnum: "enum", KindMode: "mode",
	KindSockaddr: "sockaddr", KindPID: "pid", KindUID: "uid", KindSignal: "signal", KindBuffer: "buffer",
}

// eventTable renders the def table as markdown.
func eventTable() string {
	var b strings.Builder
	b.WriteString("| type | category | source | arguments (Falco order: name kind) | description |\n")
	b.WriteString("|---|---|---|---|---|\n")
	for _, d := range Defs()[1:] {
		src := "sys_exit_" + d.Syscall
		switch {
		case d.Type == TypeExecve:
			src = "sched_process_exec; sys_exit_execve (failures)"
		case d.Type == TypeExecveat:
			src = "sys_exit_execveat (failures)"
		case d.Type == TypeProcExit:
			src = "sched_process_exit"
		case d.Type == TypeK8sAudit:
			src = "audit webhook, audit log"
		case d.Type == TypeContainer:
			src = "pipeline (exec of pid 1)"
		case d.Syscall == "":
			src = "sched_process_fork"
		case d.Syscall == "umount2":
			src = "sys_exit_umount"
		}
		var args []string
		for _, a := range d.Args {
			s := fmt.Sprintf("`%s` %s", a.Name, kindNames[a.Kind])
			if a.Flags != "" {
				s += " (" + a.Flags + ")"
			}
			args = append(args, s)
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s | %s |\n", d.Name, d.Category, src, strings.Join(args, ", "), d.Doc)
	}
	return b.String()
}

func TestEventsDoc(t *testing.T) {
	doc, err := os.ReadFile(docPath)
	if err != nil {
		t.Fatalf("read %s: %v", docPath, err)
	}
	i := bytes.Index(doc, []byte(beginMark))
	j := bytes.Index(doc, []byte(endMark))
	if i < 0 || j < i {
		t.Fatalf("%s: generated-section markers missing", docPath)
	}
	want := beginMark + "\n" + eventTable() + endMark
	got := string(doc[i : j+len(endMark)])
	if got == want {
		return
	}
	if !*update {
		t.Fatalf("%s is stale: run go test ./internal/event -run TestEventsDoc -update", docPath)
	}
	out := string(doc[:i]) + want + string(doc[j+len(endMark):])
	if err := os.WriteFile(docPath, []byte(out), 0o644); err != nil {
		t.Fatal(err)
	}
}
