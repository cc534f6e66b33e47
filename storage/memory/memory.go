// Package memory is a storage.Store kept in the process's memory.
//
// It is complete and safe for concurrent use: transactions are serialized
// by one mutex and rolled back from an undo log, so it behaves as a SQL
// store at the serializable level. It is the reference the conformance
// suite and the property tests compare other stores with, and a store for
// tests and single-process tools. Nothing survives the process.
package memory

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/creditledger/creditledger/storage"
)

// Store is an in-memory storage.Store. The zero value is not usable: call
// New.
type Store struct {
	mu       sync.Mutex
	scale    *int32
	accounts map[string]*storage.Account
	ids      []string // account ids, sorted, for keyset walks
	lots     map[string]*storage.Lot
	lotsOf   map[string][]string // account -> lot ids
	entries  map[string][]storage.Entry
	ops      map[storage.AccountKey]*storage.Operation // keyed calls, from their first entries
	holds    map[storage.AccountID]*storage.Hold       // by account and hold id
	holdsOf  map[string][]string                       // account -> hold ids, in creation order

	events   []*storage.Event // the outbox, by ascending Seq (events.go)
	eventSeq int64            // the Seq of the newest event ever inserted
	notices  map[storage.AccountID]bool
}

var _ storage.Store = (*Store)(nil)

// New returns an empty store.
func New() *Store {
	return &Store{
		accounts: map[string]*storage.Account{},
		lots:     map[string]*storage.Lot{},
		lotsOf:   map[string][]string{},
		entries:  map[string][]storage.Entry{},
		ops:      map[storage.AccountKey]*storage.Operation{},
		holds:    map[storage.AccountID]*storage.Hold{},
		holdsOf:  map[string][]string{},
		notices:  map[storage.AccountID]bool{},
	}
}

// Init records the scale on first use; another scale later is refused
// with storage.ErrScaleMismatch.
func (s *Store) Init(_ context.Context, scale int32) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.scale == nil {
		s.scale = &scale
		return nil
	}
	if *s.scale != scale {
		return fmt.Errorf("%w: the store holds scale %d, the ledger asks for %d", storage.ErrScaleMismatch, *s.scale, scale)
	}
	return nil
}

// Tx runs fn with the store locked. When fn fails, every change it made
// is undone. fn must not call the Store's own methods (it would deadlock):
// it uses tx.
func (s *Store) Tx(ctx context.Context, fn func(ctx context.Context, tx storage.Tx) error) (err error) {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	tx := &memTx{s: s}
	defer func() {
		if r := recover(); r != nil {
			tx.rollback()
			panic(r)
		}
		if err != nil {
			tx.rollback()
		}
	}()
	if err = fn(ctx, tx); err != nil {
		return err
	}
	// A context cancelled while fn ran aborts the commit, as it would in a
	// SQL store.
	return ctx.Err()
}

// Account returns a copy of an account.
func (s *Store) Account(_ context.Context, id string) (*storage.Account, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.accounts[id]
	if !ok {
		return nil, fmt.Errorf("%w: account %q", storage.ErrNotFound, id)
	}
	cp := *a
	return &cp, nil
}

// Lots returns copies of an account's lots.
func (s *Store) Lots(_ context.Context, q storage.LotQuery) ([]storage.Lot, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []storage.Lot
	for _, id := range s.lotsOf[q.Account] {
		lot := s.lots[id]
		if q.OnlyOpen && (lot.Remaining == 0 || (lot.Remaining > 0 && !q.Now.IsZero() && lot.Expired(q.Now))) {
			continue
		}
		out = append(out, *lot)
	}
	return out, nil
}

// Entries returns a page of an account's entries, newest first.
func (s *Store) Entries(_ context.Context, q storage.EntryQuery) ([]storage.Entry, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	es := s.entries[q.Account]
	var out []storage.Entry
	for i := len(es) - 1; i >= 0 && len(out) < q.Limit; i-- {
		if q.BeforeSeq > 0 && es[i].Seq >= q.BeforeSeq {
			continue
		}
		if q.Pool != nil && es[i].Pool != *q.Pool {
			continue
		}
		out = append(out, copyEntry(es[i]))
	}
	return out, nil
}

// OperationEntries returns the entries an operation wrote.
func (s *Store) OperationEntries(_ context.Context, account, operationID string) ([]storage.Entry, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []storage.Entry
	for _, e := range s.entries[account] {
		if e.OperationID == operationID {
			out = append(out, copyEntry(e))
		}
	}
	return out, nil
}

