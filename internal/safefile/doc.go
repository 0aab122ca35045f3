// Package safefile creates and replaces files so that a symlink or file
// planted by another user in the target directory can never redirect a
// write made as root.
//
// Every file it creates is opened with O_CREAT|O_EXCL|O_NOFOLLOW: an existing
// name, symlink or not, makes the open fail instead of being followed or
// reused. Replacing a file (Create, WriteFile) writes a temporary file with a
// random name in the target's own directory, syncs it and renames it over the
// target: the rename replaces whatever the name was (a planted symlink
// included) without following it, and readers see the old or the new content,
// never a mix. Only the last path component is protected; the directories
// leading to it are trusted.
//
// Ownership: Create returns a *File the caller writes and then either Commits
// (rename into place) or Aborts (remove the temporary file); Abort after
// Commit is a no-op, so `defer f.Abort()` is the usual pattern.
package safefile
