package ledger

import (
	"context"
	"slices"
	"strings"

	"github.com/creditledger/creditledger/storage"
)

// loadHolds gives the chunk's jobs their loaded active holds, and loads
// the lots those holds took from that are not loaded yet (their remaining
// may be 0), so that a sweep can give the credits of expired holds back.
func (c *chunk) loadHolds(ctx context.Context, tx storage.Tx, byID map[string]*accountJob, holds []storage.Hold) error {
	if len(holds) == 0 {
		return nil
	}
	have := map[storage.AccountKey]bool{}
	for _, job := range byID {
		for _, lot := range job.lots {
			have[storage.AccountKey{Account: lot.Account, Key: lot.ID}] = true
		}
	}
	var q storage.LoadQuery
	for _, h := range holds {
		job := byID[h.Account]
		if job == nil {
			continue
		}
		job.holds = append(job.holds, h)
		for _, ln := range h.Lines {
			k := storage.AccountKey{Account: h.Account, Key: ln.LotID}
			if !have[k] {
				have[k] = true
				q.Lots = append(q.Lots, k)
			}
		}
	}
	if len(q.Lots) == 0 {
		return nil
	}
	loaded, err := tx.Load(ctx, q)
	if err != nil {
		return err
	}
	for _, lot := range loaded.Lots {
		if job := byID[lot.Account]; job != nil {
			job.lots = append(job.lots, lot)
			job.sortLots = true
		}
	}
	for _, job := range byID {
		if job.sortLots {
			// ID order, as every store loads them: the sweep writes its
			// entries in this order, the same on every store.
			slices.SortStableFunc(job.lots, func(a, b storage.Lot) int { return strings.Compare(a.ID, b.ID) })
		}
	}
	return nil
}
