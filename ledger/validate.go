package ledger

import (
	"fmt"
	"strings"
	"time"

	"github.com/creditledger/creditledger/storage"
)

// Limits on the strings a caller passes. Ids and keys are stored in
// indexed columns, so they are bounded; PostgreSQL text cannot hold NUL.
const (
	MaxIDLength          = 255  // bytes of an account id, plan id or idempotency key
	MaxSourceLength      = 64   // bytes of a grant's source
	MaxDescriptionLength = 1024 // bytes of a description
	MaxMetadataEntries   = 32   // keys of one call's metadata
	MaxMetadataLength    = 1024 // bytes of one metadata key or value
)

// reservedKeyPrefix starts the idempotency keys the ledger makes itself
// (distribution grants, gifts); hosts may not use it, so a host key can
// never collide with one of them.
const reservedKeyPrefix = "creditledger:"

func checkID(what, v string) error {
	switch {
	case v == "":
		return fmt.Errorf("%w: %s is empty", ErrInvalidArgument, what)
	case len(v) > MaxIDLength:
		return fmt.Errorf("%w: %s is %d bytes, more than %d", ErrInvalidArgument, what, len(v), MaxIDLength)
	}
	return checkText(what, v)
}

// checkText is storage.CheckText: the one rule for text, shared with the
// stores.
func checkText(what, v string) error { return storage.CheckText(what, v) }

func checkKey(key string, required bool) error {
	if key == "" && !required {
		return nil
	}
	if err := checkID("idempotency key", key); err != nil {
		return err
	}
	if strings.HasPrefix(key, reservedKeyPrefix) {
		return fmt.Errorf("%w: idempotency key %q uses the reserved prefix %q", ErrInvalidArgument, key, reservedKeyPrefix)
	}
	return nil
}

// checkCall checks what every write with an optional key takes: the
// account id, the key (may be empty), the description and the metadata.
func checkCall(account, key, description string, metadata map[string]string) error {
	if err := checkID("account", account); err != nil {
		return err
	}
	if err := checkKey(key, false); err != nil {
		return err
	}
	if err := checkBounded("description", description, MaxDescriptionLength); err != nil {
		return err
	}
	return checkMetadata(metadata)
}

func checkBounded(what, v string, max int) error {
	if len(v) > max {
		return fmt.Errorf("%w: %s is %d bytes, more than %d", ErrInvalidArgument, what, len(v), max)
	}
	return checkText(what, v)
}

func checkMetadata(m map[string]string) error {
	if len(m) > MaxMetadataEntries {
		return fmt.Errorf("%w: metadata has %d keys, more than %d", ErrInvalidArgument, len(m), MaxMetadataEntries)
	}
	for k, v := range m {
		if k == "" {
			return fmt.Errorf("%w: metadata has an empty key", ErrInvalidArgument)
		}
		if err := checkBounded("metadata key", k, MaxMetadataLength); err != nil {
			return err
		}
		if err := checkBounded(fmt.Sprintf("metadata value of %q", k), v, MaxMetadataLength); err != nil {
			return err
		}
	}
	return nil
}

// The range of instants a ledger accepts and every store holds exactly:
// from the Unix epoch (1970-01-01T00:00:00Z) to the last microsecond of
// year 9999 UTC (9999-12-31T23:59:59.999999Z). An
// instant a caller passes (an expiry, a plan anchor, a run's Now), and
// every instant the ledger computes from one (a plan's next grant, a
// grant's expiry), must lie in it; otherwise the call fails with
// ErrInvalidArgument and writes nothing. PostgreSQL would store later
// instants but several drivers cannot read them back, and SQLite's
// integer microseconds wrap in year 294247.
var (
	minTime = time.Unix(0, 0).UTC()
	maxTime = time.Date(9999, 12, 31, 23, 59, 59, 999999000, time.UTC)
)

// inRange reports whether t is within the range above.
func inRange(t time.Time) bool { return !t.Before(minTime) && !t.After(maxTime) }

// checkTime checks that t is within the range above.
func checkTime(what string, t time.Time) error {
	if !inRange(t) {
		return fmt.Errorf("%w: %s %s is outside %s..%s", ErrInvalidArgument, what,
			t.UTC().Format(time.RFC3339Nano), minTime.Format(time.RFC3339), maxTime.Format(time.RFC3339Nano))
	}
	return nil
}

// checkTimePtr is checkTime for an optional instant; nil passes.
func checkTimePtr(what string, t *time.Time) error {
	if t == nil {
		return nil
	}
	return checkTime(what, *t)
}
