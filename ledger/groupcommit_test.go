package ledger_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/creditledger/creditledger/ledger"
	"github.com/creditledger/creditledger/storage"
	"github.com/creditledger/creditledger/storage/memory"
)

// gcOp is one call of a group commit test, on either ledger; holds names
// the holds the setup made on that ledger.
type gcOp func(ctx context.Context, l *ledger.Ledger, holds map[string]string) (string, error)

func receiptOut(rec *ledger.Receipt) string {
	s := fmt.Sprintf("balance=%s replayed=%t none=%t", rec.Balance, rec.Replayed, rec.NothingToReverse)
	for _, e := range rec.Entries {
		s += fmt.Sprintf(" [%s %s %s %q]", e.Kind, e.Amount, e.BalanceAfter, e.Description)
	}
	return s
}

func consumeOp(account, key, amount string) gcOp {
	return func(ctx context.Context, l *ledger.Ledger, _ map[string]string) (string, error) {
		rec, err := l.Consume(ctx, ledger.ConsumeParams{Account: account, IdempotencyKey: key, Amount: d(amount), Description: "use"})
		if err != nil {
			return "", err
		}
		return receiptOut(rec), nil
	}
}

func grantOp(account, key, amount string) gcOp {
	return func(ctx context.Context, l *ledger.Ledger, _ map[string]string) (string, error) {
		rec, err := l.Grant(ctx, ledger.GrantParams{Account: account, IdempotencyKey: key, Amount: d(amount)})
		if err != nil {
			return "", err
		}
		return receiptOut(rec), nil
	}
}

// queueInOrder starts ops[i] on l, one at a time, each once the one
// before is queued behind l's busy lanes, then releases the lanes and
// returns each call's outcome.
func queueInOrder(t *testing.T, l *ledger.Ledger, holds map[string]string, ops []gcOp) []string {
	t.Helper()
	release := ledger.HoldGroupCommit(l)
	out := make([]string, len(ops))
	var wg sync.WaitGroup
	for i, op := range ops {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := op(t.Context(), l, holds)
			if err != nil {
				s = "error: " + err.Error()
			}
			out[i] = s
		}()
		require.Eventually(t, func() bool { return ledger.QueuedCalls(l) == i+1 }, 10*time.Second, 100*time.Microsecond,
			"call %d never queued", i)
	}
	release()
	wg.Wait()
	return out
}

