package main

import (
	"bytes"
	"context"
	"encoding/xml"
	"io"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/creditledger/creditledger/ledger"
	"github.com/creditledger/creditledger/storage"
	"github.com/creditledger/creditledger/storage/memory"
)

// chartLedger is a ledger on the memory store whose clock the test sets.
type chartLedger struct {
	l   *ledger.Ledger
	now time.Time
}

func newChartLedger(t *testing.T) *chartLedger {
	t.Helper()
	c := &chartLedger{now: time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC)}
	l, err := ledger.New(memory.New(), &ledger.Config{Now: func() time.Time { return c.now }})
	require.NoError(t, err)
	c.l = l
	return c
}

// series reads what the console would chart for account at the clock's
// now, as server.balanceChart does.
func (c *chartLedger) series(t *testing.T, account string) ([]balancePoint, []balanceMark) {
	t.Helper()
	ctx := context.Background()
	page, err := c.l.Entries(ctx, account, &ledger.ListOpts{Limit: chartEntries})
	require.NoError(t, err)
	lots, err := c.l.Store().Lots(ctx, storage.LotQuery{Account: account})
	require.NoError(t, err)
	remaining, expiries := map[string]decimal.Decimal{}, map[string]*time.Time{}
	for _, l := range lots {
		remaining[l.ID] = decimal.New(l.Remaining, -c.l.Scale())
		expiries[l.ID] = l.ExpiresAt
	}
	return balanceSeries(page.Entries, remaining, expiries, c.now)
}

func d(n int64) decimal.Decimal { return decimal.NewFromInt(n) }

// The points are the balance the ledger itself reports (BalanceAt) at
// each of their instants and until the next one; the grants and the
// expiry are marked where and as much as they happened, the expiry at
// its instant and not when the sweep booked it.
func TestBalanceSeriesMatchesHistory(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := newChartLedger(t)
	start := c.now
	day := 24 * time.Hour
	at := func(days int) time.Time { return start.Add(time.Duration(days) * day) }
	expiry := at(10)
	_, err := c.l.Grant(ctx, ledger.GrantParams{Account: "u", Amount: d(100), IdempotencyKey: "g1", Source: "promo", ExpiresAt: &expiry})
	require.NoError(t, err)
	c.now = at(1)
	_, err = c.l.Consume(ctx, ledger.ConsumeParams{Account: "u", Amount: d(30)})
	require.NoError(t, err)
	c.now = at(2)
	_, err = c.l.Grant(ctx, ledger.GrantParams{Account: "u", Amount: d(50), IdempotencyKey: "g2", Source: "pack"})
	require.NoError(t, err)
	c.now = at(3)
	h, err := c.l.Hold(ctx, ledger.HoldParams{Account: "u", Amount: d(20), TTL: time.Hour})
	require.NoError(t, err)
	c.now = at(3).Add(10 * time.Minute)
	_, err = c.l.Release(ctx, "u", h.ID)
	require.NoError(t, err)
	c.now = at(12)
	swept, err := c.l.ExpireDue(ctx)
	require.NoError(t, err)
	require.Equal(t, 1, swept.Expired, "the sweep books the expiry two days late")
	c.now = at(15)

	points, marks := c.series(t, "u")
	var got []string
	for _, p := range points {
		got = append(got, p.At.Sub(start).String()+"="+p.Available.String())
	}
	require.Equal(t, []string{"0s=100", "24h0m0s=70", "48h0m0s=120", "72h0m0s=100", "72h10m0s=120", "240h0m0s=50",
		"288h0m0s=50", "360h0m0s=50"}, got)
	for i, p := range points {
		b, err := c.l.BalanceAt(ctx, "u", p.At)
		require.NoError(t, err)
		require.Equal(t, b.Available.String(), p.Available.String(), "at %s", p.At)
		if i > 0 {
			b, err = c.l.BalanceAt(ctx, "u", p.At.Add(-time.Microsecond))
			require.NoError(t, err)
			require.Equal(t, points[i-1].Available.String(), b.Available.String(), "just before %s", p.At)
		}
	}
	require.Equal(t, []balanceMark{
		{At: start, Kind: "grant", Amount: d(100), After: d(100), Source: "promo"},
		{At: at(2), Kind: "grant", Amount: d(50), After: d(120), Source: "pack"},
		{At: expiry, Kind: "expire", Amount: d(70), After: d(50)},
	}, normal(marks))

	// A window of the newest entries only starts from what the walk back
	// from now finds, without the older entries.
	page, err := c.l.Entries(ctx, "u", &ledger.ListOpts{Limit: 3})
	require.NoError(t, err)
	lots, err := c.l.Store().Lots(ctx, storage.LotQuery{Account: "u"})
	require.NoError(t, err)
	remaining, expiries := map[string]decimal.Decimal{}, map[string]*time.Time{}
	for _, l := range lots {
		remaining[l.ID], expiries[l.ID] = decimal.NewFromInt(l.Remaining), l.ExpiresAt
	}
	tail, _ := balanceSeries(page.Entries, remaining, expiries, c.now)
	require.Equal(t, points[len(points)-len(tail):], tail)
}

