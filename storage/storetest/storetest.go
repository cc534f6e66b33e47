// Package storetest is the conformance suite every storage.Store must
// pass. A store's tests call Exercise with a function returning a fresh,
// empty store and what the store supports:
//
//	func TestConformance(t *testing.T) {
//		storetest.Exercise(t, func(t *testing.T) storage.Store { return memory.New() }, storetest.Capabilities{})
//	}
//
// The suite checks the storage contract itself, every method of
// storage.Store and storage.Tx and every rule of storage.Batch, one file
// per concept: accounts.go (lock, lock and load, balances), claim.go
// (claims, their skip-locked and Wait behaviour), visibility.go (a load
// sees what the lock holder committed), apply.go (batches, atomicity,
// rollback, concurrent increments), batch.go (the rules a batch's records
// obey together), text.go (hostile text in every text field), reads.go
// (lots, entries, calls, scans), holds.go (holds, lot credits), errors.go
// (each error sentinel, nothing written; keys per account) and init.go
// (scale). A new store (MySQL, a Citus-distributed PostgreSQL) can be
// written from the interface and this suite. The ledger's rules on top of
// it are tested in the ledger package against every store.
package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/creditledger/creditledger/storage"
)

// NewStore returns a fresh, empty store, registering its cleanup on t.
type NewStore func(t *testing.T) storage.Store

var t0 = time.Date(2026, 11, 10, 12, 0, 0, 0, time.UTC)

// Capabilities say what a store supports, as the caller of Exercise
// knows it, so that the suite checks each behaviour where the store has
// it instead of guessing from the store.
type Capabilities struct {
	// ConcurrentTx: transactions run at once, each blocking only on the
	// row locks it meets (PostgreSQL). False: a store serializes its
	// transactions (memory, SQLite), so a transaction waits for another
	// whole; the suite then checks the outcome of the cases on locks, not
	// that they block.
	ConcurrentTx bool
	// OneTransaction: the store runs every Tx inside one host transaction
	// (bunstore's WithTx on a bun.Tx), so two of its transactions cannot
	// overlap: the cases that run transactions at once are left out.
	OneTransaction bool
}

// Exercise runs the whole suite, each case as a parallel subtest with a
// store of its own, the cases caps allows.
func Exercise(t *testing.T, newStore NewStore, caps Capabilities) {
	t.Helper()
	type testCase struct {
		name string
		fn   func(t *testing.T, s storage.Store)
		// overlapping: the case runs transactions at once.
		overlapping bool
	}
	cases := []testCase{
		{"InitScale", testInitScale, false},
		{"LockAccountsCreates", testLockAccountsCreates, false},
		{"ApplyAndRead", testApplyAndRead, false},
		{"ApplyIsAtomic", testApplyIsAtomic, false},
		{"TxRollsBackOnError", testTxRollsBack, false},
		{"DuplicateKey", testDuplicateKey, false},
		{"ClaimAccounts", testClaimAccounts, false},
		{"LotsExpiryExact", testLotsExpiryExact, false},
		{"EntriesPaging", testEntriesPaging, false},
		{"Scan", testScan, false},
		{"ValuesRoundTrip", testValuesRoundTrip, false},
		{"ConcurrentLockedIncrements", testConcurrentIncrements, true},
		{"LockAndLoad", testLockAndLoad, false},
		{"AccountWithOpenLots", testAccountWithOpenLots, false},
		{"LockHolderCommitVisible", wait(caps, testLockHolderCommitVisible), true},
		{"ClaimSkipsLocked", wait(caps, testClaimSkipsLocked), true},
		{"ClaimWaits", wait(caps, testClaimWaits), true},
		{"ErrorSentinels", testErrorSentinels, false},
		{"OperationEntries", testOperationEntries, false},
	}
	for _, c := range holdCases {
		cases = append(cases, testCase{c.name, c.fn, false})
	}
	for _, c := range batchCases {
		cases = append(cases, testCase{c.name, c.fn, false})
	}
	for _, c := range poolCases {
		cases = append(cases, testCase{c.name, c.fn, false})
	}
	for _, c := range textCases {
		cases = append(cases, testCase{c.name, c.fn, false})
	}
	for _, c := range eventCases {
		cases = append(cases, testCase{c.name, c.fn, false})
	}
	for _, c := range eventsOverlapping {
		cases = append(cases, testCase{c.name, c.fn, true})
	}
	for _, c := range cases {
		if c.overlapping && caps.OneTransaction {
			continue
		}
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			s := newStore(t)
			require.NoError(t, s.Init(t.Context(), 0))
			c.fn(t, s)
		})
	}
}

// wait passes caps.ConcurrentTx to a case on locks: whether a
// transaction meeting a lock shows as blocked.
func wait(caps Capabilities, fn func(t *testing.T, s storage.Store, concurrent bool)) func(t *testing.T, s storage.Store) {
	return func(t *testing.T, s storage.Store) { fn(t, s, caps.ConcurrentTx) }
}

// suiteCase is a case of the suite, run with a fresh store.
type suiteCase struct {
	name string
	fn   func(t *testing.T, s storage.Store)
}

func tp(t time.Time) *time.Time { return &t }

// requireState asserts an account's balance, seq and number of entries.
func requireState(t *testing.T, s storage.Store, account string, balance, seq int64, entries int) {
	t.Helper()
	a, err := s.Account(t.Context(), account)
	require.NoError(t, err)
	require.EqualValues(t, balance, a.Balance, "balance of %q", account)
	require.EqualValues(t, seq, a.Seq, "seq of %q", account)
	es, err := s.Entries(t.Context(), storage.EntryQuery{Account: account, Limit: entries + 1})
	require.NoError(t, err)
	require.Len(t, es, entries, "entries of %q", account)
}

// grantBatch builds a batch granting amount to account as one lot, with
// the account at seq and balance before it.
func grantBatch(acct storage.Account, opID, key, lotID string, amount int64, expires *time.Time, now time.Time) *storage.Batch {
	seq := acct.Seq + 1
	bal := acct.Balance + amount
	e := storage.Entry{ID: "e-" + lotID, Account: acct.ID, Seq: seq, OperationID: opID, LotID: lotID, Kind: storage.KindGrant,
		Amount: amount, BalanceAfter: bal, Source: "test", CreatedAt: now, ExpiresAt: expires, Available: bal}
	if key != "" {
		e.Key, e.ParamHash = key, "h-"+opID
	}
	e.Hash = storage.EntryHash(acct.HeadHash, &e)
	return &storage.Batch{
		Lots:     []storage.Lot{{ID: lotID, Account: acct.ID, OperationID: opID, Source: "test", Amount: amount, Remaining: amount, ExpiresAt: expires, CreatedAt: now}},
		Entries:  []storage.Entry{e},
		Accounts: []storage.AccountUpdate{{ID: acct.ID, Balance: bal, Seq: seq, HeadHash: e.Hash, NextGrantAt: acct.NextGrantAt, NextExpiryAt: expires}},
	}
}

// grant locks (creating) an account and applies grantBatch in one Tx.
func grant(t *testing.T, s storage.Store, account, key, lotID string, amount int64, expires *time.Time) {
	t.Helper()
	err := s.Tx(t.Context(), func(ctx context.Context, tx storage.Tx) error {
		accts, err := tx.LockAccounts(ctx, []string{account}, true, t0)
		if err != nil {
			return err
		}
		return tx.Apply(ctx, grantBatch(accts[0], "op-"+lotID, key, lotID, amount, expires, t0))
	})
	require.NoError(t, err)
}
