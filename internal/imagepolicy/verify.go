package imagepolicy

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"strings"

	"github.com/vigilsec/vigil/internal/image"
)

// Rules named in violations.
const (
	RuleRegistry       = "registry"
	RuleDigest         = "digest"
	RuleLatest         = "latest"
	RuleNonRoot        = "non-root"
	RuleShell          = "shell"
	RulePackageManager = "package-manager"
	RuleReference      = "reference"
)

// Violation is one failed rule.
type Violation struct {
	Rule    string `json:"rule"`
	Message string `json:"message"`
}

// Report is the outcome of Verify.
type Report struct {
	Reference       string      `json:"reference"`
	User            string      `json:"user"`
	Shells          []string    `json:"shells"`
	PackageManagers []string    `json:"package_managers"`
	Violations      []Violation `json:"violations"`
}

// Trusted reports whether no rule failed.
func (r *Report) Trusted() bool { return len(r.Violations) == 0 }

var binDirs = []string{"bin", "usr/bin", "sbin", "usr/sbin", "usr/local/bin", "usr/local/sbin"}

var shells = []string{"sh", "bash", "ash", "dash", "zsh", "ksh", "mksh", "csh", "tcsh", "fish", "busybox"}

var packageManagers = []string{"apt", "apt-get", "dpkg", "apk", "yum", "dnf", "microdnf", "rpm", "zypper", "pip", "pip3", "npm", "yarn", "gem"}

// Verify evaluates p against img. ref is the reference the image is deployed
// by (empty: the image's own name, see image.Image.Ref).
func Verify(p *Policy, ref string, img *image.Image) (*Report, error) {
	rep := &Report{Shells: []string{}, PackageManagers: []string{}, Violations: []Violation{}}
	add := func(rule, format string, args ...any) {
		rep.Violations = append(rep.Violations, Violation{rule, fmt.Sprintf(format, args...)})
	}
	if ref == "" && (img.Name != "" || len(img.RepoTags) > 0) {
		ref = img.Ref()
	}
	needRef := len(p.AllowedRegistries) > 0 || p.RequireDigest || p.DisallowLatest
	switch r, err := ParseReference(ref); {
	case ref == "" && needRef:
		add(RuleReference, "the image has no reference name; pass the reference it is deployed by")
	case err != nil && needRef:
		add(RuleReference, "%v", err)
	case err == nil:
		rep.Reference = r.String()
		if len(p.AllowedRegistries) > 0 {
			if _, ok := registryAllowed(r.Name(), p.AllowedRegistries); !ok {
				add(RuleRegistry, "%s is not under an allowed registry (%s)", r.Name(), strings.Join(p.AllowedRegistries, ", "))
			}
		}
		if p.RequireDigest && r.Digest == "" {
			add(RuleDigest, "%s is not pinned by digest (use %s@%s)", ref, r.Name(), orUnknown(img.ManifestDigest))
		}
		if p.RequireDigest && r.Digest != "" && img.ManifestDigest != "" && r.Digest != img.ManifestDigest {
			add(RuleDigest, "%s pins %s but the image manifest is %s", ref, r.Digest, img.ManifestDigest)
		}
		if p.DisallowLatest && (r.Tag == "latest" || (r.Tag == "" && r.Digest == "")) {
			add(RuleLatest, "%s uses the latest tag (explicitly or by default)", ref)
		}
	}

	rep.User = img.Config.User
	if p.RequireNonRoot {
		uid, err := resolveUID(img)
		switch {
		case err != nil:
			add(RuleNonRoot, "user %q: %v", img.Config.User, err)
		case uid == 0:
			who := img.Config.User
			if who == "" {
				who = "(unset: root)"
			}
			add(RuleNonRoot, "the image runs as root (User %s)", who)
		}
	}

	for _, d := range binDirs {
		for _, s := range shells {
			if p := "/" + d + "/" + s; isFile(img, p) {
				rep.Shells = append(rep.Shells, p)
			}
		}
		for _, m := range packageManagers {
			if p := "/" + d + "/" + m; isFile(img, p) {
				rep.PackageManagers = append(rep.PackageManagers, p)
			}
		}
	}
	if p.Minimal.ForbidShells && len(rep.Shells) > 0 {
		add(RuleShell, "shells present: %s", strings.Join(rep.Shells, ", "))
	}
	if p.Minimal.ForbidPackageManagers && len(rep.PackageManagers) > 0 {
		add(RulePackageManager, "package managers present: %s", strings.Join(rep.PackageManagers, ", "))
	}
	return rep, nil
}

func orUnknown(s string) string {
	if s == "" {
		return "sha256:…"
	}
	return s
}

// isFile reports whether p is in the image and not a symlink to a
// directory (merged /usr layouts make /bin a symlink).
func isFile(img *image.Image, p string) bool {
	if !img.Files.IsInImage(p) {
		return false
	}
	f, ok := img.Files.Lookup(p)
	return ok && f.Type != image.TypeDir
}

// resolveUID returns the uid the image runs as: numeric users directly,
// names through the image's /etc/passwd.
func resolveUID(img *image.Image) (int, error) {
	u := img.Config.User
	if u == "" {
		return 0, nil
	}
	name, _, _ := strings.Cut(u, ":")
	uid := 0
	if _, err := fmt.Sscanf(name, "%d", &uid); err == nil && fmt.Sprint(uid) == name {
		return uid, nil
	}
	var passwd []byte
	err := img.ReadFiles(func(f *image.File) bool { return f.Path == "etc/passwd" }, func(_ *image.File, r io.Reader) error {
		var err error
		passwd, err = io.ReadAll(io.LimitReader(r, 16<<20))
		return err
	})
	if err != nil {
		return 0, err
	}
	sc := bufio.NewScanner(bytes.NewReader(passwd))
	for sc.Scan() {
		f := strings.Split(sc.Text(), ":")
		if len(f) >= 3 && f[0] == name {
			if _, err := fmt.Sscanf(f[2], "%d", &uid); err != nil {
				return 0, fmt.Errorf("bad uid for %s in /etc/passwd", name)
			}
			return uid, nil
		}
	}
	return 0, fmt.Errorf("user %s not found in the image's /etc/passwd", name)
}
