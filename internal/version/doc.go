// Package version orders package versions the way each ecosystem's own
// package manager does: Debian (dpkg, with epochs, revisions and tildes),
// Alpine (apk, with letters, suffixes such as _rc and _p, and -rN
// revisions), RPM (rpmvercmp over epoch, version and release, with ~ and
// ^), RubyGems (Gem::Version), Composer (PHP version_compare on
// normalised versions), Maven (ComparableVersion), semantic versioning (Go modules, npm and crates.io, with
// pre-releases) and Python (PEP 440, with epochs, pre, post, dev and local
// segments).
//
// It is pure and allocation-light: the vulnerability matcher (package vuln)
// calls Compare for every candidate range event.
package version
