package main

import (
	"embed"
	"fmt"
	"html/template"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/shopspring/decimal"
)

// templateFiles are the console's pages (templates/*.html, one file per
// page or feature section, each a set of {{define}} blocks) and its style
// sheet (templates/console.css), compiled into the binary.
//
//go:embed templates/*.html templates/console.css
var templateFiles embed.FS

// consoleTemplates returns the console's templates, parsed once from
// templateFiles. html/template escapes every value, account ids, sources
// and descriptions included. The style sheet is inlined by the head
// template (the pages need no second request, and the Content-Security-
// Policy allows inline styles only).
var consoleTemplates = sync.OnceValue(func() *template.Template {
	css, err := templateFiles.ReadFile("templates/console.css")
	if err != nil { // not reached: the file is embedded
		panic(err)
	}
	return template.Must(template.New("console").Funcs(template.FuncMap{
		"css": func() template.CSS { return template.CSS(css) }, // our own file, never input
		"when": func(t *time.Time, now time.Time) string {
			if t == nil {
				return "never expires"
			}
			return "expires " + t.UTC().Format("2006-01-02 15:04 MST") + until(*t, now)
		},
		"ts":      func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 MST") },
		"pathseg": url.PathEscape,
		"account": accountURL,
		"dotseg":  isDotSegment,
		"neg":     func(d decimal.Decimal) bool { return d.IsNegative() },
		"zero":    func(d decimal.Decimal) bool { return d.IsZero() },
		"ms":      func(d time.Duration) int64 { return d.Milliseconds() },
		"ago": func(t, now time.Time) string {
			d := now.Sub(t).Round(time.Second)
			if d < time.Second {
				return "just now"
			}
			return d.String() + " ago"
		},
		"shortid": shortID,
		"query": func(kv ...string) string {
			v := url.Values{}
			for i := 0; i+1 < len(kv); i += 2 {
				if kv[i+1] != "" {
					v.Set(kv[i], kv[i+1])
				}
			}
			if len(v) == 0 {
				return ""
			}
			return "?" + v.Encode()
		},
		"ptr":    func(t time.Time) *time.Time { return &t },
		"upper":  strings.ToUpper,
		"plural": plural,
		// The events feature's table (templates/events.html).
		"eventsTable": func(rows []eventRow, all bool) any {
			return struct {
				Rows []eventRow
				All  bool
			}{rows, all}
		},
	}).ParseFS(templateFiles, "templates/*.html"))
})

// until says how far away t is from now, as " (in 3d 4h)", or "" when
// it is more than farAway ahead: the date says it better, and a
// time.Duration cannot span more than 292 years.
func until(t, now time.Time) string {
	if !t.After(now) {
		return " (expired)"
	}
	if t.After(now.Add(farAway)) {
		return ""
	}
	d := t.Sub(now)
	days, hours := int(d/(24*time.Hour)), int(d%(24*time.Hour)/time.Hour)
	switch {
	case days > 0:
		return fmt.Sprintf(" (in %dd %dh)", days, hours)
	case hours > 0:
		return fmt.Sprintf(" (in %dh)", hours)
	case d >= time.Minute:
		return fmt.Sprintf(" (in %dm)", int(d/time.Minute))
	}
	return " (in less than a minute)"
}

// shortID shortens an id of the ledger's for a table cell: "…" and its
// last 8 characters. The ledger's ids are ULIDs whose first 10 characters
// are the millisecond and whose random part is incremented within one, so
// two operations of one millisecond share their first 25 characters: the
// end tells them apart, the start would not.
func shortID(id string) string {
	const keep = 8
	if len(id) <= keep+2 {
		return id
	}
	return "…" + id[len(id)-keep:]
}

// farAway is how far ahead an expiry is still shown in days and hours.
const farAway = 366 * 24 * time.Hour
