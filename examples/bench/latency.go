package main

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// latencies collects the per-call durations of concurrent workers. Each
// worker appends to a slice of its own and hands it over once, with add.
type latencies struct {
	mu  sync.Mutex
	all []time.Duration
}

func (l *latencies) add(d []time.Duration) {
	l.mu.Lock()
	l.all = append(l.all, d...)
	l.mu.Unlock()
}

// summary sorts the collected durations and returns their p50 and p99.
func (l *latencies) summary() latencySummary {
	l.mu.Lock()
	defer l.mu.Unlock()
	return summarize(l.all)
}

// latencySummary is the median and the 99th percentile of a set of
// per-call latencies (N of them; zero durations when N is 0).
type latencySummary struct {
	N        int
	P50, P99 time.Duration
}

// summarize sorts d in place and returns its p50 and p99.
func summarize(d []time.Duration) latencySummary {
	slices.Sort(d)
	return latencySummary{N: len(d), P50: percentile(d, 0.50), P99: percentile(d, 0.99)}
}

// percentile returns the p-th quantile (0 < p <= 1) of sorted (ascending)
// by the nearest-rank method: the smallest value such that at least a
// fraction p of the values are at or below it. It returns 0 for an empty
// slice; p at or below 0 gives the smallest value, above 1 the largest.
func percentile(sorted []time.Duration, p float64) time.Duration {
	n := len(sorted)
	if n == 0 {
		return 0
	}
	// The small epsilon keeps p*n from rounding up past an exact rank
	// (0.29 * 100 is 28.999999999999996 in float64, 0.57 * 100 is
	// 56.99999999999999, but 0.07 * 100 is 7.000000000000001).
	k := int(math.Ceil(p*float64(n) - 1e-9))
	return sorted[min(max(k, 1), n)-1]
}

// ms is a duration in milliseconds, for the report.
func ms(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e6 }

// parsePgbenchLog reads the per-transaction lines of pgbench -l
// ("client_id transaction_no time script_no time_epoch time_us", the
// third field the latency in µs) and returns the latencies.
func parsePgbenchLog(log string) []time.Duration {
	var lat []time.Duration
	for _, line := range strings.Split(log, "\n") {
		if f := strings.Fields(line); len(f) >= 3 {
			if us, err := strconv.ParseFloat(f[2], 64); err == nil {
				lat = append(lat, time.Duration(us*float64(time.Microsecond)))
			}
		}
	}
	return lat
}

// parseWorkerCounts reads -workers: worker counts separated by commas,
// each at least 1.
func parseWorkerCounts(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil || n < 1 {
			return nil, fmt.Errorf("-workers %q: want worker counts of at least 1, separated by commas (e.g. 1,4,16)", s)
		}
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("-workers %q: want at least one worker count", s)
	}
	return out, nil
}

// count is n and a noun, plural unless n is 1: "1 worker", "16 workers".
func count(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return strconv.Itoa(n) + " " + noun + "s"
}
