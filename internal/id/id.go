// Package id makes the identifiers of operations, lots and entries.
package id

import (
	"crypto/rand"
	"encoding/binary"
	"sync"
	"time"
)

// crockford is Crockford's base32 alphabet: no I, L, O or U, so ids read
// aloud or copied by hand stay unambiguous.
const crockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

// Generator makes 26-character identifiers in the ULID layout: 48 bits
// of milliseconds since the Unix epoch, then 80 random bits. Ids from one
// Generator strictly increase, even within a millisecond or when the
// clock steps back (the random part is incremented instead), so lots
// created one after another by one ledger sort in creation order when
// every other burn-order key ties. Ids made later sort after ids made
// earlier, which also keeps PostgreSQL's B-tree inserts at the right edge.
//
// The zero Generator is ready to use and safe for concurrent use.
type Generator struct {
	mu   sync.Mutex
	last [16]byte
}

// New returns the next identifier for a call made at now.
func (g *Generator) New(now time.Time) string {
	ms := uint64(max(now.UnixMilli(), 0))
	g.mu.Lock()
	defer g.mu.Unlock()
	var b [16]byte
	lastMs := binary.BigEndian.Uint64(g.last[:8]) >> 16
	if ms > lastMs {
		binary.BigEndian.PutUint64(b[:8], ms<<16)
		// crypto/rand.Read never fails on the platforms Go supports (since
		// Go 1.24 it crashes the program rather than return an error).
		_, _ = rand.Read(b[6:])
	} else {
		b = g.last
		increment(&b)
	}
	g.last = b
	return encode(b)
}

// increment adds one to the 128-bit big-endian number b; a carry out of
// the random part moves into the milliseconds, keeping ids increasing.
func increment(b *[16]byte) {
	for i := 15; i >= 0; i-- {
		b[i]++
		if b[i] != 0 {
			return
		}
	}
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
