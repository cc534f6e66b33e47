// Command creditledger operates a creditledger database from the shell:
// migrate it, verify it, run the distribution, read balances and
// histories, make the writes a support engineer needs (a goodwill grant,
// a refund), and import a MkSaaS database.
//
//	go run ./cmd/creditledger COMMAND [flags] [ARG...]
//	go install github.com/creditledger/creditledger/cmd/creditledger@latest
//
// Commands:
//
//	migrate                    create or upgrade the ledger's tables (-citus:
//	                           distribute them on a Citus coordinator)
//	verify                     check every invariant; exit 1 on any violation
//	                           (-anchor FILE [-digest HEX]: also against an anchor)
//	anchor                     print every account's chain head and their digest
//	                           (-json: the anchor file verify -anchor reads)
//	distribute                 the daily job: expire due lots, grant what plans owe
//	balance ACCOUNT            an account's available credits and open lots
//	entries ACCOUNT            an account's history, newest first
//	holds ACCOUNT              an account's active holds
//	events                     the outbox, newest first, with delivery state (-account, -limit, -before, -unacked)
//	grant ACCOUNT AMOUNT       grant credits (-key required; -source, -expires-in, -expires-at, -priority)
//	grant-pack ACCOUNT PACK    grant a catalog pack (-key required)
//	consume ACCOUNT AMOUNT     spend credits (-key optional)
//	hold ACCOUNT AMOUNT        reserve credits (-key optional, -ttl)
//	capture ACCOUNT HOLD AMOUNT  spend AMOUNT of a hold, release the rest
//	release ACCOUNT HOLD       give a hold's credits back
//	reverse ACCOUNT            undo a grant, consume or capture (-operation ID or -of-key KEY; -amount, -key)
//	set-plan ACCOUNT PLAN      put an account on a plan; prints what it granted (-anchor)
//	import-mksaas              import a MkSaaS database (-from DSN)
//	catalog                    print the catalog in use as JSON
//
// Flags come before the arguments; every command but catalog takes -db
// DSN (default $DATABASE_URL, else the example server's SQLite file if it
// exists), -catalog, -scale and -json, and prints the database it uses on
// stderr, password masked. Only migrate creates tables. Exit status: 0
// success, 1 failure (nothing written by a failed write), 2 usage error
// or a value the ledger refuses. docs/CLI.md has every flag; -h each
// command's.
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
