package ledger

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/creditledger/creditledger/storage"
)

// verifyChunk is the number of accounts Verify reads at a time.
const verifyChunk = 500

// verifyOrphans bounds how many accounts without an account row Verify
// reports.
const verifyOrphans = 1000

// VerifyReport is what Verify found.
type VerifyReport struct {
	Accounts, Lots, Entries int // how many were checked
	Violations              []Violation
	// Anchored is how many accounts were checked against the anchor of
	// VerifyOpts (0 without one); AnchorBroken lists, in ID order, those
	// whose history no longer extends it (each also has a Violation).
	Anchored     int
	AnchorBroken []string
}

// VerifyOpts are the options of VerifyWith. Nil means none: Verify.
type VerifyOpts struct {
	// Anchor, when set, is checked first (Anchor.Check: an altered anchor
	// is refused), then every account it names must still extend its
	// anchored head: the entry at the anchored seq must still be there
	// with the anchored hash. An account whose tail was rewritten
	// consistently, whose last operations were deleted with its head
	// rolled back, or whose account row is gone is reported, in
	// AnchorBroken and as a Violation. Accounts created after the
	// anchor are checked as Verify checks them.
	Anchor *Anchor
	// Digest, when set, must be the anchor's digest: the value kept off
	// the database (in logs, object storage) when the anchor was made,
	// which makes the anchor file itself tamper-evident.
	Digest string
}

// OK reports whether no invariant was violated.
func (r *VerifyReport) OK() bool { return len(r.Violations) == 0 }

// Violation is one broken invariant.
type Violation struct {
	Account string
	LotID   string // "" when the violation is about the account
	Problem string
}

func (v Violation) String() string {
	if v.LotID != "" {
		return fmt.Sprintf("account %q lot %s: %s", v.Account, v.LotID, v.Problem)
	}
	return fmt.Sprintf("account %q: %s", v.Account, v.Problem)
}

// Verify checks every account's invariants, reading the whole store a
// chunk of accounts at a time:
//   - its entries are numbered 1..n with no gap, each one's hash is
//     storage.EntryHash of the previous one's hash and its own fields, and
//     the last one's hash is the account's head: an entry changed,
//     removed or inserted anywhere (a key-carrying one included, whose
//     loss would let a retried call write again) breaks the chain;
//   - each entry's BalanceAfter is the previous one of its pool plus its
//     amount (every pool runs its own balance; with one pool, the
//     account's);
//   - its booked balance equals the sum of its pools' last BalanceAfter
//     and the sum of its lots' remaining, and so does each pool's;
//   - every lot has exactly one grant entry of its amount, pool and
//     effective time, its expiry is the one its last grant or set_expiry
//     entry says, every entry on it is in its pool, its remaining is that
//     amount plus its debit entries, and stays within [0, amount]; a
//     debt lot has no grant, amount 0 and remaining at or below 0;
//   - its next expiry time is not later than its soonest open lot's, nor
//     than an active hold's expiry;
//   - every hold's hold entries took exactly its lines from their lots
//     (so held credits never exceed what a lot had: they left it); an
//     active hold has no release or capture entry; an ended one's release
//     entries gave all of it back and its capture entries spent exactly
//     what it captured; every hold entry belongs to a hold; each hold
//     row's expiry, creation time and pool are those its hold entries record,
//     and its state agrees with when its entries gave it back (before
//     its expiry: released or captured; at or after it: expired).
//
// It also reports lots and entries whose account row is gone (up to 1,000
// such accounts).
//
// The chain makes a rewrite of history visible unless whoever rewrote it
// also recomputed every later hash and the account's head (the function
// is public), or deleted an account's last operations and rolled its
// head, seq and balance back: from inside the database such a history is
// sound. To detect that, keep an Anchor outside it and check against it
// with VerifyWith.
//
// It returns the report; an error only when the store cannot be read.
// Verify takes no locks: run it when no writes are in flight, or expect
// it to see a write half-way (a store's reads are per statement).
func (l *Ledger) Verify(ctx context.Context) (*VerifyReport, error) {
	return l.VerifyWith(ctx, nil)
}

