package ledger

// WithoutTelemetry returns a copy of l whose hooks record nothing and
// start no span: the ledger as it was before instrumentation, for the
// overhead benchmark (BenchmarkConsumeTelemetry).
func WithoutTelemetry(l *Ledger) *Ledger {
	cp := *l
	cp.tel = nil
	return &cp
}

// GroupCommitOn reports whether l batches writes.
func GroupCommitOn(l *Ledger) bool { return l.group != nil }

// GroupCommitStats returns how many batches of two calls or more l ran,
// the calls they held, and how many fell back to one by one.
func GroupCommitStats(l *Ledger) (batches, calls, fallbacks int64) {
	g := l.group
	return g.batches.Load(), g.batched.Load(), g.fallbacks.Load()
}

// HoldGroupCommit makes every lane of l's group commit busy, as if
// transactions were in flight, so that writes queue; release ends them:
// the queue then runs as batches, one after another on each account (on
// PostgreSQL two at once when their accounts differ).
func HoldGroupCommit(l *Ledger) (release func()) {
	g := l.group
	g.mu.Lock()
	n := g.lanes - g.busy
	g.busy += n
	g.mu.Unlock()
	return func() {
		if n == 0 {
			return
		}
		g.mu.Lock()
		g.busy -= n - 1
		g.mu.Unlock()
		g.release(nil)
	}
}

// QueuedCalls returns how many writes wait in l's group commit queue.
func QueuedCalls(l *Ledger) int {
	g := l.group
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.queue)
}

// SetGroupCommitLanes sets how many batches l's group commit may have in
// flight at once, for the benchmark that chooses it; call it before any
// write.
func SetGroupCommitLanes(l *Ledger, n int) { l.group.lanes = n }

// SetGroupCommitBounds sets the bounds of l's batches (calls, bytes).
func SetGroupCommitBounds(l *Ledger, calls, bytes int) {
	l.group.maxCalls, l.group.maxBytes = calls, bytes
}
