package main

import (
	"embed"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// referenceFiles are the raw-SQL references the PostgreSQL run compares
// against; see reference/README.md.
//
//go:embed reference/*.sql reference/*.pgbench
var referenceFiles embed.FS

// referenceNames are the files a reference folder must hold.
var referenceNames = []string{"distribute_limit.sql", "distribute_audited.sql", "consume_seed.sql", "consume_limit.pgbench"}

// writeReference copies the embedded references into a new temporary
// folder, for psql and pgbench to read, and returns it with the function
// that removes it.
func writeReference() (dir string, cleanup func(), err error) {
	dir, err = os.MkdirTemp("", "creditledger-bench-ref")
	if err != nil {
		return "", nil, err
	}
	cleanup = func() { _ = os.RemoveAll(dir) }
	for _, name := range referenceNames {
		b, err := fs.ReadFile(referenceFiles, "reference/"+name)
		if err != nil {
			cleanup()
			return "", nil, fmt.Errorf("embedded reference %s: %w", name, err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			cleanup()
			return "", nil, err
		}
	}
	return dir, cleanup, nil
}
