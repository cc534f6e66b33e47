package bunstore_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/creditledger/creditledger/ledger"
	"github.com/creditledger/creditledger/storage/bunstore"
)

// A support tool opens the ledger it is pointed at, and only that: a
// mistyped path or a database that was never migrated is an error, and
// nothing is created.
func ExampleOpenExisting() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "creditledger-example")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "credits.db")

	_, err := bunstore.OpenExisting(ctx, path, nil)
	fmt.Println("missing file:", errors.Is(err, fs.ErrNotExist))
	_, statErr := os.Stat(path)
	fmt.Println("created:", statErr == nil)

	// The application migrates when it starts (ledger.New does)...
	store, _ := bunstore.Open(ctx, path)
	_, _ = ledger.New(store, nil)
	store.Close()

	// ... and the tool opens what it made.
	store, err = bunstore.OpenExisting(ctx, path, nil)
	if err != nil {
		panic(err)
	}
	defer store.Close()
	fmt.Println("schema:", store.CheckSchema(ctx))
	// Output:
	// missing file: true
	// created: false
	// schema: <nil>
}
