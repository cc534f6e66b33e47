// Package storage defines what a creditledger store persists and the
// interface every store implements.
//
// The ledger package owns every business rule: burn order, expiry, which
// grants are due, idempotency, invariants. A store persists records, locks
// accounts and answers queries. The interface is shaped so that a SQL store
// can run each ledger operation as one database transaction of a few
// statements (lock, load, apply), and so that the distribution can write
// thousands of lots, entries and account updates with one [Tx.Apply].
//
// Amounts are int64 minor units here: the ledger converts between
// decimal.Decimal and minor units with its configured scale. Times are UTC
// with microsecond precision (the precision PostgreSQL keeps).
package storage

import (
	"context"
	"time"
)

// Store is implemented by every storage backend. All methods are safe for
// concurrent use.
type Store interface {
	// Init prepares the store for a ledger with the given scale and
	// records the scale on first use. A store that already holds data of
	// another scale returns an error wrapping ErrScaleMismatch.
	Init(ctx context.Context, scale int32) error

	// Tx runs fn in one transaction. If fn returns an error the
	// transaction is rolled back and nothing fn did is kept. A store may
	// run fn again when the database reports a deadlock or serialization
	// failure, so fn must have no effect outside tx. A store bound to a
	// host transaction runs fn inside it and does not retry.
	Tx(ctx context.Context, fn func(ctx context.Context, tx Tx) error) error

	// Account returns an account, or an error wrapping ErrNotFound.
	Account(ctx context.Context, id string) (*Account, error)
	// Lots returns lots of an account in no particular order: with
	// OnlyOpen, those with remaining > 0 that are not expired at Now
	// (Now zero: expired ones too), and open debt lots (remaining < 0).
	Lots(ctx context.Context, q LotQuery) ([]Lot, error)
	// Entries returns the entries of an account by descending Seq,
	// starting below q.BeforeSeq (0: from the newest), at most q.Limit,
	// only those of pool *q.Pool when q.Pool is not nil.
	Entries(ctx context.Context, q EntryQuery) ([]Entry, error)
	// OperationEntries returns the entries an operation wrote, by
	// ascending Seq.
	OperationEntries(ctx context.Context, account, operationID string) ([]Entry, error)
	// Scan returns accounts with ID > after in ID order, at most limit,
	// with all their lots and entries; it is how Verify walks a store.
	Scan(ctx context.Context, after string, limit int) ([]AccountDump, error)
	// AccountWithOpenLots returns an account and its open lots at now:
	// remaining > 0 and not expired at now, and open debt lots
	// (remaining < 0), in no particular order; the
	// same as Account then Lots with OnlyOpen and Now, read at once (one
	// round trip on a SQL store: it is every Ledger.Balance). An unknown
	// account is an error wrapping ErrNotFound.
	AccountWithOpenLots(ctx context.Context, id string, now time.Time) (*Account, []Lot, error)

	// MaxParallelTx is how many transactions one Ledger.Distribute or
	// ExpireDue call may run at once, each serving its own chunk of
	// accounts (claimed with row locks that the others skip, as replicas
	// share a run). A store whose transactions are serialized (memory,
	// SQLite), or one bound to a single transaction, returns 1.
	MaxParallelTx() int

	// Orphans returns, for at most limit account ids that have lots or
	// entries but no account row, dumps with Missing set and Account.ID
	// the id (its other fields zero), with those lots and entries. A
	// store that cannot lose an account row (memory) returns none.
	Orphans(ctx context.Context, limit int) ([]AccountDump, error)
	// Holds returns holds of an account (see HoldQuery) by CreatedAt,
	// then ID; none for an unknown account or hold.
	Holds(ctx context.Context, q HoldQuery) ([]Hold, error)

	// Bound reports whether the store runs every Tx inside a transaction
	// of its host (bunstore's Store.WithTx) rather than one of its own.
	// The ledger then never shares a transaction between calls (group
	// commit: the host's transaction is the host's), and never takes a
	// row lock only to read (Balance), since on a bound store a lock
	// lasts until the host commits. A store that always begins its own
	// transactions (memory) returns false. (v0.3)
	Bound() bool
	// EventStore delivers the outbox (events.go).
	EventStore
}

