package storage

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// CheckText returns an error wrapping ErrInvalidArgument when s cannot be
// stored as text by every store: it is not valid UTF-8, or it contains a
// NUL byte (PostgreSQL text holds neither, and a SQL literal with either
// would not say what it was given). what names the value in the message.
// The ledger checks every string a caller passes with it, and a store
// checks every string of a write with it before the string reaches SQL.
func CheckText(what, s string) error {
	if !utf8.ValidString(s) {
		return fmt.Errorf("%w: %s %q is not valid UTF-8", ErrInvalidArgument, what, s)
	}
	if strings.IndexByte(s, 0) >= 0 {
		return fmt.Errorf("%w: %s %q contains a NUL byte", ErrInvalidArgument, what, s)
	}
	return nil
}
