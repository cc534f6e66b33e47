package storetest

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/creditledger/creditledger/storage"
)

// textCases put hostile text through every text field a store writes.
var textCases = []suiteCase{
	{"HostileTextInRecords", testHostileTextInRecords},
	{"HostileTextInHolds", testHostileTextInHolds},
	{"HostileAccountID", testHostileAccountID},
}

// The longest texts the ledger lets through (ledger.MaxIDLength,
// MaxSourceLength, MaxDescriptionLength, MaxMetadataLength).
const (
	longestID          = 255
	longestSource      = 64
	longestDescription = 1024
)

// hostileText is a text a store is given.
type hostileText struct {
	name  string
	value string
	// storable: valid UTF-8 without NUL, which every store must write and
	// read back exactly. The others a store may refuse (ErrInvalidArgument,
	// nothing written) or keep exactly.
	storable bool
}

// hostileTexts returns the texts to try in a field of at most max bytes.
func hostileTexts(max int) []hostileText {
	// The longest text: 4-byte characters, a quote and a backslash, up to
	// max bytes exactly.
	longest := strings.Repeat("𝄞", (max-3)/4) + `'\?`
	longest += strings.Repeat("x", max-len(longest))
	return []hostileText{
		{"quotes", `it's "quoted" '' ”`, true},
		{"backslashes", `C:\dir\ \' \\ \x00 \n`, true},
		{"placeholders", "? ?0 ?name $1 :x @p %s %!", true},
		{"sql", "'); DROP TABLE creditledger_entries; --", true},
		{"control characters", "a\nb\tc\rd\x01\x7f", true},
		{"4-byte characters", "𝄞🙂💳 and 中文", true},
		{"longest", longest, true},
		{"NUL byte", "a\x00b", false},
		{"invalid UTF-8", "a\xffb\xc3(", false},
	}
}

// checkWrite asserts the outcome of writing v: for a storable text, no
// error; for another, no error or ErrInvalidArgument. It reports whether
// the write happened (and the text must read back exactly).
func checkWrite(t *testing.T, field string, v hostileText, err error) bool {
	t.Helper()
	if v.storable {
		require.NoError(t, err, "%s %s: every store writes %q", field, v.name, v.value)
		return true
	}
	if err != nil {
		require.ErrorIs(t, err, storage.ErrInvalidArgument, "%s %s: a refusal says which argument", field, v.name)
		return false
	}
	return true
}

// recordField is one text field of a grant's lot, entry or account
// update.
type recordField struct {
	name string
	max  int
	set  func(b *storage.Batch, v string)
	// get reads the field back from what the account holds.
	get func(r *readBack) string
}

// readBack is what the suite reads of an account after a write: through
// the store's reads and through a transaction's LockAndLoad and Load.
type readBack struct {
	account storage.Account
	lots    []storage.Lot
	entries []storage.Entry
	loaded  *storage.Loaded // LockAndLoad of the lots and the call's key, then Load of its refs
}

