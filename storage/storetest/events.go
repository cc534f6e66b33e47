package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/creditledger/creditledger/storage"
)

// The outbox (storage/events.go): events written with a batch, listed,
// claimed by the claim rule, leased, acknowledged and pruned; lot notices.

var eventCases = []suiteCase{
	{"EventsWrittenAndListed", testEventsWrittenAndListed},
	{"EventsRolledBackWriteNone", testEventsRolledBack},
	{"EventsClaimLeaseAck", testEventsClaimLeaseAck},
	{"EventsClaimRulePerAccount", testEventsClaimRule},
	{"EventsPrune", testEventsPrune},
	{"EventsLotNotices", testEventsLotNotices},
	{"EventsBadInput", testEventsBadInput},
	{"EventsClaimNotStarved", testEventsClaimNotStarved},
}

// eventsOverlapping run claims at once.
var eventsOverlapping = []suiteCase{
	{"EventsConcurrentClaimers", testEventsConcurrentClaimers},
}

// ev is an event of account for a batch.
func ev(account, id, typ string, amount, balance int64) storage.Event {
	return storage.Event{ID: id, Account: account, Type: typ, OperationID: "op-" + id, Amount: amount, Balance: balance, At: t0}
}

// writeEvents creates account (if needed) and appends events in one
// batch (with an account update, as the ledger's batches have).
func writeEvents(t *testing.T, s storage.Store, account string, events ...storage.Event) {
	t.Helper()
	err := s.Tx(t.Context(), func(ctx context.Context, tx storage.Tx) error {
		accts, err := tx.LockAccounts(ctx, []string{account}, true, t0)
		if err != nil {
			return err
		}
		return tx.Apply(ctx, &storage.Batch{Events: events, Accounts: []storage.AccountUpdate{update(&accts[0])}})
	})
	require.NoError(t, err)
}

func eventIDs(es []storage.Event) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.ID
	}
	return out
}

func ackAll(t *testing.T, s storage.Store, es []storage.Event, now time.Time) int {
	t.Helper()
	ids := make([]storage.AccountID, len(es))
	for i, e := range es {
		ids[i] = storage.AccountID{Account: e.Account, ID: e.ID}
	}
	n, err := s.AckEvents(t.Context(), ids, now)
	require.NoError(t, err)
	return n
}

func testEventsWrittenAndListed(t *testing.T, s storage.Store) {
	ctx := t.Context()
	low := ev("a", "ev1", "balance.low", 5, 3)
	low.Pool, low.LotID = "chat", "lot-1"
	writeEvents(t, s, "a", low, ev("a", "ev2", "balance.depleted", 3, 0))
	writeEvents(t, s, "b", ev("b", "ev3", "credits.granted", 10, 10))

	all, err := s.Events(ctx, storage.EventQuery{Limit: 10})
	require.NoError(t, err)
	require.Equal(t, []string{"ev3", "ev2", "ev1"}, eventIDs(all), "newest first")
	require.Greater(t, all[0].Seq, all[1].Seq)
	require.Greater(t, all[1].Seq, all[2].Seq, "in batch order")
	got := all[2]
	require.Equal(t, "a", got.Account)
	require.Equal(t, "chat", got.Pool)
	require.Equal(t, "balance.low", got.Type)
	require.Equal(t, "op-ev1", got.OperationID)
	require.Equal(t, "lot-1", got.LotID)
	require.EqualValues(t, 5, got.Amount)
	require.EqualValues(t, 3, got.Balance)
	require.True(t, got.At.Equal(t0), got.At)
	require.Nil(t, got.LeasedUntil)
	require.Nil(t, got.AckedAt)
	require.Zero(t, got.Attempts)

	of, err := s.Events(ctx, storage.EventQuery{Account: "a", Limit: 10})
	require.NoError(t, err)
	require.Equal(t, []string{"ev2", "ev1"}, eventIDs(of))
	page, err := s.Events(ctx, storage.EventQuery{Limit: 1, BeforeSeq: all[0].Seq})
	require.NoError(t, err)
	require.Equal(t, []string{"ev2"}, eventIDs(page))

	st, err := s.EventStats(ctx, t0)
	require.NoError(t, err)
	require.EqualValues(t, 3, st.Pending)
	require.Zero(t, st.Leased)
	require.NotNil(t, st.OldestUnacked)
	require.True(t, st.OldestUnacked.Equal(t0))
}

