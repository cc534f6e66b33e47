package ledger

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/creditledger/creditledger/storage"
)

// Group commit.
//
// A single-account write costs a transaction: a lock, a load, an apply
// and a commit, whatever it writes. Under concurrency those transactions
// queue for the same database anyway (for the one SQLite writer, for the
// lock of a hot account, for the commits of PostgreSQL's WAL), so calls
// that arrive while transactions are in flight wait for one to end and
// then share the next one: every account of the batch locked in ID order
// by one LockAndLoad, each call's rules applied in arrival order against
// the state the earlier calls left (two calls on one account share its
// accountWriter), one Apply, one commit.
//
// What a caller sees is what a transaction of its own would have given:
//   - A call that fails a rule (insufficient credits, a key conflict, a
//     hold not active...) is undone in the writer (mark/restore) and left
//     out; the others go on.
//   - A key used before answers from the stored call, and a key used
//     twice in one batch makes the second a replay of the first (or a
//     conflict), as a later transaction would find it.
//   - A database error (a failed statement, a deadlock past the store's
//     retries, a lost key race) fails the batch's transaction, which then
//     commits nothing; each call then runs alone, as without group
//     commit, so no call can fail another: the leader runs them one by
//     one, in arrival order. When the error came after the
//     batch was sent for commit, whether it committed is read back (one
//     of its operations' entries) before anything is run again.
//   - A caller whose context ends while its call is queued gets the
//     context's error and its call is removed: nothing of it is written.
//     Once its batch has started the call is in the batch's transaction,
//     whose context does not end with any one caller's (it has the latest
//     of their deadlines, or none if one has none); the caller waits for
//     the outcome and gets the receipt or error of its call.
//
// Idle, a call runs at once in a transaction of its own (no timer, no
// wait): only a call that finds every lane busy, or its account in a
// transaction in flight, queues. A store runs at most lanes transactions
// of group commit at once (maxLanes, and never more than
// store.MaxParallelTx), on accounts no other of them has: a lane starts
// a batch of the queued calls whose accounts are free, in arrival order,
// and a call whose account is in flight waits for it (the calls of one
// account keep their order). A batch holds at most
// DefaultGroupCommitCalls calls and about DefaultGroupCommitBytes of text.
// A call that loads more in its own way (prepare: Reverse) joins a batch
// only as the first call on its account, since what it reads from the
// database must already hold the earlier calls' writes; otherwise it
// starts the next batch.

// The bounds of one batch of group commit: a batch takes calls from the
// queue in arrival order while it has fewer than DefaultGroupCommitCalls
// and their estimated size (ids, keys, descriptions, metadata and a fixed
// share per call for the rest of its entries) stays within
// DefaultGroupCommitBytes.
const (
	DefaultGroupCommitCalls = 256
	DefaultGroupCommitBytes = 1 << 20
)

// callBaseBytes is a call's estimated size beyond its text: its entries'
// ids, amounts, times and hashes, its account update.
const callBaseBytes = 512

// maxLanes bounds how many batches may be in flight at once on one store.
// Two, each on accounts the other has not: on PostgreSQL a second
// transaction uses the database's second core while the first waits for
// its round trips (16 consumers over random accounts of 1,000,000: 4,671
// consumes/s with one lane, 5,586 with two), and because lanes never share
// an account, calls on one hot account still go one batch at a time
// instead of halving the batches and waiting for each other's row lock
// (lanes that could share accounts made that case 20% slower;
// docs/BENCHMARKS.md, "Group commit (v0.3)"). SQLite and memory serialize
// their transactions anyway (MaxParallelTx 1).
const maxLanes = 2

// groupCommit is the queue of one store's writes.
type groupCommit struct {
	lanes    int
	maxCalls int
	maxBytes int

	mu   sync.Mutex
	busy int // lanes in use: transactions of this queue in flight
	// inflight counts the transactions in flight on each account (one at
	// most, as lanes do not share accounts).
	inflight map[string]int
	// queue is in arrival order; not empty only when every lane is busy
	// or no queued call's account is free.
	queue []*queuedCall

	// For tests (export_test.go): batches of two calls or more run, the
	// calls they held, and the batches that fell back to one by one.
	batches, batched, fallbacks atomic.Int64
}

