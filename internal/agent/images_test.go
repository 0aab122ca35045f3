package agent

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/containerd/containerd"
	"github.com/containerd/containerd/namespaces"

	"github.com/vigilsec/vigil/internal/config"
	"github.com/vigilsec/vigil/internal/containertest"
	it "github.com/vigilsec/vigil/internal/image/imagetest"
	"github.com/vigilsec/vigil/internal/testkernel"
	"github.com/vigilsec/vigil/internal/vuln"
)

// imageAgentConfig is an agent configuration with only a file output, the
// test's containerd, and no rules.
func imageAgentConfig(t *testing.T) (*config.Config, string) {
	t.Helper()
	dir := t.TempDir()
	rulesPath := filepath.Join(dir, "rules.yaml")
	if err := os.WriteFile(rulesPath, []byte(catShadowRule), 0o600); err != nil {
		t.Fatal(err)
	}
	c := config.DefaultConfig()
	c.Rules.Default = false
	c.Rules.Files = []string{rulesPath}
	c.Rules.Watch = false
	c.Outputs.Stdout.Enabled = false
	c.Outputs.File.Enabled = true
	c.Outputs.File.Path = filepath.Join(dir, "alerts.json")
	c.Store.Enabled = false
	c.HTTP.Enabled = false
	c.Containers.Sockets = []string{containertest.Socket}
	return c, c.Outputs.File.Path
}

// alertsFor returns the alerts of rule about container id (12 digits).
func alertsFor(file, rule, id string) []map[string]any {
	var out []map[string]any
	for _, a := range fileAlerts(file) {
		if a["rule"] != rule {
			continue
		}
		of, _ := a["output_fields"].(map[string]any)
		if of["container.id"] == id {
			out = append(out, a)
		}
	}
	return out
}

// TestDriftRealContainer: a containerd container that copies busybox to
// /tmp/x and runs it raises the drift alert through the real sensor and
// agent pipeline; its execs of image files (/bin/true, sleep: /bin/busybox)
// do not.
func TestDriftRealContainer(t *testing.T) {
	testkernel.RequireRoot(t)
	env := containertest.New(t)
	cfg, file := imageAgentConfig(t)
	cfg.Dedup.Window = time.Hour // one alert per (container, executable)
	a, _ := startAgent(t, cfg)

	// A loop: the first execs of a container can precede the container
	// manager's knowledge of it (they resolve to the host).
	c := env.Run(t, containertest.Spec{Args: []string{"/bin/sh", "-c",
		"cp /bin/busybox /tmp/x; while :; do /tmp/x true; /bin/true; sleep 0.1; done"}})
	id := c.ID[:12]
	waitFor(t, "drift alert", func() bool { return len(alertsFor(file, RuleDrift, id)) > 0 })
	// The image's own executables are checked too.
	waitFor(t, "in-image checks", func() bool {
		st := a.images.Stats()
		return st.ExecChecked-st.Drift >= 4
	})
	as := alertsFor(file, RuleDrift, id)
	if len(as) != 1 {
		t.Fatalf("%d drift alerts, want 1 (/tmp/x): %v", len(as), as)
	}
	al := as[0]
	of := al["output_fields"].(map[string]any)
	if of["proc.exepath"] != "/tmp/x" || of["container.image"] != env.ImageName || of["vigil.containerd_namespace"] != env.Namespace {
		t.Errorf("drift fields %v", of)
	}
	if al["priority"] != "Critical" {
		t.Errorf("priority %v", al["priority"])
	}
	var tags []string
	for _, x := range al["tags"].([]any) {
		tags = append(tags, x.(string))
	}
	if strings.Join(tags, ",") != "vigil,drift,container,mitre_persistence,T1105" {
		t.Errorf("tags %v", tags)
	}
	fams := scrape(t, a)
	if v := metricValue(fams["vigil_drift_execs_total"], "result", "drift"); v < 1 {
		t.Errorf("vigil_drift_execs_total{result=drift} = %v", v)
	}
}

// apkDB is /lib/apk/db/installed with busybox-binsh 1.36.1-r15 (source
// package busybox), in apk's format.
const apkDB = `C:Q1kX5Nb2BZf1M3h8V4d5d1l5bE9g6k=
P:busybox-binsh
V:1.36.1-r15
A:x86_64
L:GPL-2.0-only
o:busybox
F:bin
R:sh
a:0:0:777
`

