package policy_test

import (
	"fmt"
	"time"
	_ "time/tzdata"

	"github.com/shopspring/decimal"

	"github.com/creditledger/creditledger/policy"
)

func ExampleMonthlyCalendar() {
	shanghai, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		panic(err)
	}
	free := policy.MonthlyCalendar(decimal.NewFromInt(50), "")
	// 16:30 UTC on Nov 30 is already December 1 in Shanghai.
	for _, s := range []string{"2026-11-30T15:59:59Z", "2026-11-30T16:30:00Z", "2026-12-31T16:00:00Z"} {
		at, _ := time.Parse(time.RFC3339, s)
		due, _ := free.Allocate(policy.Account{ID: "user-1"}, at, shanghai)
		fmt.Printf("%s -> %s [%s, %s) %s %s\n", s, due.Period.Key,
			due.Period.Start.Format(time.RFC3339), due.Period.End.Format(time.RFC3339), due.Amount, due.Source)
	}
	// Output:
	// 2026-11-30T15:59:59Z -> 2026-11 [2026-10-31T16:00:00Z, 2026-11-30T16:00:00Z) 50 monthly_refresh
	// 2026-11-30T16:30:00Z -> 2026-12 [2026-11-30T16:00:00Z, 2026-12-31T16:00:00Z) 50 monthly_refresh
	// 2026-12-31T16:00:00Z -> 2027-01 [2026-12-31T16:00:00Z, 2027-01-31T16:00:00Z) 50 monthly_refresh
}

func ExampleMonthlyAnniversary() {
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		panic(err)
	}
	yearly := policy.MonthlyAnniversary(decimal.NewFromInt(1000), "")
	// Subscribed on Jan 31 2028 at 09:00 in New York: each period starts
	// on the 31st, or the month's last day, at 09:00 local time.
	acct := policy.Account{ID: "user-2", Anchor: time.Date(2028, 1, 31, 9, 0, 0, 0, ny)}
	at := acct.Anchor
	for range 5 {
		due, _ := yearly.Allocate(acct, at, ny)
		fmt.Println(due.Period.Key, due.Period.Start.In(ny).Format("Mon Jan 2 15:04 MST"))
		at = due.Period.End // the next period starts where this one ends
	}
	// Output:
	// 2028-01-31 Mon Jan 31 09:00 EST
	// 2028-02-29 Tue Feb 29 09:00 EST
	// 2028-03-31 Fri Mar 31 09:00 EDT
	// 2028-04-30 Sun Apr 30 09:00 EDT
	// 2028-05-31 Wed May 31 09:00 EDT
}