// newGroupCommit returns the queue of store, or nil when group commit is
// off: disabled, or the store is bound to a host's transaction.
func newGroupCommit(store storage.Store, disabled bool) *groupCommit {
	if disabled || store == nil || store.Bound() {
		return nil
	}
	return &groupCommit{
		lanes:    min(max(store.MaxParallelTx(), 1), maxLanes),
		inflight: map[string]int{},
		maxCalls: DefaultGroupCommitCalls,
		maxBytes: DefaultGroupCommitBytes,
	}
}

// queuedCall is a write waiting for a transaction.
type queuedCall struct {
	ctx  context.Context
	spec writeSpec
	size int
	// taken is set, under the queue's lock, when a batch takes the call:
	// from then on its caller waits for the outcome.
	taken bool
	wake  chan wakeUp // buffered: one message per call
}

// wakeUp tells a queued caller to lead a batch (lead, whose first call is
// its own) or what became of its call.
type wakeUp struct {
	lead []*queuedCall
	out  callOutcome
}

// callOutcome is what a batch made of one call.
type callOutcome struct {
	rec     *Receipt
	replay  *storage.Operation // the key's call, to answer from
	applied *storage.Batch     // the call's entries, for telemetry
	err     error
	// final: rec and err are the call's result as they are (it ran
	// alone after its batch failed; telemetry counted it).
	final bool
}

func callBytes(s *writeSpec) int {
	return callBaseBytes + len(s.account) + len(s.key) + len(s.hash) + s.size
}

// write runs s through the queue.
func (g *groupCommit) write(ctx context.Context, l *Ledger, s writeSpec) (*Receipt, error) {
	g.mu.Lock()
	if g.busy < g.lanes && len(g.queue) == 0 && g.inflight[s.account] == 0 {
		g.busy++
		g.inflight[s.account]++
		g.mu.Unlock()
		defer g.release([]string{s.account})
		return l.writeAlone(ctx, s)
	}
	if err := ctx.Err(); err != nil {
		g.mu.Unlock()
		return nil, err
	}
	c := &queuedCall{ctx: ctx, spec: s, size: callBytes(&s), wake: make(chan wakeUp, 1)}
	g.queue = append(g.queue, c)
	// A free lane with calls queued: they were all on accounts in
	// flight, and this one may not be.
	starts := g.startBatches()
	g.mu.Unlock()
	lead(starts)
	var w wakeUp
	select {
	case w = <-c.wake:
	case <-ctx.Done():
		g.mu.Lock()
		if !c.taken {
			g.queue = slices.DeleteFunc(g.queue, func(q *queuedCall) bool { return q == c })
			g.mu.Unlock()
			return nil, ctx.Err()
		}
		g.mu.Unlock()
		w = <-c.wake
	}
	if w.lead != nil {
		if len(w.lead) == 1 {
			defer g.release([]string{s.account})
			return l.writeAlone(ctx, s)
		}
		g.batches.Add(1)
		g.batched.Add(int64(len(w.lead)))
		outs := l.commitBatch(w.lead)
		for i := 1; i < len(w.lead); i++ {
			w.lead[i].wake <- wakeUp{out: outs[i]}
		}
		accounts := make([]string, len(w.lead))
		for i, c := range w.lead {
			accounts[i] = c.spec.account
		}
		g.release(accounts)
		w.out = outs[0]
	}
	return l.settle(ctx, s, w.out)
}

// settle turns a call's outcome into what write returns.
func (l *Ledger) settle(ctx context.Context, s writeSpec, o callOutcome) (*Receipt, error) {
	switch {
	case o.final:
		return o.rec, o.err
	case o.err != nil:
		return nil, o.err
	case o.replay != nil:
		return l.replay(ctx, o.replay)
	}
	l.tel.committed(ctx, o.applied)
	return o.rec, nil
}

// release ends a transaction of the queue on accounts: its lane, and any
// other free one, goes to a batch of the queued calls (startBatches), or
// is freed.
func (g *groupCommit) release(accounts []string) {
	g.mu.Lock()
	for _, a := range accounts {
		if g.inflight[a]--; g.inflight[a] <= 0 {
			delete(g.inflight, a)
		}
	}
	g.busy--
	starts := g.startBatches()
	g.mu.Unlock()
	lead(starts)
}

