package imagepolicy_test

import (
	"errors"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/vigilsec/vigil/internal/image"
	it "github.com/vigilsec/vigil/internal/image/imagetest"
	"github.com/vigilsec/vigil/internal/imagepolicy"
	"github.com/vigilsec/vigil/internal/testkernel"
)

func TestParseReference(t *testing.T) {
	for in, want := range map[string]string{
		"alpine":                             "docker.io/library/alpine",
		"alpine:3.19":                        "docker.io/library/alpine:3.19",
		"library/alpine":                     "docker.io/library/alpine",
		"bitnami/redis:7":                    "docker.io/bitnami/redis:7",
		"index.docker.io/library/nginx":      "docker.io/library/nginx",
		"gcr.io/distroless/static-debian12":  "gcr.io/distroless/static-debian12",
		"localhost:5000/app:v1":              "localhost:5000/app:v1",
		"localhost/app":                      "localhost/app",
		"registry.example.com:8443/team/app": "registry.example.com:8443/team/app",
		"alpine@sha256:c5b1261d6d3e43071626931fc004f70149baeba2c8ec672bd4f27761f8e1ad6b":      "docker.io/library/alpine@sha256:c5b1261d6d3e43071626931fc004f70149baeba2c8ec672bd4f27761f8e1ad6b",
		"alpine:3.19@sha256:c5b1261d6d3e43071626931fc004f70149baeba2c8ec672bd4f27761f8e1ad6b": "docker.io/library/alpine:3.19@sha256:c5b1261d6d3e43071626931fc004f70149baeba2c8ec672bd4f27761f8e1ad6b",
	} {
		r, err := imagepolicy.ParseReference(in)
		if err != nil || r.String() != want {
			t.Errorf("ParseReference(%q) = %q, %v; want %q", in, r.String(), err, want)
		}
	}
	for _, bad := range []string{"", "Alpine", "alpine@sha256:short", "alpine:bad tag", "a//b"} {
		if _, err := imagepolicy.ParseReference(bad); err == nil {
			t.Errorf("ParseReference(%q) accepted", bad)
		}
	}
}

const policyYAML = `allowedRegistries:
  - docker.io/library
  - gcr.io
requireDigest: true
disallowLatest: true
requireNonRoot: true
minimal:
  forbidShells: true
  forbidPackageManagers: true
`

func TestPolicyErrors(t *testing.T) {
	p, err := imagepolicy.Parse("p.yaml", []byte(policyYAML))
	if err != nil || !p.RequireDigest || len(p.AllowedRegistries) != 2 || !p.Minimal.ForbidShells {
		t.Fatalf("%+v %v", p, err)
	}
	for _, c := range []struct{ yaml, want string }{
		{"requireDigest: true\nrequireDigests: true\n", "p.yaml:2:1: unknown field \"requireDigests\""},
		{"requireDigest: yes please\n", "p.yaml:1:16: requireDigest: expected a bool"},
		{"allowedRegistries: gcr.io\n", "p.yaml:1:20: allowedRegistries: expected a list"},
		{"minimal:\n  forbidShell: true\n", "p.yaml:2:3: unknown field \"forbidShell\""},
		{"allowedRegistries:\n  - \"GCR IO\"\n", "p.yaml:2:5: allowedRegistries"},
		{"requireDigest: [\n", "p.yaml:"},
	} {
		_, err := imagepolicy.Parse("p.yaml", []byte(c.yaml))
		var pe *imagepolicy.PolicyError
		if !errors.As(err, &pe) || !errors.Is(err, imagepolicy.ErrInvalidPolicy) || !strings.HasPrefix(err.Error(), c.want) {
			t.Errorf("%q: error %v, want prefix %q", c.yaml, err, c.want)
		}
	}
}

func openImage(t *testing.T, ref string, cfg it.Config, entries ...it.Entry) *image.Image {
	t.Helper()
	dir := t.TempDir()
	if _, err := it.WriteOCILayout(dir, ref, cfg, it.Layer(entries...)); err != nil {
		t.Fatal(err)
	}
	img, err := image.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { img.Close() })
	return img
}

func rules(r *imagepolicy.Report) []string {
	var out []string
	for _, v := range r.Violations {
		out = append(out, v.Rule)
	}
	slices.Sort(out)
	return out
}

