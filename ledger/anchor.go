package ledger

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"github.com/creditledger/creditledger/storage"
)

// AnchorVersion is the version of the anchor encoding (the JSON form and
// the digest) that Anchor writes and VerifyWith reads.
const AnchorVersion = 1

// Anchor pins the heads of every account's hash chain at one moment, to be
// kept outside the database. A consistent rewrite of an account's history
// (entries changed with their hashes and the head recomputed), or its last
// operations deleted with the head, seq and balance rolled back, leaves a
// chain that Verify finds sound: only a head kept elsewhere shows that the
// history no longer extends what it was. VerifyWith checks the chains
// against an anchor.
//
// Its JSON form (encoding/json of this struct) is:
//
//	{"version":1,"at":"2026-12-01T02:00:00Z","accounts":2,
//	 "digest":"<64 hex digits>",
//	 "heads":[{"account":"alice","seq":12,"hash":"<64 hex>"},
//	          {"account":"bob","seq":3,"hash":"<64 hex>"}]}
//
// Digest is SHA-256, in lower-case hex, over the version, At and every
// head in account ID order (see AnchorDigest): one value a host can keep
// in its logs or object storage each night. The heads may then be stored
// with less care (next to the database, say): a file whose digest is not
// the one kept is refused by VerifyWith.
type Anchor struct {
	Version  int          `json:"version"`
	At       time.Time    `json:"at"`       // when the heads were read (UTC, microseconds)
	Accounts int          `json:"accounts"` // len(Heads)
	Digest   string       `json:"digest"`
	Heads    []AnchorHead `json:"heads"` // by account ID, ascending (byte order)
}

// AnchorHead is one account's head: the Seq and Hash of its newest entry
// (0 and "" for an account without entries).
type AnchorHead struct {
	Account string `json:"account"`
	Seq     int64  `json:"seq"`
	Hash    string `json:"hash"` // lower-case hex of storage.Entry.Hash
}

// Anchor reads the head of every account, in ID order, and returns them
// with their digest. It reads the store as Verify does (a chunk of
// accounts at a time, no locks), so heads of accounts written meanwhile
// are each one state that committed; a write after the read simply
// extends its account's anchored head.
//
// Errors: only the store's, when it cannot be read.
func (l *Ledger) Anchor(ctx context.Context) (*Anchor, error) {
	a := &Anchor{Version: AnchorVersion, At: l.clock(), Heads: []AnchorHead{}}
	after := ""
	for {
		dumps, err := l.store.Scan(ctx, after, verifyChunk)
		if err != nil {
			return nil, fmt.Errorf("creditledger: anchor: scan after %q: %w", after, err)
		}
		for i := range dumps {
			acct := &dumps[i].Account
			a.Heads = append(a.Heads, AnchorHead{Account: acct.ID, Seq: acct.Seq, Hash: hex.EncodeToString(acct.HeadHash)})
		}
		if len(dumps) < verifyChunk {
			break
		}
		after = dumps[len(dumps)-1].Account.ID
	}
	a.Accounts = len(a.Heads)
	a.Digest = AnchorDigest(a)
	return a, nil
}

// ParseAnchor decodes an anchor's JSON form and checks it (see
// Anchor.Check).
//
// Errors: ErrInvalidArgument for malformed JSON or an anchor that fails
// its check.
func ParseAnchor(data []byte) (*Anchor, error) {
	var a Anchor
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&a); err != nil {
		return nil, fmt.Errorf("%w: anchor: %w", ErrInvalidArgument, err)
	}
	if err := a.Check(); err != nil {
		return nil, err
	}
	return &a, nil
}

