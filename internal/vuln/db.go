package vuln

import (
	"archive/zip"
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/vigilsec/vigil/internal/safefile"
	"github.com/vigilsec/vigil/internal/sbom"
	"github.com/vigilsec/vigil/internal/termtext"
	"github.com/vigilsec/vigil/internal/version"
)

// Files of a database directory.
const (
	RecordsFile = "records.jsonl"
	IndexFile   = "index.tsv"
)

// ErrNoDatabase is returned by Open for a directory that holds neither an
// imported database nor OSV JSON records.
var ErrNoDatabase = errors.New("no vulnerability database")

// ErrNoRecords is returned by Import when the source holds no readable OSV
// record (a file that is not JSON, an empty directory): the database is
// left as it was.
var ErrNoRecords = errors.New("no OSV record")

// RecordError is an OSV record that cannot be parsed.
type RecordError struct {
	Source string // file or zip member
	Err    error
}

func (e *RecordError) Error() string { return fmt.Sprintf("OSV record %s: %v", e.Source, e.Err) }
func (e *RecordError) Unwrap() error { return e.Err }

// indexKey is the index key of a package: base ecosystem and normalised
// name, with control characters escaped so that a name in a record cannot
// add a column or a line to index.tsv (lookups escape the same way).
func indexKey(ecosystem, name string) string {
	eco := version.Base(ecosystem)
	if eco == version.PyPI {
		name = sbom.NormalizePyPI(name)
	}
	return termtext.String(eco) + "\t" + termtext.String(name)
}

// idKey is the index key under which a record is found by its id (to read
// the severity of an alias).
func idKey(id string) string { return "@id\t" + termtext.String(id) }

// DB is an opened database. It is safe for concurrent scans.
type DB struct {
	// Skipped lists the records of a plain directory of OSV JSON files
	// that could not be parsed (Open indexes it in memory; they are left
	// out, and the caller reports them).
	Skipped []error

	records io.ReaderAt
	index   []byte // index.tsv content: key \t offset \t length, sorted
	closer  io.Closer
	count   int
}

// Close releases the database files.
func (db *DB) Close() error {
	if db.closer != nil {
		return db.closer.Close()
	}
	return nil
}

// Len returns the number of records.
func (db *DB) Len() int { return db.count }

// Open opens a database directory written by Import, or indexes a directory
// of OSV JSON records in memory.
func Open(dir string) (*DB, error) {
	idx, err := os.ReadFile(filepath.Join(dir, IndexFile))
	if errors.Is(err, fs.ErrNotExist) {
		return openRaw(dir)
	}
	if err != nil {
		return nil, fmt.Errorf("open vulnerability database %s: %w", dir, err)
	}
	f, err := os.Open(filepath.Join(dir, RecordsFile))
	if err != nil {
		return nil, fmt.Errorf("open vulnerability database %s: %w", dir, err)
	}
	db := &DB{records: f, index: idx, closer: f}
	if first, _, ok := bytes.Cut(idx, []byte("\n")); ok && bytes.HasPrefix(first, []byte("#records\t")) {
		db.count, _ = strconv.Atoi(string(first[len("#records\t"):]))
	}
	return db, nil
}

func openRaw(dir string) (*DB, error) {
	var recs, idx bytes.Buffer
	var skipped []error
	n, err := build(&recs, &idx, func(add func(src string, b []byte) error) error {
		return walkJSON(dir, add)
	}, nil, func(src string, err error) {
		if err != nil {
			skipped = append(skipped, &RecordError{Source: src, Err: err})
		}
	})
	if err != nil {
		return nil, fmt.Errorf("open vulnerability database %s: %w", dir, err)
	}
	if n == 0 {
		return nil, fmt.Errorf("open vulnerability database %s: %w (run `vigil db import`; %d unparsable records)", dir, ErrNoDatabase, len(skipped))
	}
	return &DB{records: bytes.NewReader(recs.Bytes()), index: idx.Bytes(), count: n, Skipped: skipped}, nil
}

func walkJSON(dir string, add func(src string, b []byte) error) error {
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || !strings.HasSuffix(p, ".json") {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return add(p, b)
	})
}

