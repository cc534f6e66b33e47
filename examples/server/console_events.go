package main

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/creditledger/creditledger/ledger"
)

// The outbox (ledger.ListEvents, EventStats) in the JSON API and the
// console. This file is a feature (compiledFeatures lists it); the webhook
// that delivers the events is webhook.go, started by run.go.
//
//	GET /api/events?account=ID&limit=N   the newest events (all accounts, or one), with delivery state
//	GET /events                           console: the newest events, the outbox's state, the webhook
//
// The account page gets a section with the account's newest events.

// eventsOnPage is how many events the pages show.
const eventsOnPage = 50

// eventsFeature is this file's entry in compiledFeatures.
func eventsFeature() feature {
	return feature{
		name:    "events",
		routes:  eventRoutes,
		load:    loadAccountEvents,
		section: "events-section", // templates/events.html
	}
}

func eventRoutes(s *server, mux *http.ServeMux, _ *adminAuth) {
	route(mux, http.MethodGet, "/api/events", s.getEvents)
	mux.HandleFunc("GET /events", s.eventsPage)
}

// eventRow is an event with its delivery state at the page's instant.
type eventRow struct {
	ledger.Event
	State string // pending, leased, retrying or acked
}

func eventRows(es []ledger.Event, now time.Time) []eventRow {
	out := make([]eventRow, len(es))
	for i := range es {
		out[i] = eventRow{Event: es[i], State: eventState(&es[i], now)}
	}
	return out
}

// eventState names an event's delivery state at now.
func eventState(e *ledger.Event, now time.Time) string {
	switch {
	case e.AckedAt != nil:
		return "acked"
	case e.LeasedUntil != nil && e.LeasedUntil.After(now):
		return "leased"
	case e.Attempts > 0:
		return "retrying"
	}
	return "pending"
}

type eventJSON struct {
	webhookEvent
	State       string     `json:"state"`
	LeasedUntil *time.Time `json:"leasedUntil,omitempty"`
	AckedAt     *time.Time `json:"ackedAt,omitempty"`
}

func (s *server) getEvents(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	limit := eventsOnPage
	if q.Has("limit") {
		n, err := strconv.Atoi(q.Get("limit"))
		if err != nil || n < 1 || n > 1000 {
			writeError(w, http.StatusBadRequest, codeInvalidArgument, "limit must be a whole number from 1 to 1000, got "+strconv.Quote(short(q.Get("limit"))))
			return
		}
		limit = n
	}
	account := q.Get("account")
	es, err := s.l.ListEvents(r.Context(), &ledger.EventListOpts{Account: account, Limit: limit})
	if err != nil {
		s.fail(w, r, account, err)
		return
	}
	now := s.now().UTC()
	out := struct {
		Events []eventJSON `json:"events"`
	}{Events: make([]eventJSON, 0, len(es))}
	for _, e := range es {
		out.Events = append(out.Events, eventJSON{
			webhookEvent: webhookEvent{ID: e.ID, Type: e.Type, Account: e.Account, Pool: e.Pool, Amount: e.Amount.String(),
				Balance: e.Balance.String(), LotID: e.LotID, OperationID: e.OperationID, At: e.At.UTC(), Seq: e.Seq, Attempt: e.Attempts},
			State: eventState(&e, now), LeasedUntil: e.LeasedUntil, AckedAt: e.AckedAt,
		})
	}
	writeJSON(w, http.StatusOK, out)
}

// eventsSection is the account page's events section.
type eventsSection struct {
	Events []eventRow
}

func loadAccountEvents(ctx context.Context, s *server, _ *http.Request, p *accountPage) error {
	if p.Missing {
		return nil
	}
	es, err := s.l.ListEvents(ctx, &ledger.EventListOpts{Account: p.ID, Limit: 20})
	if err != nil {
		return err
	}
	p.Extra["events"] = &eventsSection{Events: eventRows(es, p.Now)}
	return nil
}

type eventsPage struct {
	layout
	Stats   *ledger.EventStats
	Events  []eventRow
	Webhook string // the webhook's URL without credentials; "" when none
}

func (s *server) eventsPage(w http.ResponseWriter, r *http.Request) {
	p := &eventsPage{layout: s.page(r, "Events"), Webhook: s.webhookURL}
	st, err := s.l.EventStats(r.Context())
	if err != nil {
		s.failPage(w, r, err)
		return
	}
	es, err := s.l.ListEvents(r.Context(), &ledger.EventListOpts{Limit: eventsOnPage})
	if err != nil {
		s.failPage(w, r, err)
		return
	}
	p.Stats, p.Events = st, eventRows(es, p.Now)
	s.render(w, r, http.StatusOK, "events", p)
}