func testEventsRolledBack(t *testing.T, s storage.Store) {
	ctx := t.Context()
	boom := errors.New("boom")
	err := s.Tx(ctx, func(ctx context.Context, tx storage.Tx) error {
		accts, err := tx.LockAccounts(ctx, []string{"a"}, true, t0)
		if err != nil {
			return err
		}
		if err := tx.Apply(ctx, &storage.Batch{Events: []storage.Event{ev("a", "ev1", "balance.low", 1, 1)},
			Notices: []storage.LotNotice{{Account: "a", ID: "lot-1"}}, Accounts: []storage.AccountUpdate{update(&accts[0])}}); err != nil {
			return err
		}
		return boom
	})
	require.ErrorIs(t, err, boom)
	all, err := s.Events(ctx, storage.EventQuery{Limit: 10})
	require.NoError(t, err)
	require.Empty(t, all)
	got, err := s.ClaimEvents(ctx, storage.EventClaim{Now: t0, Limit: 10, Lease: time.Minute})
	require.NoError(t, err)
	require.Empty(t, got)
	writeEvents(t, s, "a")
	require.Empty(t, load(t, s, storage.LoadQuery{Notices: []storage.AccountID{{Account: "a", ID: "lot-1"}}}).Notices)

	// A batch refused by the store writes none of its events either.
	err = s.Tx(ctx, func(ctx context.Context, tx storage.Tx) error {
		return tx.Apply(ctx, &storage.Batch{Events: []storage.Event{ev("a", "ev2", "balance.low", 1, 1)},
			Accounts: []storage.AccountUpdate{{ID: "no-such-account"}}})
	})
	require.ErrorIs(t, err, storage.ErrNotFound)
	all, err = s.Events(ctx, storage.EventQuery{Limit: 10})
	require.NoError(t, err)
	require.Empty(t, all)
}

func testEventsClaimLeaseAck(t *testing.T, s storage.Store) {
	ctx := t.Context()
	writeEvents(t, s, "a", ev("a", "a1", "balance.low", 1, 1), ev("a", "a2", "balance.depleted", 1, 0))
	writeEvents(t, s, "b", ev("b", "b1", "credits.granted", 1, 1))
	lease := 30 * time.Second

	got, err := s.ClaimEvents(ctx, storage.EventClaim{Now: t0, Limit: 10, Lease: lease})
	require.NoError(t, err)
	require.Equal(t, []string{"a1", "a2", "b1"}, eventIDs(got))
	for _, e := range got {
		require.NotNil(t, e.LeasedUntil)
		require.True(t, e.LeasedUntil.Equal(t0.Add(lease)), e.LeasedUntil)
		require.Equal(t, 1, e.Attempts)
	}
	// Leased: nothing more to claim until the lease ends.
	again, err := s.ClaimEvents(ctx, storage.EventClaim{Now: t0.Add(lease - time.Microsecond), Limit: 10, Lease: lease})
	require.NoError(t, err)
	require.Empty(t, again)
	st, err := s.EventStats(ctx, t0)
	require.NoError(t, err)
	require.EqualValues(t, 3, st.Leased)
	require.Zero(t, st.Pending)
	require.Zero(t, st.Failed)

	// Acknowledge b1 only; a1 and a2 come back once the lease ended.
	require.Equal(t, 1, ackAll(t, s, got[2:], t0.Add(time.Second)))
	require.Zero(t, ackAll(t, s, got[2:], t0.Add(time.Second)), "acknowledged once")
	st, err = s.EventStats(ctx, t0.Add(lease))
	require.NoError(t, err)
	require.EqualValues(t, 2, st.Pending)
	require.EqualValues(t, 2, st.Failed)
	again, err = s.ClaimEvents(ctx, storage.EventClaim{Now: t0.Add(lease), Limit: 10, Lease: lease})
	require.NoError(t, err)
	require.Equal(t, []string{"a1", "a2"}, eventIDs(again))
	require.Equal(t, 2, again[0].Attempts)

	require.Equal(t, 2, ackAll(t, s, again, t0.Add(lease+time.Second)))
	none, err := s.ClaimEvents(ctx, storage.EventClaim{Now: t0.Add(time.Hour), Limit: 10, Lease: lease})
	require.NoError(t, err)
	require.Empty(t, none, "acknowledged events are not claimed again")
	all, err := s.Events(ctx, storage.EventQuery{Limit: 10})
	require.NoError(t, err)
	for _, e := range all {
		require.NotNil(t, e.AckedAt, e.ID)
		require.Nil(t, e.LeasedUntil, e.ID)
	}
	unacked, err := s.Events(ctx, storage.EventQuery{Limit: 10, Unacked: true})
	require.NoError(t, err)
	require.Empty(t, unacked)
	st, err = s.EventStats(ctx, t0.Add(time.Hour))
	require.NoError(t, err)
	require.Zero(t, st.Pending+st.Leased+st.Failed)
	require.Nil(t, st.OldestUnacked)
}

