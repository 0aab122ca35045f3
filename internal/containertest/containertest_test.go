package containertest

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"fmt"
	"github.com/vigilsec/vigil/internal/host"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/testkernel"
)

func TestBuildImageLayout(t *testing.T) {
	if _, err := os.Stat(BusyboxPath); err != nil {
		testkernel.Skip(t, fmt.Sprintf("no %s (install busybox-static): %v", BusyboxPath, err))
	}
	var buf bytes.Buffer
	digest, err := BuildImage(&buf, ImageName)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{}
	tr := tar.NewReader(&buf)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(tr)
		files[h.Name] = b
	}
	var index struct {
		Manifests []struct {
			Digest      string
			Annotations map[string]string
		}
	}
	if err := json.Unmarshal(files["index.json"], &index); err != nil {
		t.Fatal(err)
	}
	if len(index.Manifests) != 1 || index.Manifests[0].Digest != digest {
		t.Fatalf("index %+v, manifest digest %s", index, digest)
	}
	if got := index.Manifests[0].Annotations["io.containerd.image.name"]; got != ImageName {
		t.Fatalf("image name annotation %q", got)
	}
	if got := digestOf(files["blobs/sha256/"+strings.TrimPrefix(digest, "sha256:")]); got != digest {
		t.Fatalf("manifest blob digest %s, want %s", got, digest)
	}
}

func TestContainerdRun(t *testing.T) {
	env := New(t)
	c := env.Run(t, Spec{Args: []string{"sh", "-c", "cat /etc/hostname; echo $$; exit 3"}})
	if c.PID == 0 {
		t.Fatal("no pid")
	}
	if code := c.Wait(t, 10*time.Second); code != 3 {
		t.Fatalf("exit code %d, want 3 (output %q)", code, c.Output())
	}
	// The output is written by the shim asynchronously: poll.
	deadline := time.Now().Add(5 * time.Second)
	for !strings.HasPrefix(c.Output(), "vigiltest\n1\n") && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if out := c.Output(); !strings.HasPrefix(out, "vigiltest\n1\n") {
		t.Fatalf("output %q, want hostname and pid 1", out)
	}
	if want := "/" + Namespace + "/" + c.ID; c.CgroupPath != want {
		t.Fatalf("cgroup path %q, want %q", c.CgroupPath, want)
	}
}

func TestContainerdCgroupOfTask(t *testing.T) {
	env := New(t)
	c := env.Run(t, Spec{})
	data, err := os.ReadFile("/proc/" + itoa(c.PID) + "/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), c.CgroupPath) {
		t.Fatalf("/proc/%d/cgroup = %q, want %s", c.PID, data, c.CgroupPath)
	}
}

func TestRunc(t *testing.T) {
	c := RunRunc(t, "sleep", "60")
	data, err := os.ReadFile("/proc/" + itoa(c.PID) + "/cgroup")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), "0::"+c.CgroupPath+"\n") {
		t.Fatalf("/proc/%d/cgroup = %q, want v2 path %s", c.PID, data, c.CgroupPath)
	}
	if err := c.Delete(); err != nil {
		t.Fatal(err)
	}
	if !c.WaitGone(5 * time.Second) {
		t.Fatal("runc container still running after delete")
	}
}

func itoa(n uint32) string {
	var b [10]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			break
		}
	}
	return string(b[i:])
}

func TestContainerdExecAndCgroupID(t *testing.T) {
	env := New(t)
	c := env.Run(t, Spec{})
	code, out := c.Exec(t, 10*time.Second, "sh", "-c", "echo in-container; exit 7")
	if code != 7 || out != "in-container\n" {
		t.Fatalf("exec: code %d output %q", code, out)
	}
	id, err := c.CgroupID()
	if err != nil {
		t.Fatal(err)
	}
	root, err := host.Cgroup2Root()
	if err != nil {
		t.Fatal(err)
	}
	// The id names the directory whose cgroup.procs lists the task.
	procs, err := os.ReadFile(root + c.CgroupPath + "/cgroup.procs")
	if err != nil || !strings.Contains(string(procs), itoa(c.PID)) || id == 0 {
		t.Fatalf("cgroup %s (id %d) procs %q: %v", c.CgroupPath, id, procs, err)
	}
}
