package main

import (
	"context"
	"flag"
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/creditledger/creditledger/ledger"
)

// eventsCmd is events' options: the outbox, newest first, with each
// event's delivery state.
type eventsCmd struct {
	account string
	limit   int
	before  int64
	unacked bool
}

func eventsFlags(fs *flag.FlagSet) runner {
	o := &eventsCmd{}
	fs.StringVar(&o.account, "account", "", "only this account's events")
	fs.IntVar(&o.limit, "limit", 50, "events to list, at most 1000")
	fs.Int64Var(&o.before, "before", 0, "only events with a seq below this (the next page)")
	fs.BoolVar(&o.unacked, "unacked", false, "only events not acknowledged yet")
	return o
}

type eventJSON struct {
	ID          string     `json:"id"`
	Seq         int64      `json:"seq"`
	Account     string     `json:"account"`
	Pool        string     `json:"pool"`
	Type        string     `json:"type"`
	Amount      string     `json:"amount"`
	Balance     string     `json:"balance"`
	LotID       string     `json:"lotId,omitempty"`
	OperationID string     `json:"operationId,omitempty"`
	At          time.Time  `json:"at"`
	State       string     `json:"state"`
	Attempts    int        `json:"attempts"`
	LeasedUntil *time.Time `json:"leasedUntil,omitempty"`
	AckedAt     *time.Time `json:"ackedAt,omitempty"`
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

func (o *eventsCmd) run(ctx context.Context, e *env) error {
	if o.limit < 1 || o.limit > 1000 {
		return usagef("-limit %d: want 1..1000", o.limit)
	}
	return withLedger(ctx, e, func(l *ledger.Ledger) error {
		es, err := l.ListEvents(ctx, &ledger.EventListOpts{Account: o.account, BeforeSeq: o.before, Limit: o.limit, Unacked: o.unacked})
		if err != nil {
			return err
		}
		now := time.Now().UTC()
		if e.common.json {
			out := struct {
				Events []eventJSON `json:"events"`
			}{Events: []eventJSON{}}
			for i := range es {
				ev := &es[i]
				out.Events = append(out.Events, eventJSON{ID: ev.ID, Seq: ev.Seq, Account: ev.Account, Pool: ev.Pool, Type: ev.Type,
					Amount: ev.Amount.String(), Balance: ev.Balance.String(), LotID: ev.LotID, OperationID: ev.OperationID,
					At: ev.At.UTC(), State: eventState(ev, now), Attempts: ev.Attempts, LeasedUntil: ev.LeasedUntil, AckedAt: ev.AckedAt})
			}
			return writeJSON(e.stdout, out)
		}
		if len(es) == 0 {
			fmt.Fprintln(e.stdout, "no events")
			return nil
		}
		tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "SEQ\tAT\tACCOUNT\tTYPE\tAMOUNT\tBALANCE\tSTATE\tATTEMPTS")
		for i := range es {
			ev := &es[i]
			fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%d\n", ev.Seq, ev.At.UTC().Format(time.RFC3339), ev.Account, ev.Type,
				ev.Amount, ev.Balance, eventState(ev, now), ev.Attempts)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		if len(es) == o.limit {
			fmt.Fprintf(e.stdout, "more: -before %d\n", es[len(es)-1].Seq)
		}
		return nil
	})
}
