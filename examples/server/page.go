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
		return "expires " + t.UTC().Format("2006-01-02 15:04 MST") + until(*t, now)
	},
	"pathseg": url.PathEscape,
}).Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>creditledger example</title>
<style>
body { font-family: system-ui, sans-serif; margin: 2em; }
@media (max-width: 600px) { body { margin: .5em; } }
table { border-collapse: collapse; max-width: 100%; }
th, td { border: 1px solid #ccc; padding: .3em .6em; text-align: left; vertical-align: top; }
/* Account ids are up to 255 bytes without spaces: let them wrap anywhere
   instead of pushing the other columns off the page. */
td { overflow-wrap: anywhere; word-break: break-word; }
td.id { min-width: 8em; word-break: break-all; }
pre { white-space: pre-wrap; overflow-wrap: anywhere; }
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
<td class="id"><a href="/api/accounts/{{pathseg .Account}}"><code>{{.Account}}</code></a></td>
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
<p>Reads are open:</p>
<pre>curl http://{{.Host}}/api/accounts/demo-free-1
curl http://{{.Host}}/api/accounts/demo-free-1/entries?limit=10</pre>
<p>Every route that writes (consume, grant, set plan) needs the admin token: <code>CREDITLEDGER_ADMIN_TOKEN</code>,
or the ADMIN token the server printed at start when that is unset. Without it they answer 401
<code>{"error":{"code":"unauthorized",...}}</code>.</p>
<pre>export CREDITLEDGER_ADMIN_TOKEN=...   # the token the server printed
curl -H "Authorization: Bearer $CREDITLEDGER_ADMIN_TOKEN" -X POST -d '{"amount":"10","description":"one AI call"}' http://{{.Host}}/api/accounts/demo-free-1/consume
curl -H "Authorization: Bearer $CREDITLEDGER_ADMIN_TOKEN" -X POST -d '{"pack":"basic","idempotencyKey":"invoice-123"}' http://{{.Host}}/api/accounts/demo-free-2/grant
curl -H "Authorization: Bearer $CREDITLEDGER_ADMIN_TOKEN" -X PUT -d '{"plan":"pro_yearly"}' http://{{.Host}}/api/accounts/demo-free-2/plan</pre>
<p>Errors answer <code>{"error":{"code":"...","message":"..."}}</code>; the codes are listed in
<code>examples/server/main.go</code>.</p>
</body>
</html>
`))

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
	}
	return " (in less than an hour)"
}

// farAway is how far ahead an expiry is still shown in days and hours.
const farAway = 366 * 24 * time.Hour

// index renders the HTML page. The ledger has no "list accounts" call, so
// the page walks the store with Scan (the call Verify uses), then reads
// each account's balance through the ledger so that expiry is applied as
// everywhere else. Scan also reads every account's history: fine for a
// demo, not for a large ledger.
func (s *server) index(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	dumps, err := s.l.Store().Scan(ctx, "", pageAccounts+1)
	if err != nil {
		s.fail(w, r, "", err)
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
			s.fail(w, r, d.Account.ID, err)
			return
		}
		data.Accounts = append(data.Accounts, b)
	}
	var buf bytes.Buffer
	if err := pageTmpl.Execute(&buf, data); err != nil {
		s.fail(w, r, "", err)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(buf.Bytes())
}
