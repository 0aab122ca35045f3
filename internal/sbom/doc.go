// Package sbom inventories the software in an image and writes it as a
// software bill of materials.
//
// Catalog reads an *image.Image (package image) in one streaming pass and
// returns an *SBOM: the distribution (from /etc/os-release) and every
// package found by the catalogers — dpkg (/var/lib/dpkg/status and
// distroless status.d), apk (/lib/apk/db/installed), Go binaries (embedded
// build info: main module, dependencies, and the Go toolchain as "stdlib"),
// npm (node_modules/**/package.json) and Python (*.dist-info/METADATA,
// *.egg-info/PKG-INFO). Each package carries its name, version, source
// package, licenses, purl, OSV ecosystem and the digest of the layer it came
// from.
//
// WriteCycloneDX and WriteSPDX write CycloneDX 1.6 and SPDX 2.3 JSON; Read
// parses either back (for scanning an SBOM instead of an image).
package sbom
