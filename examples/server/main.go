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
// Authentication, every route and every error code it answers are in
// docs/SERVER.md ("Reference"); errors.go holds the codes.
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