// TestGroupCommitAsSerial queues calls behind busy lanes so that they run
// as batches, and requires each outcome to be the one a ledger without
// group commit gives for the same calls made one after another: rule
// failures (insufficient credits, a key conflict, a hold not active, an
// unknown account) leave only their call out, a key used twice in one
// batch replays the first, a consume after a grant that creates its
// account finds it, a reversal by key reads what the batch before wrote.
func TestGroupCommitAsSerial(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, newStore func(t *testing.T) storage.Store) {
		grouped := setup(t, newStore, nil)
		serial := setup(t, newStore, &ledger.Config{DisableGroupCommit: true})
		require.True(t, ledger.GroupCommitOn(grouped.l))
		require.False(t, ledger.GroupCommitOn(serial.l))
		prepare := func(b *bundle) map[string]string {
			ctx := t.Context()
			for _, a := range []string{"a", "b", "c"} {
				_, err := b.l.Grant(ctx, ledger.GrantParams{Account: a, IdempotencyKey: "seed", Amount: d("100")})
				require.NoError(t, err)
			}
			_, err := b.l.Consume(ctx, ledger.ConsumeParams{Account: "a", IdempotencyKey: "pre", Amount: d("7")})
			require.NoError(t, err)
			h, err := b.l.Hold(ctx, ledger.HoldParams{Account: "a", Amount: d("9")})
			require.NoError(t, err)
			return map[string]string{"h": h.ID}
		}
		ops := []gcOp{
			consumeOp("a", "k1", "10"),
			consumeOp("a", "k1", "10"), // a replay of the call before, in its batch
			consumeOp("a", "k1", "11"), // a conflict
			consumeOp("b", "", "1000"), // insufficient
			consumeOp("b", "", "5"),
			consumeOp("p", "", "1"), // before the grant that creates p: no account
			grantOp("p", "gp", "50"),
			consumeOp("p", "", "20"),
			consumeOp("m", "", "1"), // never written to
			func(ctx context.Context, l *ledger.Ledger, h map[string]string) (string, error) {
				rec, err := l.Capture(ctx, ledger.CaptureParams{Account: "a", HoldID: h["h"], Amount: d("3")})
				if err != nil {
					return "", err
				}
				return receiptOut(rec), nil
			},
			func(ctx context.Context, l *ledger.Ledger, h map[string]string) (string, error) {
				rec, err := l.Capture(ctx, ledger.CaptureParams{Account: "a", HoldID: h["h"], Amount: d("3")})
				if err != nil {
					return "", err
				}
				return receiptOut(rec), nil
			},
			func(ctx context.Context, l *ledger.Ledger, h map[string]string) (string, error) {
				_, err := l.Release(ctx, "a", h["h"])
				return "released", err
			},
			func(ctx context.Context, l *ledger.Ledger, _ map[string]string) (string, error) {
				h, err := l.Hold(ctx, ledger.HoldParams{Account: "c", Amount: d("30"), IdempotencyKey: "hc"})
				if err != nil {
					return "", err
				}
				return fmt.Sprintf("hold %s %s replayed=%t", h.Amount, h.State, h.Replayed), nil
			},
			consumeOp("c", "", "80"), // 70 left after the hold
			func(ctx context.Context, l *ledger.Ledger, _ map[string]string) (string, error) {
				rec, err := l.Reverse(ctx, ledger.ReverseParams{Account: "a", Key: "k1", Description: "refund"})
				if err != nil {
					return "", err
				}
				return receiptOut(rec), nil
			},
			func(ctx context.Context, l *ledger.Ledger, _ map[string]string) (string, error) {
				rec, err := l.Reverse(ctx, ledger.ReverseParams{Account: "a", Key: "k1", Description: "refund"})
				if err != nil {
					return "", err
				}
				return receiptOut(rec), nil
			},
			consumeOp("a", "", "1"),
			grantOp("c", "seed", "100"), // a replay of the setup's grant
			// Pools: a grant to another pool makes b a multi-pool account
			// within the batch; consumes of either pool follow it.
			func(ctx context.Context, l *ledger.Ledger, _ map[string]string) (string, error) {
				rec, err := l.Grant(ctx, ledger.GrantParams{Account: "b", IdempotencyKey: "gp1", Amount: d("30"), Pool: "p1"})
				if err != nil {
					return "", err
				}
				return receiptOut(rec), nil
			},
			func(ctx context.Context, l *ledger.Ledger, _ map[string]string) (string, error) {
				rec, err := l.Consume(ctx, ledger.ConsumeParams{Account: "b", Amount: d("40"), Pool: "p1"})
				if err != nil {
					return "", err
				}
				return receiptOut(rec), nil
			},
			func(ctx context.Context, l *ledger.Ledger, _ map[string]string) (string, error) {
				rec, err := l.Consume(ctx, ledger.ConsumeParams{Account: "b", Amount: d("12"), Pool: "p1"})
				if err != nil {
					return "", err
				}
				return receiptOut(rec), nil
			},
			consumeOp("b", "", "3"),
		}
		gHolds, sHolds := prepare(grouped), prepare(serial)
		got := queueInOrder(t, grouped.l, gHolds, ops)
		want := make([]string, len(ops))
		for i, op := range ops {
			s, err := op(t.Context(), serial.l, sHolds)
			if err != nil {
				s = "error: " + err.Error()
			}
			want[i] = s
		}
		for i := range ops {
			// Hold ids differ between the two ledgers.
			w := strings.ReplaceAll(want[i], sHolds["h"], "H")
			g := strings.ReplaceAll(got[i], gHolds["h"], "H")
			require.Equal(t, w, g, "call %d", i)
		}
		batches, calls, fallbacks := ledger.GroupCommitStats(grouped.l)
		require.GreaterOrEqual(t, batches, int64(2), "the calls ran in batches")
		require.GreaterOrEqual(t, calls, int64(len(ops)-2))
		require.Zero(t, fallbacks)
		for _, a := range []string{"a", "b", "c", "p"} {
			gb, err := grouped.l.Balance(t.Context(), a)
			require.NoError(t, err)
			sb, err := serial.l.Balance(t.Context(), a)
			require.NoError(t, err)
			require.True(t, sb.Available.Equal(gb.Available) && sb.Held.Equal(gb.Held), "account %s: %s/%s, want %s/%s", a, gb.Available, gb.Held, sb.Available, sb.Held)
		}
		_, err := grouped.l.Balance(t.Context(), "m")
		require.ErrorIs(t, err, ledger.ErrNotFound, "a failed call on an unknown account creates none")
		requireVerified(t, grouped)
		requireVerified(t, serial)
	})
}

