package ledger

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/creditledger/creditledger/policy"
	"github.com/creditledger/creditledger/storage"
)

// InvoiceParams are the parameters of GrantInvoice.
type InvoiceParams struct {
	// Account is the host's user id; the account is created by its first
	// grant, as Grant creates it.
	Account string
	// Plan is a catalog plan whose allocation grants per invoice
	// (policy.PerInvoice, or policy.InPools of it). The account need not
	// be on it.
	Plan string
	// InvoiceID is the payment provider's id of the paid invoice, 1 to
	// MaxIDLength bytes: the call's idempotency key (scoped per account).
	InvoiceID string
	// PeriodStart is the start of the billing period the invoice pays
	// for; the plan's allocation derives the period (one month for
	// PerInvoice), from which AtPeriodEnd expiries and rollover count. It
	// must be in 1970..9999 (UTC); it is cut to the microsecond.
	PeriodStart time.Time
}

// The metadata keys of a GrantInvoice's grant entries.
const (
	MetaInvoice       = "invoice"      // the invoice id
	MetaInvoicePlan   = "plan"         // the plan granted
	MetaInvoicePeriod = "period_start" // the period's key (policy.InvoicePeriodKeyLayout)
)

// GrantInvoice grants what a per-invoice plan allocates for one paid
// invoice (MkSaaS's SUBSCRIPTION_RENEWAL): a lot per pool of the plan,
// with the plan's source, priority and expiry (counted from the write's
// instant and the invoice's period), keyed by the invoice. A redelivered
// webhook (same invoice, plan and period start) returns the first
// receipt, Replayed, and grants nothing. The grant entries carry the
// invoice, plan and period in Metadata (MetaInvoice, MetaInvoicePlan,
// MetaInvoicePeriod).
//
// When the plan has a Rollover, what the account's previous invoice of
// this plan (the one with the latest earlier period start) left unspent
// moves into a rollover lot of this invoice's expiry, up to the cap, and
// the rest expires (see Plan.Rollover); when the previous invoice's
// credits pay the account's debt, so do these (an overdraft).
//
// Errors: ErrUnknownPlan for a plan not in the catalog;
// ErrInvalidArgument for a plan that does not grant per invoice, an empty
// or over-long invoice id, a zero PeriodStart or one from which the
// period's end or the expiry would leave 1970..9999, an expiry not after
// now (an AtPeriodEnd invoice whose period is over), or a malformed
// account; ErrIdempotencyConflict for an invoice granted before with
// another plan or period start. On any error nothing is written.
func (l *Ledger) GrantInvoice(ctx context.Context, p InvoiceParams) (rec *Receipt, err error) {
	ctx, call := l.tel.begin(ctx, opGrantInvoice)
	defer func() { call.end(ctx, rec != nil && rec.Replayed, err) }()
	if err := checkID("account", p.Account); err != nil {
		return nil, err
	}
	if err := checkID("plan", p.Plan); err != nil {
		return nil, err
	}
	if err := checkID("invoice id", p.InvoiceID); err != nil {
		return nil, err
	}
	plan, ok := l.catalog.Plan(p.Plan)
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknownPlan, p.Plan)
	}
	ia, ok := plan.Allocation.(policy.InvoiceAllocation)
	if !ok || !policy.IsPerInvoice(plan.Allocation) {
		return nil, fmt.Errorf("%w: plan %q does not grant per invoice (its allocation is %v)", ErrInvalidArgument, p.Plan, plan.Allocation)
	}
	if p.PeriodStart.IsZero() {
		return nil, fmt.Errorf("%w: invoice %q has no period start", ErrInvalidArgument, p.InvoiceID)
	}
	start := normTime(p.PeriodStart)
	if err := checkTime("invoice period start", start); err != nil {
		return nil, err
	}
	pa := policy.Account{ID: p.Account, Plan: p.Plan}
	due, ok := ia.AllocateInvoice(pa, start, l.catalog.Loc())
	if !ok {
		return nil, fmt.Errorf("%w: plan %q grants nothing for an invoice starting %s", ErrInvalidArgument, p.Plan, start.Format(time.RFC3339Nano))
	}
	if err := checkTime(fmt.Sprintf("end of invoice %q's period", p.InvoiceID), due.Period.End); err != nil {
		return nil, err
	}
	grants := dueGrants(due)
	amounts := make([]int64, len(grants))
	for i, g := range grants {
		if amounts[i], err = toMinor(g.Amount, l.scale, true); err != nil {
			return nil, fmt.Errorf("plan %q: %w", p.Plan, err)
		}
	}
	var prev *rolloverSource
	if plan.Rollover != nil {
		if prev, err = l.prevInvoice(ctx, p.Account, p.Plan, due); err != nil {
			return nil, err
		}
	}
	meta := map[string]string{MetaInvoice: p.InvoiceID, MetaInvoicePlan: p.Plan, MetaInvoicePeriod: due.Period.Key}
	return l.write(ctx, writeSpec{
		account: p.Account,
		create:  true,
		kind:    storage.KindGrant,
		key:     invoiceKey(p.InvoiceID),
		hash:    new(paramHash).str("invoice").str(p.Account).str(p.Plan).int(start.UnixMicro()).sum(),
		// A grant may have to end the previous invoice's lots.
		needLots: prev != nil || l.overdrafts,
		prepare: func(ctx context.Context, tx storage.Tx, w *accountWriter) error {
			if prev == nil {
				return nil
			}
			// Read again under the lock: a sweep may have expired the
			// previous lots since.
			loaded, err := tx.Load(ctx, storage.LoadQuery{Refs: []storage.AccountID{{Account: p.Account, ID: prev.opID}}})
			if err != nil {
				return err
			}
			prev.entries = loaded.Entries
			return nil
		},
		stage: func(w *accountWriter, opIdx int) error {
			exp := expiresAt(plan.Expiry, w.now, due.Period)
			if exp != nil {
				if err := checkExpiry(*exp, w.now); err != nil {
					return fmt.Errorf("invoice %q of plan %q: %w", p.InvoiceID, p.Plan, err)
				}
			}
			if _, _, err := w.expireRolled(plan, prev); err != nil {
				return err
			}
			granted := make(map[string]int64, len(grants))
			for i, g := range grants {
				granted[g.Pool] = amounts[i]
				if _, err := w.grant(opIdx, grantSpec{
					amount:      amounts[i],
					pool:        g.Pool,
					source:      due.Source,
					priority:    plan.Priority,
					expiresAt:   exp,
					description: "invoice " + p.InvoiceID + " of plan " + p.Plan,
					metadata:    meta,
				}); err != nil {
					return err
				}
			}
			_, _, err := w.stageRollover(opIdx, plan, p.Plan, prev, due.Source, exp, granted)
			return err
		},
	})
}

