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

// holdCapture runs, once per worker count of -workers, that many workers
// for -duration, each holding 3 credits of a random account and capturing
// 2 of them (the metered-call pattern: two writes per call), and reports
// pairs per second with the latency of a pair. consumeRates are the
// random-account consume rates of the same run per worker count (nil if
// that phase was skipped): each figure's ratio is pairs per consume.
func holdCapture(ctx context.Context, l *ledger.Ledger, c *config, rep *report, consumeRates map[int]float64) error {
	const name = "Hold + capture pairs, random accounts"
	held, spent := decimal.NewFromInt(3), decimal.NewFromInt(2)
	for _, workers := range c.workerCounts {
		stopProfile, err := c.startProfile("hold")
		if err != nil {
			return err
		}
		progress("%s: %s for %s...", name, count(workers, "worker"), c.duration)
		var pairs, insufficient, other atomic.Int64
		var firstErr atomic.Value
		fail := func(err error) {
			if other.Add(1) == 1 {
				firstErr.Store(err)
			}
		}
		var lats latencies
		stop := time.Now().Add(c.duration)
		start := time.Now()
		var wg sync.WaitGroup
		for w := range workers {
			wg.Add(1)
			go func(seed uint64) {
				defer wg.Done()
				rng := rand.New(rand.NewPCG(seed, 43))
				lat := make([]time.Duration, 0, 4096)
				defer func() { lats.add(lat) }()
				for time.Now().Before(stop) {
					acct := accountID(1 + rng.IntN(c.spreadOf(pgRefAccounts)))
					t := time.Now()
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
					lat = append(lat, time.Since(t))
					pairs.Add(1)
				}
			}(uint64(w))
		}
		wg.Wait()
		stopProfile()
		el := time.Since(start)
		rate := float64(pairs.Load()) / el.Seconds()
		lat := lats.summary()
		note := fmt.Sprintf("%d pairs, %d holds refused (insufficient credits), %d other errors; latency of a whole pair", pairs.Load(), insufficient.Load(), other.Load())
		if e, _ := firstErr.Load().(error); e != nil {
			note += "; first: " + e.Error()
		}
		progress("%s, %d workers: %.0f pairs/s, p50 %.3f ms, p99 %.3f ms (%s)", name, workers, rate, ms(lat.P50), ms(lat.P99), note)
		f := figure{Name: fmt.Sprintf("%s, %s (vs consumes/s)", name, count(workers, "worker")), Unit: "pairs/s", Value: math.Round(rate), Note: note}
		f.setLatency(lat)
		if cr := consumeRates[workers]; cr > 0 {
			// The reference here is our own random-account consume rate
			// at the same worker count.
			f.Reference, f.RefUnit, f.Ratio = math.Round(cr), "tps", rate/cr
			if workers == 16 {
				f.Target = ">= 0.6x"
				f.Met = ptr(f.Ratio >= 0.6 && other.Load() == 0)
			}
		}
		rep.add(f)
	}
	return nil
}
