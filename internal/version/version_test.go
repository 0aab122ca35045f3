package version

import (
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"testing"

	"github.com/vigilsec/vigil/internal/testkernel"
)

type pair struct {
	a, b string
	want int
}

// Real Debian versions (from Debian bookworm/trixie/sid and security
// advisories), including epochs, tildes, revisions and +deb suffixes.
var debianPairs = []pair{
	{"2.36-9+deb12u4", "2.36-9+deb12u7", -1},
	{"2.36-9+deb12u7", "2.36-9", 1},
	{"1:2.38.1-5+deb12u1", "2.40-1", 1}, // epoch wins
	{"1:9.2p1-2+deb12u3", "1:9.2p1-2+deb12u2", 1},
	{"7.88.1-10+deb12u5", "7.88.1-10+deb12u12", -1},
	{"3.0.11-1~deb12u2", "3.0.11-1", -1}, // backport tilde
	{"3.0.11-1~deb12u2", "3.0.11-1~deb12u1", 1},
	{"1.0~rc1-1", "1.0-1", -1},
	{"1.0~rc1~1-1", "1.0~rc1-1", -1},
	{"1.0~~a", "1.0~", -1},
	{"1.0~", "1.0", -1},
	{"1.0", "1.0+b1", -1},
	{"1.0-1", "1.0-1+b1", -1},
	{"1.0-1", "1.0-1", 0},
	{"0:1.0-1", "1.0-1", 0},
	{"2.7.4-0ubuntu1.6", "2.7.4-0ubuntu1.10", -1},
	{"252.22-1~deb12u1", "252.30-0+deb12u2", -1},
	{"5.2.15-2+b2", "5.2.15-2+b7", -1},
	{"1.2.13.dfsg-1", "1:1.2.13.dfsg-1", -1},
	{"2:8.2.3995-1+deb12u2", "2:9.0.1378-2", -1},
	{"1.19.0-1", "1.19.0a-1", -1},
	{"1.19.0a-1", "1.19.0+dfsg-1", -1}, // letters before non-letters
	{"6.1.0-13", "6.1.0-9", 1},
	{"10", "9", 1},
	{"1.002", "1.2", 0},
	{"20230311", "20230311.1", -1},
	{"1.2.3-4", "1.2.3", 1},
	{"4.19.249-2", "4.19.304-1", -1},
	{"12.2.0-14+deb12u1", "12.2.0-14", 1},
	{"1:1.1.1w-0+deb11u1", "1:1.1.1n-0+deb11u5", 1},
	{"3.7.9-2+deb12u3", "3.7.9-2+deb12u10", -1},
	{"99999999999999999999", "99999999999999999998", 1}, // beyond int64
}

// Real Alpine versions, including -r revisions, letters and suffixes.
var apkPairs = []pair{
	{"3.1.4-r5", "3.1.4-r10", -1},
	{"3.1.4-r0", "3.1.4", 0},
	{"1.36.1-r15", "1.36.1-r29", -1},
	{"1.2.3_rc1-r0", "1.2.3-r0", -1},
	{"1.2.3_rc1", "1.2.3_rc2", -1},
	{"1.2.3_alpha", "1.2.3_beta", -1},
	{"1.2.3_beta2", "1.2.3_pre1", -1},
	{"1.2.3_pre1", "1.2.3_rc1", -1},
	{"1.2.3", "1.2.3_p1", -1},
	{"1.2.3_p1", "1.2.3_p2", -1},
	{"1.2.3_p9", "1.2.4", -1},
	{"9.6_p1-r0", "9.6-r3", 1},
	{"1.2.3_git20230101", "1.2.3", 1},
	{"1.2.3_cvs", "1.2.3_p1", -1},
	{"1.2", "1.2.1", -1},
	{"1.2a", "1.2b", -1},
	{"1.2", "1.2a", -1},
	{"1.2_rc1", "1.2a", -1},
	{"1.2a", "1.2.1", -1},
	{"1.01", "1.1", -1}, // leading zero: fractional comparison
	{"1.10", "1.9", 1},
	{"3.0.15-r0", "3.0.8-r0", 1},
	{"2.40.1-r0", "2.40.1-r0", 0},
	{"8.11.1-r0", "8.9.1-r1", 1},
	{"1.1.1t-r2", "1.1.1u-r0", -1},
	{"0.9.13_git20230128-r0", "0.9.13-r0", 1},
	{"6.4_p20231125-r0", "6.4_p20230506-r0", 1},
}

