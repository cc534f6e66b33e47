package ledger

import (
	"fmt"
	"math/big"
	"strconv"

	"github.com/shopspring/decimal"
)

// maxDigits is the number of decimal digits of math.MaxInt64.
const maxDigits = 19

// toMinor converts a decimal amount to integer minor units at scale:
// exact or refused. With positive, zero and negative amounts are refused.
// Every refusal wraps ErrInvalidAmount and names the amount.
//
// It works on the coefficient and exponent and never raises 10 to a
// caller-chosen power: "1e999999999" is refused at once instead of
// building a billion-digit number.
func toMinor(d decimal.Decimal, scale int32, positive bool) (int64, error) {
	if positive && !d.IsPositive() {
		return 0, fmt.Errorf("%w: %s is not positive", ErrInvalidAmount, short(d))
	}
	c, e := new(big.Int).Abs(d.Coefficient()), int64(d.Exponent())
	if c.Sign() == 0 {
		return 0, nil
	}
	// Trailing zeros written after the point are not extra places: 1.50
	// at scale 1 is 15. Stripping is bounded by the digits written.
	ten, rem := big.NewInt(10), new(big.Int)
	for e < 0 {
		q, r := new(big.Int).QuoRem(c, ten, rem)
		if r.Sign() != 0 {
			break
		}
		c, e = q, e+1
	}
	e += int64(scale)
	if e < 0 {
		return 0, fmt.Errorf("%w: %s has more than %d decimal places", ErrInvalidAmount, short(d), scale)
	}
	if e >= maxDigits || len(c.String())+int(e) > maxDigits {
		return 0, fmt.Errorf("%w: %s is too large", ErrInvalidAmount, short(d))
	}
	c.Mul(c, new(big.Int).Exp(ten, big.NewInt(e), nil))
	if !c.IsInt64() {
		return 0, fmt.Errorf("%w: %s is too large", ErrInvalidAmount, short(d))
	}
	if d.Sign() < 0 {
		return -c.Int64(), nil
	}
	return c.Int64(), nil
}

// short renders an amount for an error message without expanding a huge
// exponent.
func short(d decimal.Decimal) string {
	if e := d.Exponent(); e > 40 || e < -40 {
		return d.Coefficient().String() + "e" + strconv.Itoa(int(e))
	}
	return d.String()
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
