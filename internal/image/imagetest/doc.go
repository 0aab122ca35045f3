// Package imagetest builds small container images for tests: layer tars
// from entries, written as OCI layouts, OCI archives or docker-archive
// tarballs, laid out as registries and `docker save` lay them out. Only
// tests import it.
package imagetest
