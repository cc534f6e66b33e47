package ledger

import (
	"github.com/creditledger/creditledger/storage"
)

// verifyHolds checks an account's holds against its entries (see Verify).
func verifyHolds(d *storage.AccountDump, bad func(lot, format string, args ...any)) {
	a := &d.Account
	type sums struct {
		held     map[string]int64 // per lot, by hold entries
		released int64
		captured int64
	}
	byHold := map[string]*sums{}
	get := func(id string) *sums {
		s := byHold[id]
		if s == nil {
			s = &sums{held: map[string]int64{}}
			byHold[id] = s
		}
		return s
	}
	for i := range d.Entries {
		e := &d.Entries[i]
		switch e.Kind {
		case storage.KindHold:
			get(e.OperationID).held[e.LotID] -= e.Amount
		case storage.KindRelease:
			get(e.Ref).released += e.Amount
		case storage.KindCapture:
			get(e.Ref).captured -= e.Amount
		}
	}
	known := map[string]bool{}
	for i := range d.Holds {
		h := &d.Holds[i]
		known[h.ID] = true
		s := get(h.ID)
		lines := map[string]int64{}
		var total int64
		for _, ln := range h.Lines {
			if ln.Amount <= 0 {
				bad(ln.LotID, "hold %s has a line of %d", h.ID, ln.Amount)
			}
			lines[ln.LotID] += ln.Amount
			total += ln.Amount
		}
		if total != h.Amount {
			bad("", "hold %s holds %d but its lines sum to %d", h.ID, h.Amount, total)
		}
		for lot, n := range lines {
			if s.held[lot] != n {
				bad(lot, "hold %s says it took %d from the lot, its hold entries took %d", h.ID, n, s.held[lot])
			}
		}
		for lot, n := range s.held {
			if lines[lot] == 0 && n != 0 {
				bad(lot, "hold %s's hold entries took %d from a lot it has no line on", h.ID, n)
			}
		}
		switch h.State {
		case storage.HoldActive:
			if s.released != 0 || s.captured != 0 {
				bad("", "hold %s is active but entries released %d and captured %d of it", h.ID, s.released, s.captured)
			}
			if a.NextExpiryAt == nil || a.NextExpiryAt.After(h.ExpiresAt) {
				bad("", "hold %s expires at %s, before the account's next expiry time", h.ID, h.ExpiresAt)
			}
		case storage.HoldCaptured, storage.HoldReleased, storage.HoldExpired:
			if s.released != h.Amount {
				bad("", "hold %s is %s but its release entries gave back %d of %d", h.ID, h.State, s.released, h.Amount)
			}
			if s.captured != h.Captured {
				bad("", "hold %s captured %d but its capture entries spent %d", h.ID, h.Captured, s.captured)
			}
			if h.State != storage.HoldCaptured && h.Captured != 0 {
				bad("", "hold %s is %s with %d captured", h.ID, h.State, h.Captured)
			}
		default:
			bad("", "hold %s has an unknown state %q", h.ID, h.State)
		}
	}
	for id := range byHold {
		if !known[id] {
			bad("", "entries name hold %s, which does not exist", id)
		}
	}
}
