package main

import (
	"context"
	"net/http"

	"github.com/shopspring/decimal"

	"github.com/creditledger/creditledger/ledger"
)

// feature is an optional part of the server: its own routes, a section of
// the account page, and what it knows about balances. The console renders
// whatever the compiled-in features give it and nothing else, so a feature
// is one file that registers itself from an init function (holds,
// captures, releases, reversals and balances at a past instant live in
// console_holds.go); removing the file removes the feature, with no other
// edit.
type feature struct {
	name string
	// routes registers the feature's routes: JSON routes go behind
	// admin.require, console forms behind s.action (session and CSRF).
	routes func(s *server, mux *http.ServeMux, admin *adminAuth)
	// held returns what active holds reserve in b; nil when the feature
	// does not know.
	held func(b *ledger.Balance) decimal.Decimal
	// refusal maps the feature's own errors (a sentinel of the ledger
	// that errors.go does not know) to a status, a stable code and a
	// public message, as ledgerError does; ok false for others.
	refusal func(err error, account string) (status int, code, msg string, ok bool)
	// load reads what the feature's section of the account page shows
	// into p.Extra, under its name. An error renders the page with it.
	load func(ctx context.Context, s *server, r *http.Request, p *accountPage) error
	// section names the template (a {{define}} block of a file in
	// templates/) rendered into the account page, with the page's data;
	// "" for none.
	section string
}

// features are the features compiled in. Only init functions append to
// it; it is read-only once main starts.
var features []feature

// registerFeature adds f; called from init functions only.
func registerFeature(f feature) { features = append(features, f) }

// heldOf returns what active holds reserve in b, and false when no
// compiled-in feature knows about holds.
func heldOf(b *ledger.Balance) (decimal.Decimal, bool) {
	for _, f := range features {
		if f.held != nil {
			return f.held(b), true
		}
	}
	return decimal.Zero, false
}
