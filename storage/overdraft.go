package storage

// Overdrafts (issue #21): a pool's debt is a debt lot (Lot.Debt); what the
// ledger writes about it.

// KindSettle moves credits that pay a pool's debt: a pair of entries of one
// operation, -x on the lot that pays and +x on the pool's debt lot, written
// by the grant (or the write) that brought the credits. Like a consume it
// is a debit of its lot, so each lot's Remaining stays the sum of its
// entries.
const KindSettle EntryKind = "settle"

// SourceOverdraft is the Source of a debt lot and of the entries on it.
const SourceOverdraft = "overdraft"
