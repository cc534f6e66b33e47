package main

import (
	"bytes"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"time"

	"github.com/creditledger/creditledger/ledger"
)

// pageAccounts is the most accounts the HTML page lists.
const pageAccounts = 200

// pageData is what the page template shows.
type pageData struct {
	Host        string
	DefaultPlan string
	Now         time.Time
	Accounts    []*ledger.Balance
	More        bool // more accounts exist than are listed
}

// The template escapes every value (html/template), account ids included.
var pageTmpl = template.Must(template.New("page").Funcs(template.FuncMap{
	"when": func(t *time.Time, now time.Time) string {
		if t == nil {
			return "never expires"
		}
		return "expires " + t.UTC().Format("2006-01-02 15:04 MST") + " (" + until(t.Sub(now)) + ")"
	},
	"pathseg": url.PathEscape,
}).Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>creditledger example</title>
<style>
body { font-family: system-ui, sans-serif; margin: 2em; }
table { border-collapse: collapse; }
th, td { border: 1px solid #ccc; padding: .3em .6em; text-align: left; vertical-align: top; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
code, pre { background: #f4f4f4; }
ul { margin: 0; padding-left: 1.2em; }
</style>
</head>
<body>
<h1>creditledger example</h1>
<p>Accounts at {{.Now.UTC.Format "2006-01-02 15:04:05 MST"}}: plan, available credits (unexpired lots only) and each open lot, in burn order.</p>
<table>
<tr><th>account</th><th>plan</th><th>available</th><th>open lots: remaining / amount, source, expiry</th></tr>
{{- range .Accounts}}
<tr>
<td><a href="/api/accounts/{{pathseg .Account}}"><code>{{.Account}}</code></a></td>
<td>{{if .Plan}}{{.Plan}}{{else}}<i>none ({{$.DefaultPlan}})</i>{{end}}</td>
<td class="num">{{.Available}}</td>
<td>{{if .Lots}}<ul>{{range .Lots}}<li>{{.Remaining}} / {{.Amount}} {{.Source}}, {{when .ExpiresAt $.Now}}</li>{{end}}</ul>{{else}}none{{end}}</td>
</tr>
{{- else}}
<tr><td colspan="4">No accounts yet.</td></tr>
{{- end}}
</table>
{{if .More}}<p>Only the first {{len .Accounts}} accounts are listed.</p>{{end}}

<h2>Run the daily job</h2>
<p>With the credentials from <code>CRON_JOBS_USERNAME</code> and <code>CRON_JOBS_PASSWORD</code>
(or the DEMO credentials the server printed at start when those are unset):</p>
<pre>curl -u "$CRON_JOBS_USERNAME:$CRON_JOBS_PASSWORD" http://{{.Host}}/api/distribute-credits</pre>
<p>It expires what is due and grants what each plan owes for the current period; a second run in the same period grants nothing.</p>

<h2>Try the API</h2>
<pre>curl http://{{.Host}}/api/accounts/demo-free-1
curl http://{{.Host}}/api/accounts/demo-free-1/entries?limit=10
curl -X POST -d '{"amount":"10","description":"one AI call"}' http://{{.Host}}/api/accounts/demo-free-1/consume
curl -X POST -d '{"pack":"basic","idempotencyKey":"invoice-123"}' http://{{.Host}}/api/accounts/demo-free-2/grant
curl -X PUT -d '{"plan":"pro_yearly"}' http://{{.Host}}/api/accounts/demo-free-2/plan</pre>
</body>
</html>
`))

// until says how far away d is, in days and hours.
func until(d time.Duration) string {
	if d <= 0 {
		return "expired"
	}
	days, hours := int(d/(24*time.Hour)), int(d%(24*time.Hour)/time.Hour)
	switch {
	case days > 0:
		return fmt.Sprintf("in %dd %dh", days, hours)
	case hours > 0:
		return fmt.Sprintf("in %dh", hours)
	}
	return "in less than an hour"
}

// index renders the HTML page. The ledger has no "list accounts" call, so
// the page walks the store with Scan (the call Verify uses), then reads
// each account's balance through the ledger so that expiry is applied as
// everywhere else. Scan also reads every account's history: fine for a
// demo, not for a large ledger.
func (s *server) index(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	dumps, err := s.l.Store().Scan(ctx, "", pageAccounts+1)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	data := pageData{Host: r.Host, Now: time.Now()}
	if c := s.l.Catalog(); c != nil {
		data.DefaultPlan = c.DefaultPlan
	}
	if len(dumps) > pageAccounts {
		dumps, data.More = dumps[:pageAccounts], true
	}
	for _, d := range dumps {
		b, err := s.l.Balance(ctx, d.Account.ID)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		data.Accounts = append(data.Accounts, b)
	}
	var buf bytes.Buffer
	if err := pageTmpl.Execute(&buf, data); err != nil {
		s.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(buf.Bytes())
}
