package main

import (
	"bytes"
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/creditledger/creditledger/internal/testdb"
)

// The simulated webhook is delivered twice and grants once; the event for
// an unknown pack is refused and its payment row rolled back with it.
func TestSimulatedWebhook(t *testing.T) {
	t.Setenv("DATABASE_URL", "")
	t.Setenv("CRON_JOBS_USERNAME", "")
	t.Setenv("CRON_JOBS_PASSWORD", "")
	t.Setenv("CRON_JOBS_TOKEN", "")
	const want = "balance of user-42: 200 credits from 1 grant(s); payments rows: 1\n"

	for _, db := range []struct{ name, dsn string }{
		{"memory", ""},
		{"sqlite", "sqlite"},
		{"postgres", "postgres"},
	} {
		t.Run(db.name, func(t *testing.T) {
			var args []string
			switch db.dsn {
			case "sqlite":
				args = []string{"-db", testdb.SQLitePath(t)}
			case "postgres":
				args = []string{"-db", testdb.PostgresDSN(t)}
			}
			var out bytes.Buffer
			require.NoError(t, run(context.Background(), args, &out))
			s := out.String()
			require.Contains(t, s, `webhook:                 200 {"balance":"200","replayed":false}`)
			require.Contains(t, s, `webhook, redelivered:    200 {"balance":"200","replayed":true}`)
			require.Contains(t, s, "webhook, unknown pack:   400 ")
			require.Contains(t, s, want)

			if db.dsn == "" {
				return
			}
			// Running the program again on the same database changes
			// nothing: the payment ids were seen.
			out.Reset()
			require.NoError(t, run(context.Background(), args, &out))
			require.Contains(t, out.String(), `webhook:                 200 {"balance":"200","replayed":true}`)
			require.Contains(t, out.String(), want)
		})
	}
}
