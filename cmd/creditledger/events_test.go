package main

import (
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"
)

// events lists the outbox newest first, one account's with -account,
// pages with -before, and says each event's delivery state.
func TestEventsCommand(t *testing.T) {
	t.Parallel()
	eachDB(t, func(t *testing.T, db string) {
		require.Equal(t, exitOK, cli(t, db, "grant", "-key", "g1", "ann", "10").code)
		require.Equal(t, exitOK, cli(t, db, "grant", "-key", "g2", "bob", "5").code)
		require.Equal(t, exitOK, cli(t, db, "consume", "bob", "5").code)

		type list struct{ Events []eventJSON }
		all := ok[list](t, db, "events")
		require.Len(t, all.Events, 3)
		require.Equal(t, "balance.depleted", all.Events[0].Type, "newest first")
		require.Equal(t, "bob", all.Events[0].Account)
		require.Equal(t, "5", all.Events[0].Amount)
		require.Equal(t, "0", all.Events[0].Balance)
		require.Equal(t, "pending", all.Events[0].State)
		require.Equal(t, "credits.granted", all.Events[2].Type)
		require.Equal(t, "ann", all.Events[2].Account)
		require.NotEmpty(t, all.Events[2].LotID)

		ann := ok[list](t, db, "events", "-account", "ann")
		require.Len(t, ann.Events, 1)
		page := ok[list](t, db, "events", "-limit", "1", "-before", itoa(all.Events[0].Seq))
		require.Len(t, page.Events, 1)
		require.Equal(t, all.Events[1].ID, page.Events[0].ID)

		r := cli(t, db, "events")
		require.Equal(t, exitOK, r.code, r.stderr)
		require.Contains(t, r.stdout, "TYPE")
		require.Contains(t, r.stdout, "balance.depleted")
		r = cli(t, db, "events", "-limit", "0")
		require.Equal(t, exitUsage, r.code)
	})
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
