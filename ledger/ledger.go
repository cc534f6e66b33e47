// Package ledger is the API a host calls: grant credits, consume them,
// read balances and history, set plans, and run the daily distribution.
//
// A Ledger holds no state of its own beyond its configuration: every
// call is one transaction of its storage.Store, so any number of Ledger
// values, in any number of processes, can share one database.
package ledger

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/creditledger/creditledger/internal/id"
	"github.com/creditledger/creditledger/policy"
	"github.com/creditledger/creditledger/storage"
)

// MaxScale is the largest Scale a ledger accepts.
const MaxScale = 6

// Config configures a Ledger. A nil *Config means every default.
type Config struct {
	// Scale is the number of decimal places of one credit: 0 (the
	// default) for whole credits, up to MaxScale. Amounts with more places
	// are refused with ErrInvalidAmount. The store records the scale on
	// first use and refuses another one later (ErrScaleMismatch).
	Scale int32
	// Catalog holds the plans used by Distribute, SetPlan and GrantPack.
	// Nil: no plans; Distribute then only expires.
	Catalog *policy.Catalog
	// BurnOrder decides which lots a consume draws from first. Nil:
	// policy.DefaultBurnOrder() (priority, soonest expiry, never-expiring
	// last, oldest, id).
	BurnOrder policy.BurnOrder
	// Now is the clock. Nil: time.Now. Times are kept in UTC with
	// microsecond precision whatever zone the clock returns.
	Now func() time.Time
	// Logger receives the ledger's logs. Nil: slog.Default().
	Logger *slog.Logger
	// MeterProvider receives the ledger's metrics (named by the Metric*
	// constants). Nil: otel.GetMeterProvider(), the global one, which
	// records nothing until the host installs an SDK, even one installed
	// after New.
	MeterProvider metric.MeterProvider
	// TracerProvider receives a span per call ("creditledger.consume",
	// ...) and per distribution chunk. Nil: otel.GetTracerProvider(), the
	// global one; while that is still OpenTelemetry's default no span is
	// started at all.
	TracerProvider trace.TracerProvider

	// DisableGroupCommit turns group commit off: every write then runs
	// in a transaction of its own, as in v0.2. By default (false) group
	// commit is on: a single-account write (Grant, GrantPack, Consume,
	// Hold, Capture, Release, Reverse) that arrives while the ledger's
	// transactions are in flight waits for one to end and then shares
	// one transaction with the others that arrived meanwhile (at most
	// DefaultGroupCommitCalls calls, about DefaultGroupCommitBytes of
	// text). Idle, a write runs at once. On PostgreSQL two transactions
	// may be in flight at once, on accounts that do not meet; calls on
	// one account keep their order. Each call gets the receipt or
	// error it would have got alone; see docs/RELIABILITY.md. Calls on a
	// store bound to a host's transaction (storage.Store.Bound) never
	// share one. (v0.3)
	DisableGroupCommit bool
	// NoEvents, when true, makes writes append no events to the outbox
	// (docs/EVENTS.md): for a host that never delivers them and does not
	// want the table to grow (PruneEvents deletes only acknowledged
	// events). Default false: every write appends its events.
	NoEvents bool
}

// Ledger is the credit ledger. It is safe for concurrent use.
type Ledger struct {
	store   storage.Store
	scale   int32
	catalog *policy.Catalog
	burn    policy.BurnOrder
	now     func() time.Time
	logger  *slog.Logger
	ids     *id.Generator
	tel     *telemetry
	// rollovers: the catalog has a plan with a Rollover (see rollover.go).
	rollovers bool
	// overdrafts: the catalog has a plan that lets a pool overdraw (see
	// overdraft.go).
	overdrafts bool
	// group queues writes for group commit (groupcommit.go); nil when
	// it is off or the store is bound to a host's transaction.
	group   *groupCommit
	noGroup bool // Config.DisableGroupCommit
	// noEvents: Config.NoEvents.
	noEvents bool
}

// New returns a ledger on store. It validates the configuration and the
// catalog, and calls store.Init, which records the scale (a store created
// with another scale: ErrScaleMismatch) and, for SQL stores, migrates.
// The context only bounds New itself.
func New(store storage.Store, cfg *Config) (*Ledger, error) {
	return NewContext(context.Background(), store, cfg)
}

