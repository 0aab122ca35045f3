package sbom

import (
	"encoding/binary"
	"hash/adler32"
)

// WriteNDB lays package header blobs out as rpm's ndb backend does
// (lib/backend/ndb/rpmpkg.c: rpmpkgWriteEmptySlotpage, rpmpkgWriteBlob,
// rpmpkgWriteslot): the 32-byte header, enough 4096-byte slot pages for
// the blobs plus free slots, then each blob in 16-byte blocks with its head,
// zero padding and Adler-32 tail. A nil blob leaves a free slot where it
// would have been (as a deleted package does). Debian's rpm is built
// without the ndb backend, so the tests write the container with this and
// fill it with header blobs that rpm itself wrote.
func WriteNDB(blobs [][]byte) []byte {
	le := binary.LittleEndian
	nslots := len(blobs) + 2 // header slots taken, plus room
	pages := (nslots*ndbSlotSize + ndbHeaderSize + ndbPageSize - 1) / ndbPageSize
	out := make([]byte, pages*ndbPageSize)
	le.PutUint32(out, ndbMagic)
	le.PutUint32(out[4:], 0)
	le.PutUint32(out[8:], uint32(1+len(blobs))) // generation
	le.PutUint32(out[12:], uint32(pages))
	le.PutUint32(out[16:], uint32(len(blobs)+1)) // next package index
	for off := ndbHeaderSize; off < len(out); off += ndbSlotSize {
		le.PutUint32(out[off:], ndbSlotMagic)
	}
	slot := ndbHeaderSize
	for i, blob := range blobs {
		if blob == nil {
			slot += ndbSlotSize
			continue
		}
		idx := uint32(i + 1)
		blkoff := len(out) / ndbBlockSize
		n := ndbBlobHeadLen + len(blob) + ndbBlobTailLen
		area := make([]byte, (n+ndbBlockSize-1)/ndbBlockSize*ndbBlockSize)
		le.PutUint32(area, ndbBlobHead)
		le.PutUint32(area[4:], idx)
		le.PutUint32(area[8:], 1700000000) // timestamp
		le.PutUint32(area[12:], uint32(len(blob)))
		copy(area[ndbBlobHeadLen:], blob)
		tail := area[len(area)-ndbBlobTailLen:]
		le.PutUint32(tail, adler32.Checksum(area[:len(area)-ndbBlobTailLen]))
		le.PutUint32(tail[4:], uint32(len(blob)))
		le.PutUint32(tail[8:], ndbBlobTail)
		out = append(out, area...)
		le.PutUint32(out[slot+4:], idx)
		le.PutUint32(out[slot+8:], uint32(blkoff))
		le.PutUint32(out[slot+12:], uint32(len(area)/ndbBlockSize))
		slot += ndbSlotSize
	}
	return out
}

// ParseRPMNDB is parseRPMNDB for the external tests.
var ParseRPMNDB = parseRPMNDB