// Semantic versions as used by Go modules and npm, including pre-releases
// and Go pseudo-versions.
var semverPairs = []pair{
	{"1.0.0", "2.0.0", -1},
	{"v1.2.3", "1.2.3", 0},
	{"1.0.0-alpha", "1.0.0-alpha.1", -1},
	{"1.0.0-alpha.1", "1.0.0-alpha.beta", -1},
	{"1.0.0-alpha.beta", "1.0.0-beta", -1},
	{"1.0.0-beta", "1.0.0-beta.2", -1},
	{"1.0.0-beta.2", "1.0.0-beta.11", -1},
	{"1.0.0-beta.11", "1.0.0-rc.1", -1},
	{"1.0.0-rc.1", "1.0.0", -1},
	{"1.0.0+build.1", "1.0.0", 0},
	{"v0.0.0-20230101120000-abcdef123456", "v0.0.0-20240101120000-abcdef123456", -1},
	{"v0.0.0-20230101120000-abcdef123456", "v0.1.0", -1},
	{"v1.5.1-0.20230601000000-abcdef123456", "v1.5.1", -1},
	{"v2.0.0+incompatible", "v1.9.9", 1},
	{"1.21.3", "1.21.10", -1},
	{"go1.21", "1.21.0", 0},
	{"4.17.20", "4.17.21", -1},
	{"10.0.0", "9.99.99", 1},
	{"1.2.3-0", "1.2.3-a", -1},
}

// PEP 440 versions (examples from the PEP and real PyPI releases).
var pep440Pairs = []pair{
	{"1.0.dev456", "1.0a1", -1},
	{"1.0a1", "1.0a2.dev456", -1},
	{"1.0a2.dev456", "1.0a12.dev456", -1},
	{"1.0a12.dev456", "1.0a12", -1},
	{"1.0a12", "1.0b1.dev456", -1},
	{"1.0b1.dev456", "1.0b2", -1},
	{"1.0b2", "1.0b2.post345.dev456", -1},
	{"1.0b2.post345.dev456", "1.0b2.post345", -1},
	{"1.0b2.post345", "1.0rc1.dev456", -1},
	{"1.0rc1.dev456", "1.0rc1", -1},
	{"1.0rc1", "1.0", -1},
	{"1.0", "1.0+abc.5", -1},
	{"1.0+abc.5", "1.0+abc.7", -1},
	{"1.0+abc.7", "1.0+5", -1},
	{"1.0+5", "1.0.post456.dev34", -1},
	{"1.0.post456.dev34", "1.0.post456", -1},
	{"1.0.post456", "1.1.dev1", -1},
	{"1!1.0", "2.0", 1},
	{"1.0", "1.0.0", 0},
	{"1.0c1", "1.0rc1", 0},
	{"1.0-1", "1.0.post1", 0},
	{"2.31.0", "2.32.3", -1},
	{"3.2.25", "4.2.14", -1},
	{"23.2", "23.10", -1},
	{"1.26.18", "1.26.5", 1},
	{"42.0.0", "41.0.7", 1},
	{"2.0.0rc1", "2.0.0", -1},
	{"v1.0", "1.0", 0},
}

func checkPairs(t *testing.T, eco string, pairs []pair) {
	t.Helper()
	for _, p := range pairs {
		got, err := Compare(eco, p.a, p.b)
		if err != nil {
			t.Errorf("%s: Compare(%q, %q): %v", eco, p.a, p.b, err)
			continue
		}
		if got != p.want {
			t.Errorf("%s: Compare(%q, %q) = %d, want %d", eco, p.a, p.b, got, p.want)
		}
		// Antisymmetry.
		if rev, _ := Compare(eco, p.b, p.a); rev != -p.want {
			t.Errorf("%s: Compare(%q, %q) = %d, want %d", eco, p.b, p.a, rev, -p.want)
		}
	}
}