// startBatches takes a batch from the queue for each free lane while the
// queue has calls on free accounts, under g.mu, and returns them for lead.
func (g *groupCommit) startBatches() [][]*queuedCall {
	var starts [][]*queuedCall
	for g.busy < g.lanes && len(g.queue) > 0 {
		batch := g.take()
		if batch == nil {
			break
		}
		g.busy++
		starts = append(starts, batch)
	}
	return starts
}

// lead wakes the first call of each batch to run it.
func lead(starts [][]*queuedCall) {
	for _, batch := range starts {
		batch[0].wake <- wakeUp{lead: batch}
	}
}

// take removes the next batch from the queue, under g.mu, and marks its
// accounts in flight: calls in arrival order within the bounds, a call
// with its own loads only as the first of its account, passing over (and
// leaving queued, in order) the calls on accounts in flight. Calls whose
// context has ended are removed and told. nil when no call could be
// taken.
func (g *groupCommit) take() []*queuedCall {
	var batch, passed []*queuedCall
	accounts := map[string]bool{}
	bytes, n := 0, 0
	for ; n < len(g.queue) && len(batch) < g.maxCalls; n++ {
		c := g.queue[n]
		if err := c.ctx.Err(); err != nil {
			c.taken = true
			c.wake <- wakeUp{out: callOutcome{err: err}}
			continue
		}
		if g.inflight[c.spec.account] > 0 {
			passed = append(passed, c)
			continue
		}
		if len(batch) > 0 && (bytes+c.size > g.maxBytes || c.spec.prepare != nil && accounts[c.spec.account]) {
			break
		}
		c.taken = true
		accounts[c.spec.account] = true
		bytes += c.size
		batch = append(batch, c)
	}
	g.queue = append(passed, g.queue[n:]...)
	for a := range accounts {
		g.inflight[a]++
	}
	return batch
}

// batchContext is the context of a batch's transaction: the first call's
// values, no caller's cancellation, and the latest of the callers'
// deadlines (none when one has none), so that a batch whose callers have
// all given up ends.
func batchContext(calls []*queuedCall) (context.Context, context.CancelFunc) {
	ctx := context.WithoutCancel(calls[0].ctx)
	var latest time.Time
	for _, c := range calls {
		d, ok := c.ctx.Deadline()
		if !ok {
			return ctx, func() {}
		}
		if d.After(latest) {
			latest = d
		}
	}
	return context.WithDeadline(ctx, latest)
}

// errFreshUnused is how a batch that created an account no call of it
// wrote to gives up its transaction: alone, each call would have left no
// account row.
var errFreshUnused = errors.New("creditledger: group commit created an account no call wrote to")

// commitBatch runs calls in one transaction and returns each one's
// outcome, in order.
func (l *Ledger) commitBatch(calls []*queuedCall) []callOutcome {
	ctx, cancel := batchContext(calls)
	defer cancel()
	var b *batchRun
	err := l.store.Tx(ctx, func(ctx context.Context, tx storage.Tx) error {
		b = &batchRun{l: l, calls: calls}
		return b.run(ctx, tx)
	})
	if err == nil {
		return b.outs
	}
	if b != nil && b.complete && len(b.staged) > 0 {
		// The error came once the batch was sent: whether it committed
		// is read back before anything runs again.
		committed, perr := l.batchCommitted(calls[0].ctx, b)
		if perr != nil {
			out := make([]callOutcome, len(calls))
			for i := range out {
				out[i].err = fmt.Errorf("creditledger: group commit: %w (and reading whether the transaction committed failed: %w)", err, perr)
			}
			return out
		}
		if committed {
			return b.outs
		}
	}
	l.logger.DebugContext(ctx, "creditledger: group commit: batch failed, running its calls one by one",
		"calls", len(calls), "error", err)
	if l.group != nil {
		l.group.fallbacks.Add(1)
	}
	// One by one, in arrival order, each with its caller's context (a
	// caller that gave up meanwhile gets its context's error, nothing
	// written), while the batch's lane is held.
	out := make([]callOutcome, len(calls))
	for i, c := range calls {
		rec, err := l.writeAlone(c.ctx, c.spec)
		out[i] = callOutcome{rec: rec, err: err, final: true}
	}
	return out
}