// Scan returns accounts after an id with their lots and entries.
func (s *Store) Scan(_ context.Context, after string, limit int) ([]storage.AccountDump, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []storage.AccountDump
	for i := sort.SearchStrings(s.ids, after); i < len(s.ids) && len(out) < limit; i++ {
		id := s.ids[i]
		if id <= after {
			continue
		}
		d := storage.AccountDump{Account: *s.accounts[id]}
		for _, lid := range s.lotsOf[id] {
			d.Lots = append(d.Lots, *s.lots[lid])
		}
		for _, e := range s.entries[id] {
			d.Entries = append(d.Entries, copyEntry(e))
		}
		d.Holds = s.holdsOfLocked(storage.HoldQuery{Account: id})
		out = append(out, d)
	}
	return out, nil
}

// AccountWithOpenLots returns a copy of an account and of its lots with
// remaining > 0 that are not expired at now, and its open debt lots.
func (s *Store) AccountWithOpenLots(_ context.Context, id string, now time.Time) (*storage.Account, []storage.Lot, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.accounts[id]
	if !ok {
		return nil, nil, fmt.Errorf("%w: account %q", storage.ErrNotFound, id)
	}
	acct := *a
	var lots []storage.Lot
	for _, lid := range s.lotsOf[id] {
		if lot := s.lots[lid]; lot.Remaining < 0 || (lot.Remaining > 0 && !lot.Expired(now)) {
			lots = append(lots, *lot)
		}
	}
	return &acct, lots, nil
}

// MaxParallelTx returns 1: transactions are serialized.
func (s *Store) MaxParallelTx() int { return 1 }

// Bound returns false: every Tx is a transaction of the store's own.
func (s *Store) Bound() bool { return false }

// Orphans returns nothing: the memory store never removes an account.
func (s *Store) Orphans(context.Context, int) ([]storage.AccountDump, error) {
	return nil, nil
}

func copyEntry(e storage.Entry) storage.Entry {
	e.Metadata = maps.Clone(e.Metadata)
	e.Hash = slices.Clone(e.Hash)
	e.ExpiresAt = normPtr(e.ExpiresAt)
	e.EffectiveAt = normPtr(e.EffectiveAt)
	return e
}

// memTx is a transaction: the store's mutex is held for its whole life.
type memTx struct {
	s    *Store
	undo []func()
}

func (t *memTx) rollback() {
	for i := len(t.undo) - 1; i >= 0; i-- {
		t.undo[i]()
	}
	t.undo = nil
}

func (t *memTx) LockAccounts(_ context.Context, ids []string, create bool, now time.Time) ([]storage.Account, error) {
	sorted := append([]string(nil), ids...)
	sort.Strings(sorted)
	var out []storage.Account
	for i, id := range sorted {
		if i > 0 && sorted[i-1] == id {
			continue
		}
		a, ok := t.s.accounts[id]
		if !ok {
			if !create {
				continue
			}
			a = &storage.Account{ID: id, CreatedAt: norm(now)}
			t.insertAccount(a)
		}
		out = append(out, *a)
	}
	return out, nil
}

func (t *memTx) LockAndLoad(ctx context.Context, ids []string, create bool, now time.Time, q storage.LoadQuery) ([]storage.Account, *storage.Loaded, error) {
	accts, err := t.LockAccounts(ctx, ids, create, now)
	if err != nil {
		return nil, nil, err
	}
	loaded, err := t.Load(ctx, q)
	if err != nil {
		return nil, nil, err
	}
	return accts, loaded, nil
}

func (t *memTx) insertAccount(a *storage.Account) {
	s := t.s
	s.accounts[a.ID] = a
	i := sort.SearchStrings(s.ids, a.ID)
	s.ids = append(s.ids, "")
	copy(s.ids[i+1:], s.ids[i:])
	s.ids[i] = a.ID
	t.undo = append(t.undo, func() {
		delete(s.accounts, a.ID)
		j := sort.SearchStrings(s.ids, a.ID)
		s.ids = append(s.ids[:j], s.ids[j+1:]...)
	})
}