// An account's events are handed out as a prefix of its unacknowledged
// ones: the limit cuts an account off, and a leased event holds back the
// account's later ones.
func testEventsClaimRule(t *testing.T, s storage.Store) {
	ctx := t.Context()
	writeEvents(t, s, "a", ev("a", "a1", "balance.low", 1, 1), ev("a", "a2", "balance.depleted", 1, 0))
	writeEvents(t, s, "b", ev("b", "b1", "credits.granted", 1, 1))
	writeEvents(t, s, "a", ev("a", "a3", "credits.granted", 1, 1))
	lease := time.Minute

	first, err := s.ClaimEvents(ctx, storage.EventClaim{Now: t0, Limit: 1, Lease: lease})
	require.NoError(t, err)
	require.Equal(t, []string{"a1"}, eventIDs(first))
	// a1 is leased: a2 and a3 wait behind it; b1 is free.
	second, err := s.ClaimEvents(ctx, storage.EventClaim{Now: t0, Limit: 10, Lease: lease})
	require.NoError(t, err)
	require.Equal(t, []string{"b1"}, eventIDs(second))
	require.Equal(t, 1, ackAll(t, s, first, t0))
	third, err := s.ClaimEvents(ctx, storage.EventClaim{Now: t0, Limit: 10, Lease: lease})
	require.NoError(t, err)
	require.Equal(t, []string{"a2", "a3"}, eventIDs(third), "in order, once a1 is acknowledged")
}

func testEventsPrune(t *testing.T, s storage.Store) {
	ctx := t.Context()
	writeEvents(t, s, "a", ev("a", "a1", "balance.low", 1, 1), ev("a", "a2", "balance.depleted", 1, 0), ev("a", "a3", "credits.granted", 1, 1))
	got, err := s.ClaimEvents(ctx, storage.EventClaim{Now: t0, Limit: 2, Lease: time.Minute})
	require.NoError(t, err)
	require.Len(t, got, 2)
	require.Equal(t, 1, ackAll(t, s, got[:1], t0))
	require.Equal(t, 1, ackAll(t, s, got[1:], t0.Add(time.Hour)))

	n, err := s.PruneEvents(ctx, t0.Add(time.Minute), 100)
	require.NoError(t, err)
	require.Equal(t, 1, n, "only a1 was acknowledged before the instant")
	all, err := s.Events(ctx, storage.EventQuery{Limit: 10})
	require.NoError(t, err)
	require.Equal(t, []string{"a3", "a2"}, eventIDs(all))
	n, err = s.PruneEvents(ctx, t0.Add(48*time.Hour), 100)
	require.NoError(t, err)
	require.Equal(t, 1, n, "the unacknowledged a3 stays")
	all, err = s.Events(ctx, storage.EventQuery{Limit: 10})
	require.NoError(t, err)
	require.Equal(t, []string{"a3"}, eventIDs(all))
	// New events still come after what is left.
	writeEvents(t, s, "a", ev("a", "a4", "credits.granted", 1, 1))
	all, err = s.Events(ctx, storage.EventQuery{Limit: 10})
	require.NoError(t, err)
	require.Equal(t, []string{"a4", "a3"}, eventIDs(all))
	require.Greater(t, all[0].Seq, all[1].Seq)
}

func testEventsLotNotices(t *testing.T, s storage.Store) {
	grant(t, s, "a", "", "lot-1", 10, tp(t0.Add(time.Hour)))
	grant(t, s, "b", "", "lot-2", 10, nil)
	q := storage.LoadQuery{Notices: []storage.AccountID{{Account: "a", ID: "lot-1"}, {Account: "b", ID: "lot-2"}, {Account: "b", ID: "lot-1"}}}
	require.Empty(t, load(t, s, q).Notices)
	note := func(account, lot string) {
		require.NoError(t, apply(t, s, account, func(a *storage.Account) *storage.Batch {
			return &storage.Batch{Notices: []storage.LotNotice{{Account: account, ID: lot}}}
		}))
	}
	note("a", "lot-1")
	note("a", "lot-1") // a second notice is left as it is
	require.ElementsMatch(t, []storage.AccountID{{Account: "a", ID: "lot-1"}}, load(t, s, q).Notices)
	note("b", "lot-2")
	require.ElementsMatch(t, []storage.AccountID{{Account: "a", ID: "lot-1"}, {Account: "b", ID: "lot-2"}}, load(t, s, q).Notices)
	// Pruning drops the notices of lots expired before the instant.
	_, err := s.PruneEvents(t.Context(), t0.Add(2*time.Hour), 100)
	require.NoError(t, err)
	require.ElementsMatch(t, []storage.AccountID{{Account: "b", ID: "lot-2"}}, load(t, s, q).Notices)
}

