package policy

import (
	"time"

	"github.com/shopspring/decimal"
)

// Sources of the reference catalog that have no default elsewhere in this
// package; they match the reference system's transaction types.
const (
	SourceRegisterGift    = "register_gift"
	SourcePurchasePackage = "purchase_package"
	SourceLifetimeMonthly = "lifetime_monthly"
)

// ReferenceCatalog returns a catalog equivalent to the defaults the
// reference system (MkSaaS) ships, for hosts migrating from it and for
// examples. Every grant expires 30 days (AfterDays(30)) after it is made.
//
//   - Location UTC; DefaultPlan "free".
//   - "free": 50 credits each calendar month (source "monthly_refresh").
//   - "pro_monthly": PerInvoice: 1000 per paid invoice
//     ("subscription_renewal"), granted by the host's payment webhook
//     with Ledger.GrantInvoice; the distribution grants it nothing.
//   - "pro_yearly": 1000 each month from the subscription anchor
//     ("subscription_renewal").
//   - "lifetime": 1000 each month from the purchase ("lifetime_monthly").
//   - SignupGift: 50 ("register_gift").
//   - Packs "basic" 100, "standard" 200, "premium" 500, "enterprise" 1000
//     ("purchase_package").
//
// Each call returns a new catalog, which the caller may change freely.
func ReferenceCatalog() *Catalog {
	const days = 30
	return &Catalog{
		Location:    time.UTC,
		DefaultPlan: "free",
		SignupGift: &Gift{
			Amount: decimal.NewFromInt(50),
			Source: SourceRegisterGift,
			Expiry: AfterDays(days),
		},
		Plans: []Plan{
			{ID: "free", Allocation: MonthlyCalendar(decimal.NewFromInt(50), SourceMonthlyRefresh), Expiry: AfterDays(days)},
			{ID: "pro_monthly", Allocation: PerInvoice(decimal.NewFromInt(1000), SourceSubscriptionRenewal), Expiry: AfterDays(days)},
			{ID: "pro_yearly", Allocation: MonthlyAnniversary(decimal.NewFromInt(1000), SourceSubscriptionRenewal), Expiry: AfterDays(days)},
			{ID: "lifetime", Allocation: MonthlyAnniversary(decimal.NewFromInt(1000), SourceLifetimeMonthly), Expiry: AfterDays(days)},
		},
		Packs: []Pack{
			{ID: "basic", Amount: decimal.NewFromInt(100), Source: SourcePurchasePackage, Expiry: AfterDays(days)},
			{ID: "standard", Amount: decimal.NewFromInt(200), Source: SourcePurchasePackage, Expiry: AfterDays(days)},
			{ID: "premium", Amount: decimal.NewFromInt(500), Source: SourcePurchasePackage, Expiry: AfterDays(days)},
			{ID: "enterprise", Amount: decimal.NewFromInt(1000), Source: SourcePurchasePackage, Expiry: AfterDays(days)},
		},
	}
}
