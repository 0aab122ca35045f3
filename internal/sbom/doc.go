// Package sbom inventories the software in an image and writes it as a
// software bill of materials.
//
// Catalog reads an *image.Image (package image) in one streaming pass and
// returns an *SBOM: the distribution (from /etc/os-release) and every
// package found by the catalogers — dpkg (/var/lib/dpkg/status, also when
// it is a symlink, resolved inside the image, and distroless status.d), apk
// (/lib/apk/db/installed), RPM (rpmdb.sqlite, the Berkeley DB
// Packages and the ndb Packages.db), Go binaries (embedded build info: main module, dependencies,
// the Go toolchain as "stdlib", GOOS/GOARCH from the settings or the ELF
// header), Rust (Cargo.lock, cargo auditable sections), npm
// (node_modules/**/package.json), Python (*.dist-info/METADATA,
// *.egg-info/PKG-INFO), PHP (composer.lock), Ruby (Gemfile.lock) and Java
// (jar/war/ear: pom.properties, MANIFEST.MF, nested archives). Each package
// carries its name, version, source package, licenses, purl (written and
// parsed with packageurl-go), OSV ecosystem and the digest of the layer it
// came from.
//
// WriteCycloneDX and WriteSPDX write CycloneDX 1.6 and SPDX 2.3 JSON, with
// licences as SPDX expressions (NormalizeLicenses); Read parses either
// back, as written by Vigil or another tool (epochs in purl qualifiers and
// Trivy properties honoured), for scanning an SBOM instead of an image.
package sbom
