package deploy

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/vigilsec/vigil/internal/containertest"
)

// repoRoot is the repository, seen from this package's directory.
const repoRoot = ".."

// imageTag is the reference the test image is built under.
const imageTag = "vigilsec/vigil:deploytest"

var (
	workDir string // removed after the tests

	releaseOnce sync.Once
	releaseBin  string
	releaseErr  error

	imageOnce sync.Once
	imageTar  string
	imageErr  error
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "vigil-deploy-")
	if err != nil {
		panic(err)
	}
	workDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func run(dir string, env []string, name string, args ...string) (string, error) {
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	if err != nil {
		err = errors.New(name + " " + strings.Join(args, " ") + ": " + err.Error() + "\n" + out.String())
	}
	return out.String(), err
}

// release returns the binary deploy/build.sh builds from this tree (once).
func release(t *testing.T) string {
	t.Helper()
	releaseOnce.Do(func() {
		releaseBin = filepath.Join(workDir, "vigil")
		_, releaseErr = run(repoRoot, nil, "deploy/build.sh", releaseBin)
	})
	if releaseErr != nil {
		t.Fatal(releaseErr)
	}
	return releaseBin
}

// image returns the docker-archive deploy/imagebuild makes of release (once).
func image(t *testing.T) string {
	t.Helper()
	bin := release(t)
	imageOnce.Do(func() {
		imageTar = filepath.Join(workDir, "vigil-image.tar")
		_, imageErr = run(repoRoot, nil, "go", "run", "./deploy/imagebuild", "-binary", bin, "-tag", imageTag,
			"-version", "deploytest", "-created", "2026-01-02T03:04:05Z", "-o", imageTar)
	})
	if imageErr != nil {
		t.Fatal(imageErr)
	}
	return imageTar
}

func sha256File(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// copyTree copies the files git knows of (tracked and untracked, not
// ignored) from the repository to dst: a second checkout of the same
// commit in another directory.
func copyTree(t *testing.T, dst string) {
	t.Helper()
	out, err := run(repoRoot, nil, "git", "ls-files", "-z", "--cached", "--others", "--exclude-standard")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range strings.Split(strings.TrimRight(out, "\x00"), "\x00") {
		src := filepath.Join(repoRoot, name)
		st, err := os.Lstat(src)
		if err != nil || !st.Mode().IsRegular() {
			continue // deleted in the work tree, or a symlink
		}
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Join(dst, filepath.Dir(name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, name), b, st.Mode().Perm()); err != nil {
			t.Fatal(err)
		}
	}
}

// TestReproducibleBuild builds the same sources in two directories with
// deploy/build.sh and the same version, commit and date: the binaries are
// identical. (The Go build cache is shared between the two builds, as on a
// developer's machine; docs/deploy.md records a check with empty caches.)
func TestReproducibleBuild(t *testing.T) {
	env := []string{"VIGIL_VERSION=v0.0.0-repro", "VIGIL_COMMIT=0123456789abcdef0123456789abcdef01234567", "VIGIL_DATE=2026-01-02T03:04:05Z"}
	var sums []string
	for _, d := range []string{"a/src", "b/elsewhere/src"} {
		dir := filepath.Join(workDir, "repro", d)
		copyTree(t, dir)
		bin := filepath.Join(dir, "vigil.bin")
		if _, err := run(dir, env, "deploy/build.sh", bin); err != nil {
			t.Fatal(err)
		}
		sums = append(sums, sha256File(t, bin))
		out, err := run(dir, nil, bin, "version")
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"v0.0.0-repro", "0123456789abcdef", "2026-01-02T03:04:05Z", "bpf object: vigil_x86_bpfel.o sha256:"} {
			if !strings.Contains(out, want) {
				t.Errorf("vigil version lacks %q:\n%s", want, out)
			}
		}
	}
	if sums[0] != sums[1] {
		t.Fatalf("two builds of one tree differ: %s vs %s", sums[0], sums[1])
	}
	t.Logf("both builds: sha256 %s", sums[0])
}

