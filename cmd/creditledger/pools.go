package main

import (
	"flag"
	"fmt"
	"sort"
	"text/tabwriter"
	"time"

	"github.com/shopspring/decimal"

	"github.com/creditledger/creditledger/ledger"
)

// Pools in the CLI. An account that only ever used the default pool ("")
// prints as it did before pools existed; one with other pools, debt or
// dated grants gets a line per pool and a POOL column in its lots.

// poolName is how a pool is printed: "" is the default pool.
func poolName(p string) string {
	if p == "" {
		return "(default)"
	}
	return p
}

// sortedPools returns the names of b's pools, the default pool first.
func sortedPools(b *ledger.Balance) []string {
	names := make([]string, 0, len(b.Pools))
	for name := range b.Pools {
		names = append(names, name)
	}
	sort.Strings(names) // "" sorts first
	return names
}

// onlyDefaultPool reports whether b has nothing outside the default pool
// and no dated grants: it then prints exactly as before pools.
func onlyDefaultPool(b *ledger.Balance) bool {
	for name, pb := range b.Pools {
		if name != "" || len(pb.Upcoming) > 0 {
			return false
		}
	}
	return len(b.Upcoming) == 0
}

// sum adds up the remaining of lots.
func sum(lots []ledger.Lot) decimal.Decimal {
	total := decimal.Zero
	for _, l := range lots {
		total = total.Add(l.Remaining)
	}
	return total
}

// printPools prints the pools of b (when it has more than the default
// one) and the lots of every pool.
func printPools(e *env, b *ledger.Balance) error {
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	if onlyDefaultPool(b) {
		if len(b.Lots) == 0 {
			return nil
		}
		fmt.Fprintln(tw, "LOT\tSOURCE\tREMAINING\tAMOUNT\tEXPIRES")
		for _, lot := range b.Lots {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", lot.ID, lot.Source, lot.Remaining, lot.Amount, expiryText(lot.ExpiresAt))
		}
		return tw.Flush()
	}
	names := sortedPools(b)
	fmt.Fprintln(tw, "POOL\tAVAILABLE\tHELD\tOWED\tUPCOMING")
	for _, name := range names {
		pb := b.Pools[name]
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", poolName(name), pb.Available, pb.Held, pb.Owed, sum(pb.Upcoming))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	tw = tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	rows := 0
	fmt.Fprintln(tw, "LOT\tPOOL\tSOURCE\tREMAINING\tAMOUNT\tSTARTS\tEXPIRES")
	for _, name := range names {
		pb := b.Pools[name]
		for _, group := range [][]ledger.Lot{pb.Lots, pb.Upcoming} {
			for _, lot := range group {
				starts := "now"
				if lot.EffectiveAt != nil {
					starts = lot.EffectiveAt.UTC().Format(time.RFC3339)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", lot.ID, poolName(name), lot.Source, lot.Remaining, lot.Amount,
					starts, expiryText(lot.ExpiresAt))
				rows++
			}
		}
	}
	if rows == 0 {
		return nil
	}
	return tw.Flush()
}

// expiryText prints an expiry: "never" for none.
func expiryText(t *time.Time) string {
	if t == nil {
		return "never"
	}
	return t.UTC().Format(time.RFC3339)
}

// poolFlag is a -pool flag that knows whether it was given, so that
// -pool="" (the default pool) differs from no flag (every pool).
type poolFlag struct {
	set  bool
	name string
}

func (p *poolFlag) String() string { return p.name }

func (p *poolFlag) Set(s string) error {
	p.set, p.name = true, s
	return nil
}

// ptr returns the pool to filter by, nil when the flag was not given.
func (p *poolFlag) ptr() *string {
	if !p.set {
		return nil
	}
	name := p.name
	return &name
}

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
