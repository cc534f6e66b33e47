package storage

import (
	"crypto/sha256"
	"encoding/binary"
	"sort"
	"time"
)

// hashVersion is the first byte hashed, so that a later encoding can be
// told apart from this one.
const hashVersion = 1

// EntryHash returns the hash that chains e to the entry before it: SHA-256
// over prev (the previous entry's Hash of the same account, nil for the
// first) and every field of e but Hash, each field length-prefixed so that
// no two entries share an encoding. Times are hashed as microseconds since
// the Unix epoch (the precision stores keep), metadata as its pairs in key
// order.
//
// The ledger computes it once for every entry it writes, whatever the
// store, and Verify recomputes every chain: an entry changed, removed or
// inserted anywhere breaks the chain from there on, and the account's
// HeadHash pins its newest entry.
func EntryHash(prev []byte, e *Entry) []byte {
	b := make([]byte, 0, 256)
	b = append(b, hashVersion)
	b = appendBytes(b, prev)
	b = appendString(b, e.Account)
	b = binary.AppendVarint(b, e.Seq)
	b = appendString(b, e.ID)
	b = appendString(b, e.OperationID)
	b = appendString(b, e.LotID)
	b = appendString(b, string(e.Kind))
	b = binary.AppendVarint(b, e.Amount)
	b = binary.AppendVarint(b, e.BalanceAfter)
	b = appendString(b, e.Source)
	b = appendString(b, e.Description)
	keys := make([]string, 0, len(e.Metadata))
	for k := range e.Metadata {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	b = binary.AppendUvarint(b, uint64(len(keys)))
	for _, k := range keys {
		b = appendString(b, k)
		b = appendString(b, e.Metadata[k])
	}
	b = appendTime(b, &e.CreatedAt)
	b = appendTime(b, e.ExpiresAt)
	b = appendString(b, e.Key)
	b = appendString(b, e.ParamHash)
	b = binary.AppendVarint(b, e.Available)
	if e.Ref != "" || hasPoolFields(e) {
		// Appended only when set, so the hashes of entries written before
		// refs existed stay as they were; the fields before it have a
		// fixed number, so the encoding stays unambiguous.
		b = appendString(b, e.Ref)
	}
	if hasPoolFields(e) {
		// The fields of pools, features and dated grants (schema 6), in
		// fixed order after Ref (written even when "", so that they
		// always follow the same number of fields). Only when one is set:
		// an entry without them hashes exactly as before they existed.
		b = appendString(b, e.Pool)
		b = appendString(b, e.Feature)
		b = appendString(b, e.Quantity)
		b = appendTime(b, e.EffectiveAt)
	}
	sum := sha256.Sum256(b)
	return sum[:]
}

// hasPoolFields reports whether e has any of the fields schema 6 added.
func hasPoolFields(e *Entry) bool {
	return e.Pool != "" || e.Feature != "" || e.Quantity != "" || e.EffectiveAt != nil
}

func appendBytes(b, v []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(v)))
	return append(b, v...)
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// appendTime appends 0 for nil, else 1 and the microseconds since the
// epoch of t in UTC.
func appendTime(b []byte, t *time.Time) []byte {
	if t == nil {
		return append(b, 0)
	}
	b = append(b, 1)
	return binary.AppendVarint(b, t.Truncate(time.Microsecond).UnixMicro())
}