// normal makes decimals comparable with require.Equal.
func normal(ms []balanceMark) []balanceMark {
	for i := range ms {
		ms[i].Amount = decimal.RequireFromString(ms[i].Amount.String())
		ms[i].After = decimal.RequireFromString(ms[i].After.String())
	}
	return ms
}

// No history: nothing to draw, and the page of an account never written
// to has no chart.
func TestBalanceChartEmpty(t *testing.T) {
	t.Parallel()
	points, marks := balanceSeries(nil, nil, nil, time.Now())
	require.Empty(t, points)
	require.Empty(t, marks)
	require.Nil(t, newBalanceChart(points, marks, time.Now(), d(1)))
	require.Nil(t, newRunsChart(nil, d(1)))

	e := newConsole(t)
	status, page := e.browser(t).get("/accounts/nobody")
	require.Equal(t, 404, status)
	require.NotContains(t, page, `id="balance-chart"`)
	status, page = e.browser(t).get("/")
	require.Equal(t, 200, status)
	require.NotContains(t, page, `id="runs-chart"`, "no run yet")
}

// One entry written just now: one point, a flat line across a minute
// around it, one grant mark; every size drawn.
func TestBalanceChartOneEntry(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := newChartLedger(t)
	_, err := c.l.Grant(ctx, ledger.GrantParams{Account: "u", Amount: d(7), IdempotencyKey: "g"})
	require.NoError(t, err)
	points, marks := c.series(t, "u")
	require.Len(t, points, 1)
	require.Equal(t, "7", points[0].Available.String())
	require.Len(t, marks, 1)

	set := newBalanceChart(points, marks, c.now, d(1))
	require.NotNil(t, set)
	svgs := renderChart(t, set)
	require.Len(t, svgs, len(chartSizes))
	for i, s := range svgs {
		v := set.Views[i]
		require.Equal(t, chartSizes[i].class, s.Class)
		require.Equal(t, "0 0 "+strconv.Itoa(chartSizes[i].width)+" 220", s.ViewBox)
		// The line runs flat from the plot's left to its right edge at 7,
		// on an axis to 8 in steps of 2.
		require.Equal(t, []string{"0", "2", "4", "6", "8"}, labels(v.YTicks))
		y7 := v.PlotY1 - 7.0/8*(v.PlotY1-v.PlotY0)
		require.Equal(t, "M52.0 "+strconv.FormatFloat(y7, 'f', 1, 64)+"H"+strconv.FormatFloat(v.PlotX1, 'f', 1, 64), v.Line)
		require.Len(t, s.marks("mark-grant"), 1)
		require.Contains(t, s.marks("mark-grant")[0].Title, "+7 granted")
	}
	require.Contains(t, set.Summary, "7 now, at most 7, at least 7; 1 grant and 0 expiries marked")
}

// Amounts at the edge of what a store holds (math.MaxInt64 minor units)
// draw inside the plot, with round labels and no float in any amount.
func TestBalanceChartHugeValues(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	huge := decimal.New(math.MaxInt64, 0)
	points := []balancePoint{{now.Add(-48 * time.Hour), huge}, {now.Add(-24 * time.Hour), d(1)}, {now, huge}}
	marks := []balanceMark{{At: now.Add(-48 * time.Hour), Kind: "grant", Amount: huge, After: huge}}
	set := newBalanceChart(points, marks, now, d(1))
	for _, v := range set.Views {
		require.Equal(t, []string{"0", "5E", "10E"}, labels(v.YTicks), "steps of 5 x 10^18")
		for _, tk := range v.YTicks {
			require.True(t, tk.Pos >= v.PlotY0 && tk.Pos <= v.PlotY1)
		}
		for _, m := range v.Marks {
			require.True(t, m.Y >= v.PlotY0 && m.Y <= v.PlotY1 && m.X >= v.PlotX0 && m.X <= v.PlotX1, "%+v", m)
		}
		require.NotContains(t, v.Line, "NaN")
		require.NotContains(t, v.Line, "Inf")
	}
	require.Contains(t, set.Summary, "at most 9223372036854775807", "the summary says the exact amount")
	renderChart(t, set)
}

func labels(ts []chartTick) []string {
	var out []string
	for _, t := range ts {
		out = append(out, t.Label)
	}
	return out
}