func (t *memTx) ClaimAccounts(_ context.Context, q storage.ClaimQuery) ([]storage.Account, error) {
	var out []storage.Account
	due := func(at *time.Time) bool { return at != nil && !at.After(q.Now) }
	for i := sort.SearchStrings(t.s.ids, q.After); i < len(t.s.ids) && len(out) < q.Limit; i++ {
		a := t.s.accounts[t.s.ids[i]]
		if a.ID <= q.After {
			continue
		}
		if (q.Grants && due(a.NextGrantAt)) || (q.Expiry && due(a.NextExpiryAt)) {
			out = append(out, *a)
		}
	}
	return out, nil
}

func (t *memTx) Load(_ context.Context, q storage.LoadQuery) (*storage.Loaded, error) {
	out := &storage.Loaded{}
	for _, acct := range q.LotsOf {
		for _, id := range t.s.lotsOf[acct] {
			if lot := t.s.lots[id]; lot.Remaining != 0 {
				out.Lots = append(out.Lots, *lot)
			}
		}
	}
	for _, k := range q.Keys {
		if op, ok := t.s.ops[k]; ok {
			out.Operations = append(out.Operations, *op)
		}
	}
	t.loadHolds(q, out)
	t.loadNotices(q, out)
	return out, nil
}

// Apply checks the whole batch first, so a refused batch changes nothing,
// then writes it with undo records.
func (t *memTx) Apply(_ context.Context, b *storage.Batch) error {
	s := t.s
	keys := map[storage.AccountKey]bool{}
	for _, e := range b.Entries {
		if e.Key == "" {
			continue
		}
		k := storage.AccountKey{Account: e.Account, Key: e.Key}
		if _, dup := s.ops[k]; dup || keys[k] {
			return fmt.Errorf("%w: key %q of account %q", storage.ErrDuplicateKey, e.Key, e.Account)
		}
		keys[k] = true
	}
	newLots := map[string]*storage.Lot{}
	for i := range b.Lots {
		lot := b.Lots[i]
		lot.ExpiresAt, lot.CreatedAt = normPtr(lot.ExpiresAt), norm(lot.CreatedAt)
		lot.EffectiveAt = normPtr(lot.EffectiveAt)
		if _, dup := s.lots[lot.ID]; dup || newLots[lot.ID] != nil {
			return fmt.Errorf("memory: lot %s exists", lot.ID)
		}
		if _, ok := s.accounts[lot.Account]; !ok {
			return fmt.Errorf("%w: account %q of lot %s", storage.ErrNotFound, lot.Account, lot.ID)
		}
		if err := checkRemaining(&lot, lot.Remaining); err != nil {
			return err
		}
		newLots[lot.ID] = &lot
	}
	debited := map[string]int64{}
	for _, d := range b.Debits {
		if err := s.checkLotChange("debit", newLots, d.Account, d.LotID, d.Amount); err != nil {
			return err
		}
		debited[d.LotID] += d.Amount
	}
	if err := t.checkCredits(b, newLots, debited); err != nil {
		return err
	}
	if err := t.checkHolds(b); err != nil {
		return err
	}
	for _, x := range b.LotExpiries {
		if lot := s.lotOf(newLots, x.Account, x.LotID); lot == nil {
			return fmt.Errorf("%w: lot %s of account %q to set the expiry of", storage.ErrNotFound, x.LotID, x.Account)
		}
	}
	if err := t.checkEvents(b); err != nil {
		return err
	}
	seqs := map[string]map[int64]bool{}
	for _, e := range b.Entries {
		if len(e.Hash) == 0 {
			return fmt.Errorf("%w: entry %s of account %q has no hash", storage.ErrInvalidArgument, e.ID, e.Account)
		}
		if _, ok := s.accounts[e.Account]; !ok {
			return fmt.Errorf("%w: account %q of entry %s", storage.ErrNotFound, e.Account, e.ID)
		}
		if seqs[e.Account] == nil {
			seqs[e.Account] = map[int64]bool{}
		}
		es := s.entries[e.Account]
		if seqs[e.Account][e.Seq] || (len(es) > 0 && es[len(es)-1].Seq >= e.Seq) {
			return fmt.Errorf("memory: entry seq %d of account %q exists", e.Seq, e.Account)
		}
		seqs[e.Account][e.Seq] = true
	}
	for _, u := range b.Accounts {
		if _, ok := s.accounts[u.ID]; !ok {
			return fmt.Errorf("%w: account %q", storage.ErrNotFound, u.ID)
		}
	}

	for _, e := range b.Entries {
		if e.Key == "" {
			continue // unkeyed calls are only ever found through their entries
		}
		k := storage.AccountKey{Account: e.Account, Key: e.Key}
		s.ops[k] = &storage.Operation{
			ID: e.OperationID, Key: e.Key, Kind: e.Kind, Account: e.Account, Hash: e.ParamHash,
			Available: e.Available, Seq: e.Seq, CreatedAt: norm(e.CreatedAt),
		}
		t.undo = append(t.undo, func() { delete(s.ops, k) })
	}
	for _, lot := range b.Lots {
		nl := newLots[lot.ID]
		s.lots[nl.ID] = nl
		prev := s.lotsOf[nl.Account]
		s.lotsOf[nl.Account] = append(prev[:len(prev):len(prev)], nl.ID)
		t.undo = append(t.undo, func() {
			delete(s.lots, nl.ID)
			s.lotsOf[nl.Account] = prev
		})
	}
	for _, d := range b.Debits {
		lot := s.lots[d.LotID]
		amount := d.Amount
		lot.Remaining -= amount
		t.undo = append(t.undo, func() { lot.Remaining += amount })
	}
	for _, c := range b.Credits {
		lot := s.lots[c.LotID]
		amount := c.Amount
		lot.Remaining += amount
		t.undo = append(t.undo, func() { lot.Remaining -= amount })
	}
	t.applyHolds(b)
	for _, x := range b.LotExpiries {
		lot := s.lots[x.LotID]
		old := lot.ExpiresAt
		lot.ExpiresAt = normPtr(x.ExpiresAt)
		t.undo = append(t.undo, func() { lot.ExpiresAt = old })
	}
	t.applyEvents(b)
	for _, e := range b.Entries {
		e := copyEntry(e)
		e.CreatedAt = norm(e.CreatedAt)
		prev := s.entries[e.Account]
		s.entries[e.Account] = append(prev[:len(prev):len(prev)], e)
		t.undo = append(t.undo, func() { s.entries[e.Account] = prev })
	}
	for _, u := range b.Accounts {
		a := s.accounts[u.ID]
		old := *a
		a.Balance, a.Seq = u.Balance, u.Seq
		if u.HeadHash != nil {
			a.HeadHash = slices.Clone(u.HeadHash)
		}
		a.NextGrantAt, a.NextExpiryAt = normPtr(u.NextGrantAt), normPtr(u.NextExpiryAt)
		a.MultiPool = a.MultiPool || u.MultiPool
		if u.SetPlan {
			a.Plan, a.Anchor = u.Plan, norm(u.Anchor)
		}
		t.undo = append(t.undo, func() { *a = old })
	}
	return nil
}