// failingStore fails the transaction of the next write batch that has
// more than one call's entries (the group commit's), at Apply or, with
// afterCommit, after it committed (as a connection lost while COMMIT's
// answer was on its way would).
type failingStore struct {
	storage.Store
	mu          sync.Mutex
	armed       bool
	afterCommit bool
	failed      int
}

var errInjected = errors.New("injected database failure")

func (s *failingStore) Tx(ctx context.Context, fn func(ctx context.Context, tx storage.Tx) error) error {
	fire := false
	err := s.Store.Tx(ctx, func(ctx context.Context, tx storage.Tx) error {
		fire = false
		return fn(ctx, &failingTx{Tx: tx, s: s, fire: &fire})
	})
	if err == nil && fire {
		return errInjected
	}
	return err
}

type failingTx struct {
	storage.Tx
	s    *failingStore
	fire *bool
}

func (t *failingTx) Apply(ctx context.Context, b *storage.Batch) error {
	ops := map[string]bool{}
	for _, e := range b.Entries {
		ops[e.OperationID] = true
	}
	t.s.mu.Lock()
	fire := t.s.armed && len(ops) > 1
	if fire {
		t.s.armed = false
		t.s.failed++
	}
	after := t.s.afterCommit
	t.s.mu.Unlock()
	if fire && !after {
		return errInjected
	}
	*t.fire = fire && after
	return t.Tx.Apply(ctx, b)
}

// TestGroupCommitDatabaseError: a batch whose transaction fails runs its
// calls one by one, so that every call still succeeds once; when the
// failure came after the batch committed, the batch's receipts stand and
// nothing is written twice.
func TestGroupCommitDatabaseError(t *testing.T) {
	t.Parallel()
	for _, afterCommit := range []bool{false, true} {
		t.Run(fmt.Sprintf("afterCommit=%t", afterCommit), func(t *testing.T) {
			t.Parallel()
			eachStore(t, func(t *testing.T, newStore func(t *testing.T) storage.Store) {
				fs := &failingStore{Store: newStore(t), afterCommit: afterCommit}
				l, err := ledger.New(fs, &ledger.Config{Now: newClock(t0).Now})
				require.NoError(t, err)
				b := &bundle{l: l, store: fs}
				for _, a := range []string{"a", "b"} {
					_, err := l.Grant(t.Context(), ledger.GrantParams{Account: a, IdempotencyKey: "seed", Amount: d("100")})
					require.NoError(t, err)
				}
				fs.mu.Lock()
				fs.armed = true
				fs.mu.Unlock()
				ops := []gcOp{consumeOp("a", "", "10"), consumeOp("b", "", "20"), consumeOp("a", "", "30"), consumeOp("b", "x", "1000")}
				got := queueInOrder(t, l, nil, ops)
				require.Contains(t, got[0], "balance=90")
				require.Contains(t, got[1], "balance=80")
				require.Contains(t, got[2], "balance=60")
				require.Contains(t, got[3], "insufficient")
				require.Equal(t, 1, fs.failed)
				_, _, fallbacks := ledger.GroupCommitStats(l)
				if afterCommit {
					require.Zero(t, fallbacks, "a batch that committed is not run again")
				} else {
					require.EqualValues(t, 1, fallbacks)
				}
				requireBalance(t, b, "a", "60")
				requireBalance(t, b, "b", "80")
				requireVerified(t, b)
			})
		})
	}
}