var recordFields = []recordField{
	{"lot id", longestID, func(b *storage.Batch, v string) { b.Lots[0].ID, b.Entries[0].LotID = v, v },
		func(r *readBack) string { return r.lots[0].ID }},
	{"lot operation id", longestID, func(b *storage.Batch, v string) { b.Lots[0].OperationID = v },
		func(r *readBack) string { return r.loaded.Lots[0].OperationID }},
	{"lot source", longestSource, func(b *storage.Batch, v string) { b.Lots[0].Source = v },
		func(r *readBack) string { return r.lots[0].Source }},
	{"entry id", longestID, func(b *storage.Batch, v string) { b.Entries[0].ID = v },
		func(r *readBack) string { return r.entries[0].ID }},
	{"entry operation id", longestID, func(b *storage.Batch, v string) { b.Entries[0].OperationID = v },
		func(r *readBack) string { return r.loaded.Operations[0].ID }},
	{"entry source", longestSource, func(b *storage.Batch, v string) { b.Entries[0].Source = v },
		func(r *readBack) string { return r.entries[0].Source }},
	{"entry description", longestDescription, func(b *storage.Batch, v string) { b.Entries[0].Description = v },
		func(r *readBack) string { return r.entries[0].Description }},
	{"entry metadata key", longestDescription, func(b *storage.Batch, v string) { b.Entries[0].Metadata = map[string]string{v: "x"} },
		func(r *readBack) string {
			for k := range r.entries[0].Metadata {
				return k
			}
			return ""
		}},
	{"entry metadata value", longestDescription, func(b *storage.Batch, v string) { b.Entries[0].Metadata = map[string]string{"k": v} },
		func(r *readBack) string { return r.entries[0].Metadata["k"] }},
	{"entry key", longestID, func(b *storage.Batch, v string) { b.Entries[0].Key = v },
		func(r *readBack) string { return r.loaded.Operations[0].Key }},
	{"entry param hash", longestID, func(b *storage.Batch, v string) { b.Entries[0].ParamHash = v },
		func(r *readBack) string { return r.loaded.Operations[0].Hash }},
	{"entry ref", longestID, func(b *storage.Batch, v string) { b.Entries[0].Ref = v },
		func(r *readBack) string { return r.loaded.Entries[0].Ref }},
	{"account plan", longestID, func(b *storage.Batch, v string) { b.Accounts[0].SetPlan, b.Accounts[0].Plan = true, v },
		func(r *readBack) string { return r.account.Plan }},
	// Pools and feature prices (schema 6).
	{"lot pool", longestID, func(b *storage.Batch, v string) { b.Lots[0].Pool = v },
		func(r *readBack) string { return r.loaded.Lots[0].Pool }},
	{"entry pool", longestID, func(b *storage.Batch, v string) { b.Entries[0].Pool = v },
		func(r *readBack) string { return r.entries[0].Pool }},
	{"entry feature", longestID, func(b *storage.Batch, v string) { b.Entries[0].Feature = v },
		func(r *readBack) string { return r.loaded.Entries[0].Feature }},
	{"entry quantity", longestID, func(b *storage.Batch, v string) { b.Entries[0].Quantity = v },
		func(r *readBack) string { return r.entries[0].Quantity }},
}

// testHostileTextInRecords: each text field of a lot, an entry and an
// account update, given each hostile text, is written and read back
// exactly (through the store's reads, LockAndLoad and Load), or, for a
// text a store may not hold, refused with ErrInvalidArgument and nothing
// written.
func testHostileTextInRecords(t *testing.T, s storage.Store) {
	ctx := t.Context()
	n := 0
	for _, f := range recordFields {
		for _, v := range hostileTexts(f.max) {
			n++
			account := fmt.Sprint("u-", n)
			key := "k-" + account
			var b *storage.Batch
			err := s.Tx(ctx, func(ctx context.Context, tx storage.Tx) error {
				accts, err := tx.LockAccounts(ctx, []string{account}, true, t0)
				if err != nil {
					return err
				}
				b = grantBatch(accts[0], "op-"+account, key, "lot-"+account, 10, nil, t0)
				b.Entries[0].Ref = "ref-" + account
				f.set(b, v.value)
				e := &b.Entries[0]
				e.Hash = storage.EntryHash(nil, e)
				b.Accounts[0].HeadHash = e.Hash
				return tx.Apply(ctx, b)
			})
			if !checkWrite(t, f.name, v, err) {
				_, err := s.Account(ctx, account)
				require.ErrorIs(t, err, storage.ErrNotFound, "%s %s: the refused transaction wrote nothing", f.name, v.name)
				continue
			}
			r := readBackOf(t, s, account, b.Entries[0].Key, b.Entries[0].OperationID)
			require.Equal(t, v.value, f.get(r), "%s %s", f.name, v.name)
			require.Equal(t, b.Entries[0].Hash, r.entries[0].Hash, "%s %s: the entry as hashed", f.name, v.name)
		}
	}
}

