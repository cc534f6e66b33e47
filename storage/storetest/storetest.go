// Package storetest is the conformance suite every storage.Store must
// pass. A store's tests call Exercise with a function returning a fresh,
// empty store:
//
//	func TestConformance(t *testing.T) {
//		storetest.Exercise(t, func(t *testing.T) storage.Store { return memory.New() })
//	}
//
// The suite checks the storage contract itself, every method of
// storage.Store and storage.Tx, one file per concept: accounts.go (lock,
// lock and load, balances), claim.go (claims, their skip-locked and Wait
// behaviour), visibility.go (a load sees what the lock holder
// committed), apply.go (batches, atomicity, rollback, concurrent
// increments), reads.go (lots, entries,
// calls, scans), errors.go (each error sentinel, nothing written; keys per account) and
// init.go (scale). A new store (MySQL, a Citus-distributed PostgreSQL)
// can be written from the interface and this suite. The ledger's rules on
// top of it are tested in the ledger package against every store.
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

// Exercise runs the whole suite, each case as a parallel subtest with a
// store of its own.
func Exercise(t *testing.T, newStore NewStore) {
	t.Helper()
	cases := []struct {
		name string
		fn   func(t *testing.T, s storage.Store)
	}{
		{"InitScale", testInitScale},
		{"LockAccountsCreates", testLockAccountsCreates},
		{"ApplyAndRead", testApplyAndRead},
		{"ApplyIsAtomic", testApplyIsAtomic},
		{"TxRollsBackOnError", testTxRollsBack},
		{"DuplicateKey", testDuplicateKey},
		{"ClaimAccounts", testClaimAccounts},
		{"LotsExpiryExact", testLotsExpiryExact},
		{"EntriesPaging", testEntriesPaging},
		{"Scan", testScan},
		{"ValuesRoundTrip", testValuesRoundTrip},
		{"ConcurrentLockedIncrements", testConcurrentIncrements},
		{"LockAndLoad", testLockAndLoad},
		{"AccountWithOpenLots", testAccountWithOpenLots},
		{"LockHolderCommitVisible", testLockHolderCommitVisible},
		{"ClaimSkipsLocked", testClaimSkipsLocked},
		{"ClaimWaits", testClaimWaits},
		{"ErrorSentinels", testErrorSentinels},
		{"OperationEntries", testOperationEntries},
	}
	cases = append(cases, holdCases...)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			s := newStore(t)
			require.NoError(t, s.Init(t.Context(), 0))
			c.fn(t, s)
		})
	}
}

func tp(t time.Time) *time.Time { return &t }

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
