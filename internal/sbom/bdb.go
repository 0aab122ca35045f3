package sbom

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Berkeley DB hash file layout (db's dbinc/db_page.h), as rpm ≤ 4.15 wrote
// /var/lib/rpm/Packages (RHEL/CentOS 7 and 8, older Fedora and SUSE).
const (
	bdbHashMagic      = 0x061561
	bdbPageHeader     = 26 // lsn 8, pgno 4, prev 4, next 4, entries 2, hf_offset 2, level 1, type 1
	bdbPageHashUnsort = 2
	bdbPageOverflow   = 7
	bdbPageHash       = 13
	bdbKeyData        = 1
	bdbOffPage        = 3
)

// bdbHashValues returns the data items of a Berkeley DB hash database:
// on-page values and values spread over overflow page chains. Keys are
// skipped (rpm keys packages by number).
func bdbHashValues(b []byte) ([][]byte, error) {
	if len(b) < 512 {
		return nil, errors.New("berkeley db: too short")
	}
	var bo binary.ByteOrder = binary.LittleEndian
	if bo.Uint32(b[12:]) != bdbHashMagic {
		bo = binary.BigEndian
		if bo.Uint32(b[12:]) != bdbHashMagic {
			return nil, errors.New("berkeley db: not a hash database (bad magic)")
		}
	}
	pageSize := int(bo.Uint32(b[20:]))
	if pageSize < 512 || pageSize > 64<<10 || pageSize&(pageSize-1) != 0 {
		return nil, fmt.Errorf("berkeley db: page size %d", pageSize)
	}
	pages := len(b) / pageSize
	page := func(n uint32) []byte {
		if int(n) >= pages {
			return nil
		}
		return b[int(n)*pageSize : int(n+1)*pageSize]
	}
	overflow := func(n, total uint32) ([]byte, error) {
		out := make([]byte, 0, min(total, 64<<20))
		for steps := 0; n != 0 && uint32(len(out)) < total; steps++ {
			p := page(n)
			if p == nil || p[25] != bdbPageOverflow || steps > pages {
				return nil, fmt.Errorf("berkeley db: broken overflow chain at page %d", n)
			}
			l := int(bo.Uint16(p[22:]))
			if bdbPageHeader+l > pageSize {
				return nil, fmt.Errorf("berkeley db: overflow page %d length %d", n, l)
			}
			out = append(out, p[bdbPageHeader:bdbPageHeader+l]...)
			n = bo.Uint32(p[16:])
		}
		if uint32(len(out)) != total {
			return nil, fmt.Errorf("berkeley db: overflow value of %d bytes, %d found", total, len(out))
		}
		return out, nil
	}
	var values [][]byte
	var errs []error
	for n := 1; n < pages; n++ {
		p := page(uint32(n))
		if t := p[25]; t != bdbPageHash && t != bdbPageHashUnsort {
			continue
		}
		entries := int(bo.Uint16(p[20:]))
		if bdbPageHeader+2*entries > pageSize {
			errs = append(errs, fmt.Errorf("berkeley db: page %d: %d entries", n, entries))
			continue
		}
		for i := 1; i < entries; i += 2 { // odd items are data
			off := int(bo.Uint16(p[bdbPageHeader+2*i:]))
			end := pageSize
			if i > 0 {
				end = int(bo.Uint16(p[bdbPageHeader+2*(i-1):]))
			}
			if off <= bdbPageHeader || off >= end || end > pageSize {
				errs = append(errs, fmt.Errorf("berkeley db: page %d item %d: bad offset", n, i))
				continue
			}
			item := p[off:end]
			switch item[0] {
			case bdbKeyData:
				values = append(values, item[1:])
			case bdbOffPage:
				if len(item) < 12 {
					errs = append(errs, fmt.Errorf("berkeley db: page %d item %d: short off-page item", n, i))
					continue
				}
				v, err := overflow(bo.Uint32(item[4:]), bo.Uint32(item[8:]))
				if err != nil {
					errs = append(errs, err)
					continue
				}
				values = append(values, v)
			}
		}
	}
	return values, errors.Join(errs...)
}

// parseRPMBDB reads the packages of an rpm Berkeley DB (Packages).
func parseRPMBDB(b []byte) ([]Package, []string, error) {
	values, err := bdbHashValues(b)
	var out []Package
	var warns []string
	for i, v := range values {
		if len(v) <= 8 {
			continue // the record of the last package number
		}
		p, err := parseRPMHeader(v)
		if err != nil {
			if err.Error() != "rpm header: gpg-pubkey pseudo-package" {
				warns = append(warns, fmt.Sprintf("record %d: %v", i, err))
			}
			continue
		}
		out = append(out, p)
	}
	return out, warns, err
}
