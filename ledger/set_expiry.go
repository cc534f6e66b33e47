package ledger

import (
	"context"
	"fmt"
	"time"

	"github.com/creditledger/creditledger/storage"
)

// SetLotExpiry changes the expiry of one open lot of the account (a
// support fix, an extension of a grant), as an entry in the account's
// history: a set_expiry entry (amount 0) on the lot, with the new expiry
// and, in its metadata, the one before ("previous_expires_at": RFC 3339,
// or "never"). Verify checks every lot's expiry against the last of its
// grant and set_expiry entries, and BalanceAt uses the expiry a lot had
// at the instant asked.
//
// expiresAt nil means never. An instant at or before now expires the lot
// now: the set_expiry entry records now, and an expire entry of the same
// operation takes what remained. The instant is cut to the microsecond.
// The call has no idempotency key: setting the expiry a lot already has
// writes another set_expiry entry (harmless, and the history shows both
// calls).
//
// It returns the receipt with the entries it wrote and the available
// balance of the lot's pool after it.
//
// Errors: ErrNotFound (naming the lot) for an account never written to,
// or a lot that is not among its open lots: unknown, spent, expired, or
// one whose credits are all held; ErrInvalidArgument for a malformed
// account or lot id, an instant outside the range stores hold, an expiry
// after now but at or before a dated lot's EffectiveAt (an instant at or
// before now expires even a lot that has not started), or a debt lot
// (which never expires). On any error nothing is written.
func (l *Ledger) SetLotExpiry(ctx context.Context, account, lotID string, expiresAt *time.Time) (rec *Receipt, err error) {
	ctx, call := l.tel.begin(ctx, opSetLotExpiry)
	defer func() { call.end(ctx, false, err) }()
	if err := checkID("account", account); err != nil {
		return nil, err
	}
	if err := checkID("lot id", lotID); err != nil {
		return nil, err
	}
	want := normPtr(expiresAt)
	if err := checkTimePtr("expiry", want); err != nil {
		return nil, err
	}
	return l.write(ctx, writeSpec{
		account: account,
		missing: func() error {
			return fmt.Errorf("%w: lot %s of account %q (the account was never written to)", ErrNotFound, lotID, account)
		},
		kind:     storage.KindSetExpiry,
		needLots: true,
		stage: func(w *accountWriter, opIdx int) error {
			// The write swept first: a lot expired at now is closed.
			lot := w.lot(lotID)
			if lot == nil || lot.Remaining == 0 {
				return fmt.Errorf("%w: lot %s of account %q is not open (unknown, spent, expired or all held)", ErrNotFound, lotID, account)
			}
			if lot.Debt {
				return fmt.Errorf("%w: lot %s of account %q is a debt lot, which has no expiry", ErrInvalidArgument, lotID, account)
			}
			next := want
			expireNow := next != nil && !next.After(w.now)
			if expireNow {
				now := w.now
				next = &now
			}
			// A dated lot may be expired now (cancelled before it
			// starts), not given an expiry before its start.
			if !expireNow && next != nil && lot.EffectiveAt != nil && !next.After(*lot.EffectiveAt) {
				return fmt.Errorf("%w: expiry %s of lot %s is not after its effective time %s", ErrInvalidArgument,
					next.Format(time.RFC3339Nano), lotID, lot.EffectiveAt.Format(time.RFC3339Nano))
			}
			previous := storage.MetaNever
			if lot.ExpiresAt != nil {
				previous = storage.FormatMetaTime(*lot.ExpiresAt)
			}
			description := "expiry set to never"
			if next != nil {
				description = "expiry set to " + storage.FormatMetaTime(*next)
			}
			if err := w.entryRef(opIdx, lot, storage.KindSetExpiry, 0, description,
				map[string]string{storage.MetaPreviousExpiresAt: previous}, "", next); err != nil {
				return err
			}
			lot.ExpiresAt = next
			w.batch.LotExpiries = append(w.batch.LotExpiries, storage.LotExpiry{Account: account, LotID: lotID, ExpiresAt: next})
			if expireNow && lot.Remaining > 0 {
				amount := lot.Remaining
				if err := w.entry(opIdx, lot, storage.KindExpire, -amount, "expired", nil); err != nil {
					return err
				}
				w.debit(lot, amount)
				w.emit(EventCreditsExpired, opIdx, lot.Pool, lot.ID, amount)
			}
			return nil
		},
	})
}