// norm keeps times as a SQL store would: UTC, to the microsecond.
// checkLotChange checks a debit or credit (what) of amount to lot id of
// account: the lot must exist, stored or new in the batch, and amount be
// positive.
func (s *Store) checkLotChange(what string, newLots map[string]*storage.Lot, account, id string, amount int64) error {
	if s.lotOf(newLots, account, id) == nil {
		return fmt.Errorf("%w: lot %s of account %q", storage.ErrNotFound, id, account)
	}
	if amount <= 0 {
		return fmt.Errorf("%w: %s of lot %s by %d (want > 0)", storage.ErrInvalidAmount, what, id, amount)
	}
	return nil
}

// lotOf returns lot id of account, stored or new in the batch, or nil.
func (s *Store) lotOf(newLots map[string]*storage.Lot, account, id string) *storage.Lot {
	lot := s.lots[id]
	if lot == nil {
		lot = newLots[id]
	}
	if lot == nil || lot.Account != account {
		return nil
	}
	return lot
}

// checkRemaining checks that r is a remaining lot may have: within [0,
// Amount], or at or below 0 for a debt lot (whose Amount is 0).
func checkRemaining(lot *storage.Lot, r int64) error {
	if lot.Debt {
		if r > 0 || lot.Amount != 0 {
			return fmt.Errorf("%w: memory: debt lot %s: amount %d, remaining %d (want 0, <= 0)", storage.ErrInsufficientCredits, lot.ID, lot.Amount, r)
		}
		return nil
	}
	if r < 0 {
		return fmt.Errorf("%w: memory: lot %s: remaining %d below 0", storage.ErrInsufficientCredits, lot.ID, r)
	}
	if r > lot.Amount {
		return fmt.Errorf("memory: lot %s: remaining %d above its amount %d", lot.ID, r, lot.Amount)
	}
	return nil
}

func norm(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return t.UTC().Truncate(time.Microsecond)
}

func normPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	n := norm(*t)
	return &n
}