func TestVerify(t *testing.T) {
	bb, err := os.ReadFile("/bin/busybox")
	if err != nil {
		testkernel.Skip(t, "busybox-static not installed")
	}
	p, _ := imagepolicy.Parse("p.yaml", []byte(policyYAML))
	busybox := []it.Entry{
		it.File("bin/busybox", 0o755, bb), it.Symlink("bin/sh", "busybox"),
		it.File("sbin/apk", 0o755, []byte("\x7fELF")), it.Dir("usr/bin/"),
		it.File("etc/passwd", 0o644, []byte("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/sbin/nologin\napp:x:0:0::/:/bin/sh\n")),
	}
	img := openImage(t, "docker.io/library/busybox:latest", it.Config{}, busybox...)
	rep, err := imagepolicy.Verify(p, "", img)
	if err != nil {
		t.Fatal(err)
	}
	if got := rules(rep); !slices.Equal(got, []string{"digest", "latest", "non-root", "package-manager", "shell"}) {
		t.Errorf("violations %v: %+v", got, rep.Violations)
	}
	if !slices.Equal(rep.Shells, []string{"/bin/sh", "/bin/busybox"}) || !slices.Equal(rep.PackageManagers, []string{"/sbin/apk"}) {
		t.Errorf("shells %v package managers %v", rep.Shells, rep.PackageManagers)
	}

	// Registry boundary: gcr.io must not allow gcr.io.evil.com.
	for ref, allowed := range map[string]bool{
		"gcr.io/distroless/static@" + img.ManifestDigest:          true,
		"gcr.io.evil.com/distroless/static@" + img.ManifestDigest: false,
		"alpine@" + img.ManifestDigest:                            true, // docker.io/library/alpine
		"evil/alpine@" + img.ManifestDigest:                       false,
		"docker.io/libraryx/alpine@" + img.ManifestDigest:         false,
	} {
		rep, _ := imagepolicy.Verify(&imagepolicy.Policy{AllowedRegistries: p.AllowedRegistries, RequireDigest: true, DisallowLatest: true}, ref, img)
		if rep.Trusted() != allowed {
			t.Errorf("%s: trusted=%v, want %v (%+v)", ref, rep.Trusted(), allowed, rep.Violations)
		}
	}
	// A digest that does not match the image.
	rep, _ = imagepolicy.Verify(&imagepolicy.Policy{RequireDigest: true}, "alpine@sha256:"+strings.Repeat("0", 64), img)
	if got := rules(rep); !slices.Equal(got, []string{"digest"}) {
		t.Errorf("wrong digest: %v", got)
	}

	// Users: numeric, named (through /etc/passwd), root aliases.
	for user, root := range map[string]bool{"": true, "0": true, "root": true, "0:0": true, "65534": false, "nobody": false, "nobody:nogroup": false, "app": true, "ghost": true} {
		img := openImage(t, "", it.Config{User: user}, busybox...)
		rep, _ := imagepolicy.Verify(&imagepolicy.Policy{RequireNonRoot: true}, "", img)
		if rep.Trusted() == root {
			t.Errorf("user %q: violations %+v", user, rep.Violations)
		}
	}

	// A distroless-style image passes everything.
	dl := openImage(t, "gcr.io/distroless/static", it.Config{User: "65532"}, it.File("app", 0o755, []byte("x")), it.Symlink("bin", "usr/bin"), it.Dir("usr/bin/"))
	rep, _ = imagepolicy.Verify(p, "gcr.io/distroless/static:nonroot@"+dl.ManifestDigest, dl)
	if !rep.Trusted() || len(rep.Shells) != 0 {
		t.Errorf("distroless: %+v", rep)
	}
}

// Item 12: pinning is decided by github.com/distribution/reference; a
// malformed digest is no pin, a valid sha512 digest is one.
func TestPinned(t *testing.T) {
	for ref, want := range map[string]bool{
		"alpine@sha256:" + strings.Repeat("a", 64):                         true,
		"ghcr.io/acme/app:1@sha512:" + strings.Repeat("0f", 64):            true,
		"alpine@sha256:" + strings.Repeat("a", 40):                         false, // too short
		"alpine@sha256:" + strings.Repeat("g", 64):                         false, // not hex
		"alpine@sha512:" + strings.Repeat("a", 64):                         false, // sha256 length
		"alpine@md5:" + strings.Repeat("a", 32):                            false, // unknown algorithm
		"alpine@sha256:" + strings.Repeat("A", 64):                         false, // upper case
		"registry.example.com/team/app@sha256:" + strings.Repeat("ab", 32): true,
		"registry.example.com/team/app:tag-with-@sha256-in-it":             false,
		"alpine:3.19": false,
		"alpine@sha256:" + strings.Repeat("a", 64) + "@sha256:" + strings.Repeat("b", 64): false,
	} {
		if got := imagepolicy.Pinned(ref); got != want {
			t.Errorf("Pinned(%q) = %v, want %v", ref, got, want)
		}
	}
}
