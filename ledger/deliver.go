package ledger

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/creditledger/creditledger/storage"
)

// Delivery of the outbox.
//
// Events are delivered at least once and in order per account: a claim
// leases a batch (ClaimEvents), the host delivers it and acknowledges it
// (AckEvents); an event not acknowledged before its lease ends is handed
// out again. Claims on several replicas share the work (SKIP LOCKED on
// PostgreSQL, per shard on Citus; SQLite and memory serialize them), and a
// claim hands out an account's events only from its oldest unacknowledged
// one on, never while another claim holds an earlier one, so a consumer
// that acknowledges before it claims again sees each account's events in
// order. Leases run on the ledger's clock (Config.Now).
//
// DeliverEvents is the loop a host runs in a goroutine around the two.

// Defaults of ClaimEventsOpts and DeliverOpts.
const (
	DefaultClaimLimit      = 100
	MaxClaimLimit          = 10000
	DefaultEventLease      = 30 * time.Second
	DefaultDeliverPoll     = time.Second
	DefaultDeliverBackoff  = time.Second
	DefaultDeliverMaxDelay = time.Minute
)

// ClaimEventsOpts are the options of ClaimEvents. A nil *ClaimEventsOpts
// means every default.
type ClaimEventsOpts struct {
	// Limit is the most events one claim returns: 0 means
	// DefaultClaimLimit (100); at most MaxClaimLimit.
	Limit int
	// Lease is how long the claimer holds them before they are handed out
	// again: 0 means DefaultEventLease (30 s); at least a millisecond.
	Lease time.Duration
}

func (o *ClaimEventsOpts) withDefaults() (storage.EventClaim, error) {
	var out ClaimEventsOpts
	if o != nil {
		out = *o
	}
	if out.Limit == 0 {
		out.Limit = DefaultClaimLimit
	}
	if out.Lease == 0 {
		out.Lease = DefaultEventLease
	}
	if out.Limit < 0 || out.Limit > MaxClaimLimit {
		return storage.EventClaim{}, fmt.Errorf("%w: claim limit %d is outside 1..%d", ErrInvalidArgument, out.Limit, MaxClaimLimit)
	}
	if out.Lease < time.Millisecond {
		return storage.EventClaim{}, fmt.Errorf("%w: lease %s is below a millisecond", ErrInvalidArgument, out.Lease)
	}
	return storage.EventClaim{Limit: out.Limit, Lease: out.Lease}, nil
}

// ClaimEvents leases up to opts.Limit events that are not acknowledged
// and not leased (never handed out, or their lease ended), oldest first,
// and returns them by account order (ascending Seq within each account).
// Until the lease ends no other claim gets them, nor any later event of
// their accounts. It returns none when nothing can be handed out.
//
// Errors: ErrInvalidArgument for a limit or lease out of range (see
// ClaimEventsOpts); the store's errors.
func (l *Ledger) ClaimEvents(ctx context.Context, opts *ClaimEventsOpts) ([]Event, error) {
	q, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	q.Now = l.clock()
	got, err := l.store.ClaimEvents(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("creditledger: claim events: %w", err)
	}
	out := make([]Event, len(got))
	redelivered := 0
	for i := range got {
		out[i] = eventOut(&got[i], l.scale)
		if got[i].Attempts > 1 {
			redelivered++
		}
	}
	l.tel.eventsClaimed(ctx, len(out), redelivered)
	return out, nil
}

// AckEvents acknowledges delivered events: they are not handed out again,
// and the accounts' later events can be. Acknowledging an event twice, or
// after its lease ended (another claim may have it), is no error.
//
// Errors: ErrInvalidArgument for an event without an account or ID; the
// store's errors (the events then come back when their lease ends).
func (l *Ledger) AckEvents(ctx context.Context, events []Event) error {
	if len(events) == 0 {
		return nil
	}
	ids := make([]storage.AccountID, len(events))
	for i, e := range events {
		if e.Account == "" || e.ID == "" {
			return fmt.Errorf("%w: event %d has no account or ID", ErrInvalidArgument, i)
		}
		ids[i] = storage.AccountID{Account: e.Account, ID: e.ID}
	}
	n, err := l.store.AckEvents(ctx, ids, l.clock())
	if err != nil {
		return fmt.Errorf("creditledger: acknowledge %d events: %w", len(events), err)
	}
	l.tel.eventsDelivered(ctx, n)
	return nil
}