// Tx is a transaction of a Store, and with Store the whole contract a
// store implements: every method is required, and the ledger never asks a
// store for more. Its methods must be called from the goroutine running
// the function passed to Store.Tx.
//
// The methods are shaped like the ledger's round trips: a single-account
// write is LockAndLoad then Apply (two round trips on a SQL store that
// defers Apply to its COMMIT); a distribution chunk is ClaimAccounts, Load
// and Apply.
//
// Visibility: what a Tx loads after locking accounts (LockAndLoad, or
// LockAccounts or ClaimAccounts then Load) is what the holders of those
// locks committed before the locks were granted, never an older snapshot.
// A SQL store at READ COMMITTED gets this by reading in statements that
// start after the lock is held; a store whose one statement both locks
// and reads must take its snapshot after the lock (see bunstore's
// creditledger_lock_and_load).
type Tx interface {
	// LockAccounts locks the named accounts for the rest of the
	// transaction and returns those that exist, in ID order. With create,
	// missing accounts are created first (Balance 0, no plan, CreatedAt
	// now) and all are returned. Stores lock in ID order so that two
	// transactions locking overlapping sets cannot deadlock.
	LockAccounts(ctx context.Context, ids []string, create bool, now time.Time) ([]Account, error)

	// LockAndLoad is LockAccounts(ctx, ids, create, now) followed by
	// Load(ctx, q), with the same results and the visibility guarantee
	// above, in one call (one round trip on a SQL store).
	LockAndLoad(ctx context.Context, ids []string, create bool, now time.Time, q LoadQuery) ([]Account, *Loaded, error)

	// ClaimAccounts locks and returns up to q.Limit accounts with ID >
	// q.After, in ID order, that need work at q.Now: NextGrantAt at or
	// before Now (if q.Grants), or NextExpiryAt at or before Now (if
	// q.Expiry). Unless q.Wait, accounts locked by another transaction
	// are skipped rather than waited for, so concurrent runs share the
	// work (a store whose transactions are serialized never meets one).
	ClaimAccounts(ctx context.Context, q ClaimQuery) ([]Account, error)

	// Load returns, for the locked accounts, their lots with remaining !=
	// 0 (expired or not; open debt lots have remaining < 0), and the calls among q.Keys that exist (read
	// from their first entries); and what q asks of holds (q.HoldsOf:
	// those in state HoldActive, expired or not; q.Holds: by ID, in any
	// state), of lots by ID (q.Lots) and of entries by operation
	// (q.Refs). Unknown ones are left out.
	Load(ctx context.Context, q LoadQuery) (*Loaded, error)

	// Apply writes a batch: lots, entries, lot debits and account
	// updates, all or nothing. A store may check the batch at once and
	// defer the write to the transaction's commit (or to its next
	// statement); the errors the write would cause are then returned by
	// Store.Tx instead, and nothing of the transaction is committed.
	//
	// Errors (from Apply or from Store.Tx): an entry whose key exists on
	// its account or repeats within the batch wraps ErrDuplicateKey; a
	// debit of an unknown lot (of that account) or an update of an
	// unknown account wraps ErrNotFound; a debit <= 0 wraps
	// ErrInvalidAmount; an entry without a Hash, or text a store cannot
	// hold, wraps ErrInvalidArgument; a debit past a lot's remaining is
	// an error. Text: every store holds valid UTF-8 without NUL bytes, of
	// any length the ledger allows, exactly as given (quotes, backslashes,
	// "?" and the like included); a store may refuse other text (see
	// CheckText) with ErrInvalidArgument. The records of one batch obey
	// the rules of Batch.
	//
	// Holds: a lot's debits and credits apply as their net, which must
	// leave its remaining within [0, amount] (a debt lot's at or below 0;
	// past it is an error); a
	// credit <= 0 wraps ErrInvalidAmount; a hold update of a hold that
	// does not exist or is not HoldActive wraps ErrNotFound; a new hold
	// that exists is an error.
	Apply(ctx context.Context, b *Batch) error
}

