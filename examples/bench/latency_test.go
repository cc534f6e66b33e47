package main

import (
	"slices"
	"testing"
	"time"
)

func TestPercentile(t *testing.T) {
	ms := func(v ...int) []time.Duration {
		out := make([]time.Duration, len(v))
		for i, x := range v {
			out[i] = time.Duration(x) * time.Millisecond
		}
		return out
	}
	hundred := make([]time.Duration, 100) // 1..100 ms
	for i := range hundred {
		hundred[i] = time.Duration(i+1) * time.Millisecond
	}
	for _, tc := range []struct {
		name   string
		sorted []time.Duration
		p      float64
		want   time.Duration
	}{
		{"empty", nil, 0.5, 0},
		{"one value", ms(7), 0.5, 7 * time.Millisecond},
		{"one value p99", ms(7), 0.99, 7 * time.Millisecond},
		{"median of odd count", ms(1, 2, 3, 4, 5), 0.5, 3 * time.Millisecond},
		{"median of even count is the lower middle", ms(1, 2, 3, 4), 0.5, 2 * time.Millisecond},
		{"p50 of 1..100", hundred, 0.5, 50 * time.Millisecond},
		{"p99 of 1..100", hundred, 0.99, 99 * time.Millisecond},
		{"p29 of 1..100 (float rounding)", hundred, 0.29, 29 * time.Millisecond},
		{"p57 of 1..100 (float rounding)", hundred, 0.57, 57 * time.Millisecond},
		{"p07 of 1..100 (float rounding)", hundred, 0.07, 7 * time.Millisecond},
		{"p100 is the largest", hundred, 1, 100 * time.Millisecond},
		{"p0 is the smallest", hundred, 0, 1 * time.Millisecond},
		{"above 1 is the largest", hundred, 1.5, 100 * time.Millisecond},
		{"p99 of 10 values is the largest", ms(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 0.99, 10 * time.Millisecond},
		{"one slow call in 1000 stays out of p99", append(slices.Repeat(ms(1), 999), time.Second), 0.99, time.Millisecond},
		{"eleven slow calls in 1000 reach p99", append(slices.Repeat(ms(1), 989), slices.Repeat(ms(1000), 11)...), 0.99, time.Second},
	} {
		if got := percentile(tc.sorted, tc.p); got != tc.want {
			t.Errorf("%s: percentile(p=%v) = %v, want %v", tc.name, tc.p, got, tc.want)
		}
	}
}

func TestSummarizeSortsAndCollects(t *testing.T) {
	var l latencies
	l.add([]time.Duration{5 * time.Millisecond, 1 * time.Millisecond})
	l.add([]time.Duration{3 * time.Millisecond, 2 * time.Millisecond, 4 * time.Millisecond})
	s := l.summary()
	if s.N != 5 || s.P50 != 3*time.Millisecond || s.P99 != 5*time.Millisecond {
		t.Fatalf("summary = %+v, want N 5, p50 3ms, p99 5ms", s)
	}
	if empty := summarize(nil); empty != (latencySummary{}) {
		t.Fatalf("summarize(nil) = %+v, want zero", empty)
	}
}

func TestParsePgbenchLog(t *testing.T) {
	log := "0 1 1250 0 1764633600 123456\n1 1 830 0 1764633600 123999\n\ngarbage\n0 2 2000.5 0 1764633600 124000\n"
	got := parsePgbenchLog(log)
	want := []time.Duration{1250 * time.Microsecond, 830 * time.Microsecond, 2000500 * time.Nanosecond}
	if !slices.Equal(got, want) {
		t.Fatalf("parsePgbenchLog = %v, want %v", got, want)
	}
}

func TestParseWorkerCounts(t *testing.T) {
	got, err := parseWorkerCounts("1, 4,16,4")
	if err != nil || !slices.Equal(got, []int{1, 4, 16}) {
		t.Fatalf("parseWorkerCounts = %v, %v; want [1 4 16]", got, err)
	}
	if got, err := parseWorkerCounts("16"); err != nil || !slices.Equal(got, []int{16}) {
		t.Fatalf("parseWorkerCounts(16) = %v, %v", got, err)
	}
	for _, bad := range []string{"", "0", "a", "4,-1", " , "} {
		if _, err := parseWorkerCounts(bad); err == nil {
			t.Errorf("parseWorkerCounts(%q): want an error", bad)
		}
	}
}