// blockingStore makes the transactions block, once armed, until
// unblocked: a batch is then in flight for as long as a test needs.
type blockingStore struct {
	storage.Store
	mu      sync.Mutex
	gate    chan struct{}
	entered chan struct{}
}

func (s *blockingStore) Tx(ctx context.Context, fn func(ctx context.Context, tx storage.Tx) error) error {
	s.mu.Lock()
	gate, entered := s.gate, s.entered
	s.mu.Unlock()
	if gate != nil {
		select {
		case entered <- struct{}{}:
		default:
		}
		<-gate
	}
	return s.Store.Tx(ctx, fn)
}

// TestGroupCommitCancel: a call whose context ends while it is queued is
// removed and returns the context's error, writing nothing; one whose
// context ends once its batch has started is written, and its caller
// gets the receipt.
func TestGroupCommitCancel(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, newStore func(t *testing.T) storage.Store) {
		bs := &blockingStore{Store: newStore(t)}
		l, err := ledger.New(bs, &ledger.Config{Now: newClock(t0).Now})
		require.NoError(t, err)
		b := &bundle{l: l, store: bs}
		_, err = l.Grant(t.Context(), ledger.GrantParams{Account: "a", IdempotencyKey: "seed", Amount: d("100")})
		require.NoError(t, err)

		// Canceled while queued.
		release := ledger.HoldGroupCommit(l)
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() {
			_, err := l.Consume(ctx, ledger.ConsumeParams{Account: "a", Amount: d("10")})
			done <- err
		}()
		require.Eventually(t, func() bool { return ledger.QueuedCalls(l) == 1 }, 10*time.Second, 100*time.Microsecond)
		cancel()
		require.ErrorIs(t, <-done, context.Canceled)
		require.Zero(t, ledger.QueuedCalls(l))
		release()
		requireBalance(t, b, "a", "100")

		// Canceled once its batch started: two calls queue, the batch
		// blocks in the store, both contexts end, the batch goes on.
		release = ledger.HoldGroupCommit(l)
		ctx1, cancel1 := context.WithCancel(t.Context())
		ctx2, cancel2 := context.WithCancel(t.Context())
		type result struct {
			rec *ledger.Receipt
			err error
		}
		res := make(chan result, 2)
		for i, c := range []context.Context{ctx1, ctx2} {
			go func() {
				rec, err := l.Consume(c, ledger.ConsumeParams{Account: "a", Amount: d("10")})
				res <- result{rec, err}
			}()
			require.Eventually(t, func() bool { return ledger.QueuedCalls(l) == i+1 }, 10*time.Second, 100*time.Microsecond)
		}
		bs.mu.Lock()
		bs.gate, bs.entered = make(chan struct{}), make(chan struct{}, 1)
		gate, entered := bs.gate, bs.entered
		bs.mu.Unlock()
		release()
		<-entered
		cancel1()
		cancel2()
		bs.mu.Lock()
		bs.gate = nil
		bs.mu.Unlock()
		close(gate)
		for range 2 {
			r := <-res
			require.NoError(t, r.err)
			require.NotEmpty(t, r.rec.Entries)
		}
		requireBalance(t, b, "a", "80")
		requireVerified(t, b)
	})
}

// TestGroupCommitOff: Config.DisableGroupCommit and a store bound to a
// host's transaction never batch.
func TestGroupCommitOff(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, newStore func(t *testing.T) storage.Store) {
		b := setup(t, newStore, &ledger.Config{DisableGroupCommit: true})
		require.False(t, ledger.GroupCommitOn(b.l))
		on := setup(t, newStore, nil)
		require.True(t, ledger.GroupCommitOn(on.l))
		require.False(t, ledger.GroupCommitOn(on.l.WithStore(boundStore{on.store})))
		require.True(t, ledger.GroupCommitOn(on.l.WithStore(on.store)))
		_, err := b.l.Grant(t.Context(), ledger.GrantParams{Account: "a", IdempotencyKey: "seed", Amount: d("1000")})
		require.NoError(t, err)
		var wg sync.WaitGroup
		for range 16 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range 5 {
					_, err := b.l.Consume(t.Context(), ledger.ConsumeParams{Account: "a", Amount: d("1")})
					require.NoError(t, err)
				}
			}()
		}
		wg.Wait()
		requireBalance(t, b, "a", "920")
	})
}