// ClaimQuery selects the accounts a distribution chunk works on.
type ClaimQuery struct {
	Now    time.Time
	After  string // keyset cursor: only IDs greater than this
	Limit  int
	Grants bool // accounts whose NextGrantAt is due
	Expiry bool // accounts whose NextExpiryAt is due
	// Wait makes the claim wait for accounts locked by others instead of
	// skipping them; an account that another transaction made not due
	// while we waited is then not returned. The distribution's last pass
	// uses it so that no due account is left behind a lock.
	Wait bool
}

// LoadQuery says what Tx.Load reads.
type LoadQuery struct {
	LotsOf []string     // accounts whose open lots to load
	Keys   []AccountKey // idempotency keys of calls to look up
	// HoldsOf are accounts whose holds in state HoldActive to load.
	HoldsOf []string
	// Holds are holds to load by ID, in any state.
	Holds []AccountID
	// Lots are lots to load by ID, whatever their remaining.
	Lots []AccountID
	// Refs are operations whose entries to load: those the operation
	// wrote and those whose Ref names it.
	Refs []AccountID

	// Notices are lots whose notice to look up (events.go): Loaded.Notices
	// has those of them that have one.
	Notices []AccountID
}

// AccountKey is an idempotency key of one account. Keys are scoped per
// account: the same key on two accounts names two calls.
type AccountKey struct {
	Account string
	Key     string
}

// AccountID names a hold, a lot or an operation of one account by its ID.
type AccountID struct {
	Account string
	ID      string
}

// Loaded is what Tx.Load read.
type Loaded struct {
	// Lots are the open lots of LotsOf (remaining != 0) and the lots of
	// Lots (any remaining), any order; a lot asked both ways may come
	// twice.
	Lots       []Lot
	Operations []Operation // the calls of the keys that exist, any order
	Holds      []Hold      // of HoldsOf and Holds, each once, any order
	Entries    []Entry     // of Refs, by account then ascending Seq
	Notices    []AccountID // of Notices, those noticed, any order
}

// LotQuery selects lots of one account.
type LotQuery struct {
	Account  string
	OnlyOpen bool
	Now      time.Time
}

// EntryQuery selects a page of an account's entries.
type EntryQuery struct {
	Account   string
	BeforeSeq int64
	Limit     int
	// Pool, when not nil, keeps the entries of that pool only ("" is the
	// default pool); nil: every pool.
	Pool *string
}

// Account is the stored state of one account.
type Account struct {
	ID     string
	Plan   string    // "" when none was set
	Anchor time.Time // when the plan started; zero when none
	// Balance is the sum of remaining of all lots, expired or not, over
	// every pool; debt lots make it lower and may make it negative.
	Balance int64
	Seq     int64 // Seq of the account's newest entry
	// HeadHash is the Hash of the account's newest entry (nil before its
	// first entry): the head of its hash chain.
	HeadHash  []byte
	CreatedAt time.Time
	// NextGrantAt is when the distribution next owes this account a
	// grant; nil when it owes none.
	NextGrantAt *time.Time
	// NextExpiryAt is at or before the soonest expiry of an open lot; nil
	// when no open lot expires. It may be early, never late.
	NextExpiryAt *time.Time
	// MultiPool is set once the account has had a lot or hold outside the
	// default pool "", and never cleared. While false, Balance is the
	// default pool's balance, so a write can know it without loading the
	// account's lots.
	MultiPool bool
}

// Lot is one grant and what remains of it.
type Lot struct {
	ID          string
	Account     string
	OperationID string
	Source      string
	Amount      int64
	Remaining   int64
	Priority    int
	ExpiresAt   *time.Time
	CreatedAt   time.Time

	// Pool is the credit pool the lot belongs to ("" is the default
	// pool). A debit or hold in one pool draws only on its lots.
	Pool string
	// EffectiveAt is when the lot becomes spendable (a dated grant); nil:
	// from its creation. Before it the lot is not spendable, exact to the
	// instant (see Effective).
	EffectiveAt *time.Time
	// Debt marks a lot that records what its pool owes under an
	// overdraft: Amount 0 and Remaining <= 0 (minus the debt). Debits
	// lower it (more debt), credits raise it back toward 0 (paying it).
	// Other lots keep 0 <= Remaining <= Amount.
	Debt bool
}

