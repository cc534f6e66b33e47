package ledger

import (
	"context"
	"fmt"
	"time"

	"github.com/shopspring/decimal"

	"github.com/creditledger/creditledger/policy"
	"github.com/creditledger/creditledger/storage"
)

// GrantParams are the parameters of Grant.
type GrantParams struct {
	// Account is the host's user id, 1 to MaxIDLength bytes. The account
	// is created by its first grant.
	Account string
	// Source says where the credits come from ("purchase_package",
	// "subscription_renewal", ...), up to MaxSourceLength bytes. Empty:
	// "grant".
	Source string
	// IdempotencyKey is required: the host's id of this grant, such as the
	// payment provider's invoice id. A retried call with the same key and
	// parameters returns the first receipt; with other parameters it
	// fails with ErrIdempotencyConflict. Keys are scoped per account (as
	// Stripe's are): the same key on another account is another call.
	IdempotencyKey string
	Description    string
	// Amount must be positive with at most Scale decimal places.
	Amount decimal.Decimal
	// ExpiresAt is when the credits expire, exact to the microsecond
	// (finer parts are dropped); nil: never. It must be after the
	// instant the grant is written (read once the account is locked) and
	// at most 9999-12-31T23:59:59.999999Z.
	ExpiresAt *time.Time
	// ExpiresIn, instead of ExpiresAt, makes the credits expire this long
	// after the grant is written. It is part of the idempotency hash as a
	// duration, so a webhook retried later replays instead of conflicting
	// over an expiry computed from a later now. Zero: use ExpiresAt.
	ExpiresIn time.Duration
	// Priority: lots of lower priority burn first (default 0).
	Priority int
	Metadata map[string]string

	// Pool is the credit pool the lot belongs to ("" the default pool,
	// as before pools): only consumes and holds of that pool spend it,
	// and the receipt's Balance is that pool's. At most MaxIDLength
	// bytes.
	Pool string
	// EffectiveAt makes a dated grant: the lot is not spendable, and not
	// in Available, before that instant (exact to the microsecond, with
	// no sweep); Balance lists it under Upcoming until then. Nil, or an
	// instant at or before the write's: spendable at once, as without
	// it. An expiry at or before it is refused; the expiry still counts
	// from the grant (ExpiresIn from the write's instant).
	EffectiveAt *time.Time
}

func (l *Ledger) checkGrant(p *GrantParams, now time.Time) (int64, error) {
	if err := checkID("account", p.Account); err != nil {
		return 0, err
	}
	if err := checkKey(p.IdempotencyKey, true); err != nil {
		return 0, err
	}
	if err := checkBounded("source", p.Source, MaxSourceLength); err != nil {
		return 0, err
	}
	if err := checkBounded("description", p.Description, MaxDescriptionLength); err != nil {
		return 0, err
	}
	if err := checkMetadata(p.Metadata); err != nil {
		return 0, err
	}
	if p.ExpiresIn < 0 || (p.ExpiresIn > 0 && p.ExpiresAt != nil) {
		return 0, fmt.Errorf("%w: ExpiresIn %s must be positive and not combined with ExpiresAt", ErrInvalidArgument, p.ExpiresIn)
	}
	if p.ExpiresAt != nil {
		// The check applies to the instant stored, which keeps
		// microseconds: an expiry 500ns after now is stored as now.
		if err := checkExpiry(normTime(*p.ExpiresAt), now); err != nil {
			return 0, err
		}
	}
	if p.ExpiresIn > 0 {
		if err := checkTime("expiry (now + ExpiresIn)", now.Add(p.ExpiresIn)); err != nil {
			return 0, err
		}
	}
	if err := checkPool(p.Pool); err != nil {
		return 0, err
	}
	if p.EffectiveAt != nil {
		eff := normTime(*p.EffectiveAt)
		if err := checkTime("effective time", eff); err != nil {
			return 0, err
		}
		if p.ExpiresAt != nil && !normTime(*p.ExpiresAt).After(eff) {
			return 0, fmt.Errorf("%w: expiry %s is not after the effective time %s", ErrInvalidArgument,
				normTime(*p.ExpiresAt).Format(time.RFC3339Nano), eff.Format(time.RFC3339Nano))
		}
	}
	return toMinor(p.Amount, l.scale, true)
}

// checkExpiry checks a normalized expiry: in the range every store holds,
// and after now.
func checkExpiry(at, now time.Time) error {
	if err := checkTime("expiry", at); err != nil {
		return err
	}
	if !at.After(now) {
		return fmt.Errorf("%w: expiry %s is not after now (%s)", ErrInvalidArgument,
			at.Format(time.RFC3339Nano), now.Format(time.RFC3339Nano))
	}
	return nil
}

// Grant adds credits to an account as a new lot, and returns the
// receipt with its grant entry and the available balance after it.
//
// Errors: ErrInvalidAmount for a bad amount, ErrInvalidArgument for a bad
// account, key, source, description, metadata or pool, an expiry not in
// the future or past year 9999, or an expiry at or before EffectiveAt,
// ErrIdempotencyConflict when the key was used
// with other parameters. On any error nothing is written.
func (l *Ledger) Grant(ctx context.Context, p GrantParams) (rec *Receipt, err error) {
	ctx, call := l.tel.begin(ctx, opGrant)
	defer func() { call.end(ctx, rec != nil && rec.Replayed, err) }()
	return l.grant(ctx, p, nil, nil)
}

