package main

import (
	"context"
	"net/http"

	"github.com/shopspring/decimal"

	"github.com/creditledger/creditledger/ledger"
)

// feature is an optional part of the server: its own routes, a section of
// the account page, and what it knows about balances. The console renders
// whatever the features listed in compiledFeatures give it and nothing else, so a
// feature is one file (and its template in templates/) plus one line in
// that list: holds, captures, releases, reversals and balances at a past
// instant live in console_holds.go.
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

// compiledFeatures returns the features compiled in, in the order their
// routes are registered and their sections shown. A function, not a
// variable, so that there is no package-level state: each server keeps
// its own list (server.features).
func compiledFeatures() []feature {
	return []feature{
		holdsFeature(),  // console_holds.go
		eventsFeature(), // console_events.go
	}
}

// heldOf returns what active holds reserve in b, and false when no
// compiled-in feature knows about holds.
func (s *server) heldOf(b *ledger.Balance) (decimal.Decimal, bool) {
	for _, f := range s.features {
		if f.held != nil {
			return f.held(b), true
		}
	}
	return decimal.Zero, false
}
