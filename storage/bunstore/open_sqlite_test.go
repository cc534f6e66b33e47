package bunstore_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/creditledger/creditledger/storage/bunstore"
)

// A SQLite path in a folder that does not exist (or under a file) is an
// error naming the folder, not SQLite's "out of memory (14)"; nothing is
// created.
func TestOpenSQLiteMissingFolder(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	tmp := t.TempDir()
	missing := filepath.Join(tmp, "no", "such")
	file := filepath.Join(tmp, "plain-file")
	require.NoError(t, os.WriteFile(file, []byte("x"), 0o600))

	for _, tc := range []struct{ dsn, want string }{
		{filepath.Join(missing, "ledger.db"), `folder "` + missing + `" does not exist`},
		{"file:" + filepath.Join(missing, "ledger.db") + "?mode=rwc", `folder "` + missing + `" does not exist`},
		{"file://" + filepath.Join(missing, "ledger.db"), `folder "` + missing + `" does not exist`},
		{filepath.Join(file, "ledger.db"), `"` + file + `" is not a folder`},
	} {
		s, err := bunstore.Open(ctx, tc.dsn)
		if err == nil {
			_ = s.Close()
		}
		require.Error(t, err, tc.dsn)
		require.Contains(t, err.Error(), tc.want, tc.dsn)
		require.Contains(t, err.Error(), "bunstore: open sqlite ")
	}
	_, err := os.Stat(filepath.Join(tmp, "no"))
	require.ErrorIs(t, err, os.ErrNotExist, "Open created no folder")

	// The same path works once the folder exists.
	require.NoError(t, os.MkdirAll(missing, 0o700))
	s, err := bunstore.Open(ctx, filepath.Join(missing, "ledger.db"))
	require.NoError(t, err)
	require.NoError(t, s.Close())
}