// readBackOf reads account back through every read.
func readBackOf(t *testing.T, s storage.Store, account, key, opID string) *readBack {
	t.Helper()
	ctx := t.Context()
	r := &readBack{}
	a, err := s.Account(ctx, account)
	require.NoError(t, err)
	r.account = *a
	r.lots, err = s.Lots(ctx, storage.LotQuery{Account: account})
	require.NoError(t, err)
	require.Len(t, r.lots, 1)
	r.entries, err = s.Entries(ctx, storage.EntryQuery{Account: account, Limit: 10})
	require.NoError(t, err)
	require.Len(t, r.entries, 1)
	ref := r.entries[0].Ref
	err = s.Tx(ctx, func(ctx context.Context, tx storage.Tx) error {
		_, loaded, err := tx.LockAndLoad(ctx, []string{account}, false, t0,
			storage.LoadQuery{LotsOf: []string{account}, Keys: []storage.AccountKey{{Account: account, Key: key}}})
		if err != nil {
			return err
		}
		refs, err := tx.Load(ctx, storage.LoadQuery{Refs: []storage.AccountID{{Account: account, ID: ref}}})
		if err != nil {
			return err
		}
		loaded.Entries = refs.Entries
		r.loaded = loaded
		return nil
	})
	require.NoError(t, err)
	require.Len(t, r.loaded.Lots, 1, "LockAndLoad: the open lot")
	require.Len(t, r.loaded.Operations, 1, "LockAndLoad: the call of key %q", key)
	require.Len(t, r.loaded.Entries, 1, "Load: the entry whose ref is %q", ref)
	es, err := s.OperationEntries(ctx, account, opID)
	require.NoError(t, err)
	require.Len(t, es, 1, "OperationEntries of %q", opID)
	return r
}

// testHostileTextInHolds: a hold's ID, its lines' lot IDs and the
// operation that ends it, given each hostile text, are written and read
// back exactly (Holds, Load by ID and of active holds), or refused with
// ErrInvalidArgument and nothing written.
func testHostileTextInHolds(t *testing.T, s storage.Store) {
	ctx := t.Context()
	grant(t, s, "u", "", "lot-1", 1000, nil)
	fields := []struct {
		name string
		set  func(h *storage.Hold, end *storage.HoldUpdate, v string)
	}{
		{"hold id", func(h *storage.Hold, end *storage.HoldUpdate, v string) { h.ID, end.ID = v, v }},
		{"hold line lot", func(h *storage.Hold, _ *storage.HoldUpdate, v string) { h.Lines[0].LotID = v }},
		{"hold end operation id", func(_ *storage.Hold, end *storage.HoldUpdate, v string) { end.EndOperationID = v }},
	}
	n := 0
	for _, f := range fields {
		for _, v := range hostileTexts(longestID) {
			n++
			expires := t0.Add(time.Hour)
			h := storage.Hold{ID: fmt.Sprint("hold-", n), Account: "u", Amount: 1, State: storage.HoldActive,
				ExpiresAt: expires, CreatedAt: t0, Lines: []storage.HoldLine{{LotID: "lot-1", Amount: 1}}}
			end := storage.HoldUpdate{Account: "u", ID: h.ID, State: storage.HoldReleased, EndedAt: t0.Add(time.Minute),
				EndOperationID: fmt.Sprint("end-", n)}
			f.set(&h, &end, v.value)
			before, err := s.Holds(ctx, storage.HoldQuery{Account: "u"})
			require.NoError(t, err)
			err = apply(t, s, "u", func(*storage.Account) *storage.Batch { return &storage.Batch{Holds: []storage.Hold{h}} })
			if !checkWrite(t, f.name, v, err) {
				after, err := s.Holds(ctx, storage.HoldQuery{Account: "u"})
				require.NoError(t, err)
				require.Len(t, after, len(before), "%s %s: the refused hold was not written", f.name, v.name)
				continue
			}
			loaded := load(t, s, storage.LoadQuery{HoldsOf: []string{"u"}, Holds: []storage.AccountID{{Account: "u", ID: h.ID}}})
			var found *storage.Hold
			for i := range loaded.Holds {
				if loaded.Holds[i].ID == h.ID {
					found = &loaded.Holds[i]
				}
			}
			require.NotNil(t, found, "%s %s: Load finds the hold by its ID", f.name, v.name)
			require.Equal(t, h.Lines, found.Lines, "%s %s", f.name, v.name)
			err = apply(t, s, "u", func(*storage.Account) *storage.Batch {
				return &storage.Batch{HoldUpdates: []storage.HoldUpdate{end}}
			})
			if !checkWrite(t, f.name, v, err) {
				continue
			}
			got, err := s.Holds(ctx, storage.HoldQuery{Account: "u", ID: h.ID})
			require.NoError(t, err)
			require.Len(t, got, 1, "%s %s: Holds by ID", f.name, v.name)
			require.Equal(t, h.ID, got[0].ID)
			require.Equal(t, h.Lines, got[0].Lines)
			require.Equal(t, storage.HoldReleased, got[0].State)
			require.Equal(t, end.EndOperationID, got[0].EndOperationID, "%s %s", f.name, v.name)
		}
	}
}

