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
	// (Now zero: expired ones too).
	Lots(ctx context.Context, q LotQuery) ([]Lot, error)
	// Entries returns the entries of an account by descending Seq,
	// starting below q.BeforeSeq (0: from the newest), at most q.Limit.
	Entries(ctx context.Context, q EntryQuery) ([]Entry, error)
	// OperationEntries returns the entries an operation wrote, by
	// ascending Seq.
	OperationEntries(ctx context.Context, account, operationID string) ([]Entry, error)
	// Scan returns accounts with ID > after in ID order, at most limit,
	// with all their lots and entries; it is how Verify walks a store.
	Scan(ctx context.Context, after string, limit int) ([]AccountDump, error)
	// Orphans returns, for at most limit account ids that have lots or
	// entries but no account row, dumps with Missing set and Account.ID
	// the id (its other fields zero), with those lots and entries. A
	// store that cannot lose an account row (memory) returns none.
	Orphans(ctx context.Context, limit int) ([]AccountDump, error)
}

// BalanceReader is an optional interface of a Store, for reads of a
// balance in one query. Ledger.Balance uses it when the store implements
// it, and otherwise calls Store.Account and Store.Lots (two queries).
type BalanceReader interface {
	// AccountWithOpenLots returns an account and its open lots at now:
	// remaining > 0 and not expired at now, in no particular order; the
	// same as Account then Lots with OnlyOpen and Now, read at once. An
	// unknown account is an error wrapping ErrNotFound.
	AccountWithOpenLots(ctx context.Context, id string, now time.Time) (*Account, []Lot, error)
}

// Parallel is an optional interface of a Store that can usefully run
// several transactions at once. Ledger.Distribute and ExpireDue then serve
// up to MaxParallelTx chunks of accounts at once, each in its own
// transaction (claimed with row locks that the others skip, as replicas
// share a run); a store that does not implement it, or returns 1, gets
// one chunk at a time. A store bound to one transaction must return 1.
type Parallel interface {
	MaxParallelTx() int
}

// LockLoader is an optional interface of a Tx that can lock accounts and
// load what a write needs in one round trip. The ledger's single-account
// writes (Grant, Consume) use it when the Tx implements it, and otherwise
// call LockAccounts then Load.
type LockLoader interface {
	// LockAndLoad is LockAccounts(ctx, ids, create, now) followed by
	// Load(ctx, q), with the same results and the same guarantee: what
	// it loads is what the holders of the locks committed before they
	// were granted. q.LotsOf must be among ids.
	LockAndLoad(ctx context.Context, ids []string, create bool, now time.Time, q LoadQuery) ([]Account, *Loaded, error)
}

// CommitApplier is an optional interface of a Tx that can send a batch
// together with the transaction's COMMIT, which saves a round trip. The
// ledger calls it for the last write of a transaction, and Apply
// otherwise.
type CommitApplier interface {
	// ApplyOnCommit checks b as Apply does and writes it when the
	// transaction commits (or before the transaction's next statement).
	// Errors that Apply would return for the write itself (wrapping
	// ErrDuplicateKey, ErrNotFound, ...) are then returned by Store.Tx,
	// and nothing of the transaction is committed.
	ApplyOnCommit(ctx context.Context, b *Batch) error
}

// Tx is a transaction of a Store. Its methods must be called from the
// goroutine running the function passed to Store.Tx.
type Tx interface {
	// LockAccounts locks the named accounts for the rest of the
	// transaction and returns those that exist, in ID order. With create,
	// missing accounts are created first (Balance 0, no plan, CreatedAt
	// now) and all are returned. Stores lock in ID order so that two
	// transactions locking overlapping sets cannot deadlock.
	LockAccounts(ctx context.Context, ids []string, create bool, now time.Time) ([]Account, error)

	// ClaimAccounts locks and returns up to q.Limit accounts with ID >
	// q.After, in ID order, that need work at q.Now: NextGrantAt at or
	// before Now (if q.Grants), or NextExpiryAt at or before Now (if
	// q.Expiry). Unless q.Wait, accounts locked by another transaction
	// are skipped rather than waited for, so concurrent runs share the
	// work.
	ClaimAccounts(ctx context.Context, q ClaimQuery) ([]Account, error)

	// Load returns, for the locked accounts, their lots with remaining >
	// 0 (expired or not), and the operations among keys that exist.
	Load(ctx context.Context, q LoadQuery) (*Loaded, error)

	// Apply writes a batch: lots, entries, lot debits and account
	// updates. An entry whose key exists on its account (or repeats within
	// the batch) fails the whole batch with an error wrapping
	// ErrDuplicateKey.
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
}

// AccountKey is an idempotency key of one account. Keys are scoped per
// account: the same key on two accounts names two calls.
type AccountKey struct {
	Account string
	Key     string
}

// Loaded is what Tx.Load read.
type Loaded struct {
	Lots       []Lot       // remaining > 0, any order
	Operations []Operation // the calls of the keys that exist, any order
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
}

// Account is the stored state of one account.
type Account struct {
	ID      string
	Plan    string    // "" when none was set
	Anchor  time.Time // when the plan started; zero when none
	Balance int64     // sum of remaining of all lots, expired or not
	Seq     int64     // Seq of the account's newest entry
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
)

// Entry is one immutable line of an account's history.
//
// The first entry a call writes also records the call: its idempotency
// key, the hash of its parameters and the available balance after it (a
// replay answers from them), so that no row is written per call beyond
// its entries. The other entries of the call leave those fields zero.
type Entry struct {
	ID           string
	Account      string
	Seq          int64 // 1, 2, 3... per account, in the order written
	OperationID  string
	LotID        string
	Kind         EntryKind
	Amount       int64 // signed: grants positive, consumes and expiries negative
	BalanceAfter int64 // the account's Balance after this entry
	Source       string
	Description  string
	Metadata     map[string]string
	CreatedAt    time.Time

	// ExpiresAt is, on a grant entry, the expiry of the lot it created
	// (nil: never); nil on other kinds. It is hashed, so a lot's expiry
	// can be checked against its history.
	ExpiresAt *time.Time

	// Key is the call's idempotency key ("" for none), on the first entry
	// of a call only; unique per account.
	Key string
	// ParamHash is the hash of the call's parameters, on the first entry
	// of a keyed call only.
	ParamHash string
	// Available is the account's available balance after the call, on
	// the first entry of a call only.
	Available int64

	// Hash is EntryHash(previous entry's Hash, this entry): every entry
	// of an account chains to the one before it (see EntryHash).
	Hash []byte
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
	// SetPlan, when true, also sets Plan and Anchor.
	SetPlan bool
	Plan    string
	Anchor  time.Time
}

// Batch is the set of writes Tx.Apply makes in one go.
type Batch struct {
	Lots     []Lot
	Entries  []Entry
	Debits   []LotDebit
	Accounts []AccountUpdate
}

// Empty reports whether the batch writes nothing.
func (b *Batch) Empty() bool {
	return len(b.Lots) == 0 && len(b.Entries) == 0 &&
		len(b.Debits) == 0 && len(b.Accounts) == 0
}

// AccountDump is an account with its whole history, for Verify.
type AccountDump struct {
	Account Account
	Missing bool // no account row: only Account.ID is set (Orphans)
	Lots    []Lot
	Entries []Entry // ascending Seq
}
