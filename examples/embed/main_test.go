package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

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

// TestMain runs the program's main when the test binary is re-executed by
// TestExitCodes.
func TestMain(m *testing.M) {
	if os.Getenv("EMBED_TEST_RUN_MAIN") == "1" {
		os.Args = append([]string{"embed"}, strings.Fields(os.Getenv("EMBED_TEST_ARGS"))...)
		main()
		return
	}
	os.Exit(m.Run())
}

// The exit status and message of the real program: -h is 0 with the
// usage, a bad flag 2, and a SQLite file in a missing folder 1 with an
// error naming the folder.
func TestExitCodes(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "no-such-folder")
	for _, tc := range []struct {
		args string
		code int
		want string
	}{
		{"-h", 0, "Usage of embed"},
		{"-help", 0, "-serve"},
		{"-nope", 2, "flag provided but not defined: -nope"},
		{"-db " + filepath.Join(missing, "app.db"), 1, `folder "` + missing + `" does not exist`},
	} {
		t.Run(tc.args, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), "EMBED_TEST_RUN_MAIN=1", "EMBED_TEST_ARGS="+tc.args,
				"DATABASE_URL=", "CRON_JOBS_USERNAME=", "CRON_JOBS_PASSWORD=", "CRON_JOBS_TOKEN=")
			out, err := cmd.CombinedOutput()
			code := 0
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				code = ee.ExitCode()
			} else {
				require.NoError(t, err)
			}
			require.Equal(t, tc.code, code, "%s", out)
			require.Contains(t, string(out), tc.want)
			require.NotContains(t, string(out), "out of memory")
		})
	}
	_, err := os.Stat(missing)
	require.ErrorIs(t, err, os.ErrNotExist, "no folder was created")
}
