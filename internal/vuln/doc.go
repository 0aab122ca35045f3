// Package vuln matches packages against an offline OSV vulnerability
// database.
//
// A database is a directory written by Import from an OSV zip export (for
// example https://osv-vulnerabilities.storage.googleapis.com/Debian/all.zip)
// or a directory of OSV JSON records: records.jsonl holds every record once,
// index.tsv maps (ecosystem, package) to the records that affect it, so a
// scan reads the index once and only the records of the packages present.
// Open also accepts a plain directory of OSV JSON files (indexed in memory).
//
// Matching follows the OSV schema: affected[].versions lists and ECOSYSTEM
// and SEMVER ranges (introduced, fixed, last_affected, limit) evaluated in
// each ecosystem's own version order (package version); GIT ranges cannot be
// evaluated offline and are reported as notes; withdrawn records are
// skipped. Debian, Ubuntu and Alpine records name source packages and are
// matched on the binary package's source name and version. Go records
// restricted to other GOOS/GOARCH than the binary's are dropped. Records that
// alias each other are one Finding. Severity comes from CVSS v4.0/v3.x/v2
// vectors (scored by github.com/pandatix/go-cvss; malformed vectors are
// rejected), the record's database_specific / ecosystem_specific severity,
// or else the records its aliases name.
package vuln
