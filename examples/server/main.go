// Command server is a small, complete creditledger server: a SQLite (or
// PostgreSQL) ledger with the reference catalog, demo accounts, the cron
// endpoint and a JSON API, plus an HTML page listing the accounts.
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
// demo credentials for the cron endpoint and prints them once to stderr.
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
// Routes (amounts are decimal strings in JSON, never floats; errors are
// {"error":"..."} with a 4xx status for bad input):
//
//	GET|POST /api/distribute-credits      the daily job (HTTP Basic or Bearer auth)
//	GET  /api/accounts/{id}               balance and open lots; 404 if unknown
//	GET  /api/accounts/{id}/entries       history, newest first (?limit=50&cursor=...)
//	POST /api/accounts/{id}/consume       {"amount":"10","idempotencyKey":"...","description":"..."}
//	                                      200 receipt, 402 insufficient credits, 409 key reused
//	POST /api/accounts/{id}/grant         {"amount":"100","idempotencyKey":"...","source":"...","expiresInDays":30}
//	                                      (expiry: the end of the UTC day 30 days from now; or
//	                                      "expiresAt":"2027-01-01T00:00:00Z"; neither: never),
//	                                      or {"pack":"basic","idempotencyKey":"..."}; 200 receipt
//	                                      ("replayed":true for a retry with the same key and body)
//	PUT  /api/accounts/{id}/plan          {"plan":"pro_yearly"}; 200 balance, 400 unknown plan
//	GET  /                                HTML page: accounts, balances, lots and their expiry
//
// Try it:
//
//	curl -u "$CRON_JOBS_USERNAME:$CRON_JOBS_PASSWORD" http://127.0.0.1:8080/api/distribute-credits
//	curl http://127.0.0.1:8080/api/accounts/demo-free-1
//	curl -X POST -d '{"amount":"10"}' http://127.0.0.1:8080/api/accounts/demo-free-1/consume
//	curl -X PUT -d '{"plan":"lifetime"}' http://127.0.0.1:8080/api/accounts/demo-free-2/plan
//
// The routes other than the cron endpoint have no authentication: they are
// here to show the library, not to be exposed as they are.
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
