package bunstore

import (
	"context"
	"fmt"
	"slices"

	"github.com/creditledger/creditledger/storage"
)

// Holds returns holds of q.Account by CreatedAt then ID: all, the one
// named q.ID, and with q.OnlyActive those in state active.
func (s *Store) Holds(ctx context.Context, q storage.HoldQuery) ([]storage.Hold, error) {
	where := "account_id = ?"
	args := []any{q.Account}
	if q.ID != "" {
		where += " AND id = ?"
		args = append(args, q.ID)
	}
	if q.OnlyActive {
		where += " AND state = 'active'"
	}
	holds, err := queryAll(ctx, iconn{s.reader()}, scanHold,
		"SELECT "+holdCols+" FROM creditledger_holds WHERE "+where+" ORDER BY created_at, id", args...)
	if err != nil {
		return nil, fmt.Errorf("bunstore: holds of %q: %w", q.Account, err)
	}
	return holds, nil
}

// prepareHolds checks the batch's holds and hold updates into w: an
// update of a hold the batch inserts is folded into the insert, which the
// update's statement could not see.
func (w *writes) prepareHolds(b *storage.Batch) error {
	w.holds = slices.Clone(b.Holds)
	fresh := make(map[storage.AccountID]int, len(w.holds))
	for i, h := range w.holds {
		if err := checkTexts("hold", h.ID, h.Account, h.Pool); err != nil {
			return err
		}
		if h.State != storage.HoldActive {
			return fmt.Errorf("%w: new hold %s in state %q", storage.ErrInvalidArgument, h.ID, h.State)
		}
		fresh[storage.AccountID{Account: h.Account, ID: h.ID}] = i
	}
	seen := map[storage.AccountID]bool{}
	for _, u := range b.HoldUpdates {
		if err := checkTexts("hold update", u.ID, u.Account, u.EndOperationID); err != nil {
			return err
		}
		k := storage.AccountID{Account: u.Account, ID: u.ID}
		if seen[k] {
			return fmt.Errorf("%w: hold %s of account %q ended twice in one batch", storage.ErrNotFound, u.ID, u.Account)
		}
		seen[k] = true
		if i, ok := fresh[k]; ok {
			h := &w.holds[i]
			end := u.EndedAt
			h.State, h.Captured, h.EndedAt, h.EndOperationID = u.State, u.Captured, &end, u.EndOperationID
			continue
		}
		w.ended = append(w.ended, u)
	}
	for _, h := range w.holds {
		for _, ln := range h.Lines {
			if err := checkText("hold line lot", ln.LotID); err != nil {
				return err
			}
		}
	}
	return nil
}