func testEventsBadInput(t *testing.T, s storage.Store) {
	ctx := t.Context()
	_, err := s.ClaimEvents(ctx, storage.EventClaim{Now: t0, Limit: 0, Lease: time.Minute})
	require.ErrorIs(t, err, storage.ErrInvalidArgument)
	_, err = s.ClaimEvents(ctx, storage.EventClaim{Now: t0, Limit: 1, Lease: 0})
	require.ErrorIs(t, err, storage.ErrInvalidArgument)
	err = s.Tx(ctx, func(ctx context.Context, tx storage.Tx) error {
		if _, err := tx.LockAccounts(ctx, []string{"a"}, true, t0); err != nil {
			return err
		}
		return tx.Apply(ctx, &storage.Batch{Events: []storage.Event{{Account: "a", ID: "x"}}})
	})
	require.ErrorIs(t, err, storage.ErrInvalidArgument, "an event without a type")
	all, err := s.Events(ctx, storage.EventQuery{Limit: 10})
	require.NoError(t, err)
	require.Empty(t, all)
}

// Claimers running at once never hold one event together, together get
// every event once, and each gets an account's events in order.
func testEventsConcurrentClaimers(t *testing.T, s storage.Store) {
	ctx := t.Context()
	const accounts, perAccount, claimers = 8, 6, 4
	for a := range accounts {
		acct := fmt.Sprintf("acct-%d", a)
		for i := range perAccount {
			writeEvents(t, s, acct, ev(acct, fmt.Sprintf("%s-%d", acct, i), "credits.granted", 1, int64(i)))
		}
	}
	var mu sync.Mutex
	seen := map[string]int{}
	var order []storage.Event
	var wg sync.WaitGroup
	errs := make(chan error, claimers)
	for range claimers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for idle := 0; idle < 3; {
				got, err := s.ClaimEvents(ctx, storage.EventClaim{Now: t0, Limit: 5, Lease: time.Hour})
				if err != nil {
					errs <- err
					return
				}
				if len(got) == 0 {
					idle++
					time.Sleep(time.Millisecond)
					continue
				}
				idle = 0
				mu.Lock()
				for _, e := range got {
					seen[e.ID]++
					order = append(order, e)
				}
				mu.Unlock()
				ids := make([]storage.AccountID, len(got))
				for i, e := range got {
					ids[i] = storage.AccountID{Account: e.Account, ID: e.ID}
				}
				if _, err := s.AckEvents(ctx, ids, t0); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	// A claimer may have stopped while another still held events: claim
	// what is left.
	for {
		got, err := s.ClaimEvents(ctx, storage.EventClaim{Now: t0, Limit: 100, Lease: time.Hour})
		require.NoError(t, err)
		if len(got) == 0 {
			break
		}
		for _, e := range got {
			seen[e.ID]++
			order = append(order, e)
		}
		ackAll(t, s, got, t0)
	}
	require.Len(t, seen, accounts*perAccount)
	for id, n := range seen {
		require.Equal(t, 1, n, "event %s handed out %d times under an unexpired lease", id, n)
	}
	last := map[string]int64{}
	for _, e := range order {
		require.Greater(t, e.Seq, last[e.Account], "account %s out of order", e.Account)
		last[e.Account] = e.Seq
	}
}

// A claim is not starved by an account held back behind a leased event:
// the limit reaches the other accounts' events.
func testEventsClaimNotStarved(t *testing.T, s storage.Store) {
	ctx := t.Context()
	writeEvents(t, s, "a", ev("a", "a1", "credits.granted", 1, 1), ev("a", "a2", "credits.granted", 1, 2),
		ev("a", "a3", "credits.granted", 1, 3), ev("a", "a4", "credits.granted", 1, 4))
	writeEvents(t, s, "b", ev("b", "b1", "credits.granted", 1, 1))
	first, err := s.ClaimEvents(ctx, storage.EventClaim{Now: t0, Limit: 1, Lease: time.Minute})
	require.NoError(t, err)
	require.Equal(t, []string{"a1"}, eventIDs(first))
	second, err := s.ClaimEvents(ctx, storage.EventClaim{Now: t0, Limit: 2, Lease: time.Minute})
	require.NoError(t, err)
	require.Equal(t, []string{"b1"}, eventIDs(second), "a2..a4 wait behind a1; b1 is handed out")
}