// VerifyWith is Verify with options (nil: none), chiefly an anchor made
// earlier by Anchor (see VerifyOpts).
//
// Errors: ErrInvalidArgument for an anchor that fails Anchor.Check or
// whose digest is not opts.Digest (nothing is read then); the store's
// error when it cannot be read.
func (l *Ledger) VerifyWith(ctx context.Context, opts *VerifyOpts) (_ *VerifyReport, err error) {
	ctx, call := l.tel.begin(ctx, opVerify)
	defer func() { call.end(ctx, false, err) }()
	var anchor *anchorCheck
	if opts != nil && opts.Anchor != nil {
		if err := opts.Anchor.Check(); err != nil {
			return nil, err
		}
		if opts.Digest != "" && opts.Digest != opts.Anchor.Digest {
			return nil, fmt.Errorf("%w: anchor digest %q is not the digest kept, %q", ErrInvalidArgument, opts.Anchor.Digest, opts.Digest)
		}
		anchor = newAnchorCheck(opts.Anchor)
	} else if opts != nil && opts.Digest != "" {
		return nil, fmt.Errorf("%w: a digest (%q) without its anchor", ErrInvalidArgument, opts.Digest)
	}
	rep := &VerifyReport{}
	after := ""
	for {
		dumps, err := l.store.Scan(ctx, after, verifyChunk)
		if err != nil {
			return nil, fmt.Errorf("creditledger: verify: scan after %q: %w", after, err)
		}
		for i := range dumps {
			l.verifyAccount(rep, &dumps[i])
			if anchor != nil {
				l.verifyAnchored(rep, anchor, &dumps[i])
			}
		}
		if len(dumps) < verifyChunk {
			break
		}
		after = dumps[len(dumps)-1].Account.ID
	}
	orphans, err := l.store.Orphans(ctx, verifyOrphans)
	if err != nil {
		return nil, fmt.Errorf("creditledger: verify: lots and entries without an account: %w", err)
	}
	for _, d := range orphans {
		rep.Lots += len(d.Lots)
		rep.Entries += len(d.Entries)
		rep.Violations = append(rep.Violations, Violation{Account: d.Account.ID,
			Problem: fmt.Sprintf("has %d lots and %d entries but no account row (it was deleted)", len(d.Lots), len(d.Entries))})
	}
	if anchor != nil {
		for _, h := range anchor.missing() {
			rep.Anchored++
			rep.AnchorBroken = append(rep.AnchorBroken, h.Account)
			rep.Violations = append(rep.Violations, Violation{Account: h.Account,
				Problem: fmt.Sprintf("does not extend the anchor of %s: the anchor's head is entry %d, the account is gone", anchor.at(), h.Seq)})
		}
		slices.Sort(rep.AnchorBroken)
	}
	return rep, nil
}

// verifyAnchored checks one account against the anchor.
func (l *Ledger) verifyAnchored(rep *VerifyReport, anchor *anchorCheck, d *storage.AccountDump) {
	if _, ok := anchor.heads[d.Account.ID]; !ok {
		return
	}
	rep.Anchored++
	if problem := anchor.account(d); problem != "" {
		rep.AnchorBroken = append(rep.AnchorBroken, d.Account.ID)
		rep.Violations = append(rep.Violations, Violation{Account: d.Account.ID, Problem: problem})
	}
}

