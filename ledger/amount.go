package ledger

import (
	"fmt"
	"math"

	"github.com/shopspring/decimal"
)

var maxMinor = decimal.NewFromInt(math.MaxInt64)

// toMinor converts a decimal amount to integer minor units at scale:
// exact or refused. With positive, zero and negative amounts are refused.
// Every refusal wraps ErrInvalidAmount and names the amount.
func toMinor(d decimal.Decimal, scale int32, positive bool) (int64, error) {
	shifted := d.Shift(scale)
	if !shifted.IsInteger() {
		return 0, fmt.Errorf("%w: %s has more than %d decimal places", ErrInvalidAmount, d, scale)
	}
	if positive && !d.IsPositive() {
		return 0, fmt.Errorf("%w: %s is not positive", ErrInvalidAmount, d)
	}
	if shifted.Abs().GreaterThan(maxMinor) {
		return 0, fmt.Errorf("%w: %s is too large", ErrInvalidAmount, d)
	}
	return shifted.IntPart(), nil
}

// toDecimal converts minor units back to a decimal amount at scale.
func toDecimal(minor int64, scale int32) decimal.Decimal {
	return decimal.New(minor, -scale)
}

// addMinor adds two amounts in minor units, refusing overflow: a balance
// past math.MaxInt64 minor units cannot be stored.
func addMinor(a, b int64) (int64, error) {
	s := a + b
	if (b > 0 && s < a) || (b < 0 && s > a) {
		return 0, fmt.Errorf("%w: balance would overflow 64-bit minor units", ErrInvalidAmount)
	}
	return s, nil
}