// PruneEvents deletes the events acknowledged more than olderThan ago
// (on the ledger's clock) and returns how many it deleted; olderThan 0
// deletes every acknowledged event. Unacknowledged events are never
// deleted. It also forgets the credits.expiring notices of lots that
// expired before then. A host calls it from a daily job (or sets
// DeliverOpts.KeepAcked).
//
// Errors: ErrInvalidArgument for a negative olderThan; the store's.
func (l *Ledger) PruneEvents(ctx context.Context, olderThan time.Duration) (int, error) {
	if olderThan < 0 {
		return 0, fmt.Errorf("%w: prune of events older than %s", ErrInvalidArgument, olderThan)
	}
	before := l.clock().Add(-olderThan)
	if olderThan == 0 {
		before = before.Add(time.Microsecond) // acknowledged at now too
	}
	total := 0
	for {
		n, err := l.store.PruneEvents(ctx, before, pruneBatch)
		total += n
		if err != nil {
			return total, fmt.Errorf("creditledger: prune events: %w", err)
		}
		if n < pruneBatch {
			return total, nil
		}
	}
}

// pruneBatch is how many events one statement of PruneEvents deletes.
const pruneBatch = 5000

// EventListOpts select the events ListEvents returns.
type EventListOpts struct {
	Account   string // "" for every account
	BeforeSeq int64  // 0: from the newest; else events with a smaller Seq (paging)
	// Limit is the most events returned: 0 means 50; at most 1000.
	Limit int
	// Unacked leaves out acknowledged events.
	Unacked bool
}

// ListEvents returns events newest first (by descending Seq), with their
// delivery state: for a console, a CLI or an audit. It claims nothing.
//
// Errors: ErrInvalidArgument for a limit out of range or a malformed
// account; the store's.
func (l *Ledger) ListEvents(ctx context.Context, opts *EventListOpts) ([]Event, error) {
	var o EventListOpts
	if opts != nil {
		o = *opts
	}
	if o.Limit == 0 {
		o.Limit = 50
	}
	if o.Limit < 0 || o.Limit > 1000 {
		return nil, fmt.Errorf("%w: event list limit %d is outside 1..1000", ErrInvalidArgument, o.Limit)
	}
	if o.Account != "" {
		if err := checkID("account", o.Account); err != nil {
			return nil, err
		}
	}
	got, err := l.store.Events(ctx, storage.EventQuery{Account: o.Account, BeforeSeq: o.BeforeSeq, Limit: o.Limit, Unacked: o.Unacked})
	if err != nil {
		return nil, fmt.Errorf("creditledger: list events: %w", err)
	}
	out := make([]Event, len(got))
	for i := range got {
		out[i] = eventOut(&got[i], l.scale)
	}
	return out, nil
}

// EventStats sum up the outbox now (see storage.EventStats).
type EventStats struct {
	Pending int64 // unacknowledged, not leased
	Leased  int64 // unacknowledged, leased
	// Failed counts unacknowledged events handed out before without
	// being acknowledged in their lease.
	Failed int64
	// OldestUnacked is when the oldest unacknowledged event was written;
	// nil when none.
	OldestUnacked *time.Time
}

// EventStats sums up the outbox at the ledger's now.
func (l *Ledger) EventStats(ctx context.Context) (*EventStats, error) {
	st, err := l.store.EventStats(ctx, l.clock())
	if err != nil {
		return nil, fmt.Errorf("creditledger: event stats: %w", err)
	}
	return &EventStats{Pending: st.Pending, Leased: st.Leased, Failed: st.Failed, OldestUnacked: st.OldestUnacked}, nil
}

// DeliverOpts are the options of DeliverEvents. A nil *DeliverOpts means
// every default.
type DeliverOpts struct {
	// Limit is the most events handed to fn at once: 0 means
	// DefaultClaimLimit (100).
	Limit int
	// Lease is how long a batch is held while fn runs (and retried): 0
	// means DefaultEventLease (30 s). An fn slower than the lease may see
	// its events delivered again by another replica.
	Lease time.Duration
	// PollInterval is how long the loop waits when there is nothing to
	// deliver: 0 means DefaultDeliverPoll (1 s).
	PollInterval time.Duration
	// Backoff is the first wait after fn (or the store) fails; each
	// failure in a row doubles it, up to MaxBackoff, with jitter. 0 means
	// DefaultDeliverBackoff (1 s); MaxBackoff 0 means
	// DefaultDeliverMaxDelay (1 minute).
	Backoff, MaxBackoff time.Duration
	// KeepAcked, when > 0, makes the loop prune events acknowledged more
	// than KeepAcked ago, once per KeepAcked/10 (at least a minute).
	// 0: the loop prunes nothing (see PruneEvents).
	KeepAcked time.Duration
	// Logger receives the loop's logs: nil means the ledger's.
	Logger *slog.Logger
}