// grant is Grant; hash, when not nil, replaces the hash of p for
// idempotency (GrantPack hashes the pack, not the expiry it computes);
// expiry, when not nil, computes the expiry from the write's instant.
func (l *Ledger) grant(ctx context.Context, p GrantParams, hash *paramHash, expiry policy.Expiry) (*Receipt, error) {
	now := l.clock()
	amount, err := l.checkGrant(&p, now)
	if err != nil {
		return nil, err
	}
	if p.Source == "" {
		p.Source = "grant"
	}
	expires := normPtr(p.ExpiresAt)
	effective := normPtr(p.EffectiveAt)
	if hash == nil {
		hash = new(paramHash).str(p.Account).int(amount).str(p.Source).time(expires).int(int64(p.ExpiresIn)).
			int(int64(p.Priority)).str(p.Description).meta(p.Metadata)
		// The fields of pools and dated grants join the hash only when
		// given, so that a call without them hashes as before they
		// existed (a v0.2 key replays).
		hashPool(hash, p.Pool)
		if effective != nil {
			hash.str("effective").time(effective)
		}
	}
	return l.write(ctx, writeSpec{
		account: p.Account,
		create:  true,
		kind:    storage.KindGrant,
		key:     p.IdempotencyKey,
		hash:    hash.sum(),
		stage: func(w *accountWriter, opIdx int) error {
			// The write's instant is taken once the account is locked, so
			// a relative expiry counts from it, and an absolute one that
			// passed while the call waited for the lock is refused rather
			// than written as a lot born expired.
			expires := expires
			if p.ExpiresIn > 0 {
				t := normTime(w.now.Add(p.ExpiresIn))
				expires = &t
			}
			if expiry != nil {
				expires = normPtr(expiry.ExpiresAt(w.now, zeroPeriod))
			}
			if expires != nil {
				if err := checkExpiry(*expires, w.now); err != nil {
					return err
				}
				if effective != nil && !expires.After(*effective) {
					return fmt.Errorf("%w: expiry %s is not after the effective time %s", ErrInvalidArgument,
						expires.Format(time.RFC3339Nano), effective.Format(time.RFC3339Nano))
				}
			}
			_, err := w.grant(opIdx, grantSpec{
				amount:      amount,
				source:      p.Source,
				priority:    p.Priority,
				expiresAt:   expires,
				description: p.Description,
				metadata:    p.Metadata,
				pool:        p.Pool,
				effectiveAt: effective,
			})
			return err
		},
	})
}

// GrantPackParams are the parameters of GrantPackWith.
type GrantPackParams struct {
	// Account is the host's user id; the account is created by its first
	// grant.
	Account string
	// Pack is the id of one of the catalog's packs.
	Pack string
	// IdempotencyKey is required, as for Grant: usually the payment's id.
	IdempotencyKey string
	// Description of the grant entry. Empty: "pack " + the pack's id.
	Description string
	Metadata    map[string]string
}

// GrantPackWith grants one of the catalog's credit packs: its amount,
// source (default "purchase_package"), priority and expiry (counted from
// the write's instant). It is Grant for the usual payment webhook. A
// retry with the same key and parameters replays the first receipt even
// though its expiry would be computed from a later now.
//
// Errors: those of Grant, and ErrUnknownPack (which also matches
// ErrNotFound) wrapped when the catalog has no pack with that id. On any
// error nothing is written.
func (l *Ledger) GrantPackWith(ctx context.Context, p GrantPackParams) (rec *Receipt, err error) {
	ctx, call := l.tel.begin(ctx, opGrantPack)
	defer func() { call.end(ctx, rec != nil && rec.Replayed, err) }()
	pack, ok := l.catalog.Pack(p.Pack)
	if !ok {
		return nil, fmt.Errorf("%w %q: not in the catalog", ErrUnknownPack, p.Pack)
	}
	source := pack.Source
	if source == "" {
		source = "purchase_package"
	}
	// The hash names the pack, not what it grants, so that a retry after
	// a catalog change of the pack still replays. A description or
	// metadata join the hash only when given, so a call without them
	// hashes as GrantPack always has.
	hash := new(paramHash).str("pack").str(p.Account).str(pack.ID)
	description := "pack " + pack.ID
	if p.Description != "" || len(p.Metadata) > 0 {
		hash.str(p.Description).meta(p.Metadata)
		if p.Description != "" {
			description = p.Description
		}
	}
	return l.grant(ctx, GrantParams{
		Account:        p.Account,
		Source:         source,
		IdempotencyKey: p.IdempotencyKey,
		Description:    description,
		Amount:         pack.Amount,
		Priority:       pack.Priority,
		Metadata:       p.Metadata,
		Pool:           pack.Pool,
	}, hash, pack.Expiry)
}

// GrantPack is shorthand for GrantPackWith with no description or
// metadata: GrantPackWith(ctx, GrantPackParams{Account: account, Pack:
// packID, IdempotencyKey: idempotencyKey}). The two forms replay each
// other's calls.
func (l *Ledger) GrantPack(ctx context.Context, account, packID, idempotencyKey string) (*Receipt, error) {
	return l.GrantPackWith(ctx, GrantPackParams{Account: account, Pack: packID, IdempotencyKey: idempotencyKey})
}

func normPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	n := normTime(*t)
	return &n
}