// Check reports whether the anchor is well formed and unaltered: its
// version is AnchorVersion, its heads are in strictly ascending account
// order with valid ids, seqs >= 0 and 32-byte hex hashes (none for seq
// 0), Accounts counts them, and Digest is their digest.
//
// Errors: ErrInvalidArgument naming the first problem.
func (a *Anchor) Check() error {
	if a.Version != AnchorVersion {
		return fmt.Errorf("%w: anchor version %d, want %d", ErrInvalidArgument, a.Version, AnchorVersion)
	}
	if a.Accounts != len(a.Heads) {
		return fmt.Errorf("%w: anchor says %d accounts but has %d heads", ErrInvalidArgument, a.Accounts, len(a.Heads))
	}
	for i, h := range a.Heads {
		if err := checkID("anchor account", h.Account); err != nil {
			return fmt.Errorf("anchor head %d: %w", i, err)
		}
		if i > 0 && a.Heads[i-1].Account >= h.Account {
			return fmt.Errorf("%w: anchor head %d (%q) is not after %q: heads must be in ascending account order",
				ErrInvalidArgument, i, h.Account, a.Heads[i-1].Account)
		}
		raw, err := hex.DecodeString(h.Hash)
		switch {
		case h.Seq < 0:
			return fmt.Errorf("%w: anchor head of %q has seq %d", ErrInvalidArgument, h.Account, h.Seq)
		case err != nil || (h.Seq > 0 && len(raw) != sha256.Size) || (h.Seq == 0 && len(raw) != 0):
			return fmt.Errorf("%w: anchor head of %q at seq %d has hash %q (want %d bytes of hex, none at seq 0)",
				ErrInvalidArgument, h.Account, h.Seq, h.Hash, sha256.Size)
		}
	}
	if want := AnchorDigest(a); a.Digest != want {
		return fmt.Errorf("%w: anchor digest %q is not the digest of its heads (%s): the anchor was altered",
			ErrInvalidArgument, a.Digest, want)
	}
	return nil
}

// AnchorDigest returns the lower-case hex SHA-256 of the anchor's version,
// At (microseconds since the epoch) and heads in the order given: the
// count, then per head the account id (length-prefixed), the seq and the
// raw hash bytes (length-prefixed), every integer a varint, so that no two
// lists of heads share an encoding. Digest itself is not hashed.
func AnchorDigest(a *Anchor) string {
	b := make([]byte, 0, 64+len(a.Heads)*64)
	b = binary.AppendUvarint(b, uint64(a.Version))
	b = binary.AppendVarint(b, a.At.Truncate(time.Microsecond).UnixMicro())
	b = binary.AppendUvarint(b, uint64(len(a.Heads)))
	for _, h := range a.Heads {
		raw, _ := hex.DecodeString(h.Hash) // Check refuses bad hex first
		b = binary.AppendUvarint(b, uint64(len(h.Account)))
		b = append(b, h.Account...)
		b = binary.AppendVarint(b, h.Seq)
		b = binary.AppendUvarint(b, uint64(len(raw)))
		b = append(b, raw...)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// anchorCheck is the state of VerifyWith's check against an anchor.
type anchorCheck struct {
	anchor *Anchor
	heads  map[string]AnchorHead
	seen   map[string]bool
}

func newAnchorCheck(a *Anchor) *anchorCheck {
	c := &anchorCheck{anchor: a, heads: make(map[string]AnchorHead, len(a.Heads)), seen: make(map[string]bool, len(a.Heads))}
	for _, h := range a.Heads {
		c.heads[h.Account] = h
	}
	return c
}

// account checks that d's history extends its anchored head: the entry at
// the anchored seq is still there with the anchored hash. It returns the
// problem, "" when none (or when the anchor does not name the account:
// it was created after the anchor).
func (c *anchorCheck) account(d *storage.AccountDump) string {
	h, ok := c.heads[d.Account.ID]
	if !ok {
		return ""
	}
	c.seen[d.Account.ID] = true
	if h.Seq == 0 {
		return ""
	}
	var at *storage.Entry
	if i := int(h.Seq) - 1; i < len(d.Entries) && d.Entries[i].Seq == h.Seq {
		at = &d.Entries[i]
	} else {
		for i := range d.Entries {
			if d.Entries[i].Seq == h.Seq {
				at = &d.Entries[i]
				break
			}
		}
	}
	switch {
	case at == nil:
		return fmt.Sprintf("does not extend the anchor of %s: the anchor's head is entry %d, the history now ends at seq %d (entries were removed)",
			c.at(), h.Seq, d.Account.Seq)
	case hex.EncodeToString(at.Hash) != h.Hash:
		return fmt.Sprintf("does not extend the anchor of %s: entry %d no longer has the anchored hash (history up to it was rewritten)",
			c.at(), h.Seq)
	}
	return ""
}

// missing returns the anchored accounts (with entries) that account did
// not meet, in ID order: their account row is gone.
func (c *anchorCheck) missing() []AnchorHead {
	var out []AnchorHead
	for _, h := range c.anchor.Heads {
		if !c.seen[h.Account] {
			out = append(out, h)
		}
	}
	return out
}

func (c *anchorCheck) at() string { return c.anchor.At.UTC().Format(time.RFC3339Nano) }
