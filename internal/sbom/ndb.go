package sbom

import (
	"encoding/binary"
	"fmt"
	"hash/adler32"
)

// rpm's ndb package database (Packages.db; recent openSUSE and SLES), as
// rpm's lib/backend/ndb/rpmpkg.c writes it, all integers little endian:
//
//	header (32 bytes): magic "RpmP", version 0, generation, number of
//	  slot pages, next package index
//	slot pages (4096 bytes each, the first 32 bytes of page 0 being the
//	  header): 16-byte slots "Slot", package index, block offset, block
//	  count; a block offset of 0 is a free slot
//	blobs at block offset × 16: head "BlbS", package index, timestamp,
//	  blob length; the blob (a package header as the other rpmdb formats
//	  store it); zero padding to the block; tail: Adler-32 of head, blob
//	  and padding, blob length, "BlbE"
const (
	ndbMagic       = 'R' | 'p'<<8 | 'm'<<16 | 'P'<<24
	ndbSlotMagic   = 'S' | 'l'<<8 | 'o'<<16 | 't'<<24
	ndbBlobHead    = 'B' | 'l'<<8 | 'b'<<16 | 'S'<<24
	ndbBlobTail    = 'B' | 'l'<<8 | 'b'<<16 | 'E'<<24
	ndbHeaderSize  = 32
	ndbPageSize    = 4096
	ndbSlotSize    = 16
	ndbBlockSize   = 16
	ndbBlobHeadLen = 16
	ndbBlobTailLen = 12
)

// ndbError is a problem at a byte offset of the database.
func ndbError(off int64, format string, args ...any) error {
	return fmt.Errorf("Packages.db: offset %d (0x%x): %s", off, off, fmt.Sprintf(format, args...))
}

// ndbBlobs returns the package header blobs of an ndb Packages.db in slot
// order. A bad header or slot page is an error (nothing can be trusted);
// a bad blob is skipped with a warning naming its slot and offset.
func ndbBlobs(b []byte) ([][]byte, []string, error) {
	le := binary.LittleEndian
	if len(b) < ndbHeaderSize {
		return nil, nil, ndbError(0, "%d bytes: shorter than the %d-byte header", len(b), ndbHeaderSize)
	}
	if m := le.Uint32(b); m != ndbMagic {
		return nil, nil, ndbError(0, "magic %#08x: not an rpm ndb package database (want \"RpmP\")", m)
	}
	if v := le.Uint32(b[4:]); v != 0 {
		return nil, nil, ndbError(4, "version %d: only version 0 is known", v)
	}
	npages := uint64(le.Uint32(b[12:]))
	if npages == 0 || npages*ndbPageSize > uint64(len(b)) {
		return nil, nil, ndbError(12, "%d slot pages: the file holds %d bytes (truncated?)", npages, len(b))
	}
	if len(b)%ndbBlockSize != 0 {
		return nil, nil, ndbError(int64(len(b)), "file size %d is not a multiple of %d (truncated?)", len(b), ndbBlockSize)
	}
	fileBlocks := uint64(len(b)) / ndbBlockSize
	minBlock := npages * (ndbPageSize / ndbBlockSize)
	var blobs [][]byte
	var warns []string
	for off := uint64(ndbHeaderSize); off < npages*ndbPageSize; off += ndbSlotSize {
		s := b[off : off+ndbSlotSize]
		if le.Uint32(s) != ndbSlotMagic {
			return nil, nil, ndbError(int64(off), "slot %d: bad magic %#08x (want \"Slot\")", off/ndbSlotSize, le.Uint32(s))
		}
		idx, blkoff, blkcnt := le.Uint32(s[4:]), uint64(le.Uint32(s[8:])), uint64(le.Uint32(s[12:]))
		if blkoff == 0 {
			continue // free
		}
		slotErr := func(format string, args ...any) {
			warns = append(warns, ndbError(int64(off), "slot %d (package %d): %s", off/ndbSlotSize, idx, fmt.Sprintf(format, args...)).Error())
		}
		if idx == 0 || blkcnt == 0 || blkoff < minBlock || blkoff+blkcnt > fileBlocks {
			slotErr("blocks %d+%d outside the data (%d..%d)", blkoff, blkcnt, minBlock, fileBlocks)
			continue
		}
		blob, err := ndbBlob(b[blkoff*ndbBlockSize:(blkoff+blkcnt)*ndbBlockSize], idx)
		if err != nil {
			slotErr("blob at offset %d: %v", blkoff*ndbBlockSize, err)
			continue
		}
		blobs = append(blobs, blob)
	}
	return blobs, warns, nil
}

// ndbBlob checks one blob's head, length, tail and checksum and returns
// its content.
func ndbBlob(area []byte, idx uint32) ([]byte, error) {
	le := binary.LittleEndian
	if len(area) < ndbBlobHeadLen+ndbBlobTailLen {
		return nil, fmt.Errorf("%d bytes: too short for a blob", len(area))
	}
	if m := le.Uint32(area); m != ndbBlobHead {
		return nil, fmt.Errorf("bad head magic %#08x (want \"BlbS\")", m)
	}
	if got := le.Uint32(area[4:]); got != idx {
		return nil, fmt.Errorf("blob of package %d in the slot of package %d", got, idx)
	}
	n := uint64(le.Uint32(area[12:]))
	if want := (ndbBlobHeadLen + n + ndbBlobTailLen + ndbBlockSize - 1) / ndbBlockSize * ndbBlockSize; want != uint64(len(area)) {
		return nil, fmt.Errorf("length %d does not fill its %d blocks", n, len(area)/ndbBlockSize)
	}
	tail := area[len(area)-ndbBlobTailLen:]
	if le.Uint32(tail[8:]) != ndbBlobTail {
		return nil, fmt.Errorf("bad tail magic %#08x (want \"BlbE\")", le.Uint32(tail[8:]))
	}
	if uint64(le.Uint32(tail[4:])) != n {
		return nil, fmt.Errorf("tail length %d differs from head length %d", le.Uint32(tail[4:]), n)
	}
	if sum := adler32.Checksum(area[:len(area)-ndbBlobTailLen]); sum != le.Uint32(tail) {
		return nil, fmt.Errorf("checksum %#08x, stored %#08x: the blob is corrupt", sum, le.Uint32(tail))
	}
	return area[ndbBlobHeadLen : ndbBlobHeadLen+n], nil
}

// parseRPMNDB reads the packages of an rpm ndb Packages.db.
func parseRPMNDB(b []byte) ([]Package, []string, error) {
	blobs, warns, err := ndbBlobs(b)
	if err != nil {
		return nil, nil, err
	}
	var out []Package
	for i, blob := range blobs {
		p, err := parseRPMHeader(blob)
		if err != nil {
			if err.Error() != "rpm header: gpg-pubkey pseudo-package" {
				warns = append(warns, fmt.Sprintf("Packages.db: package %d: %v", i+1, err))
			}
			continue
		}
		out = append(out, p)
	}
	return out, warns, nil
}
