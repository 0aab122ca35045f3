package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vigilsec/vigil/internal/containertest"
	"github.com/vigilsec/vigil/internal/fleet"
	"github.com/vigilsec/vigil/internal/hub"
	"github.com/vigilsec/vigil/internal/policy"
	"github.com/vigilsec/vigil/internal/profile"
	"github.com/vigilsec/vigil/internal/store"
	"github.com/vigilsec/vigil/internal/testkernel"
)

// dockerExec runs args in the container (docker exec) and returns its
// output; a failing command is not an error (the attacks fail).
func dockerExec(t *testing.T, id string, args ...string) string {
	t.Helper()
	out, _ := exec.Command("docker", append([]string{"exec", id}, args...)...).CombinedOutput()
	return string(out)
}

// deviations returns "kind value" of the deviation alerts in the file
// output that name profile.
func deviations(file, name string) []string {
	var out []string
	for _, a := range fileAlerts(file) {
		if a["rule"] != profile.RuleDeviation {
			continue
		}
		of, _ := a["output_fields"].(map[string]any)
		if of[profile.FieldProfile] != name {
			continue
		}
		out = append(out, of[profile.FieldKind].(string)+" "+of[profile.FieldValue].(string))
	}
	return out
}

// TestProfileLearnAndDeviate: a Docker workload (busybox httpd and a
// client fetching from it in the same container) is learned for a short
// window through the real sensor; afterwards its ordinary traffic raises
// no alert, and a shell, a new outbound connection and a write to /etc
// each raise a deviation alert naming the profile. Accepting the shell
// (a new version in the store, as `vigil profile accept` writes) stops it
// alerting.
func TestProfileLearnAndDeviate(t *testing.T) {
	testkernel.RequireRoot(t)
	d := containertest.StartDockerd(t)
	if _, err := exec.LookPath("docker"); err != nil {
		testkernel.Skip(t, "docker CLI not installed: "+err.Error())
	}
	app := "profile-test-" + containertest.NewID()[:8]
	name := "label:app=" + app
	dir := t.TempDir()
	file := filepath.Join(dir, "alerts.json")
	rulesPath := filepath.Join(dir, "rules.yaml")
	if err := os.WriteFile(rulesPath, []byte(catShadowRule), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := newSinks(t).config(t, rulesPath)
	cfg.Outputs.HTTP.Enabled, cfg.Outputs.Syslog.Enabled = false, false
	cfg.Outputs.File.Path = file
	cfg.Store.Path = filepath.Join(dir, "alerts.db")
	cfg.HTTP.Enabled = false
	// The policy generated from the profile is written here after the
	// learning (leastPrivilege); until then it selects no container.
	polFile := filepath.Join(dir, "policy.yaml")
	if err := os.WriteFile(polFile, []byte("name: none-yet\nscope: {containers: {names: ["+app+"-policy]}}\nnetwork: {egress: {rules: [{name: none-yet, action: allow, ports: [1]}]}}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg.Policy.Files = []string{polFile}
	// Docker describes the workload's container late (deterministically,
	// through a proxy of its API), and containerd describes the sandbox.
	cfg.Containers.Sockets = []string{lateDocker(t, app, 1500*time.Millisecond), containertest.Socket}
	// A hub (embedded NATS, SQLite): the agent sends it its profiles.
	h, err := hub.New(context.Background(), hub.Options{Store: filepath.Join(dir, "hub.db"), ViewerToken: "viewer",
		NATS: hub.NATSOptions{Name: "hub", Listen: "127.0.0.1:0", StoreDir: filepath.Join(dir, "js")}})
	if err != nil {
		t.Fatal(err)
	}
	hubCtx, stopHub := context.WithCancel(context.Background())
	hubDone := make(chan error, 1)
	go func() { hubDone <- h.Run(hubCtx) }()
	defer func() { stopHub(); <-hubDone; h.Close() }()
	cfg.Hostname = "node-a"
	cfg.Hub.URL, cfg.Hub.SpoolDir, cfg.Hub.RulesDir = h.NATSURL(), filepath.Join(dir, "spool"), filepath.Join(dir, "hub-rules")
	cfg.Profiles.Enabled = true
	cfg.Profiles.Key = "label:app"
	cfg.Profiles.LearningWindow = 4 * time.Second
	cfg.Profiles.SyncInterval = 200 * time.Millisecond
	cfg.Profiles.AlertsPerMinute = 100
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	a, _ := startAgent(t, cfg)

	// The server listens at once: before Docker has described the
	// container (it answers once the start returns), so its first events
	// carry no label yet; the learner holds them until it knows the
	// container's workload.
	c := d.Run(t, containertest.DockerSpec{Labels: map[string]string{"app": app},
		Args: []string{"busybox", "httpd", "-f", "-p", "8080", "-h", "/etc"}})
	// A pod sandbox (containerd's CRI labels; it runs sleep where
	// Kubernetes runs pause) with the workload's pod label: the runtime's,
	// never the workload's behaviour.
	containertest.New(t).Run(t, containertest.Spec{Args: []string{"sleep", "3600"}, ReadOnly: true,
		Labels: map[string]string{"io.cri-containerd.kind": "sandbox", "io.kubernetes.pod.name": app,
			"io.kubernetes.pod.namespace": "default", "io.kubernetes.pod.uid": containertest.NewID(), "app": app}})
	// Its listening port comes from an event held until Docker described
	// the container; the server is idle until the first check, so Tick
	// records it (through the container manager), not a later event.
	defer func() {
		if t.Failed() {
			for _, p := range a.learner.Profiles() {
				t.Logf("profile %s v%d %s listen %q progs %q", p.Name, p.Version, p.State, p.Items(profile.KindListen), p.Items(profile.KindProgram))
			}
			fams := scrape(t, a)
			for _, n := range []string{"vigil_profile_pending_events_total", "vigil_profile_pending_dropped_total", "vigil_profile_runtime_events_total", "vigil_profile_unprofiled_events_total"} {
				if f := fams[n]; f != nil {
					for _, m := range f.Metric {
						t.Logf("%s %v %v", n, m.Label, m.GetCounter().GetValue())
					}
				}
			}
		}
	}()
	waitFor(t, "the held listen recorded", func() bool {
		for _, p := range a.learner.Profiles() {
			if p.Name == name && contains(p.Items(profile.KindListen), "8080/tcp") {
				return true
			}
		}
		return false
	})
	if f := scrape(t, a)["vigil_profile_pending_events_total"]; f == nil || len(f.Metric) != 1 || f.Metric[0].GetCounter().GetValue() == 0 {
		t.Errorf("no event held before Docker described the container: %v", f)
	}
	get := func() {
		t.Helper()
		if out := dockerExec(t, c.ID, "busybox", "wget", "-q", "-O", "-", "http://127.0.0.1:8080/passwd"); !strings.Contains(out, "root:x:0:0") {
			t.Fatalf("the workload's own check failed: %q", out)
		}
	}
	waitFor(t, "the workload's server", func() bool {
		return strings.Contains(dockerExec(t, c.ID, "busybox", "wget", "-q", "-O", "-", "http://127.0.0.1:8080/passwd"), "root:x:0:0")
	})
	// Learning: the client fetches from the server.
	start := time.Now()
	for time.Since(start) < 3*time.Second {
		get()
	}
	waitFor(t, "the learning window to close", func() bool {
		for _, p := range a.learner.Profiles() {
			if p.Name == name && p.State == profile.Monitoring {
				return true
			}
		}
		return false
	})
	p := a.learner.Profiles()
	var learned *profile.Profile
	for _, x := range p {
		if x.Name == name {
			learned = x
		}
	}
	t.Logf("learned: programs %q egress %q listen %q syscalls %d writes %q", learned.Items(profile.KindProgram),
		learned.Items(profile.KindEgress), learned.Items(profile.KindListen), learned.Len(profile.KindSyscall), learned.Items(profile.KindWrite))
	if !contains(learned.Items(profile.KindListen), "8080/tcp") || !contains(learned.Items(profile.KindEgress), "127.0.0.1:8080/tcp") {
		t.Fatalf("the workload's listener and connection were not learned")
	}
	// The runtime's events are not the workload's: runc's re-exec ("exe",
	// a memfd "/") and its init reading /etc/group for docker exec's user,
	// the sandbox's sleep.
	if progs := learned.Items(profile.KindProgram); len(progs) != 1 || progs[0] != "/bin/busybox" {
		t.Errorf("learned programs %q, want only the workload's [/bin/busybox]", progs)
	}
	if contains(learned.Items(profile.KindRead), "/etc/group") {
		t.Errorf("learned reads %q: /etc/group is read by runc's init, not the workload", learned.Items(profile.KindRead))
	}
	if f := scrape(t, a)["vigil_profile_runtime_events_total"]; f == nil || len(f.Metric) != 1 || f.Metric[0].GetCounter().GetValue() == 0 {
		t.Errorf("runtime events not counted: %v", f)
	}
	hubShowsMerged(t, h, dir, learned)
	defer leastPrivilege(t, a, learned, app, polFile, file) // the workload under what it learned, after the deviations

	// Ordinary traffic over a longer run: no deviation.
	start = time.Now()
	for time.Since(start) < 5*time.Second {
		get()
	}
	time.Sleep(300 * time.Millisecond)
	if devs := deviations(file, name); len(devs) != 0 {
		t.Fatalf("ordinary traffic raised deviations: %q", devs)
	}

	// Attacks: a shell, a new outbound connection, a write to /etc.
	dockerExec(t, c.ID, "sh", "-c", "true")
	dockerExec(t, c.ID, "busybox", "wget", "-q", "-O", "-", "http://127.0.0.1:9/")
	dockerExec(t, c.ID, "busybox", "touch", "/etc/evil")
	want := []string{"program /bin/busybox (sh)", "egress 127.0.0.1:9/tcp", "write /etc/evil"}
	waitFor(t, "the deviation alerts", func() bool {
		devs := deviations(file, name)
		for _, w := range want {
			if !contains(devs, w) {
				return false
			}
		}
		return true
	})
	t.Logf("deviations: %q", deviations(file, name))

	// Accept the shell: the store gets the next version; the agent puts
	// it in force and the shell no longer alerts.
	st, err := store.Open(cfg.Store.Path, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	row, err := st.Profile(context.Background(), name, 0, true)
	if err != nil {
		t.Fatal(err)
	}
	pr, err := profile.Decode(row.Body, name, profile.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if err := pr.Add(profile.Item{Kind: profile.KindProgram, Value: "/bin/busybox (sh)"}); err != nil {
		t.Fatal(err)
	}
	pr.Version++
	body, _ := pr.MarshalJSON()
	if err := st.SaveProfile(context.Background(), store.ProfileRow{Name: name, Version: pr.Version, State: string(pr.State), Updated: time.Now(), Body: body}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the accepted version in force", func() bool {
		for _, x := range a.learner.Profiles() {
			if x.Name == name && x.Version == pr.Version {
				return true
			}
		}
		return false
	})
	before := len(deviations(file, name))
	dockerExec(t, c.ID, "sh", "-c", "true")
	dockerExec(t, c.ID, "busybox", "touch", "/etc/evil2")
	waitFor(t, "the write alert", func() bool { return contains(deviations(file, name), "write /etc/evil2") })
	for _, dv := range deviations(file, name)[before:] {
		if strings.HasPrefix(dv, "program ") {
			t.Fatalf("accepted program alerted again: %s", dv)
		}
	}
}

// hubShowsMerged: the hub has the profile the agent learned (sent by the
// agent as node-a); once another node (node-b, a replica of the workload
// that also connects to 10.9.9.9:443) sends its own, the hub's API serves
// their merge.
func hubShowsMerged(t *testing.T, h *hub.Hub, dir string, learned *profile.Profile) {
	t.Helper()
	api := func() *profile.Profile {
		r := httptest.NewRequest(http.MethodGet, "/api/profiles/"+url.PathEscape(learned.Name), nil)
		r.Header.Set("Authorization", "Bearer viewer")
		w := httptest.NewRecorder()
		h.Handler().ServeHTTP(w, r)
		if w.Code != http.StatusOK {
			return nil
		}
		p, err := profile.Decode(w.Body.Bytes(), "hub API", profile.Limits{})
		if err != nil {
			t.Fatalf("the hub's profile: %v", err)
		}
		return p
	}
	waitFor(t, "the agent's profile at the hub", func() bool {
		p := api()
		return p != nil && p.State == profile.Monitoring && slices.Equal(p.Hosts, []string{"node-a"}) &&
			contains(p.Items(profile.KindListen), "8080/tcp")
	})
	replica := learned.Clone()
	if err := replica.Add(profile.Item{Kind: profile.KindEgress, Value: "10.9.9.9:443/tcp"}); err != nil {
		t.Fatal(err)
	}
	replica.Hosts = []string{"node-b"}
	doc, _ := replica.MarshalJSON()
	c, err := fleet.Connect(fleet.Options{URL: h.NATSURL(), Node: "node-b", SpoolDir: filepath.Join(dir, "spool-b")})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.PublishProfile(context.Background(), doc); err != nil {
		t.Fatal(err)
	}
	var merged *profile.Profile
	waitFor(t, "the merged profile at the hub", func() bool {
		merged = api()
		return merged != nil && len(merged.Hosts) == 2
	})
	for _, it := range []string{"127.0.0.1:8080/tcp", "10.9.9.9:443/tcp"} {
		if !contains(merged.Items(profile.KindEgress), it) {
			t.Errorf("merged egress %q lacks %s", merged.Items(profile.KindEgress), it)
		}
	}
}

// lateDocker is a proxy of the Docker Engine API (on a socket the agent
// takes for Docker's) that answers the inspection of a container
// labelled app=APP no sooner than delay after it was first asked: Docker
// describing a container late (it answers once the container's start
// returns), made certain.
func lateDocker(t *testing.T, app string, delay time.Duration) string {
	sock := filepath.Join(t.TempDir(), "late-docker.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	inspect := regexp.MustCompile(`/containers/([0-9a-f]+)/json$`)
	var mu sync.Mutex
	first := map[string]time.Time{}
	rp := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) { r.Out.URL.Scheme, r.Out.URL.Host = "http", "docker" },
		Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", containertest.DockerSocket)
		}},
		FlushInterval: -1, // the events stream
		ErrorLog:      log.New(io.Discard, "", 0),
		ModifyResponse: func(resp *http.Response) error {
			m := inspect.FindStringSubmatch(resp.Request.URL.Path)
			if m == nil {
				return nil
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				return err
			}
			resp.Body = io.NopCloser(bytes.NewReader(body))
			var in struct {
				Config struct{ Labels map[string]string }
			}
			if json.Unmarshal(body, &in) != nil || in.Config.Labels["app"] != app {
				return nil
			}
			mu.Lock()
			if first[m[1]].IsZero() {
				first[m[1]] = time.Now()
			}
			wait := time.Until(first[m[1]].Add(delay))
			mu.Unlock()
			select {
			case <-time.After(wait):
				return nil
			case <-resp.Request.Context().Done():
				return resp.Request.Context().Err()
			}
		},
	}
	srv := &http.Server{Handler: rp}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return sock
}

// leastPrivilege runs the workload under the seccomp profile (Docker,
// --security-opt seccomp=FILE) and under the prevention policy generated
// from its profile: its own check passes, and actions outside the profile
// are denied (unshare under seccomp; a new connection, a new listening
// port and a write to an existing file under /etc under the policy, which
// the agent applies from policy.files and reports as alerts).
func leastPrivilege(t *testing.T, a *Agent, learned *profile.Profile, app, polFile, file string) {
	if t.Failed() {
		return
	}
	dir := t.TempDir()
	sc, scErr := profile.Seccomp(learned)
	scFile := filepath.Join(dir, "seccomp.json")
	if scErr == nil {
		if err := os.WriteFile(scFile, sc, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	run := func(args ...string) string {
		t.Helper()
		out, err := exec.Command("docker", append([]string{"run", "-d", "--network", "none"}, args...)...).CombinedOutput()
		id := strings.TrimSpace(string(out))
		if err != nil {
			t.Fatalf("docker run: %v: %s", err, out)
		}
		t.Cleanup(func() { exec.Command("docker", "rm", "-f", id).Run() })
		return id
	}
	check := func(id string) {
		t.Helper()
		var out string
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
			if out = dockerExec(t, id, "busybox", "wget", "-q", "-O", "-", "http://127.0.0.1:8080/passwd"); strings.Contains(out, "root:x:0:0") {
				return
			}
		}
		t.Fatalf("the workload's own check failed: %q", out)
	}
	httpd := []string{containertest.DockerImage, "busybox", "httpd", "-f", "-p", "8080", "-h", "/etc"}

	// Seccomp: only from a complete syscall set. Docker on cgroup v1 (a
	// hybrid host) leaves containers in the cgroup v2 root, shared with
	// the host: the profile then has the event types' syscalls only and
	// Seccomp refuses it, saying why (docs/profiles.md).
	if scErr != nil {
		t.Logf("seccomp not run: %v", scErr)
	} else {
		id := run(append([]string{"--label", "app=" + app + "-seccomp", "--security-opt", "seccomp=" + scFile}, httpd...)...)
		check(id)
		if out := dockerExec(t, id, "busybox", "unshare", "-U", "true"); !strings.Contains(out, "Operation not permitted") {
			t.Errorf("unshare under the seccomp profile: %q, want EPERM", out)
		}
	}

	// Landlock: the workload in a container under the ruleset of its
	// profile, applied by `vigil profile landlock PROFILE -- CMD` as the
	// container's entrypoint wrapper (a static vigil and the exported
	// profile mounted read-only): its own check passes; the same ruleset
	// denies a write outside the profile (EACCES) to a shell run under it
	// in the container.
	landlockInContainer(t, learned, dir, run, check)

	// Prevention policy, scoped to the container's name, put in force by
	// the agent (policy.files reloaded): the workload's check passes; a
	// new connection, a new listening port and a write to an existing
	// file under /etc (on the image's filesystem, and Docker's bind-mounted
	// /etc/hosts) fail with EPERM, and the writes raise prevention alerts.
	name := app + "-policy"
	pol, err := profile.Policy(learned, profile.PolicyScope{Names: []string{name}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := policy.Parse("generated.yaml", pol); err != nil {
		t.Fatalf("%v\n%s", err, pol)
	}
	if err := os.WriteFile(polFile, pol, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := a.Reload(); err != nil {
		t.Fatalf("reload the generated policy: %v\n%s", err, pol)
	}
	id := run(append([]string{"--name", name, "--label", "app=" + app + "-policy"}, httpd...)...)
	check(id)
	if out := dockerExec(t, id, "busybox", "wget", "-q", "-O", "-", "http://127.0.0.1:9/"); !strings.Contains(out, "Operation not permitted") {
		t.Errorf("a new connection under the policy: %q, want EPERM", out)
	}
	if out := dockerExec(t, id, "busybox", "nc", "-l", "-p", "9999"); !strings.Contains(out, "Operation not permitted") && !strings.Contains(out, "Permission denied") {
		t.Errorf("a new listening port under the policy: %q, want EPERM", out)
	}
	for _, f := range []string{"/etc/group", "/etc/hosts"} {
		if out := dockerExec(t, id, "busybox", "sh", "-c", "echo x >> "+f); !strings.Contains(out, "Operation not permitted") {
			t.Errorf("a write to %s under the policy: %q, want EPERM", f, out)
		}
		waitFor(t, "the prevention alert for "+f, func() bool {
			for _, al := range fileAlerts(file) {
				of, _ := al["output_fields"].(map[string]any)
				if al["rule"] == RulePrevention && of["target"] == f && of["enforced"] == true && of["policy.rule"] == "unlearned-writes" {
					return true
				}
			}
			return false
		})
	}
	if out := dockerExec(t, id, "busybox", "cat", "/etc/group"); !strings.Contains(out, "root:x:0:") || strings.Contains(out, "\nx\n") {
		t.Errorf("/etc/group under the policy: %q, want readable and unchanged", out)
	}
	check(id)
	t.Logf("seccomp: %d syscalls allowed; policy:\n%s", learned.Len(profile.KindSyscall), pol)
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

// TestProfileCapabilitiesUsed: a Docker workload binding port 80 as root in
// a network namespace whose unprivileged ports start at 1024 learns
// CAP_NET_BIND_SERVICE as used; the same workload where Docker left them
// starting at 0 (its default) needed no capability and learns none.
func TestProfileCapabilitiesUsed(t *testing.T) {
	testkernel.RequireRoot(t)
	d := containertest.StartDockerd(t)
	app := "caps-test-" + containertest.NewID()[:8]
	dir := t.TempDir()
	rulesPath := filepath.Join(dir, "rules.yaml")
	if err := os.WriteFile(rulesPath, []byte(catShadowRule), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := newSinks(t).config(t, rulesPath)
	cfg.Outputs.HTTP.Enabled, cfg.Outputs.Syslog.Enabled = false, false
	cfg.Outputs.File.Path = filepath.Join(dir, "alerts.json")
	cfg.Store.Path = filepath.Join(dir, "alerts.db")
	cfg.HTTP.Enabled = false
	cfg.Containers.Sockets = []string{containertest.DockerSocket}
	cfg.Profiles.Enabled = true
	cfg.Profiles.Key = "label:app"
	cfg.Profiles.LearningWindow = time.Minute
	cfg.Profiles.SyncInterval = 200 * time.Millisecond
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	a, _ := startAgent(t, cfg)
	run := func(suffix string, sysctls map[string]string) {
		d.Run(t, containertest.DockerSpec{Labels: map[string]string{"app": app + suffix}, Sysctls: sysctls,
			Args: []string{"sh", "-c", "sleep 1; exec busybox httpd -f -p 80 -h /etc"}})
	}
	run("-privport", map[string]string{"net.ipv4.ip_unprivileged_port_start": "1024"})
	run("-anyport", nil)
	prof := func(suffix string) *profile.Profile {
		for _, p := range a.learner.Profiles() {
			if p.Name == "label:app="+app+suffix {
				return p
			}
		}
		return nil
	}
	waitFor(t, "both servers' listening port learned", func() bool {
		p, q := prof("-privport"), prof("-anyport")
		return p != nil && q != nil && contains(p.Items(profile.KindListen), "80/tcp") && contains(q.Items(profile.KindListen), "80/tcp")
	})
	p, q := prof("-privport"), prof("-anyport")
	t.Logf("cap_used: %q (unprivileged ports from 1024), %q (Docker's default, from 0); caps held %q", p.Items(profile.KindCapUsed), q.Items(profile.KindCapUsed), p.Items(profile.KindCap))
	if !contains(p.Items(profile.KindCapUsed), "CAP_NET_BIND_SERVICE") {
		t.Errorf("binding port 80 where unprivileged ports start at 1024: capabilities used %q, want CAP_NET_BIND_SERVICE", p.Items(profile.KindCapUsed))
	}
	if contains(q.Items(profile.KindCapUsed), "CAP_NET_BIND_SERVICE") {
		t.Errorf("binding port 80 where unprivileged ports start at 0: CAP_NET_BIND_SERVICE inferred, the kernel did not check it")
	}
}

// landlockInContainer runs the learned workload in a container under its
// profile's Landlock ruleset (see leastPrivilege).
func landlockInContainer(t *testing.T, learned *profile.Profile, dir string, run func(...string) string, check func(string)) {
	t.Helper()
	bin := filepath.Join(dir, "vigil")
	build := exec.Command("go", "build", "-o", bin, "../../cmd/vigil")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	doc, err := learned.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	prof := filepath.Join(dir, "profile.json")
	if err := os.WriteFile(prof, doc, 0o644); err != nil { // read by the container's root, in its user namespace
		t.Fatal(err)
	}
	sandboxed := func(args ...string) []string {
		return append([]string{"/vigil", "profile", "landlock", "/profile.json", "--"}, args...)
	}
	id := run(append([]string{"-v", bin + ":/vigil:ro", "-v", prof + ":/profile.json:ro", containertest.DockerImage},
		sandboxed("busybox", "httpd", "-f", "-p", "8080", "-h", "/etc")...)...)
	check(id)
	if status, err := exec.Command("docker", "exec", id, "cat", "/proc/1/status").CombinedOutput(); err != nil || !strings.Contains(string(status), "NoNewPrivs:\t1") {
		t.Errorf("the container's workload (pid 1) is not under the sandbox (no_new_privs): %v\n%s", err, status)
	}
	out, _ := exec.Command("docker", append([]string{"exec", id}, sandboxed("busybox", "sh", "-c", "echo x >> /etc/group; echo exit=$?")...)...).CombinedOutput()
	if !strings.Contains(string(out), "Permission denied") || !strings.Contains(string(out), "exit=") || strings.Contains(string(out), "exit=0") {
		t.Errorf("a write to /etc/group under the workload's Landlock ruleset: %q, want EACCES", out)
	}
	if out := dockerExec(t, id, "busybox", "cat", "/etc/group"); strings.Contains(out, "\nx\n") {
		t.Errorf("/etc/group was written under the ruleset: %q", out)
	}
	t.Logf("landlock: the workload ran in its container under its profile's ruleset; a write outside it: %q", strings.TrimSpace(string(out)))
}
