package imagewatch

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/vigilsec/vigil/internal/image"
	"github.com/vigilsec/vigil/internal/sbom"
	"github.com/vigilsec/vigil/internal/vuln"
)

// VulnFinding is a vulnerability of the image of a running container,
// reported once per (image, vulnerability, package).
type VulnFinding struct {
	Finding     vuln.Finding
	ContainerID string // full id
	Namespace   string // containerd namespace
	Image       string // image name
	Digest      string // image manifest digest
}

// imgState is one image's catalogue and last scan.
type imgState struct {
	digest   string
	sbom     *sbom.SBOM
	err      error // catalogue failed (not retried until the image name changes)
	gen      int   // database generation of findings
	findings []vuln.Finding
}

// vulnState belongs to Run's goroutine.
type vulnState struct {
	db       *vuln.DB
	dbSig    string
	gen      int
	images   map[string]*imgState // namespace/name
	reported map[string]bool      // digest \x00 vuln id \x00 package
	seenCt   map[string]bool      // container ids scanned
}

func (v *vulnState) init() {
	v.images = map[string]*imgState{}
	v.reported = map[string]bool{}
	v.seenCt = map[string]bool{}
}

func (v *vulnState) seen(id string) bool { return v.seenCt[id] }

func (v *vulnState) close() {
	if v.db != nil {
		v.db.Close()
		v.db = nil
	}
}

// DBSignature identifies the content of a database directory: the size and
// mtime of its index file, else (a directory of raw OSV records) of the
// directory and its entry count. "" means no database.
func DBSignature(dir string) string {
	if fi, err := os.Stat(filepath.Join(dir, vuln.IndexFile)); err == nil {
		return fmt.Sprintf("index:%d:%d", fi.Size(), fi.ModTime().UnixNano())
	}
	fi, err := os.Stat(dir)
	if err != nil || !fi.IsDir() {
		return ""
	}
	ents, err := os.ReadDir(dir)
	if err != nil || len(ents) == 0 {
		return ""
	}
	var latest int64
	for _, e := range ents {
		if i, err := e.Info(); err == nil && i.ModTime().UnixNano() > latest {
			latest = i.ModTime().UnixNano()
		}
	}
	return fmt.Sprintf("raw:%d:%d:%d", len(ents), fi.ModTime().UnixNano(), latest)
}

// reloadDB opens the database again when its signature changed.
func (w *Watcher) reloadDB() {
	v := &w.vs
	sig := DBSignature(w.opts.DBDir)
	if sig == v.dbSig {
		return
	}
	v.dbSig = sig
	if sig == "" {
		return
	}
	db, err := vuln.Open(w.opts.DBDir)
	if err != nil {
		if !errors.Is(err, vuln.ErrNoDatabase) {
			w.log.Warn("images: vulnerability database", "dir", w.opts.DBDir, "err", err)
		}
		return
	}
	v.close()
	v.db = db
	v.gen++
	w.dbLoads.Add(1)
	w.dbRecords.Store(uint64(db.Len()))
	w.log.Info("images: vulnerability database loaded", "dir", w.opts.DBDir, "records", db.Len())
}

// scanRunning scans the images of the running containers against the
// database (images already scanned against this database version reuse
// their findings) and reports the findings not reported before.
func (w *Watcher) scanRunning(ctx context.Context) {
	defer w.polls.Add(1)
	w.reloadDB()
	v := &w.vs
	if v.db == nil {
		return
	}
	rs, err := w.running(ctx)
	if err != nil {
		w.log.Warn("images: scan", "err", err)
		return
	}
	fresh := map[string]bool{}
	for _, rc := range rs {
		v.seenCt[rc.ID] = true
		if rc.Image == "" {
			continue
		}
		is := w.image(ctx, rc.Namespace, rc.Image)
		if is.sbom == nil {
			continue
		}
		if is.gen != v.gen {
			res, err := v.db.Scan(is.sbom)
			w.scans.Add(1)
			if err != nil {
				w.scanErrs.Add(1)
				w.log.Warn("images: scan", "image", rc.Image, "err", err)
				continue
			}
			is.findings, is.gen = res.Filter(w.opts.Severities), v.gen
		}
		for i := range is.findings {
			f := &is.findings[i]
			k := is.digest + "\x00" + f.ID + "\x00" + f.Package.Name
			// New for this image: every container running it in this
			// pass gets an alert; containers started later do not.
			if v.reported[k] {
				continue
			}
			fresh[k] = true
			w.vulnFound.Add(1)
			if w.opts.OnVuln != nil {
				w.opts.OnVuln(&VulnFinding{Finding: *f, ContainerID: rc.ID, Namespace: rc.Namespace,
					Image: rc.Image, Digest: is.digest})
			}
		}
	}
	for k := range fresh {
		v.reported[k] = true
	}
}

// image returns the cached catalogue of an image, building it on first use.
func (w *Watcher) image(ctx context.Context, ns, name string) *imgState {
	key := ns + "/" + name
	if is, ok := w.vs.images[key]; ok {
		return is
	}
	is := &imgState{}
	w.vs.images[key] = is
	octx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	img, err := w.opts.Images.Open(octx, ns, name)
	if err != nil {
		is.err = err
		w.scanErrs.Add(1)
		w.log.Warn("images: open", "image", name, "namespace", ns, "err", err)
		return is
	}
	defer img.Close()
	is.digest = img.ManifestDigest
	if is.digest == "" {
		is.digest = key
	}
	s, warns, err := sbom.Catalog(img)
	if err != nil {
		is.err = err
		w.scanErrs.Add(1)
		w.log.Warn("images: catalogue", "image", name, "err", err)
		return is
	}
	if len(warns) > 0 {
		w.log.Debug("images: catalogue warnings", "image", name, "warnings", strings.Join(warns, "; "))
	}
	is.sbom = s
	w.imagesTracked.Store(uint64(len(w.vs.images)))
	return is
}

var _ Images = (*image.Scanner)(nil)
