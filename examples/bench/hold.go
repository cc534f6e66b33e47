package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shopspring/decimal"

	"github.com/creditledger/creditledger/ledger"
)

// holdCapture runs -workers workers for -duration, each holding 3
// credits of a random account and capturing 2 of them (the metered-call
// pattern: two writes per call), and reports pairs per second.
func holdCapture(ctx context.Context, l *ledger.Ledger, c *config, rep *report) error {
	const name = "Hold + capture pairs, random accounts"
	stopProfile, err := c.startProfile("hold")
	if err != nil {
		return err
	}
	defer stopProfile()
	progress("%s: %d workers for %s...", name, c.workers, c.duration)
	held, spent := decimal.NewFromInt(3), decimal.NewFromInt(2)
	var pairs, insufficient, other atomic.Int64
	var firstErr atomic.Value
	fail := func(err error) {
		if other.Add(1) == 1 {
			firstErr.Store(err)
		}
	}
	stop := time.Now().Add(c.duration)
	start := time.Now()
	var wg sync.WaitGroup
	for w := range c.workers {
		wg.Add(1)
		go func(seed uint64) {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(seed, 43))
			for time.Now().Before(stop) {
				acct := accountID(1 + rng.IntN(c.n))
				h, err := l.Hold(ctx, ledger.HoldParams{Account: acct, Amount: held, Description: "bench"})
				if errors.Is(err, ledger.ErrInsufficientCredits) {
					insufficient.Add(1)
					continue
				}
				if err != nil {
					fail(err)
					continue
				}
				if _, err := l.Capture(ctx, ledger.CaptureParams{Account: acct, HoldID: h.ID, Amount: spent}); err != nil {
					fail(err)
					continue
				}
				pairs.Add(1)
			}
		}(uint64(w))
	}
	wg.Wait()
	el := time.Since(start)
	rate := float64(pairs.Load()) / el.Seconds()
	note := fmt.Sprintf("%d pairs, %d holds refused (insufficient credits), %d other errors", pairs.Load(), insufficient.Load(), other.Load())
	if e, _ := firstErr.Load().(error); e != nil {
		note += "; first: " + e.Error()
	}
	progress("%s: %.0f pairs/s (%s)", name, rate, note)
	rep.add(figure{Name: fmt.Sprintf("%s, %d workers", name, c.workers), Unit: "pairs/s", Value: math.Round(rate), Note: note})
	return nil
}