// rpmPairs follow rpm's own rpmvercmp tests (tests/rpmvercmp.at), plus
// epochs and releases.
var rpmPairs = []pair{
	{"1.0", "1.0", 0}, {"1.0", "2.0", -1}, {"2.0.1", "2.0.1a", -1}, {"5.5p1", "5.5p2", -1}, {"5.5p10", "5.5p1", 1},
	{"10xyz", "10.1xyz", -1}, {"xyz10", "xyz10.1", -1}, {"xyz.4", "xyz.4", 0}, {"xyz.4", "8", -1}, {"xyz.4", "2", -1},
	{"5.5p2", "5.6p1", -1}, {"5.6p1", "6.5p1", -1}, {"6.0.rc1", "6.0", 1}, {"10b2", "10a1", 1}, {"1.0aa", "1.0a", 1},
	{"10.0001", "10.1", 0}, {"10.0001", "10.0039", -1}, {"4.999.9", "5.0", -1}, {"20101121", "20101122", -1},
	{"2_0", "2_0", 0}, {"2.0", "2_0", 0}, {"a", "a", 0}, {"a+", "a_", 0}, {"+", "_", 0},
	{"1.0~rc1", "1.0~rc1", 0}, {"1.0~rc1", "1.0", -1}, {"1.0~rc1", "1.0~rc2", -1}, {"1.0~rc1~git123", "1.0~rc1", -1},
	{"1.0^", "1.0^", 0}, {"1.0^", "1.0", 1}, {"1.0^git1", "1.0^git2", -1}, {"1.0^git1", "1.01", -1},
	{"1.0^20160101", "1.0.1", -1}, {"1.0^20160101^git1", "1.0^20160101", 1}, {"1.0~rc1^git1", "1.0~rc1", 1},
	{"1.0^git1~pre", "1.0^git1", -1},
	{"1:1.0-1", "2.0-1", 1}, {"0:1.0-1", "1.0-1", 0}, {"1.0-1.el9", "1.0-2.el9", -1}, {"3.0.7-24.el9", "3.0.7-24.el9_3", -1},
	{"1:3.0.7-25.el9", "1:3.0.7-24.el9", 1}, {"2.28-236.el8", "2.28", 0},
}

func TestRPM(t *testing.T) {
	checkPairs(t, "Rocky Linux:9", rpmPairs)
	checkPairs(t, "Red Hat", rpmPairs)
}

// TestRPMAgainstRPM checks the version pairs against rpm's own rpm.vercmp
// (through its Lua interpreter).
func TestRPMAgainstRPM(t *testing.T) {
	rpm, err := exec.LookPath("rpm")
	if err != nil {
		testkernel.Skip(t, "rpm not installed")
	}
	var lua strings.Builder
	for _, p := range rpmPairs {
		if strings.Contains(p.a, "-") || strings.Contains(p.a, ":") || strings.Contains(p.b, "-") || strings.Contains(p.b, ":") {
			continue // rpm.vercmp compares one version string
		}
		fmt.Fprintf(&lua, "print(rpm.vercmp(%q, %q) .. \",\")\n", p.a, p.b)
	}
	out, err := exec.Command(rpm, "--eval", "%{lua:"+lua.String()+"}").Output()
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Split(strings.TrimSpace(string(out)), ",")
	i := 0
	for _, p := range rpmPairs {
		if strings.Contains(p.a, "-") || strings.Contains(p.a, ":") || strings.Contains(p.b, "-") || strings.Contains(p.b, ":") {
			continue
		}
		if i >= len(got) {
			t.Fatalf("rpm printed %d results", len(got))
		}
		if want := fmt.Sprint(p.want); got[i] != want {
			t.Errorf("rpm.vercmp(%q, %q) = %s, our table says %s", p.a, p.b, got[i], want)
		}
		i++
	}
}

// gemPairs follow Gem::Version's documented order (rubygems'
// test_gem_version.rb).
var gemPairs = []pair{
	{"1.0", "1.0.0", 0}, {"1.0", "1", 0}, {"1.2", "1.10", -1}, {"1.0.a", "1.0", -1}, {"1.0.a", "1.0.b", -1},
	{"1.0.0.rc1", "1.0.0", -1}, {"1.0.0.rc1", "1.0.0.beta2", 1}, {"2.0.0-1", "2.0.0", -1}, {"1.9.3", "1.10.0", -1},
	{"5.2.4.3", "5.2.4.10", -1}, {"1.13.9", "1.13.10", -1}, {"0.9", "1.0.a2", -1}, {"1.0.a10", "1.0.a9", 1},
	{"1.0.b1", "1.0.a.2", 1},
}

