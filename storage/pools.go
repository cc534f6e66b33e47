package storage

import "time"

// Credit pools, feature prices and dated grants (issue #21): the records
// they add to the storage contract. A store that predates them sees every
// record in the default pool "", with no feature, no EffectiveAt and no
// debt lots, which is exactly what a v0.2 ledger writes.

// KindSetExpiry records a change of one lot's expiry (Ledger.SetLotExpiry):
// Amount 0, LotID the lot, ExpiresAt the new expiry (nil: never), Pool the
// lot's pool, and in Metadata the expiry before the change
// (MetaPreviousExpiresAt). It is hashed like every entry, so Verify checks
// a lot's expiry against the last of its grant and set_expiry entries.
const KindSetExpiry EntryKind = "set_expiry"

// MetaPreviousExpiresAt is the metadata key of a KindSetExpiry entry: the
// lot's expiry before the change, RFC 3339 in UTC with microseconds, or
// MetaNever.
const MetaPreviousExpiresAt = "previous_expires_at"

// MetaNever is the value of MetaPreviousExpiresAt for a lot that never
// expired.
const MetaNever = "never"

// LotExpiry sets the expiry of an existing lot of an account (nil: never).
type LotExpiry struct {
	Account   string
	LotID     string
	ExpiresAt *time.Time
}

// FormatMetaTime formats t as the metadata of the ledger's entries records
// instants: RFC 3339 in UTC with microseconds.
func FormatMetaTime(t time.Time) string {
	return t.UTC().Truncate(time.Microsecond).Format("2006-01-02T15:04:05.000000Z07:00")
}