// Effective reports whether the lot is spendable at now as far as its
// EffectiveAt goes: nil, or at or before now.
func (l *Lot) Effective(now time.Time) bool {
	return l.EffectiveAt == nil || !l.EffectiveAt.After(now)
}

// Expired reports whether the lot is expired at now: expiry is exact to
// the instant, so a lot expiring at now is expired.
func (l *Lot) Expired(now time.Time) bool {
	return l.ExpiresAt != nil && !l.ExpiresAt.After(now)
}

// EntryKind says what an entry records.
type EntryKind string

// The kinds of entries.
const (
	KindGrant   EntryKind = "grant"
	KindConsume EntryKind = "consume"
	KindExpire  EntryKind = "expire"
	// KindPlan records a change of the account's plan or anchor (SetPlan,
	// SetPlans), so that the history says which plan the account was on
	// when: Amount 0, no lot, Source the new plan's id, and in Metadata
	// the new anchor (MetaPlanAnchor) and the plan before the change
	// (MetaPreviousPlan, "" for none). It is hashed into the chain like
	// every entry. Databases of v0.2 have none: a plan set then has no
	// entry until it next changes.
	KindPlan EntryKind = "plan"
)

// The metadata keys of a KindPlan entry.
const (
	MetaPlanAnchor   = "anchor"        // RFC 3339 (UTC, microseconds)
	MetaPreviousPlan = "previous_plan" // the plan before the change
)

// Entry is one immutable line of an account's history.
//
// The first entry a call writes also records the call: its idempotency
// key, the hash of its parameters and the available balance after it (a
// replay answers from them), so that no row is written per call beyond
// its entries. The other entries of the call leave those fields zero.
type Entry struct {
	ID          string
	Account     string
	Seq         int64 // 1, 2, 3... per account, in the order written
	OperationID string
	LotID       string
	Kind        EntryKind
	Amount      int64 // signed: grants positive, consumes and expiries negative
	// BalanceAfter is the booked balance of the entry's pool after this
	// entry: the sum of remaining of the pool's lots. With one pool (every
	// v0.2 account) it is the account's Balance after the entry.
	BalanceAfter int64
	Source       string
	Description  string
	Metadata     map[string]string
	CreatedAt    time.Time

	// ExpiresAt is, on a grant entry, the expiry of the lot it created
	// (nil: never); on a hold entry the hold's expiry; nil on other
	// kinds. It is hashed, so a lot's expiry
	// can be checked against its history.
	ExpiresAt *time.Time

	// Key is the call's idempotency key ("" for none), on the first entry
	// of a call only; unique per account.
	Key string
	// ParamHash is the hash of the call's parameters, on the first entry
	// of a keyed call only.
	ParamHash string
	// Available is the available balance after the call of the pool the
	// call was in (with one pool, the account's), on the first entry of a
	// call only.
	Available int64

	// Ref names the operation an entry answers: on release and capture
	// entries the hold's ID, on reverse entries the reversed operation's
	// ID; "" otherwise. It is hashed.
	Ref string

	// Hash is EntryHash(previous entry's Hash, this entry): every entry
	// of an account chains to the one before it (see EntryHash).
	Hash []byte

	// Pool is the credit pool of the entry's lot or hold ("" is the
	// default pool). It is hashed when set (see EntryHash).
	Pool string
	// Feature and Quantity record a consume or hold priced by a feature
	// of the catalog: its id and the quantity as canonical decimal text
	// ("" when none). Hashed when set.
	Feature  string
	Quantity string
	// EffectiveAt is, on a grant entry, the EffectiveAt of the lot it
	// created (nil: from creation). Hashed when set.
	EffectiveAt *time.Time
}