// composerPairs follow PHP's version_compare on Composer-normalised
// versions.
var composerPairs = []pair{
	{"1.2.3", "1.2.3", 0}, {"v1.2.3", "1.2.3", 0}, {"1.2", "1.2.0", 0}, {"1.2.3", "1.2.10", -1},
	{"1.0.0-beta1", "1.0.0", -1}, {"1.0.0-alpha2", "1.0.0-beta1", -1}, {"1.0.0-RC1", "1.0.0-beta3", 1},
	{"1.0.0-rc2", "1.0.0-RC10", -1}, {"1.0.0-dev", "1.0.0-alpha", -1}, {"1.0.0-patch1", "1.0.0", 1},
	{"5.4.20", "5.4.3", 1}, {"7.4.4", "7.4.5", -1}, {"2.0.0.1", "2.0.0", 1},
}

// mavenPairs follow Maven's ComparableVersionTest.
var mavenPairs = []pair{
	{"1", "1.0", 0}, {"1", "1.0.0", 0}, {"1-ga", "1", 0}, {"1.0-final", "1", 0}, {"1-release", "1", 0},
	{"1", "1.1", -1}, {"1-alpha-1", "1-alpha-2", -1}, {"1-alpha", "1-beta", -1}, {"1-beta", "1-milestone", -1},
	{"1-milestone", "1-rc", -1}, {"1-rc", "1-snapshot", -1}, {"1-snapshot", "1", -1}, {"1", "1-sp", -1},
	{"1-cr", "1-rc", 0}, {"1-a1", "1-alpha-1", 0}, {"1-b2", "1-beta-2", 0}, {"1-m3", "1-milestone-3", 0},
	{"1.0-alpha1", "1.0-beta1", -1}, {"2.14.1", "2.15.0", -1}, {"2.17.0", "2.17.1", -1}, {"2.0-rc1", "2.0", -1},
	{"1.0.0", "1.0.0-sp1", -1}, {"1-1", "1-2", -1}, {"1-1", "1.1", -1}, {"1.10", "1.9", 1}, {"1-abc", "1-sp", 1},
	{"2.0.0-M1", "2.0.0", -1}, {"3.0-SNAPSHOT", "3.0", -1}, {"1.2.3.Final", "1.2.3", 0},
}

func TestMaven(t *testing.T) { checkPairs(t, Maven, mavenPairs) }

func TestGemAndComposer(t *testing.T) {
	checkPairs(t, RubyGems, gemPairs)
	checkPairs(t, Packagist, composerPairs)
}

func TestDebian(t *testing.T) { checkPairs(t, "Debian:12", debianPairs) }
func TestAlpine(t *testing.T) { checkPairs(t, "Alpine:v3.19", apkPairs) }
func TestSemver(t *testing.T) { checkPairs(t, Go, semverPairs); checkPairs(t, Npm, semverPairs) }
func TestPEP440(t *testing.T) { checkPairs(t, PyPI, pep440Pairs) }

// TestDebianAgainstDpkg checks every Debian pair against the real dpkg.
func TestDebianAgainstDpkg(t *testing.T) {
	dpkg, err := exec.LookPath("dpkg")
	if err != nil {
		testkernel.Skip(t, "dpkg not installed")
	}
	for _, p := range debianPairs {
		for op, want := range map[string]bool{"lt": p.want < 0, "eq": p.want == 0, "gt": p.want > 0} {
			err := exec.Command(dpkg, "--compare-versions", p.a, op, p.b).Run()
			if got := err == nil; got != want {
				t.Errorf("dpkg --compare-versions %s %s %s: %v, our table says %v", p.a, op, p.b, got, want)
			}
		}
	}
}

func TestInvalid(t *testing.T) {
	for _, c := range []struct{ eco, v string }{
		{Debian, ""}, {Debian, "a:1.0"}, {Debian, "1.0 beta"},
		{Alpine, "1.2_foo"}, {Alpine, "x1"}, {Alpine, "1.2-rx"},
		{Go, "1.x"}, {Npm, "1.2.3.4"}, {Npm, "1.0.0-"},
		{PyPI, "1.0-foo-bar"}, {PyPI, "not a version"},
	} {
		_, err := Compare(c.eco, c.v, "1.0")
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("%s %q: err = %v, want ErrInvalid", c.eco, c.v, err)
		}
	}
	if _, err := Compare("Hackage", "1", "2"); !errors.Is(err, errors.ErrUnsupported) {
		t.Errorf("unknown ecosystem: %v", err)
	}
}