// batchCommitted reports whether the last transaction of b committed, by
// reading the entries of its first written call.
func (l *Ledger) batchCommitted(ctx context.Context, b *batchRun) (bool, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	sc := b.staged[0]
	entries, err := l.store.OperationEntries(ctx, sc.w.acct.ID, sc.w.opID(sc.opIdx))
	if err != nil {
		return false, err
	}
	return len(entries) > 0, nil
}

// batchRun is one run of a batch's transaction (a store may run it again).
type batchRun struct {
	l     *Ledger
	calls []*queuedCall
	outs  []callOutcome
	// writers of the accounts that exist (or that a call may create).
	writers map[string]*accountWriter
	// fresh accounts were created by this transaction and are not
	// written to yet: for a call that does not create its account they
	// do not exist.
	fresh map[string]bool
	// keys are the calls found by key, loaded or written by this batch.
	keys     map[storage.AccountKey]storage.Operation
	staged   []stagedCall
	complete bool // the transaction's function returned nil
}

// stagedCall is a call that the batch writes.
type stagedCall struct {
	i        int // in calls
	w        *accountWriter
	opIdx    int
	from, to int // its entries in w.batch.Entries (sweeps included)
}

// accountNeeds is what the calls of one account need loaded.
type accountNeeds struct {
	create, lots, holds bool
	holdIDs             []string
}

