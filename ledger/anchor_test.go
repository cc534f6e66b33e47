package ledger_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/creditledger/creditledger/ledger"
	"github.com/creditledger/creditledger/storage"
	"github.com/creditledger/creditledger/storage/memory"
)

// TestAnchorRoundTrip: an anchor survives its JSON form, a history that
// only grew since still extends it, and an altered anchor is refused.
func TestAnchorRoundTrip(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, newStore func(t *testing.T) storage.Store) {
		b := setup(t, newStore, nil)
		ctx := t.Context()
		grant(t, b, "a", "g1", "10", nil)
		grant(t, b, "a", "g2", "5", nil)
		grant(t, b, "b", "g1", "7", nil)
		anchor, err := b.l.Anchor(ctx)
		require.NoError(t, err)
		require.Equal(t, ledger.AnchorVersion, anchor.Version)
		require.Equal(t, t0, anchor.At)
		require.Equal(t, 2, anchor.Accounts)
		require.Equal(t, []string{"a", "b"}, []string{anchor.Heads[0].Account, anchor.Heads[1].Account})
		require.Equal(t, []int64{2, 1}, []int64{anchor.Heads[0].Seq, anchor.Heads[1].Seq})
		acct, err := b.store.Account(ctx, "a")
		require.NoError(t, err)
		require.Equal(t, fmt.Sprintf("%x", acct.HeadHash), anchor.Heads[0].Hash)
		require.Len(t, anchor.Digest, 64)
		require.Equal(t, ledger.AnchorDigest(anchor), anchor.Digest)

		data, err := json.Marshal(anchor)
		require.NoError(t, err)
		parsed, err := ledger.ParseAnchor(data)
		require.NoError(t, err)
		require.Equal(t, anchor, parsed)

		// Writes after the anchor extend it; new accounts are not in it.
		b.clock.Add(time.Minute)
		_, err = b.l.Consume(ctx, ledger.ConsumeParams{Account: "a", Amount: d("3")})
		require.NoError(t, err)
		grant(t, b, "c", "g1", "1", nil)
		rep, err := b.l.VerifyWith(ctx, &ledger.VerifyOpts{Anchor: parsed, Digest: anchor.Digest})
		require.NoError(t, err)
		require.Empty(t, rep.Violations)
		require.Empty(t, rep.AnchorBroken)
		require.Equal(t, 2, rep.Anchored)
		require.Equal(t, 3, rep.Accounts)

		// Each alteration of the anchor is refused, and nothing is read.
		alter := func(f func(a *ledger.Anchor)) *ledger.Anchor {
			cp := *parsed
			cp.Heads = append([]ledger.AnchorHead(nil), parsed.Heads...)
			f(&cp)
			return &cp
		}
		for name, bad := range map[string]*ledger.Anchor{
			"head changed": alter(func(a *ledger.Anchor) { a.Heads[0].Seq = 1 }),
			"head dropped": alter(func(a *ledger.Anchor) { a.Heads = a.Heads[1:]; a.Accounts = 1 }),
			"count wrong":  alter(func(a *ledger.Anchor) { a.Accounts = 3 }),
			"out of order": alter(func(a *ledger.Anchor) {
				a.Heads[0], a.Heads[1] = a.Heads[1], a.Heads[0]
				a.Digest = ledger.AnchorDigest(a)
			}),
			"bad hex":        alter(func(a *ledger.Anchor) { a.Heads[0].Hash = "zz"; a.Digest = ledger.AnchorDigest(a) }),
			"newer version":  alter(func(a *ledger.Anchor) { a.Version = 2 }),
			"time moved":     alter(func(a *ledger.Anchor) { a.At = a.At.Add(time.Second) }),
			"negative seq":   alter(func(a *ledger.Anchor) { a.Heads[1].Seq = -1; a.Digest = ledger.AnchorDigest(a) }),
			"empty account":  alter(func(a *ledger.Anchor) { a.Heads[0].Account = ""; a.Digest = ledger.AnchorDigest(a) }),
			"digest cleared": alter(func(a *ledger.Anchor) { a.Digest = "" }),
		} {
			_, err := b.l.VerifyWith(ctx, &ledger.VerifyOpts{Anchor: bad})
			require.ErrorIs(t, err, ledger.ErrInvalidArgument, name)
			data, err := json.Marshal(bad)
			require.NoError(t, err)
			_, err = ledger.ParseAnchor(data)
			require.ErrorIs(t, err, ledger.ErrInvalidArgument, name)
		}
		_, err = b.l.VerifyWith(ctx, &ledger.VerifyOpts{Anchor: parsed, Digest: "00" + anchor.Digest[2:]})
		require.ErrorIs(t, err, ledger.ErrInvalidArgument)
		require.ErrorContains(t, err, "not the digest kept")
		_, err = b.l.VerifyWith(ctx, &ledger.VerifyOpts{Digest: anchor.Digest})
		require.ErrorIs(t, err, ledger.ErrInvalidArgument)
		_, err = ledger.ParseAnchor([]byte(`{"version":1,"extra":true}`))
		require.ErrorIs(t, err, ledger.ErrInvalidArgument)
	})
}

// TestAnchorOfEmptyStore: no accounts, an anchor with no heads that every
// later history extends.
func TestAnchorOfEmptyStore(t *testing.T) {
	t.Parallel()
	b := setup(t, testKindsMemory, nil)
	anchor, err := b.l.Anchor(t.Context())
	require.NoError(t, err)
	require.Zero(t, anchor.Accounts)
	require.NotNil(t, anchor.Heads)
	grant(t, b, "a", "g1", "1", nil)
	rep, err := b.l.VerifyWith(t.Context(), &ledger.VerifyOpts{Anchor: anchor})
	require.NoError(t, err)
	require.True(t, rep.OK())
	require.Zero(t, rep.Anchored)
}

// Keep one value off the database each night: the anchor's digest. The
// anchor itself can be stored anywhere; Verify refuses it if its digest
// is not the one kept, and reports every account whose history no longer
// extends it.
func ExampleLedger_Anchor() {
	ctx := context.Background()
	l, _ := ledger.New(memory.New(), &ledger.Config{Now: fixedClock})
	_, _ = l.Grant(ctx, ledger.GrantParams{Account: "alice", IdempotencyKey: "pack", Amount: decimal.NewFromInt(100)})
	_, _ = l.Grant(ctx, ledger.GrantParams{Account: "bob", IdempotencyKey: "pack", Amount: decimal.NewFromInt(20)})

	anchor, err := l.Anchor(ctx)
	if err != nil {
		panic(err)
	}
	file, _ := json.Marshal(anchor) // to object storage
	kept := anchor.Digest           // to the logs
	fmt.Println("accounts:", anchor.Accounts, "digest length:", len(kept))

	// The next night: the history has only grown since.
	_, _ = l.Consume(ctx, ledger.ConsumeParams{Account: "alice", Amount: decimal.NewFromInt(30)})
	stored, err := ledger.ParseAnchor(file)
	if err != nil {
		panic(err) // ledger.ErrInvalidArgument: the file was altered
	}
	rep, err := l.VerifyWith(ctx, &ledger.VerifyOpts{Anchor: stored, Digest: kept})
	if err != nil {
		panic(err)
	}
	fmt.Println("ok:", rep.OK(), "anchored:", rep.Anchored, "broken:", rep.AnchorBroken)
	// Output:
	// accounts: 2 digest length: 64
	// ok: true anchored: 2 broken: []
}
