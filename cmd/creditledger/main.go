// Command creditledger operates a creditledger database from the shell:
// migrate it, verify it, run the distribution, read balances and
// histories, and import a MkSaaS database.
//
//	go run ./cmd/creditledger COMMAND [flags] [ARG]
//	go install github.com/creditledger/creditledger/cmd/creditledger@latest
//
// Commands:
//
//	migrate              create or upgrade the ledger's tables (-citus:
//	                     distribute them on a Citus coordinator)
//	verify               check every invariant; exit 1 on any violation
//	distribute           the daily job: expire due lots, grant what plans owe
//	balance ACCOUNT      an account's available credits and open lots
//	entries ACCOUNT      an account's history, newest first
//	import-mksaas        import a MkSaaS database (-from DSN)
//	catalog              print the catalog in use as JSON
//
// Every command takes:
//
//	-db DSN        postgres://... or a SQLite file or file: URL; default
//	               $DATABASE_URL, else creditledger-example.db (the example
//	               server's file) in the working folder
//	-catalog FILE  a JSON catalog (see policy.ParseCatalog); default
//	               policy.ReferenceCatalog()
//	-scale N       decimal places of one credit (default 0; the database
//	               records it and refuses another)
//	-json          print the result as JSON; amounts are decimal strings
//	-h             help on the command
//
// Exit status: 0 on success, 1 on failure (including violations found by
// verify, accounts that distribute could not serve, lots import-mksaas
// could not write), 2 on a usage error.
//
// distribute shows a progress bar when stderr is a terminal and a line
// per second otherwise (-progress bar|lines|none to choose).
package main

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// The store's own logs (migrations applied) go to stderr, warnings
	// and up, like the command's.
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