func (b *batchRun) run(ctx context.Context, stx storage.Tx) error {
	l := b.l
	tx := &watchedTx{Tx: stx}
	b.outs = make([]callOutcome, len(b.calls))
	b.writers = map[string]*accountWriter{}
	b.fresh = map[string]bool{}
	b.keys = map[storage.AccountKey]storage.Operation{}

	needs := map[string]*accountNeeds{}
	var ids []string
	for _, c := range b.calls {
		s := &c.spec
		n := needs[s.account]
		if n == nil {
			n = &accountNeeds{}
			needs[s.account] = n
			ids = append(ids, s.account)
		}
		n.create = n.create || s.create
		n.lots = n.lots || s.needLots || s.needHolds
		if s.needHolds {
			n.holds = true
			n.holdIDs = append(n.holdIDs, s.holdIDs...)
		}
	}
	sort.Strings(ids)
	query := func(ids []string) storage.LoadQuery {
		var q storage.LoadQuery
		in := map[string]bool{}
		for _, id := range ids {
			in[id] = true
			n := needs[id]
			if n.lots {
				q.LotsOf = append(q.LotsOf, id)
			}
			if n.holds {
				q.HoldsOf = append(q.HoldsOf, id)
				for _, h := range n.holdIDs {
					q.Holds = append(q.Holds, storage.AccountID{Account: id, ID: h})
				}
			}
		}
		for _, c := range b.calls {
			if c.spec.key != "" && in[c.spec.account] {
				q.Keys = append(q.Keys, storage.AccountKey{Account: c.spec.account, Key: c.spec.key})
			}
		}
		return q
	}

	// Lock the accounts that exist, then create those a call creates,
	// each set in ID order; read the instant once they are held.
	created := l.clock()
	accts, loaded, err := tx.LockAndLoad(ctx, ids, false, created, query(ids))
	if err != nil {
		return err
	}
	found := make(map[string]storage.Account, len(accts))
	for _, a := range accts {
		found[a.ID] = a
	}
	var missing []string
	for _, id := range ids {
		if _, ok := found[id]; !ok && needs[id].create {
			missing = append(missing, id)
		}
	}
	if len(missing) > 0 {
		more, moreLoaded, err := tx.LockAndLoad(ctx, missing, true, created, query(missing))
		if err != nil {
			return err
		}
		for _, a := range more {
			found[a.ID] = a
			if a.Seq == 0 {
				b.fresh[a.ID] = true
			}
		}
		loaded.Lots = append(loaded.Lots, moreLoaded.Lots...)
		loaded.Operations = append(loaded.Operations, moreLoaded.Operations...)
		loaded.Holds = append(loaded.Holds, moreLoaded.Holds...)
	}
	now := later(l.clock(), created)

	// What the calls need at now (a sweep due among it) beyond what
	// the lock loaded, by the rule of a call alone (lotsNeeded,
	// holdsNeeded).
	lotsLoaded, holdsLoaded := map[string]bool{}, map[string]bool{}
	var rest storage.LoadQuery
	for _, c := range b.calls {
		s := &c.spec
		a, ok := found[s.account]
		if !ok {
			continue
		}
		if s.lotsNeeded(&a, now) && !lotsLoaded[s.account] {
			lotsLoaded[s.account] = true
			if !needs[s.account].lots {
				rest.LotsOf = append(rest.LotsOf, s.account)
			}
		}
		if s.holdsNeeded(&a, now) && !holdsLoaded[s.account] {
			holdsLoaded[s.account] = true
			if !needs[s.account].holds {
				rest.HoldsOf = append(rest.HoldsOf, s.account)
			}
		}
	}
	if len(rest.LotsOf) > 0 || len(rest.HoldsOf) > 0 {
		more, err := tx.Load(ctx, rest)
		if err != nil {
			return err
		}
		loaded.Lots = append(loaded.Lots, more.Lots...)
		loaded.Holds = append(loaded.Holds, more.Holds...)
	}
	for _, op := range loaded.Operations {
		b.keys[storage.AccountKey{Account: op.Account, Key: op.Key}] = op
	}
	lotsOf := map[string][]storage.Lot{}
	for _, lot := range loaded.Lots {
		lotsOf[lot.Account] = append(lotsOf[lot.Account], lot)
	}
	holdsOf := map[string][]storage.Hold{}
	for _, h := range loaded.Holds {
		holdsOf[h.Account] = append(holdsOf[h.Account], h)
	}

	// One writer per account; the lots its holds took from, in one load.
	var holdLots storage.LoadQuery
	for _, id := range ids {
		a, ok := found[id]
		if !ok {
			continue
		}
		w := l.newWriter(a, lotsOf[id], lotsLoaded[id], now)
		b.writers[id] = w
		if holdsLoaded[id] {
			w.setHolds(holdsOf[id])
			seen := map[string]bool{}
			for _, lot := range w.holdLotIDs() {
				if !seen[lot] && w.lot(lot) == nil {
					seen[lot] = true
					holdLots.Lots = append(holdLots.Lots, storage.AccountID{Account: id, ID: lot})
				}
			}
		}
	}
	if len(holdLots.Lots) > 0 {
		more, err := tx.Load(ctx, holdLots)
		if err != nil {
			return err
		}
		byAccount := map[string][]storage.Lot{}
		for _, lot := range more.Lots {
			byAccount[lot.Account] = append(byAccount[lot.Account], lot)
		}
		for id, lots := range byAccount {
			if w := b.writers[id]; w != nil {
				w.addLots(lots)
			}
		}
	}

	for i := range b.calls {
		if err := b.stage(ctx, tx, i); err != nil {
			return err
		}
	}
	if len(b.fresh) > 0 {
		return errFreshUnused
	}

	var all storage.Batch
	for _, id := range ids {
		if w := b.writers[id]; w != nil && w.changed {
			merge(&all, w.finish(nil))
		}
	}
	if !all.Empty() {
		if err := applyLast(ctx, tx, &all); err != nil {
			return err
		}
	}
	for _, sc := range b.staged {
		entries := sc.w.batch.Entries[sc.from:sc.to]
		opID := sc.w.opID(sc.opIdx)
		var mine []storage.Entry
		var available int64
		for _, e := range entries {
			if e.OperationID == opID {
				if len(mine) == 0 {
					available = e.Available
				}
				mine = append(mine, e)
			}
		}
		b.outs[sc.i] = callOutcome{
			rec:     &Receipt{OperationID: opID, Entries: l.entriesOut(mine), Balance: toDecimal(available, l.scale)},
			applied: &storage.Batch{Entries: entries},
		}
	}
	b.complete = true
	return nil
}