func walkZip(name string, add func(src string, b []byte) error) error {
	zr, err := zip.OpenReader(name)
	if err != nil {
		return err
	}
	defer zr.Close()
	for _, f := range zr.File {
		if f.FileInfo().IsDir() || !strings.HasSuffix(f.Name, ".json") {
			continue
		}
		rc, err := f.Open()
		if err != nil {
			return fmt.Errorf("%s: %w", f.Name, err)
		}
		b, err := io.ReadAll(io.LimitReader(rc, 64<<20))
		rc.Close()
		if err != nil {
			return fmt.Errorf("%s: %w", f.Name, err)
		}
		if err := add(name+":"+f.Name, b); err != nil {
			return err
		}
	}
	return nil
}

// ImportStats reports what Import did.
type ImportStats struct {
	Records  int // records in the database after the import
	Imported int // records read from the source
	Skipped  int // unparsable records (also returned as warnings)
	Keys     int // distinct (ecosystem, package) keys
}

// Import adds the OSV records of src (an OSV zip export, a directory of
// OSV JSON files, or a single JSON file) to the database in dir, replacing
// records with the same ID, and rewrites the index. Unparsable records are
// skipped and returned as warnings.
func Import(src, dir string) (ImportStats, []error, error) {
	var st ImportStats
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return st, nil, fmt.Errorf("import %s: %w", src, err)
	}
	fi, err := os.Stat(src)
	if err != nil {
		return st, nil, fmt.Errorf("import %s: %w", src, err)
	}
	var source func(add func(string, []byte) error) error
	switch {
	case fi.IsDir():
		source = func(add func(string, []byte) error) error { return walkJSON(src, add) }
	case strings.HasSuffix(src, ".zip"):
		source = func(add func(string, []byte) error) error { return walkZip(src, add) }
	default:
		source = func(add func(string, []byte) error) error {
			b, err := os.ReadFile(src)
			if err != nil {
				return err
			}
			return add(src, b)
		}
	}
	// Existing records survive unless the source replaces them: the source
	// goes first and build keeps the first record of each id.
	var warns []error
	all := func(add func(string, []byte) error) error {
		if err := source(add); err != nil {
			return err
		}
		old, err := os.Open(filepath.Join(dir, RecordsFile))
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		defer old.Close()
		sc := bufio.NewScanner(old)
		sc.Buffer(make([]byte, 1<<20), 64<<20)
		for sc.Scan() {
			if err := add(existingSource, sc.Bytes()); err != nil {
				return err
			}
		}
		return sc.Err()
	}
	tmpRec, err := safefile.Create(filepath.Join(dir, RecordsFile), 0o600)
	if err != nil {
		return st, warns, fmt.Errorf("import %s: %w", src, err)
	}
	defer tmpRec.Abort()
	var idx bytes.Buffer
	bw := bufio.NewWriterSize(tmpRec, 1<<20)
	n, err := build(bw, &idx, all, &st, func(src string, err error) {
		if src == existingSource {
			return
		}
		if err != nil {
			warns = append(warns, &RecordError{Source: src, Err: err})
			st.Skipped++
			return
		}
		st.Imported++
	})
	if err == nil {
		err = bw.Flush()
	}
	if err != nil {
		return st, warns, fmt.Errorf("import %s: %w", src, err)
	}
	if st.Imported == 0 {
		// Nothing usable: keep the database as it was.
		return st, warns, fmt.Errorf("import %s: %w could be read (%d unparsable)", src, ErrNoRecords, st.Skipped)
	}
	st.Records = n
	// Both files are written under random names and renamed into place:
	// records first, so an index never points past its records.
	tmpIdx, err := safefile.Create(filepath.Join(dir, IndexFile), 0o600)
	if err != nil {
		return st, warns, fmt.Errorf("import %s: %w", src, err)
	}
	defer tmpIdx.Abort()
	if _, err := tmpIdx.Write(idx.Bytes()); err != nil {
		return st, warns, fmt.Errorf("import %s: %w", src, err)
	}
	if err := tmpRec.Commit(); err != nil {
		return st, warns, fmt.Errorf("import %s: %w", src, err)
	}
	if err := tmpIdx.Commit(); err != nil {
		return st, warns, fmt.Errorf("import %s: %w", src, err)
	}
	return st, warns, nil
}

