package main

import (
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"github.com/creditledger/creditledger/ledger"
)

// The console's charts: server-rendered SVG (templates/charts.html), no
// script, in three sizes of which the style sheet shows the one that fits
// the window, so that labels keep their size from a phone to a desktop.
// Amounts stay decimals until they become pixel positions; only the
// positions are floats.

// chartEntries is how many of an account's newest entries its balance
// chart covers.
const chartEntries = 500

// chartSizes are the widths the charts are drawn at, each with the CSS
// class that shows it (console.css: chart-s below 600 px, chart-m up to
// 1099 px, chart-l from 1100 px).
var chartSizes = []struct {
	class  string
	width  int
	xTicks int // labels on the time axis
}{
	{"chart-s", 330, 2},
	{"chart-m", 680, 4},
	{"chart-l", 1100, 6},
}

// chartHeight is the height of every chart, in CSS pixels.
const chartHeight = 220

// The plot's margins inside the chart: room for the amounts on the left,
// for the times below.
const (
	marginLeft   = 52
	marginRight  = 14
	marginTop    = 12
	marginBottom = 30
)

// balancePoint is the available balance from At on, until the next point.
type balancePoint struct {
	At        time.Time
	Available decimal.Decimal
}

// balanceMark is a grant or an expiry on the balance chart.
type balanceMark struct {
	At     time.Time
	Kind   string          // "grant" or "expire"
	Amount decimal.Decimal // what it added or took, positive
	After  decimal.Decimal // the available balance right after it
	Source string
}

// balanceSeries returns an account's available balance over time, oldest
// first, and its grants and expiries, from its newest entries (newest
// first, as Entries pages them), what each lot of the account has left
// now (remaining) and when it expires (nil: never), up to now.
//
// It walks back from now: the balance before an entry is the balance
// after it less its amount when its lot was not expired then; a lot's
// expiry, at its exact instant (not when the distribution booked it),
// takes away what the lot had left then. An entry of a lot not in lots
// counts as a lot that never expires. So entries older than the window
// are not needed, and the available balance does not count held credits
// (a hold's entry takes them from their lot) nor expired ones. One lag:
// a hold that expired before anything released it counts as held until
// its release entry, where BalanceAt gives its credits back at its expiry.
func balanceSeries(entries []ledger.Entry, remaining map[string]decimal.Decimal, expiries map[string]*time.Time,
	now time.Time,
) ([]balancePoint, []balanceMark) {
	if len(entries) == 0 {
		return nil, nil
	}
	rem := make(map[string]decimal.Decimal, len(remaining))
	avail := decimal.Zero
	live := func(lot string, at time.Time) bool {
		exp := expiries[lot]
		return exp == nil || exp.After(at)
	}
	for lot, r := range remaining {
		rem[lot] = r
		if live(lot, now) {
			avail = avail.Add(r)
		}
	}
	// The expiries inside the window, newest first.
	oldest := entries[len(entries)-1].CreatedAt
	type expiry struct {
		at  time.Time
		lot string
	}
	var exps []expiry
	for lot, exp := range expiries {
		if exp != nil && !exp.After(now) && !exp.Before(oldest) {
			exps = append(exps, expiry{*exp, lot})
		}
	}
	sort.Slice(exps, func(i, j int) bool {
		if !exps[i].at.Equal(exps[j].at) {
			return exps[i].at.After(exps[j].at)
		}
		return exps[i].lot > exps[j].lot
	})

	points := []balancePoint{{now, avail}}
	var marks []balanceMark
	ei := 0
	for _, e := range entries {
		// Forward, a lot expiring at t is expired for the entries at t:
		// walking back, an expiry comes after the entries of its instant.
		for ; ei < len(exps) && exps[ei].at.After(e.CreatedAt); ei++ {
			x := exps[ei]
			points = append(points, balancePoint{x.at, avail})
			if r := rem[x.lot]; r.IsPositive() {
				marks = append(marks, balanceMark{At: x.at, Kind: "expire", Amount: r, After: avail})
				avail = avail.Add(r)
			}
		}
		points = append(points, balancePoint{e.CreatedAt, avail})
		if e.Kind == ledger.KindGrant {
			marks = append(marks, balanceMark{At: e.CreatedAt, Kind: "grant", Amount: e.Amount, After: avail, Source: e.Source})
		}
		if live(e.LotID, e.CreatedAt) {
			avail = avail.Sub(e.Amount)
		}
		rem[e.LotID] = rem[e.LotID].Sub(e.Amount)
	}
	for ; ei < len(exps); ei++ { // at the oldest entry's instant
		x := exps[ei]
		points = append(points, balancePoint{x.at, avail})
		if r := rem[x.lot]; r.IsPositive() {
			marks = append(marks, balanceMark{At: x.at, Kind: "expire", Amount: r, After: avail})
			avail = avail.Add(r)
		}
	}
	// Oldest first; of several points at one instant the last (newest)
	// is what the balance was from then on.
	for i, j := 0, len(points)-1; i < j; i, j = i+1, j-1 {
		points[i], points[j] = points[j], points[i]
	}
	out := points[:0]
	for _, p := range points {
		if n := len(out); n > 0 && out[n-1].At.Equal(p.At) {
			out[n-1] = p
			continue
		}
		out = append(out, p)
	}
	// Oldest first too, each at the balance after everything at its
	// instant, so that marks of one instant do not stand apart.
	for i, j := 0, len(marks)-1; i < j; i, j = i+1, j-1 {
		marks[i], marks[j] = marks[j], marks[i]
	}
	for i := range marks {
		k := sort.Search(len(out), func(k int) bool { return out[k].At.After(marks[i].At) })
		marks[i].After = out[k-1].Available // k > 0: every mark's instant is a point's
	}
	return out, marks
}

// chartSet is one chart in every size, for templates/charts.html.
type chartSet struct {
	ID      string // the element id of the figure
	Title   string // what the chart shows, also for screen readers
	Summary string // the chart in words
	Legend  []chartLegend
	Views   []chartView
}

// chartLegend is one entry of a chart's legend: a class of console.css
// (mark-grant, bar-expired, ...), the glyph of a mark ("" for a bar's
// square) and what it stands for.
type chartLegend struct{ Class, Glyph, Label string }

// chartView is a chart drawn at one width.
type chartView struct {
	Class                  string
	W, H                   int
	PlotX0, PlotX1, PlotY0 float64 // the plot's left, right and top edges
	PlotY1                 float64 // its bottom edge: the zero line
	AmountX, TimeY         float64 // where the amount labels end, the time labels sit
	YTicks, XTicks         []chartTick
	Line, Area             string // SVG path data of the balance, its fill
	Marks                  []chartMark
	Bars                   []chartBar
}

type chartTick struct {
	Pos    float64 // y for an amount, x for a time
	Label  string
	Anchor string // text-anchor of a time label
}

type chartMark struct {
	X, Y  float64
	Kind  string // "grant" or "expire"
	Label string // the tooltip
}

type chartBar struct {
	X, Y, W, H float64
	Kind       string // "granted", "expired" or "failed"
	Label      string
}

// plot is the geometry shared by both charts at one width.
type plot struct {
	x0, x1, y0, y1 float64
	top            decimal.Decimal // the amount at y0
}

func newPlot(width int, top decimal.Decimal) plot {
	return plot{
		x0: marginLeft, x1: float64(width - marginRight),
		y0: marginTop, y1: float64(chartHeight - marginBottom), top: top,
	}
}

// view starts the chart of p at one size, its amount axis labelled.
func (p plot) view(class string, width int, step decimal.Decimal) chartView {
	return chartView{Class: class, W: width, H: chartHeight,
		PlotX0: p.x0, PlotX1: p.x1, PlotY0: p.y0, PlotY1: p.y1,
		AmountX: p.x0 - 6, TimeY: p.y1 + 18, YTicks: p.yTicks(step)}
}

// px rounds a position to a tenth of a pixel, to keep the markup short.
func px(f float64) float64 { return math.Round(f*10) / 10 }

// y is the height of amount v; amounts past the top are drawn at it.
func (p plot) y(v decimal.Decimal) float64 {
	if !p.top.IsPositive() || !v.IsPositive() {
		return p.y1
	}
	f := v.Div(p.top).InexactFloat64()
	if f > 1 {
		f = 1
	}
	return p.y1 - f*(p.y1-p.y0)
}

// yTicks labels the amount axis from 0 to p.top in steps of step.
func (p plot) yTicks(step decimal.Decimal) []chartTick {
	ticks := []chartTick{{Pos: p.y1, Label: "0"}}
	if !step.IsPositive() {
		return ticks
	}
	for v := step; v.LessThanOrEqual(p.top); v = v.Add(step) {
		ticks = append(ticks, chartTick{Pos: px(p.y(v)), Label: compact(v)})
	}
	return ticks
}

// niceScale returns the top of an amount axis that shows max, and its
// step: 1, 2 or 5 times a power of ten, about four steps, at least
// minStep. Both are exact decimals, so that the labels say round numbers
// even for huge amounts.
func niceScale(max, minStep decimal.Decimal) (top, step decimal.Decimal) {
	if !max.IsPositive() {
		return minStep, minStep
	}
	raw := max.Div(decimal.NewFromInt(4)).InexactFloat64()
	exp := int32(math.Floor(math.Log10(raw)))
	for _, m := range []int64{1, 2, 5, 10} {
		step = decimal.New(m, exp)
		if step.InexactFloat64() >= raw*0.999999 {
			break
		}
	}
	step = decimal.Max(step, minStep)
	top = max.Div(step).Ceil().Mul(step)
	return top, step
}

// compact writes an axis amount in at most about four characters: 950,
// 12.5k, 1.2M, 9.22E (for 9.22 x 10^18).
func compact(v decimal.Decimal) string {
	const suffixes = "kMGTPE"
	abs := v.Abs()
	if abs.LessThan(decimal.NewFromInt(10000)) {
		return v.Round(2).String()
	}
	digits := len(abs.Truncate(0).String())
	group := min((digits-1)/3, len(suffixes))
	s := v.Shift(int32(-3 * group))
	intDigits := len(s.Abs().Truncate(0).String())
	return s.Round(int32(max(0, 3-intDigits))).String() + suffixes[group-1:group]
}

// timeLabel formats an instant for an axis whose whole span is span.
func timeLabel(t time.Time, span time.Duration) string {
	t = t.UTC()
	switch {
	case span <= time.Hour:
		return t.Format("15:04:05")
	case span <= 36*time.Hour:
		return t.Format("15:04")
	case span <= 10*24*time.Hour:
		return t.Format("Jan 2 15:04")
	case span <= 300*24*time.Hour:
		return t.Format("Jan 2")
	}
	return t.Format("2006-01-02")
}

// newBalanceChart draws points and marks (balanceSeries) up to now; nil
// when there is nothing to draw.
// minStep is the smallest step of its amount axis (one credit at the
// ledger's scale).
func newBalanceChart(points []balancePoint, marks []balanceMark, now time.Time, minStep decimal.Decimal) *chartSet {
	if len(points) == 0 {
		return nil
	}
	start, end := points[0].At, now
	if end.Before(points[len(points)-1].At) {
		end = points[len(points)-1].At
	}
	if !end.After(start) { // one instant: show a minute around it
		start, end = start.Add(-30*time.Second), end.Add(30*time.Second)
	}
	span := end.Sub(start)
	peak, low := decimal.Zero, points[0].Available
	for _, p := range points {
		peak = decimal.Max(peak, p.Available)
		low = decimal.Min(low, p.Available)
	}
	top, step := niceScale(peak, minStep)
	grants, expiries := 0, 0
	for _, m := range marks {
		if m.Kind == "grant" {
			grants++
		} else {
			expiries++
		}
	}
	last := points[len(points)-1].Available
	set := &chartSet{
		ID:    "balance-chart",
		Title: "Available balance over time",
		Summary: fmt.Sprintf("Available credits from %s to %s: %s now, at most %s, at least %s; %s and %s marked.",
			start.UTC().Format("2006-01-02 15:04 MST"), end.UTC().Format("2006-01-02 15:04 MST"),
			last, peak, low, plural(grants, "grant"), plural(expiries, "expiry")),
		Legend: []chartLegend{{"mark-grant", "▲", "grant"}, {"mark-expire", "▼", "expiry"}},
	}
	for _, size := range chartSizes {
		p := newPlot(size.width, top)
		x := func(t time.Time) float64 {
			return p.x0 + float64(t.Sub(start))/float64(span)*(p.x1-p.x0)
		}
		v := p.view(size.class, size.width, step)
		// A step line: each balance holds until the next point.
		var line strings.Builder
		fmt.Fprintf(&line, "M%.1f %.1f", x(start), p.y(points[0].Available))
		for i := 1; i < len(points); i++ {
			fmt.Fprintf(&line, "H%.1fV%.1f", x(points[i].At), p.y(points[i].Available))
		}
		fmt.Fprintf(&line, "H%.1f", x(end))
		v.Line = line.String()
		v.Area = fmt.Sprintf("%sV%.1fH%.1fZ", v.Line, p.y1, x(start))
		for i := range size.xTicks {
			t := start.Add(time.Duration(float64(span) * float64(i) / float64(size.xTicks-1)))
			anchor := "middle"
			switch i {
			case 0:
				anchor = "start"
			case size.xTicks - 1:
				anchor = "end"
			}
			v.XTicks = append(v.XTicks, chartTick{Pos: px(x(t)), Label: timeLabel(t, span), Anchor: anchor})
		}
		for _, m := range marks {
			label := fmt.Sprintf("%s: %s credits expired, %s available after",
				m.At.UTC().Format("2006-01-02 15:04:05 MST"), m.Amount, m.After)
			if m.Kind == "grant" {
				label = fmt.Sprintf("%s: +%s granted (%s), %s available after",
					m.At.UTC().Format("2006-01-02 15:04:05 MST"), m.Amount, m.Source, m.After)
			}
			// A grant's mark sits on top of its rise, an expiry's on top
			// of its drop.
			y := p.y(m.After)
			if m.Kind == "expire" {
				y = p.y(m.After.Add(m.Amount))
			}
			v.Marks = append(v.Marks, chartMark{X: px(x(m.At)), Y: px(y), Kind: m.Kind, Label: label})
		}
		set.Views = append(set.Views, v)
	}
	return set
}

// newRunsChart draws what the last runs (newest first, as runLog keeps
// them) granted and expired, oldest on the left; nil when there is no run.
// minStep is the smallest step of its amount axis.
func newRunsChart(runs []runRecord, minStep decimal.Decimal) *chartSet {
	if len(runs) == 0 {
		return nil
	}
	peak := decimal.Zero
	granted, expired := decimal.Zero, decimal.Zero
	for _, r := range runs {
		if r.Result != nil {
			peak = decimal.Max(peak, r.Result.GrantedCredits, r.Result.ExpiredCredits)
			granted = granted.Add(r.Result.GrantedCredits)
			expired = expired.Add(r.Result.ExpiredCredits)
		}
	}
	top, step := niceScale(peak, minStep)
	set := &chartSet{
		ID:    "runs-chart",
		Title: "Credits granted and expired per run",
		Summary: fmt.Sprintf("The last %s: %s credits granted and %s expired in all.",
			plural(len(runs), "run"), granted, expired),
		Legend: []chartLegend{{"bar-granted", "", "granted"}, {"bar-expired", "", "expired"}},
	}
	for _, size := range chartSizes {
		p := newPlot(size.width, top)
		v := p.view(size.class, size.width, step)
		slot := (p.x1 - p.x0) / float64(max(len(runs), 3))
		span := runs[0].Started.Sub(runs[len(runs)-1].Started)
		barW := math.Min(slot*0.36, 40)
		for i := range runs {
			r := runs[len(runs)-1-i] // oldest first
			mid := p.x0 + slot*(float64(i)+0.5)
			when := r.Started.UTC().Format("2006-01-02 15:04:05 MST")
			if slot >= 58 || i == 0 || i == len(runs)-1 {
				v.XTicks = append(v.XTicks, chartTick{Pos: px(mid), Label: timeLabel(r.Started, span), Anchor: "middle"})
			}
			if r.Result == nil {
				v.Bars = append(v.Bars, chartBar{X: px(mid - barW/2), Y: p.y1 - 4, W: px(barW), H: 4, Kind: "failed",
					Label: "run at " + when + ": failed"})
				continue
			}
			res := r.Result
			for j, b := range []struct {
				kind   string
				amount decimal.Decimal
				lots   int
			}{{"granted", res.GrantedCredits, res.Granted}, {"expired", res.ExpiredCredits, res.Expired}} {
				y := p.y(b.amount)
				h := p.y1 - y
				if h < 1 && b.amount.IsPositive() {
					y, h = p.y1-1, 1 // a sliver, so that it is there
				}
				v.Bars = append(v.Bars, chartBar{X: px(mid - barW + float64(j)*barW), Y: px(y), W: px(barW), H: px(h), Kind: b.kind,
					Label: fmt.Sprintf("run at %s: %s credits %s (%s)", when, b.amount, b.kind, plural(b.lots, "lot"))})
			}
		}
		set.Views = append(set.Views, v)
	}
	return set
}

// plural writes n and noun, in the plural unless n is 1: "1 entry", "2
// entries", "0 lots".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	switch {
	case strings.HasSuffix(noun, "y") && !strings.HasSuffix(noun, "ay") && !strings.HasSuffix(noun, "ey"):
		noun = noun[:len(noun)-1] + "ies"
	default:
		noun += "s"
	}
	return fmt.Sprintf("%d %s", n, noun)
}
