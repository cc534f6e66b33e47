package reliability_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/creditledger/creditledger/storage/bunstore"
)

// requireEventsOfHistory requires the outbox to hold exactly one
// credits.granted event per grant entry and one credits.expired event per
// expire entry, on the same lot and amount, and nothing else of those
// types: what a chunk wrote, its events included, is all there or not at
// all, however its process died.
func requireEventsOfHistory(t testing.TB, s *bunstore.Store) (granted, expired int) {
	t.Helper()
	ctx := context.Background()
	for _, c := range []struct {
		event, kind string
		sign        int
		n           *int
	}{{"credits.granted", "grant", 1, &granted}, {"credits.expired", "expire", -1, &expired}} {
		var entries, events, missing, extra, dup int
		err := s.DB().QueryRowContext(ctx, `SELECT
  (SELECT count(*) FROM creditledger_entries WHERE kind = ?),
  (SELECT count(*) FROM creditledger_events WHERE type = ?),
  (SELECT count(*) FROM creditledger_entries AS e WHERE e.kind = ? AND NOT EXISTS (
     SELECT 1 FROM creditledger_events AS v WHERE v.account_id = e.account_id AND v.lot_id = e.lot_id
       AND v.type = ? AND v.amount = ? * e.amount AND v.operation_id = e.operation_id)),
  (SELECT count(*) FROM creditledger_events AS v WHERE v.type = ? AND NOT EXISTS (
     SELECT 1 FROM creditledger_entries AS e WHERE e.account_id = v.account_id AND e.lot_id = v.lot_id AND e.kind = ?)),
  (SELECT count(*) FROM (SELECT 1 FROM creditledger_events WHERE type = ? GROUP BY account_id, lot_id HAVING count(*) > 1) AS d)`,
			c.kind, c.event, c.kind, c.event, c.sign, c.event, c.kind, c.event).Scan(&entries, &events, &missing, &extra, &dup)
		require.NoError(t, err)
		require.Zero(t, missing, "%s entries without their %s event", c.kind, c.event)
		require.Zero(t, extra, "%s events without their %s entry", c.event, c.kind)
		require.Zero(t, dup, "lots with two %s events", c.event)
		require.Equal(t, entries, events, c.event)
		*c.n = events
	}
	return granted, expired
}
