package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"slices"
	"time"

	"github.com/shopspring/decimal"

	"github.com/creditledger/creditledger/ledger"
	"github.com/creditledger/creditledger/policy"
)

// demoCatalog is the catalog the server runs with by default: the
// reference one (MkSaaS's plans and packs) with two features priced in
// the default pool's credits, so that the console and the API can show a
// consume by feature: "chat_message" at 1 credit, "image_hd" at 2.5 (3
// images cost 8: a price rounds up to whole credits).
func demoCatalog() *policy.Catalog {
	c := policy.ReferenceCatalog()
	c.Features = append(c.Features,
		policy.Feature{ID: "chat_message", Price: decimal.NewFromInt(1)},
		policy.Feature{ID: "image_hd", Price: decimal.RequireFromString("2.5")},
	)
	return c
}

// loadCatalog reads the -catalog file, or returns demoCatalog for "".
func loadCatalog(path string) (*policy.Catalog, error) {
	if path == "" {
		return demoCatalog(), nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("-catalog: %w", err)
	}
	c, err := policy.ParseCatalog(data)
	if err != nil {
		return nil, fmt.Errorf("-catalog %s: %w", path, err)
	}
	return c, nil
}

// Credit pools, feature prices and lot expiries in the JSON API.

// spendOf reads what a consume or hold spends: amount, or feature with
// quantity (the ledger prices it), exactly one of the two. The ledger
// checks the values themselves (a quantity <= 0, an unknown feature).
func spendOf(amount *amount, feature string, quantity *amount) (decimal.Decimal, decimal.Decimal, error) {
	switch {
	case feature == "" && quantity != nil:
		return decimal.Zero, decimal.Zero, &apiError{http.StatusBadRequest, codeInvalidArgument,
			"quantity goes with feature: give feature and quantity, or amount"}
	case feature != "" && amount != nil:
		return decimal.Zero, decimal.Zero, &apiError{http.StatusBadRequest, codeInvalidArgument,
			"give amount, or feature with quantity, not both: the catalog prices a feature"}
	case feature != "":
		if quantity == nil {
			return decimal.Zero, decimal.Zero, &apiError{http.StatusBadRequest, codeInvalidAmount,
				`quantity is required with feature, as a decimal string such as "3"`}
		}
		return decimal.Zero, quantity.Decimal, nil
	case amount == nil:
		return decimal.Zero, decimal.Zero, &apiError{http.StatusBadRequest, codeInvalidAmount,
			`amount is required, as a decimal string such as "10" (or feature with quantity)`}
	}
	return amount.Decimal, decimal.Zero, nil
}

// lotExpiryRequest is PUT /api/accounts/{id}/lots/{lot}/expiry's body.
type lotExpiryRequest struct {
	// ExpiresAt is the lot's new expiry (RFC 3339); null or absent: never.
	// At or before now, the lot expires now.
	ExpiresAt *timestamp `json:"expiresAt"`
}

func (s *server) putLotExpiry(w http.ResponseWriter, r *http.Request) {
	var req lotExpiryRequest
	if !decodeBody(w, r, &req) {
		return
	}
	id, lot := r.PathValue("id"), r.PathValue("lot")
	rec, err := s.setLotExpiry(r.Context(), id, lot, &req)
	if err != nil {
		s.fail(w, r, id, err)
		return
	}
	writeJSON(w, http.StatusOK, receiptOut(id, rec))
}

// setLotExpiry changes one lot's expiry; the JSON route and the console's
// form share it. A lot the account does not have open is lot_not_found.
func (s *server) setLotExpiry(ctx context.Context, account, lot string, req *lotExpiryRequest) (*ledger.Receipt, error) {
	var at *time.Time
	if req.ExpiresAt != nil {
		at = &req.ExpiresAt.Time
	}
	rec, err := s.l.SetLotExpiry(ctx, account, lot, at)
	return rec, notFound(err, codeLotNotFound)
}

// poolRow is one credit pool on an account's console page.
type poolRow struct {
	Name                          string // "" is the default pool
	Available, Held, Owed, Coming decimal.Decimal
}

// lotRow is one lot on an account's console page: open in its pool, or
// upcoming (a dated grant, spendable from Lot.EffectiveAt).
type lotRow struct {
	ledger.Lot
	Upcoming bool
}

// poolView is what an account's page shows of its pools: a row per pool
// (only when it has more than the default one, or debt, or dated grants)
// and the lots of every pool, the default pool's first, each pool's in
// burn order, then its upcoming ones.
type poolView struct {
	Pools []poolRow
	Lots  []lotRow
	Owed  decimal.Decimal // the default pool's debt
	// Coming is the default pool's upcoming credits.
	Coming decimal.Decimal
}

func newPoolView(b *ledger.Balance) poolView {
	v := poolView{Owed: b.Owed}
	for _, lot := range b.Upcoming {
		v.Coming = v.Coming.Add(lot.Remaining)
	}
	names := make([]string, 0, len(b.Pools))
	for name := range b.Pools {
		names = append(names, name)
	}
	slices.Sort(names) // the default pool ("") first
	several := false
	for _, name := range names {
		pb := b.Pools[name]
		row := poolRow{Name: name, Available: pb.Available, Held: pb.Held, Owed: pb.Owed}
		for _, lot := range pb.Upcoming {
			row.Coming = row.Coming.Add(lot.Remaining)
		}
		several = several || name != "" || !row.Owed.IsZero() || !row.Coming.IsZero()
		v.Pools = append(v.Pools, row)
		for _, lot := range pb.Lots {
			v.Lots = append(v.Lots, lotRow{Lot: lot})
		}
		for _, lot := range pb.Upcoming {
			v.Lots = append(v.Lots, lotRow{Lot: lot, Upcoming: true})
		}
	}
	if !several {
		v.Pools = nil
	}
	if len(b.Pools) == 0 {
		// A ledger that reports no pools: the default pool's lots.
		for _, lot := range b.Lots {
			v.Lots = append(v.Lots, lotRow{Lot: lot})
		}
	}
	return v
}

// featureIDs returns the catalog's feature ids, for the consume form.
func (s *server) featureIDs() []string {
	c := s.l.Catalog()
	if c == nil {
		return nil
	}
	ids := make([]string, 0, len(c.Features))
	for _, f := range c.Features {
		ids = append(ids, f.ID)
	}
	return ids
}