// existingSource marks records re-read from the database being updated.
const existingSource = "\x00existing"

// build writes compacted records (one per line) to recs and the sorted
// index to idx, returning the number of records. Records that repeat an ID
// already written are dropped (first wins). onRecord (optional) is told of
// every record read, with its parse error if any.
func build(recs io.Writer, idx *bytes.Buffer, source func(add func(string, []byte) error) error, st *ImportStats, onRecord func(src string, err error)) (int, error) {
	if onRecord == nil {
		onRecord = func(string, error) {}
	}
	type entry struct {
		key       string
		off, size int64
	}
	var entries []entry
	var off int64
	seen := map[string]bool{}
	var line bytes.Buffer
	n := 0
	err := source(func(src string, b []byte) error {
		var r struct {
			ID       string `json:"id"`
			Affected []struct {
				Package struct {
					Ecosystem string `json:"ecosystem"`
					Name      string `json:"name"`
				} `json:"package"`
			} `json:"affected"`
		}
		if err := json.Unmarshal(b, &r); err != nil {
			onRecord(src, err)
			return nil
		}
		if r.ID == "" {
			onRecord(src, errors.New("record without id"))
			return nil
		}
		onRecord(src, nil)
		if seen[r.ID] {
			return nil
		}
		seen[r.ID] = true
		line.Reset()
		if err := json.Compact(&line, b); err != nil {
			return nil
		}
		line.WriteByte('\n')
		size := int64(line.Len())
		keys := map[string]bool{idKey(r.ID): true}
		entries = append(entries, entry{idKey(r.ID), off, size - 1})
		for _, a := range r.Affected {
			if a.Package.Name == "" || a.Package.Ecosystem == "" {
				continue
			}
			k := indexKey(a.Package.Ecosystem, a.Package.Name)
			if !keys[k] {
				keys[k] = true
				entries = append(entries, entry{k, off, size - 1})
			}
		}
		if _, err := recs.Write(line.Bytes()); err != nil {
			return err
		}
		off += size
		n++
		return nil
	})
	if err != nil {
		return 0, err
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].key < entries[j].key })
	fmt.Fprintf(idx, "#records\t%d\n", n)
	distinct := 0
	for i, e := range entries {
		if (i == 0 || entries[i-1].key != e.key) && !strings.HasPrefix(e.key, "@id\t") {
			distinct++
		}
		fmt.Fprintf(idx, "%s\t%d\t%d\n", e.key, e.off, e.size)
	}
	if st != nil {
		st.Keys = distinct
	}
	return n, nil
}

// span locates one record in records.jsonl.
type span struct{ off, size int64 }

// lookup returns the record spans of the given keys, reading the sorted
// index once.
func (db *DB) lookup(keys map[string]bool) map[string][]span {
	out := map[string][]span{}
	data := db.index
	for len(data) > 0 {
		var line []byte
		line, data, _ = bytes.Cut(data, []byte("\n"))
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		// key is "eco\tname"; then offset and size.
		i := bytes.LastIndexByte(line, '\t')
		j := bytes.LastIndexByte(line[:max(i, 0)], '\t')
		if i < 0 || j < 0 {
			continue
		}
		key := line[:j]
		if !keys[string(key)] {
			continue
		}
		off, err1 := strconv.ParseInt(string(line[j+1:i]), 10, 64)
		size, err2 := strconv.ParseInt(string(line[i+1:]), 10, 64)
		if err1 != nil || err2 != nil {
			continue
		}
		out[string(key)] = append(out[string(key)], span{off, size})
	}
	return out
}

func (db *DB) read(s span) (*Record, error) {
	b := make([]byte, s.size)
	if _, err := db.records.ReadAt(b, s.off); err != nil {
		return nil, fmt.Errorf("read record at %d: %w", s.off, err)
	}
	var r Record
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("record at %d: %w", s.off, err)
	}
	return &r, nil
}