// The runs chart draws each run's granted and expired credits as bars
// whose heights are to scale, oldest on the left, a failed run as a stub.
func TestRunsChart(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 12, 1, 6, 0, 0, 0, time.UTC)
	runs := []runRecord{ // newest first, as runLog keeps them
		{Started: t0.Add(2 * time.Hour), Result: &ledger.DistributeResult{Granted: 2, GrantedCredits: d(400), Expired: 1, ExpiredCredits: d(100)}},
		{Started: t0.Add(time.Hour), Failed: true},
		{Started: t0, Result: &ledger.DistributeResult{Granted: 1, GrantedCredits: d(50)}},
	}
	set := newRunsChart(runs, d(1))
	require.Contains(t, set.Summary, "The last 3 runs: 450 credits granted and 100 expired in all.")
	for _, v := range set.Views {
		require.Equal(t, []string{"0", "100", "200", "300", "400"}, labels(v.YTicks))
		require.Len(t, v.Bars, 5)
		first, failed, granted, expired := v.Bars[0], v.Bars[2], v.Bars[3], v.Bars[4]
		require.Equal(t, "granted", first.Kind)
		require.Contains(t, first.Label, "06:00:00 UTC: 50 credits granted (1 lot)")
		require.Equal(t, "failed", failed.Kind)
		require.Equal(t, v.PlotY0, granted.Y, "the largest bar reaches the top")
		require.InDelta(t, granted.H/4, expired.H, 0.11, "100 is a quarter of 400")
		require.InDelta(t, granted.H/8, first.H, 0.11, "50 is an eighth")
		require.Less(t, first.X, failed.X)
		require.Less(t, failed.X, granted.X)
	}
	renderChart(t, set)
}

func TestNiceScaleAndCompact(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		max, min, top, step string
	}{
		{"0", "1", "1", "1"},
		{"1", "1", "1", "1"},
		{"3", "1", "3", "1"},
		{"7", "1", "8", "2"},
		{"295", "1", "300", "100"},
		{"1232", "1", "1500", "500"},
		{"0.3", "0.01", "0.3", "0.1"},
		{"9223372036854775807", "1", "10000000000000000000", "5000000000000000000"},
	} {
		top, step := niceScale(decimal.RequireFromString(tc.max), decimal.RequireFromString(tc.min))
		require.Equal(t, tc.top, top.String(), "top for %s", tc.max)
		require.Equal(t, tc.step, step.String(), "step for %s", tc.max)
	}
	for in, want := range map[string]string{"0": "0", "950": "950", "9999": "9999", "12500": "12.5k", "1234567": "1.23M",
		"1000000000": "1G", "9223372036854775807": "9.22E", "0.25": "0.25", "-12500": "-12.5k"} {
		require.Equal(t, want, compact(decimal.RequireFromString(in)), in)
	}
	for n, want := range map[int]string{0: "0 entries", 1: "1 entry", 2: "2 entries"} {
		require.Equal(t, want, plural(n, "entry"))
	}
	require.Equal(t, "1 lot", plural(1, "lot"))
	require.Equal(t, "3 lots", plural(3, "lot"))
	require.Equal(t, "2 days", plural(2, "day"))
}

// svgOut is what the tests read back of one rendered <svg>.
type svgOut struct {
	Class, ViewBox string
	shapes         []svgShape
}

type svgShape struct{ Class, Title string }

func (s svgOut) marks(class string) []svgShape {
	var out []svgShape
	for _, sh := range s.shapes {
		if sh.Class == class {
			out = append(out, sh)
		}
	}
	return out
}

// renderChart executes the "chart" template with set and parses the
// result as XML: it must be well formed, and each size is one <svg>.
func renderChart(t *testing.T, set *chartSet) []svgOut {
	t.Helper()
	var buf bytes.Buffer
	require.NoError(t, consoleTemplates().ExecuteTemplate(&buf, "chart", set))
	dec := xml.NewDecoder(strings.NewReader(buf.String()))
	var out []svgOut
	var title *string
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		require.NoError(t, err, "the chart is well-formed XML:\n%s", buf.String())
		switch el := tok.(type) {
		case xml.StartElement:
			attr := map[string]string{}
			for _, a := range el.Attr {
				attr[a.Name.Local] = a.Value
			}
			switch el.Name.Local {
			case "svg":
				out = append(out, svgOut{Class: attr["class"], ViewBox: attr["viewBox"]})
			case "path", "rect":
				if len(out) > 0 {
					s := &out[len(out)-1]
					s.shapes = append(s.shapes, svgShape{Class: attr["class"]})
				}
			case "title":
				if len(out) > 0 && len(out[len(out)-1].shapes) > 0 {
					s := &out[len(out)-1]
					title = &s.shapes[len(s.shapes)-1].Title
				}
			}
		case xml.CharData:
			if title != nil {
				*title += string(el)
			}
		case xml.EndElement:
			if el.Name.Local == "title" {
				title = nil
			}
		}
	}
	return out
}