func (o *DeliverOpts) withDefaults(l *Ledger) (DeliverOpts, error) {
	var out DeliverOpts
	if o != nil {
		out = *o
	}
	if out.PollInterval == 0 {
		out.PollInterval = DefaultDeliverPoll
	}
	if out.Backoff == 0 {
		out.Backoff = DefaultDeliverBackoff
	}
	if out.MaxBackoff == 0 {
		out.MaxBackoff = DefaultDeliverMaxDelay
	}
	if out.Logger == nil {
		out.Logger = l.logger
	}
	if out.PollInterval < 0 || out.Backoff < 0 || out.MaxBackoff < 0 || out.KeepAcked < 0 {
		return out, fmt.Errorf("%w: a negative poll interval, backoff or KeepAcked", ErrInvalidArgument)
	}
	if out.MaxBackoff < out.Backoff {
		out.MaxBackoff = out.Backoff
	}
	if _, err := (&ClaimEventsOpts{Limit: out.Limit, Lease: out.Lease}).withDefaults(); err != nil {
		return out, err
	}
	return out, nil
}

// DeliverEvents delivers the outbox until ctx ends: it claims a batch,
// calls fn with it, and acknowledges it when fn returns nil. When fn
// returns an error (or the store fails), it logs it, waits a capped
// exponential backoff with jitter, and calls fn again with the same batch
// while its lease lasts, claiming anew after that (other replicas may
// have taken it by then). With nothing to deliver it waits
// opts.PollInterval. fn gets each account's events in order, and may get
// an event more than once (a lease that ended, an acknowledgement that
// failed): make it idempotent by Event.ID.
//
// It returns ctx's error when ctx ends, and ErrInvalidArgument at once for
// bad options or a nil fn. Logs (opts.Logger) name the batch's size and
// the error, never an event's content.
func (l *Ledger) DeliverEvents(ctx context.Context, fn func(context.Context, []Event) error, opts *DeliverOpts) error {
	if fn == nil {
		return fmt.Errorf("%w: DeliverEvents needs a function", ErrInvalidArgument)
	}
	o, err := opts.withDefaults(l)
	if err != nil {
		return err
	}
	claim := &ClaimEventsOpts{Limit: o.Limit, Lease: o.Lease}
	lease := o.Lease
	if lease == 0 {
		lease = DefaultEventLease
	}
	failures := 0
	var lastPrune time.Time
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		if o.KeepAcked > 0 && time.Since(lastPrune) >= max(o.KeepAcked/10, time.Minute) {
			lastPrune = time.Now()
			if n, err := l.PruneEvents(ctx, o.KeepAcked); err != nil && ctx.Err() == nil {
				o.Logger.WarnContext(ctx, "creditledger: pruning events failed", "err", err)
			} else if n > 0 {
				o.Logger.DebugContext(ctx, "creditledger: pruned events", "events", n)
			}
		}
		events, err := l.ClaimEvents(ctx, claim)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			failures++
			o.Logger.WarnContext(ctx, "creditledger: claiming events failed", "err", err, "failures", failures)
			if err := sleepCtx(ctx, deliverBackoff(o, failures)); err != nil {
				return err
			}
			continue
		}
		if len(events) == 0 {
			if err := sleepCtx(ctx, o.PollInterval); err != nil {
				return err
			}
			continue
		}
		leaseEnd := l.clock().Add(lease)
		for {
			err := fn(ctx, events)
			if err == nil {
				failures = 0
				// Delivered: acknowledge even if ctx ended meanwhile (a
				// host stopping right after fn), within a bounded time.
				actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), ackTimeout)
				err := l.AckEvents(actx, events)
				cancel()
				if err != nil {
					// They come back when the lease ends: delivered twice.
					o.Logger.WarnContext(ctx, "creditledger: acknowledging events failed", "events", len(events), "err", err)
				}
				break
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			failures++
			l.tel.eventDeliveryFailed(ctx)
			d := deliverBackoff(o, failures)
			o.Logger.WarnContext(ctx, "creditledger: delivering events failed", "events", len(events),
				"err", err, "failures", failures, "retry_in", d.String())
			if err := sleepCtx(ctx, d); err != nil {
				return err
			}
			// Retry the batch while it is surely still ours; else claim
			// anew, which hands out what is left once the lease ends.
			if !l.clock().Add(lease / 10).Before(leaseEnd) {
				break
			}
		}
	}
}

// ackTimeout bounds DeliverEvents' acknowledgement of a delivered batch
// once its context has ended.
const ackTimeout = 5 * time.Second

// deliverBackoff is the wait after failures failures in a row: Backoff
// doubled per failure, capped at MaxBackoff, drawn from [d/2, d].
func deliverBackoff(o DeliverOpts, failures int) time.Duration {
	d := o.MaxBackoff
	if failures < 30 {
		d = min(o.Backoff<<(failures-1), o.MaxBackoff)
	}
	if d <= 0 {
		return 0
	}
	return d/2 + rand.N(d/2+1)
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