// Operation is a call found by its idempotency key: what its first entry
// recorded about it.
type Operation struct {
	ID        string
	Key       string // idempotency key
	Kind      EntryKind
	Account   string
	Hash      string // hash of the call's parameters
	Available int64  // the account's available balance after the call
	Seq       int64  // Seq of the call's first entry
	CreatedAt time.Time
}

// LotDebit lowers a lot's remaining by Amount (> 0).
type LotDebit struct {
	Account string
	LotID   string
	Amount  int64
}

// AccountUpdate sets the mutable fields of a locked account.
type AccountUpdate struct {
	ID      string
	Balance int64
	Seq     int64
	// HeadHash is the Hash of the account's newest entry after the
	// batch; nil leaves the stored head as it is (an update that writes
	// no entry).
	HeadHash     []byte
	NextGrantAt  *time.Time
	NextExpiryAt *time.Time
	// MultiPool true sets the account's MultiPool; false leaves it as it
	// is (it is never cleared).
	MultiPool bool
	// SetPlan, when true, also sets Plan and Anchor.
	SetPlan bool
	Plan    string
	Anchor  time.Time
}

// Batch is the set of writes Tx.Apply makes in one go. Its records may
// name each other, and a store must honour these rules (storetest's
// batch.go checks each):
//
//   - Every write of the batch sees the database as it was before the
//     batch, plus the rules below; a store that writes it as set-based
//     statements over that state must fold the records first.
//   - A lot the batch inserts may be debited (and credited) by the same
//     batch: it is stored with its Remaining less the net debit, which
//     must stay within [0, Amount] like any lot's.
//   - A lot's debits and credits apply as their net sum, and only the net
//     must keep its remaining within [0, amount]; a net of zero writes
//     nothing, and a batch of only such changes writes nothing.
//   - Two or more updates of one account: the last one given is the
//     account's new state, the others are not applied.
//   - A hold the batch creates may be ended by the same batch: it is
//     stored ended, as the update says. A hold ended twice in one batch
//     is refused (ErrNotFound): the second update finds it not active.
//   - Keys repeat within a batch no more than across batches
//     (ErrDuplicateKey).
//   - A lot expiry change applies to a stored lot or to one the batch
//     inserts (which is then stored with the new expiry); two changes of
//     one lot: the last one given wins.
//
// Within one transaction, an Apply and every later read or Apply see what
// earlier Applies wrote. After an Apply fails, the transaction must not
// commit: Store.Tx returns the error (a store may refuse later Applies).
type Batch struct {
	Lots     []Lot
	Entries  []Entry
	Debits   []LotDebit
	Accounts []AccountUpdate
	// Credits give credits back to lots (releases, reversals); a lot's
	// debits and credits of one batch apply as their net sum.
	Credits []LotCredit
	// Holds are new holds (State HoldActive).
	Holds []Hold
	// HoldUpdates end active holds.
	HoldUpdates []HoldUpdate
	// LotExpiries change the expiry of existing lots (SetLotExpiry); an
	// unknown lot of that account wraps ErrNotFound.
	LotExpiries []LotExpiry

	// Events are appended to the outbox (events.go); the store assigns
	// their Seq and delivery state.
	Events []Event
	// Notices record that lots' credits.expiring events were written; a
	// lot already noticed is left as it is.
	Notices []LotNotice
}

// Empty reports whether the batch writes nothing.
func (b *Batch) Empty() bool {
	return len(b.Lots) == 0 && len(b.Entries) == 0 &&
		len(b.Debits) == 0 && len(b.Accounts) == 0 &&
		len(b.Credits) == 0 && len(b.Holds) == 0 && len(b.HoldUpdates) == 0 &&
		len(b.LotExpiries) == 0 &&
		len(b.Events) == 0 && len(b.Notices) == 0
}

// AccountDump is an account with its whole history, for Verify.
type AccountDump struct {
	Account Account
	Missing bool // no account row: only Account.ID is set (Orphans)
	Lots    []Lot
	Entries []Entry // ascending Seq
	Holds   []Hold  // every hold, in any state, by CreatedAt then ID
}