// invoiceKey is the idempotency key of a GrantInvoice: per account, like
// every key, so an invoice id names one call of one account.
func invoiceKey(invoiceID string) string {
	return reservedKeyPrefix + "invoice:" + keyEscaper.Replace(invoiceID)
}

// prevInvoiceScan bounds how many of an account's grant operations
// prevInvoice reads to find the previous invoice.
const prevInvoiceScan = 8

// prevInvoice finds the account's previous invoice grant of the plan: the
// one with the latest period start before due's, among the newest grant
// operations whose lots have the due's source. It reads without a lock
// (a grant's entries never change); nil when there is none.
func (l *Ledger) prevInvoice(ctx context.Context, account, planID string, due policy.Due) (*rolloverSource, error) {
	lots, err := l.store.Lots(ctx, storage.LotQuery{Account: account})
	if err != nil {
		return nil, fmt.Errorf("creditledger: read lots of account %q: %w", account, err)
	}
	sort.SliceStable(lots, func(i, j int) bool { return lots[i].CreatedAt.After(lots[j].CreatedAt) })
	seen := map[string]bool{}
	var best *rolloverSource
	for _, lot := range lots {
		if lot.Source != due.Source || seen[lot.OperationID] || len(seen) >= prevInvoiceScan {
			continue
		}
		seen[lot.OperationID] = true
		entries, err := l.store.OperationEntries(ctx, account, lot.OperationID)
		if err != nil {
			return nil, fmt.Errorf("creditledger: read entries of operation %s: %w", lot.OperationID, err)
		}
		if len(entries) == 0 {
			continue
		}
		first := entries[0]
		key := first.Metadata[MetaInvoicePeriod]
		if !strings.HasPrefix(first.Key, reservedKeyPrefix+"invoice:") || first.Metadata[MetaInvoicePlan] != planID ||
			key >= due.Period.Key {
			continue
		}
		if best == nil || key > best.periodKey {
			best = &rolloverSource{opID: lot.OperationID, periodKey: key}
		}
	}
	return best, nil
}