// osvBusybox is an OSV record (real schema) affecting that package.
const osvBusybox = `{"schema_version":"1.6.0","id":"ALPINE-CVE-2099-4242","modified":"2099-01-01T00:00:00Z",
  "aliases":["CVE-2099-4242"],"summary":"vigil test: busybox remote code execution",
  "severity":[{"type":"CVSS_V3","score":"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}],
  "affected":[{"package":{"ecosystem":"Alpine:v3.19","name":"busybox"},
    "ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"1.36.1-r16"}]}]}]}`

// importAlpineLike imports a runnable Alpine-like image (busybox and an apk
// database) into env's namespace and returns an Env running it.
func importAlpineLike(t *testing.T, env *containertest.Env) *containertest.Env {
	t.Helper()
	bb, err := os.ReadFile(containertest.BusyboxPath)
	if err != nil {
		testkernel.Skip(t, "busybox-static not installed: "+err.Error())
	}
	es := []it.Entry{it.Dir("bin/"), it.Dir("dev/"), it.Dir("etc/"), it.Dir("proc/"), it.Dir("sys/"), it.Dir("tmp/"),
		it.Dir("lib/"), it.Dir("run/"), it.Dir("var/"), it.Dir("root/"), it.Dir("lib/apk/"), it.Dir("lib/apk/db/"),
		it.File("bin/busybox", 0o755, bb),
		it.File("etc/os-release", 0o644, []byte("NAME=\"Alpine Linux\"\nID=alpine\nVERSION_ID=3.19.1\n")),
		it.File("lib/apk/db/installed", 0o644, []byte(apkDB))}
	for _, ap := range []string{"sh", "sleep", "true"} {
		es = append(es, it.Symlink("bin/"+ap, "busybox"))
	}
	arch := filepath.Join(t.TempDir(), "alpine.tar")
	const ref = "docker.io/vigiltest/alpine-vuln:1"
	if err := it.WriteOCIArchive(arch, ref, it.Config{Env: []string{"PATH=/bin"}}, it.Layer(es...)); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(arch)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ctx := namespaces.WithNamespace(context.Background(), env.Namespace)
	if _, err := env.Client.Import(ctx, f, containerd.WithIndexName(ref)); err != nil {
		t.Fatalf("import: %v", err)
	}
	img, err := env.Client.GetImage(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	if err := img.Unpack(ctx, ""); err != nil {
		t.Fatalf("unpack: %v", err)
	}
	return &containertest.Env{Client: env.Client, Namespace: env.Namespace, Image: img, ImageName: ref}
}

// TestVulnerableImageRescan: the agent starts with an empty database while
// a container of an Alpine-like image runs; importing an OSV record into
// the database directory makes it raise exactly one alert for that
// container, and later polls raise no more.
func TestVulnerableImageRescan(t *testing.T) {
	testkernel.RequireRoot(t)
	env := importAlpineLike(t, containertest.New(t))
	c := env.Run(t, containertest.Spec{ReadOnly: true, Args: []string{"sleep", "3600"}})
	id := c.ID[:12]

	cfg, file := imageAgentConfig(t)
	db := filepath.Join(t.TempDir(), "osv")
	cfg.Images.DB = db
	cfg.Images.PollInterval = 100 * time.Millisecond
	cfg.Drift.Enabled = false
	a, _ := startAgent(t, cfg)
	waitFor(t, "polls of the empty database", func() bool { return a.images.Stats().Polls >= 2 })
	if n := len(alertsFor(file, RuleVulnerableImage, id)); n != 0 {
		t.Fatalf("%d alerts before the record was imported", n)
	}

	src := filepath.Join(t.TempDir(), "ALPINE-CVE-2099-4242.json")
	if err := os.WriteFile(src, []byte(osvBusybox), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, warns, err := vuln.Import(src, db); err != nil || len(warns) > 0 {
		t.Fatalf("import: %v %v", err, warns)
	}
	waitFor(t, "vulnerable image alert", func() bool { return len(alertsFor(file, RuleVulnerableImage, id)) > 0 })
	p := a.images.Stats().Polls
	waitFor(t, "more polls", func() bool { return a.images.Stats().Polls >= p+3 })
	as := alertsFor(file, RuleVulnerableImage, id)
	if len(as) != 1 {
		t.Fatalf("%d alerts, want exactly 1: %v", len(as), as)
	}
	of := as[0]["output_fields"].(map[string]any)
	if of["vuln.id"] != "ALPINE-CVE-2099-4242" || of["package.name"] != "busybox-binsh" ||
		of["package.version"] != "1.36.1-r15" || of["package.fixed"] != "1.36.1-r16" ||
		of["container.image"] != env.ImageName || as[0]["priority"] != "Critical" {
		t.Errorf("alert %v", as[0])
	}
}
