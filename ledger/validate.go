package ledger

import (
	"fmt"
	"strings"
	"unicode/utf8"
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

func checkText(what, v string) error {
	if !utf8.ValidString(v) {
		return fmt.Errorf("%w: %s %q is not valid UTF-8", ErrInvalidArgument, what, v)
	}
	if strings.IndexByte(v, 0) >= 0 {
		return fmt.Errorf("%w: %s %q contains a NUL byte", ErrInvalidArgument, what, v)
	}
	return nil
}

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