// boundStore says it is bound to a host's transaction.
type boundStore struct{ storage.Store }

func (boundStore) Bound() bool { return true }

// TestGroupCommitRandom: 64 goroutines on 8 accounts make random
// consumes, holds, captures, releases and reversals, some failing for
// insufficient credits, some with keys other goroutines use too, some
// with contexts that end; afterwards every receipt's entries are in the
// history under its operation, with the balance it gave, every replay
// equals the first receipt of its key, each account's balance is what
// the successful calls add up to, and Verify is clean.
func TestGroupCommitRandom(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, newStore func(t *testing.T) storage.Store) {
		b := setup(t, newStore, nil)
		ctx := t.Context()
		const accounts, workers = 8, 64
		rounds := 12
		if testing.Short() || os.Getenv("CI") != "" {
			rounds = 6
		}
		acct := func(i int) string { return fmt.Sprintf("acct-%d", i) }
		for i := range accounts {
			_, err := b.l.Grant(ctx, ledger.GrantParams{Account: acct(i), IdempotencyKey: "seed", Amount: d("400")})
			require.NoError(t, err)
		}
		type keyed struct{ account, key string }
		var mu sync.Mutex
		var receipts []struct {
			account string
			rec     *ledger.Receipt
		}
		first := map[keyed]*ledger.Receipt{}
		var replays []struct {
			k   keyed
			rec *ledger.Receipt
		}
		moved := make([]decimal.Decimal, accounts) // what successful calls moved out of available
		held := make([]decimal.Decimal, accounts)
		record := func(i int, rec *ledger.Receipt, k string) {
			mu.Lock()
			defer mu.Unlock()
			if rec.Replayed {
				replays = append(replays, struct {
					k   keyed
					rec *ledger.Receipt
				}{keyed{acct(i), k}, rec})
				return
			}
			if k != "" {
				first[keyed{acct(i), k}] = rec
			}
			if rec.OperationID != "" {
				receipts = append(receipts, struct {
					account string
					rec     *ledger.Receipt
				}{acct(i), rec})
			}
		}
		var wg sync.WaitGroup
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := rand.New(rand.NewPCG(uint64(w), 23))
				var myHolds []struct {
					i  int
					id string
					am decimal.Decimal
				}
				var myConsumes []struct {
					i  int
					op string
				}
				for range rounds {
					i := r.IntN(accounts)
					callCtx := ctx
					canceled := r.IntN(8) == 0
					if canceled {
						c, cancel := context.WithCancel(ctx)
						if r.IntN(2) == 0 {
							cancel()
						} else {
							time.AfterFunc(time.Duration(r.IntN(500))*time.Microsecond, cancel)
						}
						defer cancel()
						callCtx = c
					}
					ok := func(err error) bool {
						switch {
						case err == nil:
							return true
						case errors.Is(err, ledger.ErrInsufficientCredits), errors.Is(err, ledger.ErrHoldNotActive):
						case canceled && (errors.Is(err, context.Canceled)):
						default:
							t.Errorf("worker %d: %v", w, err)
						}
						return false
					}
					switch op := r.IntN(10); {
					case op < 5:
						amount := int64(1 + r.IntN(20))
						key := ""
						if r.IntN(3) == 0 {
							n := r.IntN(20)
							key, amount = fmt.Sprintf("c%d", n), int64(1+n)
						}
						rec, err := b.l.Consume(callCtx, ledger.ConsumeParams{Account: acct(i), IdempotencyKey: key, Amount: decimal.NewFromInt(amount)})
						if ok(err) {
							record(i, rec, key)
							if !rec.Replayed {
								mu.Lock()
								moved[i] = moved[i].Add(decimal.NewFromInt(amount))
								mu.Unlock()
								myConsumes = append(myConsumes, struct {
									i  int
									op string
								}{i, rec.OperationID})
							}
						}
					case op < 7:
						amount := decimal.NewFromInt(int64(1 + r.IntN(30)))
						h, err := b.l.Hold(callCtx, ledger.HoldParams{Account: acct(i), Amount: amount})
						if ok(err) {
							mu.Lock()
							held[i] = held[i].Add(amount)
							mu.Unlock()
							myHolds = append(myHolds, struct {
								i  int
								id string
								am decimal.Decimal
							}{i, h.ID, amount})
						}
					case op < 9 && len(myHolds) > 0:
						h := myHolds[0]
						myHolds = myHolds[1:]
						if r.IntN(2) == 0 {
							spend := h.am.Div(decimal.NewFromInt(2)).Floor().Add(decimal.NewFromInt(1))
							rec, err := b.l.Capture(callCtx, ledger.CaptureParams{Account: acct(h.i), HoldID: h.id, Amount: spend})
							if ok(err) {
								record(h.i, rec, "")
								mu.Lock()
								held[h.i] = held[h.i].Sub(h.am)
								moved[h.i] = moved[h.i].Add(spend)
								mu.Unlock()
							}
						} else {
							_, err := b.l.Release(callCtx, acct(h.i), h.id)
							if ok(err) {
								mu.Lock()
								held[h.i] = held[h.i].Sub(h.am)
								mu.Unlock()
							}
						}
					case len(myConsumes) > 0:
						c := myConsumes[0]
						myConsumes = myConsumes[1:]
						rec, err := b.l.Reverse(callCtx, ledger.ReverseParams{Account: acct(c.i), OperationID: c.op})
						if ok(err) && !rec.NothingToReverse {
							record(c.i, rec, "")
							var back decimal.Decimal
							for _, e := range rec.Entries {
								back = back.Add(e.Amount)
							}
							mu.Lock()
							moved[c.i] = moved[c.i].Sub(back)
							mu.Unlock()
						}
					}
				}
			}()
		}
		wg.Wait()
		for _, r := range receipts {
			entries, err := b.store.OperationEntries(ctx, r.account, r.rec.OperationID)
			require.NoError(t, err)
			require.Len(t, entries, len(r.rec.Entries), "operation %s", r.rec.OperationID)
			for j, e := range entries {
				require.Equal(t, r.rec.Entries[j].ID, e.ID)
				require.Equal(t, r.rec.OperationID, e.OperationID)
			}
			require.True(t, r.rec.Balance.Equal(decimal.New(entries[0].Available, 0)), "operation %s: receipt balance %s, stored %d", r.rec.OperationID, r.rec.Balance, entries[0].Available)
		}
		for _, rp := range replays {
			orig := first[rp.k]
			if orig == nil {
				// The first call of the key was a setup grant or its
				// caller's context ended after the call was written.
				continue
			}
			require.Equal(t, orig.OperationID, rp.rec.OperationID)
			require.True(t, orig.Balance.Equal(rp.rec.Balance))
			require.Len(t, rp.rec.Entries, len(orig.Entries))
		}
		for i := range accounts {
			bal, err := b.l.Balance(ctx, acct(i))
			require.NoError(t, err)
			want := d("400").Sub(moved[i]).Sub(held[i])
			require.True(t, want.Equal(bal.Available), "%s: available %s, want %s", acct(i), bal.Available, want)
			require.True(t, held[i].Equal(bal.Held), "%s: held %s, want %s", acct(i), bal.Held, held[i])
		}
		batches, calls, fallbacks := ledger.GroupCommitStats(b.l)
		t.Logf("%d batches of %d calls, %d fell back", batches, calls, fallbacks)
		requireVerified(t, b)
	})
}