// NewContext is New with a context for the store's initialisation.
func NewContext(ctx context.Context, store storage.Store, cfg *Config) (*Ledger, error) {
	if store == nil {
		return nil, fmt.Errorf("%w: store is nil", ErrInvalidArgument)
	}
	c := cfg.withDefaults()
	if err := c.validate(); err != nil {
		return nil, err
	}
	tel, err := newTelemetry(c.MeterProvider, c.TracerProvider)
	if err != nil {
		return nil, fmt.Errorf("creditledger: instruments: %w", err)
	}
	if err := store.Init(ctx, c.Scale); err != nil {
		return nil, fmt.Errorf("creditledger: init store: %w", err)
	}
	l := &Ledger{
		store:    store,
		scale:    c.Scale,
		catalog:  c.Catalog,
		burn:     c.BurnOrder,
		now:      c.Now,
		logger:   c.Logger,
		ids:      &id.Generator{},
		tel:      tel,
		noEvents: c.NoEvents,

		rollovers:  hasRollover(c.Catalog),
		overdrafts: hasOverdraft(c.Catalog),
		group:      newGroupCommit(store, c.DisableGroupCommit),
		noGroup:    c.DisableGroupCommit,
	}
	if err := tel.ev.observeOldest(l); err != nil {
		return nil, fmt.Errorf("creditledger: instruments: %w", err)
	}
	return l, nil
}

func (c *Config) withDefaults() Config {
	var out Config
	if c != nil {
		out = *c
	}
	if out.BurnOrder == nil {
		out.BurnOrder = policy.DefaultBurnOrder()
	}
	if out.Now == nil {
		out.Now = time.Now
	}
	if out.Logger == nil {
		out.Logger = slog.Default()
	}
	return out
}

func (c *Config) validate() error {
	if c.Scale < 0 || c.Scale > MaxScale {
		return fmt.Errorf("%w: Scale %d is outside 0..%d", ErrInvalidArgument, c.Scale, MaxScale)
	}
	if err := c.Catalog.Validate(); err != nil {
		return err
	}
	if err := c.validateEvents(); err != nil {
		return err
	}
	if c.Catalog == nil {
		return nil
	}
	// Amounts of the catalog must be representable at this scale, or every
	// grant of the plan would fail at distribution time.
	if g := c.Catalog.SignupGift; g != nil {
		if _, err := toMinor(g.Amount, c.Scale, true); err != nil {
			return fmt.Errorf("creditledger: signup gift: %w", err)
		}
	}
	for _, p := range c.Catalog.Packs {
		if _, err := toMinor(p.Amount, c.Scale, true); err != nil {
			return fmt.Errorf("creditledger: pack %q: %w", p.ID, err)
		}
	}
	if err := validateCatalogV03(c.Catalog, c.Scale); err != nil {
		return err
	}
	if err := checkCatalogPools(c.Catalog); err != nil {
		return err
	}
	// A plan's amount is inside its allocation: ask it for a grant, at a
	// fixed instant and at now, and check what it would grant.
	probe := time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, p := range c.Catalog.Plans {
		if p.Allocation == nil {
			continue
		}
		for _, at := range []time.Time{probe, normTime(c.Now())} {
			a := policy.Account{ID: "probe", Plan: p.ID, Anchor: probe, CreatedAt: probe}
			due, ok := p.Allocation.Allocate(a, at, c.Catalog.Loc())
			if !ok {
				continue
			}
			if _, err := toMinor(due.Amount, c.Scale, true); err != nil {
				return fmt.Errorf("creditledger: plan %q: %w", p.ID, err)
			}
		}
	}
	return nil
}

// WithStore returns a copy of the ledger that works on another store with
// the same configuration. Its main use is joining a host's transaction:
//
//	err := db.RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
//		// ... record the payment with tx ...
//		_, err := l.WithStore(store.WithTx(tx)).Grant(ctx, params)
//		return err
//	})
//
// The store must have been initialised with the same scale (it is not
// initialised again).
func (l *Ledger) WithStore(s storage.Store) *Ledger {
	cp := *l
	cp.store = s
	// Calls on another store never share a transaction with this one's.
	cp.group = newGroupCommit(s, l.noGroup)
	return &cp
}

// Scale returns the ledger's number of decimal places.
func (l *Ledger) Scale() int32 { return l.scale }

// Catalog returns the ledger's catalog, nil when it has none.
func (l *Ledger) Catalog() *policy.Catalog { return l.catalog }

// Store returns the ledger's store.
func (l *Ledger) Store() storage.Store { return l.store }

// clock returns the ledger's time in UTC, truncated to the microsecond
// that every store keeps.
func (l *Ledger) clock() time.Time { return normTime(l.now()) }

func normTime(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }
