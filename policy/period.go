package policy

import "time"

// AddMonthsClamped returns t moved by months calendar months (negative
// moves back) in t's location, keeping the day of month and the time of
// day, with the day clamped to the last day of the target month: Jan 31
// plus one month is Feb 28 (Feb 29 in a leap year), plus two is Mar 31.
//
// Callers that step month by month must always add to the original time,
// never to the previous result, or the day drifts: AddMonthsClamped(jan31,
// 2) is Mar 31, but adding one month twice gives Mar 28. MonthlyAnniversary
// does this.
//
// When the resulting wall time does not exist in the location (it falls in
// a daylight-saving gap), the result is the first instant after the gap,
// the moment of the transition: 02:30 on the day New York springs forward
// becomes 03:00 EDT. When it exists twice (clocks fall back), the result is
// the earlier instant. time.Date leaves both choices unspecified; fixing
// them keeps period boundaries identical across Go versions.
func AddMonthsClamped(t time.Time, months int) time.Time {
	y, m, d := addMonthsDate(t, months)
	hh, mm, ss := t.Clock()
	return wallTime(y, m, d, hh, mm, ss, t.Nanosecond(), t.Location())
}

// addMonthsDate returns the nominal date (before any DST adjustment of the
// time of day) of AddMonthsClamped(t, months). Anniversary keys come from
// it, so a gap that pushes a period start past midnight cannot change
// which date names the period.
func addMonthsDate(t time.Time, months int) (int, time.Month, int) {
	y, m, d := t.Date()
	// Normalise the month through time.Date on the 1st (always valid), so
	// that month arithmetic never overflows into the day.
	first := time.Date(y, m+time.Month(months), 1, 0, 0, 0, 0, time.UTC)
	ty, tm, _ := first.Date()
	return ty, tm, min(d, daysIn(ty, tm))
}

// daysIn returns the number of days of month m of year y.
func daysIn(y int, m time.Month) int {
	// Day 0 of the next month is the last day of this one.
	return time.Date(y, m+1, 0, 0, 0, 0, 0, time.UTC).Day()
}

// wallTime returns the instant at which the clock in loc reads the given
// wall time (normalised like time.Date). A wall time skipped by a DST gap
// resolves to the transition that skipped it (the first instant after the
// gap); one repeated by a fall-back resolves to its earlier instant.
func wallTime(y int, mo time.Month, d, hh, mi, ss, ns int, loc *time.Location) time.Time {
	// want is the requested wall time, normalised, as a comparable value
	// free of any zone.
	want := time.Date(y, mo, d, hh, mi, ss, ns, time.UTC)
	t := time.Date(y, mo, d, hh, mi, ss, ns, loc)
	got := asUTCWall(t)
	switch {
	case got.Before(want):
		// time.Date read the wall time with the offset after the gap and
		// landed before it; the gap ends where t's zone period ends.
		_, end := t.ZoneBounds()
		if !end.IsZero() {
			return end
		}
	case got.After(want):
		// time.Date read it with the offset before the gap and landed
		// after it; the gap ends where t's zone period starts.
		start, _ := t.ZoneBounds()
		if !start.IsZero() {
			return start
		}
	default:
		// The wall time exists. If clocks fell back just before t's zone
		// period began, the same wall time may also exist earlier, in the
		// previous zone period; prefer that one.
		start, _ := t.ZoneBounds()
		if start.IsZero() {
			return t
		}
		_, prevOff := start.Add(-time.Nanosecond).Zone()
		_, off := t.Zone()
		if prevOff > off {
			earlier := t.Add(-time.Duration(prevOff-off) * time.Second)
			if earlier.Before(start) && asUTCWall(earlier).Equal(want) {
				return earlier
			}
		}
	}
	return t
}

// asUTCWall returns t's wall clock reading as a UTC time, so that wall
// times from different offsets compare as readings, not instants.
func asUTCWall(t time.Time) time.Time {
	y, mo, d := t.Date()
	hh, mi, ss := t.Clock()
	return time.Date(y, mo, d, hh, mi, ss, t.Nanosecond(), time.UTC)
}
