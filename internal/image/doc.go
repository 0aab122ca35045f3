// Package image opens container images offline and indexes their files.
//
// Sources: OCI image layout directories, OCI and docker-archive ("docker
// save") tarballs, plain root filesystem directories, and images in the
// containerd content store by name. Open returns an *Image whose Files index
// is the merged filesystem of all layers (gzip, zstd or plain tar; blob
// digests and config diff_ids verified) (path → layer of origin, type, mode,
// size, link target), built by streaming each layer once, applying OCI
// whiteouts (.wh.NAME and .wh..wh..opq), and rejecting entries that escape
// the root: ".." or absolute names, hardlinks out of the root, and entries
// written through a symlink whose target climbs above the root. Nothing is
// extracted to disk; ReadFiles streams the contents of chosen files in a
// second pass.
//
// The caller owns the *Image and must Close it. A FileIndex is immutable
// after Open and safe for concurrent readers: the agent keeps one per
// running container and calls IsInImage on exec events (drift detection).
package image
