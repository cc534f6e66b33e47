package bunstore_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/shopspring/decimal"
	"github.com/uptrace/bun"

	"github.com/creditledger/creditledger/ledger"
	"github.com/creditledger/creditledger/storage/bunstore"
)

// Open a SQLite database (a postgres:// URL works the same way), let the
// ledger migrate it, and grant credits inside a host's transaction.
func ExampleOpen() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "creditledger-example")
	defer os.RemoveAll(dir)

	store, err := bunstore.Open(ctx, filepath.Join(dir, "credits.db"))
	if err != nil {
		panic(err)
	}
	defer store.Close()
	l, err := ledger.New(store, nil) // migrates and records the scale
	if err != nil {
		panic(err)
	}

	// The payment and the grant commit together, or not at all.
	err = store.DB().RunInTx(ctx, nil, func(ctx context.Context, tx bun.Tx) error {
		// ... record the payment with tx ...
		_, err := l.WithStore(store.WithTx(tx)).Grant(ctx, ledger.GrantParams{
			Account:        "user-1",
			Source:         "purchase_package",
			IdempotencyKey: "payment-42",
			Amount:         decimal.NewFromInt(100),
		})
		return err
	})
	if err != nil {
		panic(err)
	}
	bal, err := l.Balance(ctx, "user-1")
	if err != nil {
		panic(err)
	}
	fmt.Println(bal.Available)
	// Output: 100
}