// TestGroupCommitBounds: a batch takes at most its bound of calls, and
// of bytes (a call's text counted), leaving the rest to the next ones;
// every call is served.
func TestGroupCommitBounds(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, newStore func(t *testing.T) storage.Store) {
		b := setup(t, newStore, nil)
		_, err := b.l.Grant(t.Context(), ledger.GrantParams{Account: "a", IdempotencyKey: "seed", Amount: d("100")})
		require.NoError(t, err)
		ledger.SetGroupCommitBounds(b.l, 2, ledger.DefaultGroupCommitBytes)
		ops := make([]gcOp, 5)
		for i := range ops {
			ops[i] = consumeOp("a", "", "1")
		}
		got := queueInOrder(t, b.l, nil, ops)
		for i, g := range got {
			require.Contains(t, g, fmt.Sprintf("balance=%d ", 99-i))
		}
		batches, calls, _ := ledger.GroupCommitStats(b.l)
		require.EqualValues(t, 2, batches, "[0 1] [2 3], then [4] alone")
		require.EqualValues(t, 4, calls)

		// Bytes: a plain consume counts about 580 bytes, one with a
		// description of 1000 about 1580: with a bound of 2000 the long
		// call fits with neither neighbour, the two after it share one.
		ledger.SetGroupCommitBounds(b.l, ledger.DefaultGroupCommitCalls, 2000)
		long := strings.Repeat("x", 1000)
		ops = []gcOp{consumeOp("a", "", "1"), func(ctx context.Context, l *ledger.Ledger, _ map[string]string) (string, error) {
			rec, err := l.Consume(ctx, ledger.ConsumeParams{Account: "a", Amount: d("1"), Description: long})
			if err != nil {
				return "", err
			}
			return receiptOut(rec), nil
		}, consumeOp("a", "", "1"), consumeOp("a", "", "1")}
		got = queueInOrder(t, b.l, nil, ops)
		for i, g := range got {
			require.Contains(t, g, fmt.Sprintf("balance=%d ", 94-i))
		}
		batches, calls, _ = ledger.GroupCommitStats(b.l)
		require.EqualValues(t, 3, batches, "[0] and [1] alone, then [2 3]")
		require.EqualValues(t, 6, calls)
		requireBalance(t, b, "a", "91")
		requireVerified(t, b)
	})
}

