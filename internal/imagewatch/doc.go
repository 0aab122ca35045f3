// Package imagewatch ties image integrity to what is running: drift
// (a container executes a file that is not in its image) and vulnerability
// findings of the images of running containers.
//
// A Watcher has two sides. CheckExec runs on the event goroutine for every
// event and never blocks: on the first exec seen in a container it asks the
// watcher goroutine (Run) for the file index of the container's image, and
// until the index is ready it queues at most Options.MaxPending checks per
// container (more are counted as unchecked). Once the index is ready a check
// is a map lookup (image.FileIndex.IsInImage) that does not allocate.
//
// With a vulnerability database directory configured, Run also catalogues
// the image of every running container (one SBOM per image, cached), scans
// it at start, when a new container appears and whenever the database
// changes (the mtime and size of its index file, polled), and reports each
// (image, vulnerability, package) finding once.
package imagewatch
