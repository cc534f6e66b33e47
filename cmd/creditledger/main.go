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
// Flags come before the arguments (they may follow them too); after "--"
// every argument is positional, so "consume -- alice -5" passes -5 as the
// amount (which the ledger refuses). Writes also take -description and
// -meta KEY=VALUE (repeatable).
//
// Every command but catalog takes:
//
//	-db DSN        postgres://... or a SQLite file or file: URL; default
//	               $DATABASE_URL, else creditledger-example.db (the example
//	               server's file) if it exists in the working folder; with
//	               none of these the command is a usage error
//	-catalog FILE  a JSON catalog (see policy.ParseCatalog); default
//	               policy.ReferenceCatalog()
//	-scale N       decimal places of one credit; the database records it
//	               when first opened and refuses another (default: the
//	               database's, 0 for a new one)
//	-json          print the result as JSON; amounts are decimal strings
//	-h             help on the command
//
// Each prints the database it uses on stderr, without its password or
// parameters. Only migrate creates: every other command needs a database
// that holds the ledger's tables (a SQLite file that does not exist, or a
// database without them, is an error, exit 1, and nothing is created).
//
// Exit status: 0 on success (a replayed write included), 1 on failure
// (insufficient credits, an idempotency key reused with other parameters,
// an unknown account or hold, violations found by verify, accounts that
// distribute could not serve, lots import-mksaas could not write), 2 on a
// usage error: a bad flag or argument, or a value the ledger refuses
// (ErrInvalidAmount, ErrInvalidArgument, ErrUnknownPlan, ErrUnknownPack).
// A write that fails writes nothing.
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