// testHostileAccountID: an account id with each hostile text is created,
// written and read back exactly (Account, Lots, Entries,
// AccountWithOpenLots, Scan, a claim), or refused with
// ErrInvalidArgument and nothing written.
func testHostileAccountID(t *testing.T, s storage.Store) {
	ctx := t.Context()
	for i, v := range hostileTexts(longestID) {
		id := v.value
		err := s.Tx(ctx, func(ctx context.Context, tx storage.Tx) error {
			accts, err := tx.LockAccounts(ctx, []string{id}, true, t0)
			if err != nil {
				return err
			}
			b := grantBatch(accts[0], fmt.Sprint("op-", i), "k1", fmt.Sprint("lot-", i), 10, nil, t0)
			b.Accounts[0].NextGrantAt = &t0
			return tx.Apply(ctx, b)
		})
		if !checkWrite(t, "account id", v, err) {
			got, err := s.Scan(ctx, "", 100)
			require.NoError(t, err)
			for _, d := range got {
				require.NotEqual(t, id, d.Account.ID, "%s: the refused account was not written", v.name)
			}
			continue
		}
		a, err := s.Account(ctx, id)
		require.NoError(t, err, v.name)
		require.Equal(t, id, a.ID)
		require.EqualValues(t, 10, a.Balance, v.name)
		acct, lots, err := s.AccountWithOpenLots(ctx, id, t0)
		require.NoError(t, err, v.name)
		require.Equal(t, id, acct.ID)
		require.Len(t, lots, 1, v.name)
		require.Equal(t, id, lots[0].Account)
		es, err := s.Entries(ctx, storage.EntryQuery{Account: id, Limit: 10})
		require.NoError(t, err)
		require.Len(t, es, 1, v.name)
		require.Equal(t, id, es[0].Account)
		var claimed []storage.Account
		require.NoError(t, s.Tx(ctx, func(ctx context.Context, tx storage.Tx) error {
			claimed, err = tx.ClaimAccounts(ctx, storage.ClaimQuery{Now: t0, Limit: 100, Grants: true})
			if err != nil {
				return err
			}
			// The claim's cursor is an id too.
			_, err = tx.ClaimAccounts(ctx, storage.ClaimQuery{Now: t0, After: id, Limit: 1, Grants: true})
			return err
		}))
		ids := make([]string, len(claimed))
		for i, c := range claimed {
			ids[i] = c.ID
		}
		require.Contains(t, ids, id, "%s: the claim returns the due account", v.name)
		// Not due any more, so that the next text's claim finds its own.
		require.NoError(t, apply(t, s, id, func(a *storage.Account) *storage.Batch {
			return &storage.Batch{Accounts: []storage.AccountUpdate{update(a)}}
		}))
	}
}
