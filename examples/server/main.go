// Command server is a small, complete creditledger server: a SQLite (or
// PostgreSQL) ledger with the reference catalog, demo accounts, the cron
// endpoint and a JSON API, plus a console: HTML pages to look at every
// account and act on it (console.go).
//
// Run it from the repository root:
//
//	go run ./examples/server
//
// With no configuration it opens (and creates) the SQLite file
// creditledger-example.db in the working folder, seeds three demo accounts
// per plan of policy.ReferenceCatalog() (demo-free-1, demo-pro_yearly-2,
// demo-lifetime-3, ...; the first of each plan also bought a "basic" pack),
// and listens on http://127.0.0.1:8080. When CRON_JOBS_USERNAME and
// CRON_JOBS_PASSWORD (and CRON_JOBS_TOKEN) are unset it makes up random
// demo credentials for the cron endpoint, and when CREDITLEDGER_ADMIN_TOKEN
// is unset a random admin token; it prints them once to stderr.
//
// Flags:
//
//	-addr 127.0.0.1:8080  address to listen on (":0" or "127.0.0.1:0": any free port;
//	                      the actual address is printed as "listening on http://...")
//	-db PATH|URL          SQLite file or file: URL, or postgres://...; default
//	                      $DATABASE_URL, else creditledger-example.db
//	-seed 3               demo accounts per plan, created at first start (0: none);
//	                      a restart creates nothing new
//	-verify               check the ledger's invariants, print each violation and
//	                      exit 1 on any (0 when clean), without serving
//
// # Authentication
//
// Every route that writes (consume, grant, set plan) requires
// "Authorization: Bearer <token>" with the admin token:
// $CREDITLEDGER_ADMIN_TOKEN, or the random one printed at start when that
// is unset or blank. The token is compared in constant time; a missing or
// wrong one answers 401 with WWW-Authenticate and the code "unauthorized",
// and nothing is written. Reads (balance, entries, the HTML page) need no
// token: they show every account to whoever can reach the server, so keep
// it on 127.0.0.1 or behind your own authentication. The cron endpoint has
// its own credentials (CRON_JOBS_*).
//
// The console's forms do not send the header: the admin enters the token
// once in /login (compared in constant time), which sets a session cookie
// (HttpOnly, SameSite=Strict, Secure over TLS; 12 hours, or until the
// server restarts), and every form carries the session's CSRF token. A
// form without both writes nothing: 401 with the login page, or 403. The
// JSON API ignores the cookie.
//
// # Routes
//
// Amounts are decimal strings in JSON, never floats; times are RFC 3339.
//
//	GET|POST /api/distribute-credits      the daily job (HTTP Basic or Bearer auth, CRON_JOBS_*)
//	GET  /api/accounts/{id}               balance and open lots; 404 account_not_found if unknown
//	GET  /api/accounts/{id}/entries       history, newest first (?limit=50&cursor=...; limit 1 to 1000)
//	POST /api/accounts/{id}/consume       admin token; {"amount":"10","idempotencyKey":"...","description":"..."}
//	                                      200 receipt, 402 insufficient_credits (also for an
//	                                      account that does not exist), 409 idempotency_conflict
//	POST /api/accounts/{id}/grant         admin token; {"amount":"100","idempotencyKey":"...","source":"...","expiresInDays":30}
//	                                      (expiry: exactly 30 x 24 hours after the grant is
//	                                      written, not the end of a day; or
//	                                      "expiresAt":"2027-01-01T00:00:00Z"; neither: never),
//	                                      or {"pack":"basic","idempotencyKey":"..."}; 200 receipt
//	                                      ("replayed":true for a retry with the same key and body)
//	PUT  /api/accounts/{id}/plan          admin token; {"plan":"pro_yearly"}; 200 balance, 400 unknown_plan
//	     /api/accounts/{id}/holds, .../holds/{hold}/capture, .../holds/{hold}/release, .../reverse,
//	     .../balance-at?at=                holds, captures, releases, reversals, the balance at a past
//	                                      instant: listed in console_holds.go
//	GET  /metrics                         the ledger's metrics, Prometheus text format (metrics.go)
//	GET  /healthz                         200 {"status":"ok"}, or 503 when the database is unreachable
//
// The console (HTML; reads open, forms behind the session):
//
//	GET  /                                accounts: ?q= search ids, ?after= next page (200 a page),
//	                                      totals, the distribution's last runs
//	GET  /accounts/{id}                   balance, open lots, history (?cursor=), forms; 404 if unknown
//	POST /accounts/{id}/grant             form: pack, or amount (+ expiresInDays, source, description)
//	POST /accounts/{id}/consume           form: amount, description
//	POST /accounts/{id}/plan              form: plan
//	POST /accounts/{id}/hold, .../holds/{hold}/capture, .../holds/{hold}/release, .../reverse
//	                                      forms of console_holds.go; GET /accounts/{id}?at= the balance then
//	GET  /account?id=.., POST /account/grant?id=.., ...
//	                                      the same pages and forms for an id that is "." or "..",
//	                                      which a browser cannot keep as a path segment
//	POST /distribute                      form: run the distribution now, through the cron handler
//	GET|POST /login, POST /logout         the admin token, once per session
//
// A manual grant may not use a source the ledger writes itself: the
// sources of the catalog's plan allocations and of its signup gift
// ("monthly_refresh", "subscription_renewal", "lifetime_monthly" and
// "register_gift" with the reference catalog, in any letter case). They
// answer 400 reserved_source, so that the history never shows a plan or
// gift grant that the ledger did not make. A pack is granted by its id
// ({"pack":"basic"}), which writes the pack's own source.
//
// # Errors
//
// Every error of the JSON API (the cron endpoint keeps httpcron's
// {"error":"unauthorized","code":"unauthorized"}, a string where MkSaaS's
// schedulers read it) is
//
//	{"error":{"code":"insufficient_credits","message":"insufficient credits: account \"u\" has 5 available, 10 asked"}}
//
// The message is for people and names the value that was wrong; the code
// is stable, one of:
//
//	unauthorized          401  missing or wrong admin token
//	invalid_json          400  body empty, malformed, not UTF-8, not an object, unknown field, wrong JSON type
//	body_too_large        413  body over 64 KiB
//	invalid_amount        400  amount missing, not a decimal, not positive, too precise or too large
//	invalid_argument      400  another field, limit or cursor out of range or malformed
//	unknown_plan          400  plan not in the catalog
//	unknown_pack          400  pack not in the catalog
//	reserved_source       400  a grant source the ledger writes itself (see above)
//	insufficient_credits  402  not enough unexpired credits, or no such account
//	idempotency_conflict  409  key reused with other parameters
//	account_not_found     404  a read of an account that was never written to
//	route_not_found       404
//	method_not_allowed    405  (with Allow)
//	unavailable           503  the request was cancelled (client gone, shutting down)
//	internal              500  anything else; the detail is in the server's log only
//
// Try it:
//
//	curl -u "$CRON_JOBS_USERNAME:$CRON_JOBS_PASSWORD" http://127.0.0.1:8080/api/distribute-credits
//	curl http://127.0.0.1:8080/api/accounts/demo-free-1
//	curl -H "Authorization: Bearer $CREDITLEDGER_ADMIN_TOKEN" -X POST -d '{"amount":"10"}' http://127.0.0.1:8080/api/accounts/demo-free-1/consume
//	curl -H "Authorization: Bearer $CREDITLEDGER_ADMIN_TOKEN" -X PUT -d '{"plan":"lifetime"}' http://127.0.0.1:8080/api/accounts/demo-free-2/plan
//
// Under go run the server stops when go does (it watches its parent
// process), so that stopping go run never leaves it holding the port; a
// binary built with go build runs on when the shell that started it ends.
//
// The server is here to show the library: before exposing anything like
// it, put every route behind your own users' authentication.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if builtByGoRun() {
		// Stopping go run (an editor's stop button, kill of its pid)
		// does not stop the program it built: without this the server
		// would go on holding the port and the database.
		ctx = exitWithParent(ctx, parentPollInterval, os.Getppid, func() {
			fmt.Fprintln(os.Stderr, "server: go run has exited; shutting down")
		})
	}
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		exit(err, os.Stderr)
	}
}

// exit reports err and ends the process: 2 for bad flags (the flag package
// has printed why), 1 for anything else, including -verify finding a
// violation.
func exit(err error, stderr io.Writer) {
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(0)
	}
	var ue *usageError
	if errors.As(err, &ue) {
		os.Exit(2)
	}
	fmt.Fprintln(stderr, "server:", err)
	os.Exit(1)
}
