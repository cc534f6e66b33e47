// Package id makes the identifiers of operations, lots and entries.
package id

import (
	"crypto/rand"
	"encoding/binary"
	"time"
)

// crockford is Crockford's base32 alphabet: no I, L, O or U, so ids read
// aloud or copied by hand stay unambiguous.
const crockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

// New returns a 26-character identifier: 48 bits of milliseconds since
// the Unix epoch, then 80 random bits (the ULID layout). Ids made later
// sort after ids made earlier, to the millisecond, which keeps index
// inserts in PostgreSQL near the right-hand edge of the B-tree.
func New(now time.Time) string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(now.UnixMilli())<<16)
	// crypto/rand.Read never fails on the platforms Go supports (Go 1.24:
	// it crashes the program rather than return an error).
	_, _ = rand.Read(b[6:])
	return encode(b)
}

func encode(b [16]byte) string {
	hi := binary.BigEndian.Uint64(b[:8])
	lo := binary.BigEndian.Uint64(b[8:])
	var out [26]byte
	// 128 bits in 26 groups of 5 bits, the first group holding 3 bits.
	for i := 25; i >= 0; i-- {
		out[i] = crockford[lo&31]
		lo = lo>>5 | hi<<59
		hi >>= 5
	}
	return string(out[:])
}