func (l *Ledger) verifyAccount(rep *VerifyReport, d *storage.AccountDump) {
	a := &d.Account
	bad := func(lot, format string, args ...any) {
		rep.Violations = append(rep.Violations, Violation{Account: a.ID, LotID: lot, Problem: fmt.Sprintf(format, args...)})
	}
	rep.Accounts++
	rep.Lots += len(d.Lots)
	rep.Entries += len(d.Entries)

	// running is each pool's booked balance after the entries read so
	// far: an entry's BalanceAfter is its pool's (with one pool, the
	// account's).
	running := map[string]int64{}
	var prev []byte
	grants := map[string]int{}
	grantAmount := map[string]int64{}
	grantEntry := map[string]*storage.Entry{}
	// lastExpiry is the last entry that set a lot's expiry: its grant or
	// a set_expiry entry.
	lastExpiry := map[string]*storage.Entry{}
	debits := map[string]int64{}
	// lotPools are the pools the entries on each lot name.
	lotPools := map[string]map[string]bool{}
	for i := range d.Entries {
		e := &d.Entries[i]
		if e.Seq != int64(i+1) {
			bad("", "entry %s has seq %d where %d was expected (an entry is missing or duplicated)", e.ID, e.Seq, i+1)
		}
		if want := storage.EntryHash(prev, e); !bytes.Equal(e.Hash, want) {
			bad("", "entry %d (%s) breaks the hash chain: it was changed, or an entry before it was removed or inserted", e.Seq, e.ID)
		}
		prev = e.Hash
		running[e.Pool] += e.Amount
		if e.BalanceAfter != running[e.Pool] {
			if e.Pool == "" {
				bad("", "entry %d has balance after %d, the entries sum to %d", e.Seq, e.BalanceAfter, running[e.Pool])
			} else {
				bad("", "entry %d has balance after %d, the entries of pool %q sum to %d", e.Seq, e.BalanceAfter, e.Pool, running[e.Pool])
			}
			running[e.Pool] = e.BalanceAfter // report each break once
		}
		if e.LotID != "" {
			if lotPools[e.LotID] == nil {
				lotPools[e.LotID] = map[string]bool{}
			}
			lotPools[e.LotID][e.Pool] = true
		}
		if e.EffectiveAt != nil && e.Kind != storage.KindGrant {
			bad(e.LotID, "%s entry %d has an effective time (only grants have one)", e.Kind, e.Seq)
		}
		switch e.Kind {
		case storage.KindPlan:
			if e.LotID != "" || e.Amount != 0 || e.Source == "" {
				bad(e.LotID, "plan entry %d has lot %q, amount %d and plan %q (want no lot, 0 and a plan)", e.Seq, e.LotID, e.Amount, e.Source)
			}
		case storage.KindGrant:
			grants[e.LotID]++
			grantAmount[e.LotID] += e.Amount
			grantEntry[e.LotID] = e
			lastExpiry[e.LotID] = e
		case storage.KindSetExpiry:
			if e.LotID == "" || e.Amount != 0 {
				bad(e.LotID, "set_expiry entry %d has lot %q and amount %d (want a lot and 0)", e.Seq, e.LotID, e.Amount)
			}
			lastExpiry[e.LotID] = e
		default:
			debits[e.LotID] += e.Amount
		}
	}
	if a.Seq != int64(len(d.Entries)) {
		bad("", "seq is %d but it has %d entries", a.Seq, len(d.Entries))
	}
	if !bytes.Equal(a.HeadHash, prev) {
		bad("", "its head hash is not the hash of its newest entry (entries were removed, added or rewritten)")
	}
	var total int64
	for _, n := range running {
		total += n
	}
	if a.Balance != total {
		bad("", "balance is %d but its entries sum to %d", a.Balance, total)
	}
	var remaining int64
	poolRemaining := map[string]int64{}
	lots := map[string]bool{}
	for _, lot := range d.Lots {
		lots[lot.ID] = true
		remaining += lot.Remaining
		poolRemaining[lot.Pool] += lot.Remaining
		switch {
		case lot.Debt:
			// A debt lot records what its pool owes: no grant, amount 0,
			// its debits (minus its credits) below 0.
			if lot.Amount != 0 || lot.Remaining > 0 {
				bad(lot.ID, "debt lot has amount %d and remaining %d (want 0 and at most 0)", lot.Amount, lot.Remaining)
			}
			if grants[lot.ID] != 0 {
				bad(lot.ID, "debt lot has %d grant entries (want none)", grants[lot.ID])
			}
		default:
			if lot.Remaining < 0 || lot.Remaining > lot.Amount {
				bad(lot.ID, "remaining %d is outside [0, %d]", lot.Remaining, lot.Amount)
			}
			if grants[lot.ID] != 1 || grantAmount[lot.ID] != lot.Amount {
				bad(lot.ID, "has %d grant entries summing to %d for an amount of %d", grants[lot.ID], grantAmount[lot.ID], lot.Amount)
			}
		}
		if g := lastExpiry[lot.ID]; g != nil && !timeEqual(g.ExpiresAt, lot.ExpiresAt) {
			if g.Kind == storage.KindGrant {
				bad(lot.ID, "expires at %s but its grant entry says %s", fmtExpiry(lot.ExpiresAt), fmtExpiry(g.ExpiresAt))
			} else {
				bad(lot.ID, "expires at %s but its last %s entry (%d) says %s", fmtExpiry(lot.ExpiresAt), g.Kind, g.Seq, fmtExpiry(g.ExpiresAt))
			}
		}
		if g := grantEntry[lot.ID]; g != nil {
			if g.Pool != lot.Pool {
				bad(lot.ID, "is in pool %q but its grant entry says %q", lot.Pool, g.Pool)
			}
			if !timeEqual(g.EffectiveAt, lot.EffectiveAt) {
				bad(lot.ID, "is effective from %s but its grant entry says %s", fmtEffective(lot.EffectiveAt), fmtEffective(g.EffectiveAt))
			}
		}
		for p := range lotPools[lot.ID] {
			if p != lot.Pool {
				bad(lot.ID, "is in pool %q but an entry on it says %q", lot.Pool, p)
			}
		}
		if want := lot.Amount + debits[lot.ID]; lot.Remaining != want {
			bad(lot.ID, "remaining is %d but amount plus its debits is %d", lot.Remaining, want)
		}
		if lot.Remaining > 0 && lot.ExpiresAt != nil && (a.NextExpiryAt == nil || a.NextExpiryAt.After(*lot.ExpiresAt)) {
			bad(lot.ID, "expires at %s, before the account's next expiry time", lot.ExpiresAt)
		}
	}
	if a.Balance != remaining {
		bad("", "balance is %d but its lots' remaining sum to %d", a.Balance, remaining)
	}
	for _, p := range sortedKeys(running, poolRemaining) {
		if running[p] != poolRemaining[p] {
			bad("", "pool %q: its entries sum to %d but its lots' remaining sum to %d", p, running[p], poolRemaining[p])
		}
	}
	for lotID := range grants {
		if !lots[lotID] {
			bad(lotID, "has a grant entry but no lot")
		}
	}
	for lotID := range debits {
		if !lots[lotID] {
			bad(lotID, "has debit entries but no lot")
		}
	}
	verifyHolds(d, bad)
}

