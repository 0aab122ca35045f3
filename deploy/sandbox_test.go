package deploy

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/opencontainers/runtime-spec/specs-go"

	"github.com/vigilsec/vigil/internal/containertest"
	"github.com/vigilsec/vigil/internal/landlock"
	"github.com/vigilsec/vigil/internal/testkernel"
)

// sandboxPolicy blocks reading /etc/shadow: the file section the sandbox
// is made of.
const sandboxPolicy = `name: shadow-sandbox
scope: {containers: {}}
file:
  rules: [{name: shadow, action: block, access: read, paths: [/etc/shadow]}]
`

// TestSandboxInContainer runs a container's program under `vigil policy
// sandbox` (the release binary mounted into the container as its
// entrypoint wrapper; no agent runs): `cat /etc/shadow` fails with EACCES
// from the program's first instruction, other files are read, and a
// `vigil policy sandbox` inside with a policy that denies nothing does not
// lift it.
func TestSandboxInContainer(t *testing.T) {
	testkernel.RequireRoot(t)
	if _, err := landlock.ABI(); err != nil {
		testkernel.Skip(t, "Landlock not available: "+err.Error())
	}
	env := containertest.New(t)
	dir := t.TempDir()
	pol, open := filepath.Join(dir, "shadow.yaml"), filepath.Join(dir, "open.yaml")
	os.WriteFile(pol, []byte(sandboxPolicy), 0o644)
	os.WriteFile(open, []byte("name: open\nscope: {containers: {}}\nfile:\n  rules: [{action: block, paths: [/nonexistent-vigil]}]\n"), 0o644)
	bind := func(src, dst string) specs.Mount {
		return specs.Mount{Destination: dst, Source: src, Type: "bind", Options: []string{"rbind", "ro"}}
	}
	c := env.Run(t, containertest.Spec{
		Args: []string{"/vigil", "policy", "sandbox", "/p/shadow.yaml", "--", "/bin/sh", "-c",
			"cat /etc/shadow; cat /etc/hostname; /vigil policy sandbox /p/open.yaml -- /bin/cat /etc/shadow"},
		Mounts: []specs.Mount{bind(release(t), "/vigil"), bind(dir, "/p")},
	})
	c.Wait(t, 30*time.Second)
	out := c.Output()
	if strings.Contains(out, containertest.ShadowLine) || strings.Count(out, "'/etc/shadow': Permission denied") != 2 {
		t.Errorf("container output %q: want both reads of /etc/shadow denied (EACCES), the second under a sandbox that denies nothing", out)
	}
	if !strings.Contains(out, "vigiltest") {
		t.Errorf("container output %q lacks /etc/hostname", out)
	}
}
