package main

import (
	"fmt"
	"html/template"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/shopspring/decimal"
)

// consoleTemplates returns the console's templates: the pages below and
// the sections of the compiled-in features. html/template escapes every
// value, account ids, sources and descriptions included.
var consoleTemplates = sync.OnceValue(func() *template.Template {
	t := template.Must(template.New("console").Funcs(template.FuncMap{
		"when": func(t *time.Time, now time.Time) string {
			if t == nil {
				return "never expires"
			}
			return "expires " + t.UTC().Format("2006-01-02 15:04 MST") + until(*t, now)
		},
		"ts":      func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 MST") },
		"pathseg": url.PathEscape,
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
		"shortid": func(id string) string {
			if len(id) <= 12 {
				return id
			}
			return id[:12] + "…"
		},
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
		"ptr":   func(t time.Time) *time.Time { return &t },
		"upper": strings.ToUpper,
	}).Parse(consoleHTML))
	for _, f := range features {
		if f.tmpl != "" {
			template.Must(t.Parse(f.tmpl))
		}
	}
	return t
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

// farAway is how far ahead an expiry is still shown in days and hours.
const farAway = 366 * 24 * time.Hour

const consoleHTML = `
{{define "head"}}<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}} · creditledger console</title>
<style>
:root { --fg: #1d2330; --muted: #5b6475; --line: #dde1e8; --bg: #f6f7f9; --card: #fff;
  --accent: #2456c7; --ok: #17663a; --okbg: #e5f4ea; --bad: #a3261b; --badbg: #fbe9e7; }
* { box-sizing: border-box; }
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--fg); background: var(--bg); margin: 0; }
a { color: var(--accent); }
header { background: #1d2330; color: #fff; padding: .6em 1em; display: flex; flex-wrap: wrap; gap: .4em 1.2em; align-items: center; }
header a { color: #fff; text-decoration: none; }
header .brand { font-weight: 700; margin-right: auto; }
header form { margin: 0; }
header button { background: transparent; color: #fff; border: 1px solid #fff6; padding: .2em .7em; }
main { max-width: 1180px; margin: 0 auto; padding: 1em; }
h1 { font-size: 1.5em; margin: .3em 0 .6em; overflow-wrap: anywhere; word-break: break-all; }
h2 { font-size: 1.15em; margin: 1.6em 0 .6em; }
.card + .scroll { margin-top: .7em; }
.card { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: .8em 1em; }
.stats { display: grid; grid-template-columns: repeat(auto-fit, minmax(9.5em, 1fr)); gap: .7em; }
.stat .label { color: var(--muted); font-size: .85em; }
.stat .value { font-size: 1.45em; font-weight: 650; font-variant-numeric: tabular-nums; overflow-wrap: anywhere; }
.flash { padding: .7em 1em; border-radius: 8px; margin: 0 0 1em; overflow-wrap: anywhere; }
.flash.ok { background: var(--okbg); color: var(--ok); border: 1px solid #b7dfc4; }
.flash.err { background: var(--badbg); color: var(--bad); border: 1px solid #f1c0b9; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; background: var(--card); }
th, td { border-bottom: 1px solid var(--line); padding: .45em .6em; text-align: left; vertical-align: top; }
th { font-size: .85em; color: var(--muted); font-weight: 600; background: #fafbfc; }
/* Account ids are up to 255 bytes without spaces: let them wrap anywhere
   instead of pushing the other columns off the page. */
td { overflow-wrap: break-word; }
td.id { min-width: 8em; overflow-wrap: anywhere; word-break: break-all; }
td.time span, td.nowrap { white-space: nowrap; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.neg { color: var(--bad); }
.pos { color: var(--ok); }
.kind { display: inline-block; white-space: nowrap; font-size: .8em; padding: .05em .5em; border-radius: 999px; background: #e8ecf4; }
.kind-grant { background: #e2f3e8; } .kind-consume, .kind-capture { background: #fde9e4; }
.kind-expire { background: #eee; } .kind-hold { background: #fff1d6; } .kind-release, .kind-reverse { background: #e3ecfb; }
.muted { color: var(--muted); }
code, pre { background: #eef0f4; border-radius: 4px; }
code { padding: 0 .25em; overflow-wrap: anywhere; }
pre { padding: .6em; white-space: pre-wrap; overflow-wrap: anywhere; }
.forms { display: grid; grid-template-columns: repeat(auto-fit, minmax(16em, 1fr)); gap: .8em; }
.forms h3 { margin: 0 0 .5em; font-size: 1em; }
label { display: block; font-size: .85em; color: var(--muted); margin: .4em 0 .15em; }
input, select, button { font: inherit; }
input, select { width: 100%; padding: .35em .5em; border: 1px solid #c4cad4; border-radius: 6px; background: #fff; }
button { padding: .4em .9em; border-radius: 6px; border: 1px solid var(--accent); background: var(--accent); color: #fff; cursor: pointer; margin-top: .6em; }
button.secondary { background: #fff; color: var(--accent); }
.search { display: flex; gap: .5em; flex-wrap: wrap; align-items: flex-end; margin: 1em 0; }
.search div { flex: 0 1 32em; }
.search button { margin: 0; }
.pager { display: flex; gap: 1em; flex-wrap: wrap; margin: .7em 0; }
ul.lots { margin: 0; padding-left: 1.1em; }
form.inline { display: inline-flex; gap: .4em; align-items: flex-end; flex-wrap: wrap; margin: 0 .4em .2em 0; }
form.inline label { margin: 0; }
form.inline input { width: 6em; }
form.inline button { margin: 0; }
@media (max-width: 600px) {
  main { padding: .6em; }
  th, td { padding: .35em .4em; }
  .hide-narrow { display: none; }
  header .brand { flex-basis: 100%; }
}
</style>
</head>
<body>
<header>
<a class="brand" href="/">creditledger console</a>
<a href="/">Accounts</a>
<a href="/#distribution">Distribution</a>
<a href="/healthz">/healthz</a>
<a href="/metrics">/metrics</a>
{{if .SignedIn}}<form method="post" action="/logout"><input type="hidden" name="csrf" value="{{.CSRF}}"><button type="submit">Sign out</button></form>
{{else}}<a href="/login?next={{.Here}}">Sign in</a>{{end}}
</header>
<main>
{{if .Notice}}<p class="flash ok" id="flash-notice" role="status">{{.Notice}}</p>{{end}}
{{if .Error}}<p class="flash err" id="flash-error" role="alert">{{.Error}}</p>{{end}}
{{end}}

{{define "time"}}<span>{{.UTC.Format "2006-01-02"}}</span> <span>{{.UTC.Format "15:04:05"}}</span>{{end}}

{{define "foot"}}
<p class="muted">Times are UTC. Page rendered at {{ts .Now}}.</p>
</main>
</body>
</html>
{{end}}

{{define "index"}}{{template "head" .}}
<h1>Accounts</h1>
<div class="stats">
<div class="card stat"><div class="label">accounts{{if .Totals.Capped}} (first {{.Totals.Accounts}}){{end}}</div><div class="value" id="total-accounts">{{.Totals.Accounts}}</div></div>
<div class="card stat"><div class="label">credits available</div><div class="value" id="total-available">{{.Totals.Available}}</div></div>
{{if .HasHeld}}<div class="card stat"><div class="label">credits held</div><div class="value" id="total-held">{{.Totals.Held}}</div></div>{{end}}
<div class="card stat"><div class="label">expiring within 7 days</div><div class="value" id="total-expiring">{{.Totals.Expiring}}</div></div>
</div>

<form class="search" method="get" action="/" role="search">
<div><label for="q">Search account ids</label><input id="q" name="q" value="{{.Query}}" placeholder="part of an id, e.g. demo-pro"></div>
<button type="submit">Search</button>{{if .Query}} <a href="/">clear</a>{{end}}
</form>

<div class="scroll">
<table id="accounts">
<thead><tr><th>account</th><th>plan</th><th class="num">available</th>{{if .HasHeld}}<th class="num">held</th>{{end}}<th class="num hide-narrow">expiring 7d</th><th class="hide-narrow">open lots</th></tr></thead>
<tbody>
{{- range .Rows}}
<tr>
<td class="id"><a href="/accounts/{{pathseg .Account}}"><code>{{.Account}}</code></a></td>
<td>{{if .Plan}}{{.Plan}}{{else}}<i>none ({{$.DefaultPlan}})</i>{{end}}</td>
<td class="num">{{.Available}}</td>
{{if $.HasHeld}}<td class="num">{{.Held}}</td>{{end}}
<td class="num hide-narrow">{{.Expiring}}</td>
<td class="hide-narrow">{{if .Lots}}<ul class="lots">{{range .Lots}}<li>{{.Remaining}} / {{.Amount}} {{.Source}}, {{when .ExpiresAt $.Now}}</li>{{end}}</ul>{{else}}none{{end}}</td>
</tr>
{{- else}}
<tr><td colspan="6">{{if .Query}}No account id contains “{{.Query}}”{{if .After}} after {{.After}}{{end}}.{{else}}No accounts yet.{{end}}</td></tr>
{{- end}}
</tbody>
</table>
</div>
<nav class="pager">
{{if .After}}<a href="/{{query "q" .Query}}">« first page</a>{{end}}
{{if .Next}}<a id="next-page" href="/{{query "q" .Query "after" .Next}}">next {{len .Rows}} after {{.Next}} »</a>{{end}}
</nav>

<h2 id="distribution">Distribution</h2>
<div class="card">
<p>The daily job expires what is due and grants what each plan owes for the current period; a second run in the same period grants nothing.
“Run now” calls <code>/api/distribute-credits</code> in the server, with the same handler and credentials as the cron.</p>
{{with .Running}}<p class="flash ok" id="run-progress">A run started by {{.Trigger}} is in progress, started {{ago .Started $.Now}}{{with .Progress}}:
{{.Accounts}} accounts examined in {{.Chunks}} chunks, {{.Granted}} lots granted ({{.GrantedCredits}} credits), {{.Expired}} expired ({{.ExpiredCredits}} credits), {{.Errors}} errors{{end}}.
Reload to follow it.</p>{{end}}
{{if .SignedIn}}<form method="post" action="/distribute"><input type="hidden" name="csrf" value="{{.CSRF}}"><button type="submit" id="run-now">Run now</button></form>
{{else}}<p><a href="/login?next=/%23distribution">Sign in</a> to run it from here.</p>{{end}}
</div>
<div class="scroll">
<table id="runs">
<thead><tr><th>started (UTC)</th><th>by</th><th class="num">accounts</th><th class="num hide-narrow">errors</th><th class="num">granted</th><th class="num hide-narrow">expired</th><th class="hide-narrow">complete</th><th class="num">ms</th></tr></thead>
<tbody>
{{- range .Runs}}
<tr><td class="time">{{template "time" .Started}}</td><td class="nowrap">{{.Trigger}}</td>
{{with .Result}}<td class="num">{{.Accounts}}</td><td class="num hide-narrow">{{.Errors}}</td><td class="num">{{.Granted}} lots, {{.GrantedCredits}}</td><td class="num hide-narrow">{{.Expired}} lots, {{.ExpiredCredits}}</td><td class="hide-narrow">{{if .Complete}}yes{{else}}no: the next run goes on{{end}}</td>
{{else}}<td colspan="5" class="neg">failed (the server's log has the detail)</td>{{end}}
<td class="num">{{ms .Duration}}</td></tr>
{{- else}}
<tr><td colspan="8" class="muted">No run since the server started.</td></tr>
{{- end}}
</tbody>
</table>
</div>

<h2 id="api">The JSON API</h2>
<p>The cron endpoint, with the credentials from <code>CRON_JOBS_USERNAME</code> and <code>CRON_JOBS_PASSWORD</code>
(or the DEMO credentials the server printed at start when those are unset):</p>
<pre>curl -u "$CRON_JOBS_USERNAME:$CRON_JOBS_PASSWORD" http://{{.Host}}/api/distribute-credits</pre>
<p>Reads are open:</p>
<pre>curl http://{{.Host}}/api/accounts/demo-free-1
curl http://{{.Host}}/api/accounts/demo-free-1/entries?limit=10</pre>
<p>Every route that writes (consume, grant, set plan) needs the admin token as a Bearer header: <code>CREDITLEDGER_ADMIN_TOKEN</code>,
or the ADMIN token the server printed at start when that is unset. Without it they answer 401
<code>{"error":{"code":"unauthorized",...}}</code>.</p>
<pre>export CREDITLEDGER_ADMIN_TOKEN=...   # the token the server printed
curl -H "Authorization: Bearer $CREDITLEDGER_ADMIN_TOKEN" -X POST -d '{"amount":"10","description":"one AI call"}' http://{{.Host}}/api/accounts/demo-free-1/consume
curl -H "Authorization: Bearer $CREDITLEDGER_ADMIN_TOKEN" -X POST -d '{"pack":"basic","idempotencyKey":"invoice-123"}' http://{{.Host}}/api/accounts/demo-free-2/grant
curl -H "Authorization: Bearer $CREDITLEDGER_ADMIN_TOKEN" -X PUT -d '{"plan":"pro_yearly"}' http://{{.Host}}/api/accounts/demo-free-2/plan</pre>
<p>Errors answer <code>{"error":{"code":"...","message":"..."}}</code>; the codes are listed in
<code>examples/server/main.go</code>.</p>
{{template "foot" .}}{{end}}

{{define "account"}}{{template "head" .}}
<p><a href="/">« accounts</a> · <a href="/api/accounts/{{pathseg .ID}}">JSON</a></p>
<h1 id="account-id">{{.ID}}</h1>
{{if .Invalid}}
<p class="card">No account can have this id.</p>
{{else if .Missing}}
<p class="card">This account has never been written to. A grant or a plan creates it.</p>
{{else}}
<div class="stats">
<div class="card stat"><div class="label">available</div><div class="value" id="available">{{.Balance.Available}}</div></div>
{{if .HasHeld}}<div class="card stat"><div class="label">held</div><div class="value" id="held">{{.Held}}</div></div>{{end}}
<div class="card stat"><div class="label">expiring within 7 days</div><div class="value" id="expiring">{{.Expiring}}</div></div>
<div class="card stat"><div class="label">plan</div><div class="value" id="plan">{{if .Balance.Plan}}{{.Balance.Plan}}{{else}}<i>none</i>{{end}}</div></div>
</div>

<h2>Open lots <span class="muted">(in burn order)</span></h2>
<div class="scroll">
<table id="lots">
<thead><tr><th>source</th><th class="num">remaining</th><th class="num hide-narrow">of</th><th>expiry</th><th class="num hide-narrow">priority</th><th class="hide-narrow">granted (UTC)</th></tr></thead>
<tbody>
{{- range .Balance.Lots}}
<tr><td>{{.Source}}</td><td class="num">{{.Remaining}}</td><td class="num hide-narrow">{{.Amount}}</td><td>{{when .ExpiresAt $.Now}}</td><td class="num hide-narrow">{{.Priority}}</td><td class="hide-narrow time">{{template "time" .CreatedAt}}</td></tr>
{{- else}}
<tr><td colspan="6" class="muted">No open lot.</td></tr>
{{- end}}
</tbody>
</table>
</div>
{{end}}

{{range .Sections}}{{.}}{{end}}

{{if not .Invalid}}
<h2>Act on this account</h2>
{{if .SignedIn}}
<div class="forms">
<form class="card" method="post" action="/accounts/{{pathseg .ID}}/grant" id="grant-pack">
<h3>Grant a pack</h3>
<input type="hidden" name="csrf" value="{{.CSRF}}"><input type="hidden" name="key" value="{{.Key}}:pack">
<label for="pack">pack</label>
<select id="pack" name="pack">{{range .Packs}}<option value="{{.ID}}">{{.ID}} ({{.Amount}} credits)</option>{{end}}</select>
<button type="submit">Grant pack</button>
</form>
<form class="card" method="post" action="/accounts/{{pathseg .ID}}/grant" id="grant-amount">
<h3>Grant an amount</h3>
<input type="hidden" name="csrf" value="{{.CSRF}}"><input type="hidden" name="key" value="{{.Key}}:grant">
<label for="grant-amount-value">amount</label><input id="grant-amount-value" name="amount" inputmode="decimal" required placeholder="100">
<label for="grant-days">expires in days (empty: never)</label><input id="grant-days" name="expiresInDays" inputmode="numeric" placeholder="30">
<label for="grant-source">source</label><input id="grant-source" name="source" placeholder="support_credit">
<label for="grant-description">description</label><input id="grant-description" name="description">
<button type="submit">Grant</button>
</form>
<form class="card" method="post" action="/accounts/{{pathseg .ID}}/consume" id="consume">
<h3>Consume</h3>
<input type="hidden" name="csrf" value="{{.CSRF}}"><input type="hidden" name="key" value="{{.Key}}:consume">
<label for="consume-amount">amount</label><input id="consume-amount" name="amount" inputmode="decimal" required placeholder="10">
<label for="consume-description">description</label><input id="consume-description" name="description" placeholder="one AI call">
<button type="submit">Consume</button>
</form>
<form class="card" method="post" action="/accounts/{{pathseg .ID}}/plan" id="set-plan">
<h3>Set the plan</h3>
<input type="hidden" name="csrf" value="{{.CSRF}}">
<label for="plan-select">plan</label>
<select id="plan-select" name="plan">{{range .Plans}}<option value="{{.}}"{{if and $.Balance (eq . $.Balance.Plan)}} selected{{end}}>{{.}}</option>{{end}}</select>
<button type="submit">Set plan</button>
</form>
</div>
<p class="muted">Each form carries an idempotency key: sending it twice (a reload) replays the first answer and writes nothing.</p>
{{else}}
<p class="card"><a href="/login?next={{.Here}}" id="sign-in-to-act">Sign in with the admin token</a> to grant, consume or change the plan.</p>
{{end}}
{{end}}

{{if not (or .Missing .Invalid)}}
<h2>History <span class="muted">(newest first)</span></h2>
<div class="scroll">
<table id="history">
<thead><tr><th>time (UTC)</th><th>kind</th><th class="num">amount</th><th class="num hide-narrow">balance after</th><th>source</th><th class="hide-narrow">description</th><th class="hide-narrow">operation</th></tr></thead>
<tbody>
{{- range .Entries}}
<tr><td class="time">{{template "time" .CreatedAt}}</td><td><span class="kind kind-{{.Kind}}">{{.Kind}}</span></td>
<td class="num {{if neg .Amount}}neg{{else}}pos{{end}}">{{if not (neg .Amount)}}+{{end}}{{.Amount}}</td>
<td class="num hide-narrow">{{.BalanceAfter}}</td><td>{{.Source}}</td><td class="hide-narrow">{{.Description}}</td>
<td class="hide-narrow"><code title="{{.OperationID}}">{{shortid .OperationID}}</code>{{if .Ref}} <span class="muted">of</span> <code title="{{.Ref}}">{{shortid .Ref}}</code>{{end}}</td></tr>
{{- else}}
<tr><td colspan="7" class="muted">No entries.</td></tr>
{{- end}}
</tbody>
</table>
</div>
<nav class="pager">
{{if .Cursor}}<a href="/accounts/{{pathseg .ID}}">« newest</a>{{end}}
{{if .Next}}<a id="older" href="/accounts/{{pathseg .ID}}{{query "cursor" .Next}}">older »</a>{{end}}
</nav>
<p class="muted">“balance after” is the booked balance: every lot's remaining, expired or not, as the entries add up.</p>
{{end}}
{{template "foot" .}}{{end}}

{{define "login"}}{{template "head" .}}
<h1>Sign in</h1>
<form class="card" method="post" action="/login" style="max-width: 32em">
<input type="hidden" name="next" value="{{.Next}}">
<label for="token">admin token</label>
<input id="token" name="token" type="password" autocomplete="current-password" required>
<button type="submit" id="sign-in">Sign in</button>
<p class="muted">The token is <code>CREDITLEDGER_ADMIN_TOKEN</code>, or the ADMIN token the server printed at start when that is unset.
It is checked once; the session lasts 12 hours or until the server restarts.</p>
</form>
{{template "foot" .}}{{end}}
`
