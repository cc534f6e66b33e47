package main

import (
	"flag"
	"time"

	"github.com/shopspring/decimal"
)

// spendFlags binds the flags a consume or hold takes to say what it
// spends: -pool, or -feature (then the positional amount is a quantity).
func spendFlags(fs *flag.FlagSet, pool, feature *string) {
	fs.StringVar(pool, "pool", "", `the credit pool to spend from (default "", the default pool)`)
	fs.StringVar(feature, "feature", "", "price the call by this catalog feature: AMOUNT is then the quantity, and the pool is the feature's")
}

// spendAmount splits a consume's or hold's positional number into the
// ledger's Amount or Quantity, as -feature says.
func spendAmount(feature, arg string) (amount, quantity decimal.Decimal, err error) {
	what := "AMOUNT"
	if feature != "" {
		what = "QUANTITY"
	}
	d, err := parseAmount(what, arg)
	if err != nil {
		return amount, quantity, err
	}
	if feature != "" {
		return decimal.Zero, d, nil
	}
	return d, decimal.Zero, nil
}

// expiryText prints an expiry: "never" for none.
func expiryText(t *time.Time) string {
	if t == nil {
		return "never"
	}
	return t.UTC().Format(time.RFC3339)
}