// TestImage builds the image twice (identical bytes), reports its size, and
// runs the released binary's own `vigil image sbom` and `vigil image verify`
// on it; the same policy rejects the busybox test image.
func TestImage(t *testing.T) {
	tarPath := image(t)
	again := filepath.Join(workDir, "again.tar")
	if _, err := run(repoRoot, nil, "go", "run", "./deploy/imagebuild", "-binary", release(t), "-tag", imageTag,
		"-version", "deploytest", "-created", "2026-01-02T03:04:05Z", "-o", again); err != nil {
		t.Fatal(err)
	}
	if a, b := sha256File(t, tarPath), sha256File(t, again); a != b {
		t.Errorf("two image builds differ: %s vs %s", a, b)
	}
	st, err := os.Stat(tarPath)
	if err != nil {
		t.Fatal(err)
	}
	binSt, err := os.Stat(release(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("image archive %.1f MiB (binary %.1f MiB uncompressed)", float64(st.Size())/(1<<20), float64(binSt.Size())/(1<<20))
	if st.Size() > binSt.Size() {
		t.Errorf("image archive (%d bytes) is larger than the binary it holds (%d): the layer is not compressed or carries more than vigil", st.Size(), binSt.Size())
	}

	vigil := release(t)
	sbomOut, err := run(repoRoot, nil, vigil, "image", "sbom", tarPath)
	if err != nil {
		t.Fatal(err)
	}
	var bom struct {
		Metadata   struct{ Component struct{ Name string } }
		Components []struct {
			Purl       string
			Properties []struct{ Name, Value string }
		}
	}
	if err := json.Unmarshal([]byte(sbomOut), &bom); err != nil {
		t.Fatal(err)
	}
	if bom.Metadata.Component.Name != imageTag {
		t.Errorf("SBOM subject %q, want %q", bom.Metadata.Component.Name, imageTag)
	}
	found := map[string]bool{}
	for _, c := range bom.Components {
		for _, p := range []string{"pkg:golang/github.com/vigilsec/vigil", "pkg:golang/stdlib@", "pkg:golang/github.com/cilium/ebpf@"} {
			if strings.HasPrefix(c.Purl, p) {
				found[p] = true
				for _, pr := range c.Properties {
					if pr.Name == "vigil:location" && pr.Value != "/usr/bin/vigil" && pr.Value != "usr/bin/vigil" {
						t.Errorf("%s found at %s, want /usr/bin/vigil", c.Purl, pr.Value)
					}
				}
			}
		}
	}
	if len(found) != 3 {
		t.Errorf("SBOM lacks Vigil's own module, the Go stdlib or cilium/ebpf (found %v) in %d components", found, len(bom.Components))
	}

	policy := "deploy/image-policy.yaml" // relative to repoRoot, where the commands run
	if out, err := run(repoRoot, nil, vigil, "image", "verify", tarPath, "--policy", policy); err != nil {
		t.Fatalf("the image fails its own trust policy: %v\n%s", err, out)
	}
	if out, err := run(repoRoot, nil, vigil, "image", "verify", tarPath, "--policy", policy, "--ref", "vigilsec/vigil:latest"); err == nil {
		t.Errorf("verify accepted the latest tag:\n%s", out)
	}
	busybox := filepath.Join(workDir, "busybox.tar")
	f, err := os.Create(busybox)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := containertest.BuildImage(f, "docker.io/vigilsec/busybox:1.0"); err != nil {
		t.Fatalf("build the busybox image (apt-get install busybox-static): %v", err)
	}
	f.Close()
	out, err := run(repoRoot, nil, vigil, "image", "verify", busybox, "--policy", policy)
	if err == nil || !strings.Contains(out, "shell") {
		t.Errorf("the policy accepted an image with a shell (err %v):\n%s", err, out)
	}
}
