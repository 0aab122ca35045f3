package sbom

import (
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"

	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// RPM header tags and types read (rpm's lib/rpmtag.h).
const (
	rpmTagName      = 1000
	rpmTagVersion   = 1001
	rpmTagRelease   = 1002
	rpmTagEpoch     = 1003
	rpmTagLicense   = 1014
	rpmTagArch      = 1022
	rpmTagSourceRPM = 1044

	rpmTypeInt32       = 4
	rpmTypeString      = 6
	rpmTypeStringArray = 8
	rpmTypeI18NString  = 9
)

// parseRPMHeader decodes the fields of one package header blob as rpmdb
// stores it: index count and data length (big endian), 16-byte index
// entries (tag, type, offset, count), then the data.
func parseRPMHeader(b []byte) (Package, error) {
	if len(b) < 8 {
		return Package{}, errors.New("rpm header: too short")
	}
	il, dl := binary.BigEndian.Uint32(b), binary.BigEndian.Uint32(b[4:])
	if il > 1<<16 || dl > 1<<28 || uint64(8+16*il)+uint64(dl) > uint64(len(b)) {
		return Package{}, fmt.Errorf("rpm header: %d entries, %d data bytes in a %d-byte blob", il, dl, len(b))
	}
	data := b[8+16*il : 8+16*il+dl]
	str := func(off uint32) string {
		if off >= uint32(len(data)) {
			return ""
		}
		s := data[off:]
		if i := indexByte(s, 0); i >= 0 {
			s = s[:i]
		}
		return string(s)
	}
	p := Package{Type: TypeRPM}
	epoch, release, source := "", "", ""
	for i := uint32(0); i < il; i++ {
		e := b[8+16*i:]
		tag, typ, off := binary.BigEndian.Uint32(e), binary.BigEndian.Uint32(e[4:]), binary.BigEndian.Uint32(e[8:])
		var v string
		switch typ {
		case rpmTypeString, rpmTypeI18NString, rpmTypeStringArray:
			v = str(off)
		case rpmTypeInt32:
			if off+4 <= uint32(len(data)) {
				v = strconv.FormatUint(uint64(binary.BigEndian.Uint32(data[off:])), 10)
			}
		default:
			continue
		}
		switch tag {
		case rpmTagName:
			p.Name = v
		case rpmTagVersion:
			p.Version = v
		case rpmTagRelease:
			release = v
		case rpmTagEpoch:
			epoch = v
		case rpmTagArch:
			p.Arch = v
		case rpmTagLicense:
			if v != "" {
				p.Licenses = []string{v}
			}
		case rpmTagSourceRPM:
			source = v
		}
	}
	if p.Name == "" || p.Version == "" {
		return Package{}, errors.New("rpm header: no name or version")
	}
	if release != "" {
		p.Version += "-" + release
	}
	if epoch != "" && epoch != "0" {
		p.Version = epoch + ":" + p.Version
	}
	// "openssl-3.0.7-24.el9.src.rpm" → source name "openssl".
	if s := strings.TrimSuffix(source, ".src.rpm"); s != source {
		parts := strings.Split(s, "-")
		if len(parts) >= 3 {
			p.SourceName = strings.Join(parts[:len(parts)-2], "-")
			p.SourceVersion = strings.Join(parts[len(parts)-2:], "-")
		}
	}
	if p.Name == "gpg-pubkey" {
		return Package{}, errors.New("rpm header: gpg-pubkey pseudo-package")
	}
	return p, nil
}

func indexByte(b []byte, c byte) int {
	for i, x := range b {
		if x == c {
			return i
		}
	}
	return -1
}

// parseRPMSqlite reads the packages of an rpmdb.sqlite (rpm 4.16 and
// later: Fedora, RHEL 9, Rocky, Alma). The database content is copied to a
// private temporary file and opened read-only, so that nothing of the image
// is opened on the host by its own path.
func parseRPMSqlite(b []byte) ([]Package, []string, error) {
	f, err := os.CreateTemp("", "vigil-rpmdb-*.sqlite")
	if err != nil {
		return nil, nil, err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(b); err != nil {
		f.Close()
		return nil, nil, err
	}
	if err := f.Close(); err != nil {
		return nil, nil, err
	}
	db, err := sql.Open("sqlite", "file:"+url.PathEscape(f.Name())+"?mode=ro&immutable=1")
	if err != nil {
		return nil, nil, err
	}
	defer db.Close()
	rows, err := db.Query("SELECT hnum, blob FROM Packages")
	if err != nil {
		return nil, nil, fmt.Errorf("rpmdb.sqlite: %w", err)
	}
	defer rows.Close()
	var out []Package
	var warns []string
	for rows.Next() {
		var n int64
		var blob []byte
		if err := rows.Scan(&n, &blob); err != nil {
			return out, warns, fmt.Errorf("rpmdb.sqlite: %w", err)
		}
		p, err := parseRPMHeader(blob)
		if err != nil {
			if !strings.Contains(err.Error(), "gpg-pubkey") {
				warns = append(warns, fmt.Sprintf("package %d: %v", n, err))
			}
			continue
		}
		out = append(out, p)
	}
	return out, warns, rows.Err()
}