// twoLaneStore is a store that says it runs two transactions at once, and
// counts the transactions begun, each held at gate until it is closed.
type twoLaneStore struct {
	storage.Store
	begun atomic.Int64
	gate  chan struct{}
}

func (s *twoLaneStore) MaxParallelTx() int { return 2 }

func (s *twoLaneStore) Tx(ctx context.Context, fn func(ctx context.Context, tx storage.Tx) error) error {
	s.begun.Add(1)
	<-s.gate
	return s.Store.Tx(ctx, fn)
}

// TestGroupCommitLanesShareNoAccount: with a lane free, a call on an
// account in flight queues behind it, and a call on another account runs
// at once in the free lane.
func TestGroupCommitLanesShareNoAccount(t *testing.T) {
	t.Parallel()
	ts := &twoLaneStore{Store: memory.New(), gate: make(chan struct{})}
	l, err := ledger.New(ts, &ledger.Config{Now: newClock(t0).Now})
	require.NoError(t, err)
	b := &bundle{l: l, store: ts}
	close(ts.gate)
	for _, a := range []string{"a", "b"} {
		_, err = l.Grant(t.Context(), ledger.GrantParams{Account: a, IdempotencyKey: "seed", Amount: d("100")})
		require.NoError(t, err)
	}
	ts.gate = make(chan struct{})
	ts.begun.Store(0)

	var wg sync.WaitGroup
	consume := func(account string) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := l.Consume(t.Context(), ledger.ConsumeParams{Account: account, Amount: d("10")})
			require.NoError(t, err)
		}()
	}
	consume("a")
	require.Eventually(t, func() bool { return ts.begun.Load() == 1 }, 10*time.Second, 100*time.Microsecond)
	consume("a")
	require.Eventually(t, func() bool { return ledger.QueuedCalls(l) == 1 }, 10*time.Second, 100*time.Microsecond,
		"a second call on a queues behind the first")
	consume("b")
	require.Eventually(t, func() bool { return ts.begun.Load() == 2 }, 10*time.Second, 100*time.Microsecond,
		"a call on b takes the free lane")
	require.Equal(t, 1, ledger.QueuedCalls(l), "the second call on a still waits for a")
	close(ts.gate)
	wg.Wait()
	require.EqualValues(t, 3, ts.begun.Load(), "a's second call ran after its first, in a transaction of its own")
	requireBalance(t, b, "a", "80")
	requireBalance(t, b, "b", "90")
	require.Zero(t, ledger.QueuedCalls(l))
}
