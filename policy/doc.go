// Package policy decides what credits are granted, for which period, when
// they expire and in which order they are spent. It is pure: no I/O, no
// clock (the time is always passed in), no package-level mutable state, so
// every rule can be tested with plain values.
//
// A [Catalog] lists the plans of a ledger, the zone its periods are
// computed in (UTC by default), the plan of accounts that have none, a
// signup gift and credit packs. Catalog.Validate checks it; errors wrap
// [ErrInvalidCatalog].
//
// A [Plan] pairs an [Allocation] with an [Expiry]. The Allocation says what
// an account is owed for the period containing a given instant:
// [MonthlyCalendar] (calendar months of the catalog's zone),
// [MonthlyAnniversary] (months counted from the account's plan anchor,
// with month-end clamping re-derived from the anchor: Jan 31, Feb 28,
// Mar 31) or [None] (granted only by the host, per payment). The Expiry
// says when such a grant expires: [AfterDays], [AtPeriodEnd] or [Never].
// A [BurnOrder] says which lots a consume draws from first;
// [DefaultBurnOrder] is priority, soonest expiry (never last), oldest, ID.
//
// Every [Period] is half-open, [Start, End), and carries a Key ("2026-11"
// for a calendar month, "2026-11-26" for an anniversary month) that depends
// only on the period, never on when a grant was made. The ledger builds
// its idempotency keys from it, so a late or repeated distribution run
// grants each period once.
//
// Custom policies are one-method interfaces: implement Allocate, ExpiresAt
// or Less (or wrap a function in [BurnOrderFunc]), and [Validator] if the
// policy has parameters that can be wrong.
package policy