// stage applies call i's rules to its account's writer, as writeOnce
// does for a call alone. A rule failure is the call's outcome and undoes
// what it staged; only a database error is returned, failing the batch.
func (b *batchRun) stage(ctx context.Context, tx *watchedTx, i int) error {
	l, s := b.l, &b.calls[i].spec
	w := b.writers[s.account]
	if w == nil || (b.fresh[s.account] && !s.create) {
		b.outs[i].err = s.missing()
		return nil
	}
	if s.key != "" {
		if op, ok := b.keys[storage.AccountKey{Account: s.account, Key: s.key}]; ok {
			if err := s.sameCall(&op); err != nil {
				b.outs[i].err = err
			} else {
				b.outs[i].replay = &op
			}
			return nil
		}
	}
	m := w.mark()
	from := len(w.batch.Entries)
	opIdx, err := l.stageCall(ctx, tx, w, s)
	if tx.err != nil {
		return tx.err
	}
	if err != nil {
		w.restore(m)
		b.outs[i].err = err
		return nil
	}
	delete(b.fresh, s.account)
	b.staged = append(b.staged, stagedCall{i: i, w: w, opIdx: opIdx, from: from, to: len(w.batch.Entries)})
	if first := w.ops[opIdx].first; s.key != "" && first >= 0 {
		e := &w.batch.Entries[first]
		b.keys[storage.AccountKey{Account: s.account, Key: s.key}] = storage.Operation{
			ID: e.OperationID, Key: s.key, Kind: e.Kind, Account: s.account, Hash: e.ParamHash,
			Available: e.Available, Seq: e.Seq, CreatedAt: e.CreatedAt,
		}
	}
	return nil
}

// writerMark is what an accountWriter had staged at one point: restore
// takes it back there, undoing a call that failed a rule. It copies the
// writer whole (so every field, and every slice of its batch, comes back
// as it was: a field added to accountWriter or storage.Batch is covered
// as long as staging only appends to slices and sets fields), and the
// lots and holds it points to, which staging changes in place. State a
// call changes in place elsewhere (a map, an earlier element of a slice)
// must be added here.
type writerMark struct {
	w          accountWriter
	lots       []*storage.Lot
	lotValues  []storage.Lot
	holds      []*storage.Hold
	holdValues []storage.Hold
}

func (w *accountWriter) mark() writerMark {
	m := writerMark{w: *w, lots: slices.Clone(w.lots), holds: slices.Clone(w.holds)}
	m.lotValues = make([]storage.Lot, len(w.lots))
	for i, lot := range w.lots {
		m.lotValues[i] = *lot
	}
	m.holdValues = make([]storage.Hold, len(w.holds))
	for i, h := range w.holds {
		m.holdValues[i] = *h
	}
	return m
}

func (w *accountWriter) restore(m writerMark) {
	*w = m.w
	w.lots, w.holds = m.lots, m.holds
	for i, lot := range w.lots {
		*lot = m.lotValues[i]
	}
	for i, h := range w.holds {
		*h = m.holdValues[i]
	}
}

// watchedTx remembers the first error of the transaction's methods: a
// call's prepare may read, and an error there is the database's (the
// batch fails), not the call's.
type watchedTx struct {
	storage.Tx
	err error
}

func (t *watchedTx) seen(err error) error {
	if err != nil && t.err == nil {
		t.err = err
	}
	return err
}

func (t *watchedTx) LockAccounts(ctx context.Context, ids []string, create bool, now time.Time) ([]storage.Account, error) {
	a, err := t.Tx.LockAccounts(ctx, ids, create, now)
	return a, t.seen(err)
}

func (t *watchedTx) LockAndLoad(ctx context.Context, ids []string, create bool, now time.Time, q storage.LoadQuery) ([]storage.Account, *storage.Loaded, error) {
	a, loaded, err := t.Tx.LockAndLoad(ctx, ids, create, now, q)
	return a, loaded, t.seen(err)
}

func (t *watchedTx) ClaimAccounts(ctx context.Context, q storage.ClaimQuery) ([]storage.Account, error) {
	a, err := t.Tx.ClaimAccounts(ctx, q)
	return a, t.seen(err)
}

func (t *watchedTx) Load(ctx context.Context, q storage.LoadQuery) (*storage.Loaded, error) {
	loaded, err := t.Tx.Load(ctx, q)
	return loaded, t.seen(err)
}

func (t *watchedTx) Apply(ctx context.Context, b *storage.Batch) error {
	return t.seen(t.Tx.Apply(ctx, b))
}

// textBytes estimates what a call's description and metadata add to a
// batch (writeSpec.size).
func textBytes(description string, metadata map[string]string) int {
	n := len(description)
	for k, v := range metadata {
		n += len(k) + len(v)
	}
	return n
}