// sortedKeys returns the keys of a and b, each once, in order.
func sortedKeys(a, b map[string]int64) []string {
	keys := make([]string, 0, len(a)+len(b))
	for k := range a {
		keys = append(keys, k)
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return keys
}

func fmtEffective(t *time.Time) string {
	if t == nil {
		return "its creation"
	}
	return t.UTC().Format(time.RFC3339Nano)
}

func fmtExpiry(t *time.Time) string {
	if t == nil {
		return "never"
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// verifyHolds checks an account's holds against its entries (see Verify).
func verifyHolds(d *storage.AccountDump, bad func(lot, format string, args ...any)) {
	a := &d.Account
	type sums struct {
		held     map[string]int64 // per lot, by hold entries
		released int64
		captured int64
		// What the chain says of the hold: its expiry and creation (on
		// its hold entries), when its first release entry was written.
		expiresAt, createdAt *time.Time
		releasedAt           *time.Time
		pool                 string // of its hold entries
	}
	byHold := map[string]*sums{}
	get := func(id string) *sums {
		s := byHold[id]
		if s == nil {
			s = &sums{held: map[string]int64{}}
			byHold[id] = s
		}
		return s
	}
	for i := range d.Entries {
		e := &d.Entries[i]
		switch e.Kind {
		case storage.KindHold:
			s := get(e.OperationID)
			s.held[e.LotID] -= e.Amount
			s.pool = e.Pool
			s.expiresAt, s.createdAt = e.ExpiresAt, &e.CreatedAt
		case storage.KindRelease:
			s := get(e.Ref)
			s.released += e.Amount
			if s.releasedAt == nil {
				s.releasedAt = &e.CreatedAt
			}
		case storage.KindCapture:
			get(e.Ref).captured -= e.Amount
		}
	}
	known := map[string]bool{}
	for i := range d.Holds {
		h := &d.Holds[i]
		known[h.ID] = true
		s := get(h.ID)
		lines := map[string]int64{}
		var total int64
		for _, ln := range h.Lines {
			if ln.Amount <= 0 {
				bad(ln.LotID, "hold %s has a line of %d", h.ID, ln.Amount)
			}
			lines[ln.LotID] += ln.Amount
			total += ln.Amount
		}
		if total != h.Amount {
			bad("", "hold %s holds %d but its lines sum to %d", h.ID, h.Amount, total)
		}
		for lot, n := range lines {
			if s.held[lot] != n {
				bad(lot, "hold %s says it took %d from the lot, its hold entries took %d", h.ID, n, s.held[lot])
			}
		}
		for lot, n := range s.held {
			if lines[lot] == 0 && n != 0 {
				bad(lot, "hold %s's hold entries took %d from a lot it has no line on", h.ID, n)
			}
		}
		// The hold row's times and state against the chain's (hashed,
		// so they cannot be changed unseen): an active hold's expiry
		// moved later would hold credits past their time; a released
		// hold relabelled expired (or the reverse) rewrites what
		// happened.
		if s.expiresAt != nil && !s.expiresAt.Equal(h.ExpiresAt) {
			bad("", "hold %s expires at %s but its hold entries say %s", h.ID,
				h.ExpiresAt.UTC().Format(time.RFC3339Nano), s.expiresAt.UTC().Format(time.RFC3339Nano))
		}
		if s.createdAt != nil && s.pool != h.Pool {
			bad("", "hold %s is in pool %q but its hold entries say %q", h.ID, h.Pool, s.pool)
		}
		if s.createdAt != nil && !s.createdAt.Equal(h.CreatedAt) {
			bad("", "hold %s was created at %s but its hold entries say %s", h.ID,
				h.CreatedAt.UTC().Format(time.RFC3339Nano), s.createdAt.UTC().Format(time.RFC3339Nano))
		}
		if s.releasedAt != nil && s.expiresAt != nil {
			// A write sweeps an expired hold before anything else, so
			// a hold given back before its expiry was released or
			// captured, and one given back at or after it expired.
			early := s.releasedAt.Before(*s.expiresAt)
			switch {
			case h.State == storage.HoldExpired && early:
				bad("", "hold %s is expired but its entries gave it back at %s, before its expiry %s (it was released or captured)", h.ID,
					s.releasedAt.UTC().Format(time.RFC3339Nano), s.expiresAt.UTC().Format(time.RFC3339Nano))
			case (h.State == storage.HoldReleased || h.State == storage.HoldCaptured) && !early:
				bad("", "hold %s is %s but its entries gave it back at %s, at or after its expiry %s (it expired)", h.ID, h.State,
					s.releasedAt.UTC().Format(time.RFC3339Nano), s.expiresAt.UTC().Format(time.RFC3339Nano))
			}
		}
		switch h.State {
		case storage.HoldActive:
			if s.released != 0 || s.captured != 0 {
				bad("", "hold %s is active but entries released %d and captured %d of it", h.ID, s.released, s.captured)
			}
			if a.NextExpiryAt == nil || a.NextExpiryAt.After(h.ExpiresAt) {
				bad("", "hold %s expires at %s, before the account's next expiry time", h.ID, h.ExpiresAt)
			}
		case storage.HoldCaptured, storage.HoldReleased, storage.HoldExpired:
			if s.released != h.Amount {
				bad("", "hold %s is %s but its release entries gave back %d of %d", h.ID, h.State, s.released, h.Amount)
			}
			if s.captured != h.Captured {
				bad("", "hold %s captured %d but its capture entries spent %d", h.ID, h.Captured, s.captured)
			}
			if h.State != storage.HoldCaptured && h.Captured != 0 {
				bad("", "hold %s is %s with %d captured", h.ID, h.State, h.Captured)
			}
		default:
			bad("", "hold %s has an unknown state %q", h.ID, h.State)
		}
	}
	for id := range byHold {
		if !known[id] {
			bad("", "entries name hold %s, which does not exist", id)
		}
	}
}
