package ledger

import (
	"math"
	"testing"

	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"
)

func TestToMinor(t *testing.T) {
	t.Parallel()
	cases := []struct {
		in    string
		scale int32
		want  int64
		ok    bool
	}{
		{"1", 0, 1, true},
		{"1.50", 1, 15, true}, // trailing zeros are not extra places
		{"1.5", 0, 0, false},
		{"0.000001", 6, 1, true},
		{"0.0000001", 6, 0, false},
		{"0", 2, 0, false},
		{"-3", 0, 0, false},
		{"9223372036854775807", 0, math.MaxInt64, true},
		{"9223372036854775808", 0, 0, false},
		{"92233720368547.75807", 5, math.MaxInt64, true},
		{"1e30", 0, 0, false},
		{"1e999999999", 0, 0, false},  // refused without building the number
		{"1e-999999999", 6, 0, false}, // likewise
		{"100e-2", 0, 1, true},
	}
	for _, tc := range cases {
		got, err := toMinor(decimal.RequireFromString(tc.in), tc.scale, true)
		if !tc.ok {
			require.ErrorIs(t, err, ErrInvalidAmount, tc.in)
			continue
		}
		require.NoError(t, err, tc.in)
		require.Equal(t, tc.want, got, tc.in)
	}
}

// FuzzAmountRoundTrip: any decimal string either converts to minor units
// and back to the same value exactly, or is refused with ErrInvalidAmount.
func FuzzAmountRoundTrip(f *testing.F) {
	for _, s := range []string{"1", "0.5", "12.345678", "-1", "0", "9223372036854775807", "1e-7", "123456789.123456789"} {
		f.Add(s, int32(2))
	}
	f.Fuzz(func(t *testing.T, s string, scale int32) {
		d, err := decimal.NewFromString(s)
		if err != nil {
			return
		}
		scale = ((scale % (MaxScale + 1)) + MaxScale + 1) % (MaxScale + 1)
		minor, err := toMinor(d, scale, true)
		if e := d.Exponent(); e > 100 || e < -100 {
			// Past any int64: must be refused (quickly: the fuzzer times
			// out otherwise), and the oracle below would itself be slow.
			if err == nil {
				require.True(t, toDecimal(minor, scale).Equal(d))
			}
			return
		}
		if err != nil {
			require.ErrorIs(t, err, ErrInvalidAmount)
			// Refused only for a reason: not positive, too many places, or
			// too large.
			tooPrecise := !d.Shift(scale).IsInteger()
			tooLarge := d.Shift(scale).GreaterThan(decimal.NewFromInt(math.MaxInt64))
			require.True(t, !d.IsPositive() || tooPrecise || tooLarge, "refused %s at scale %d: %v", s, scale, err)
			return
		}
		require.Positive(t, minor)
		back := toDecimal(minor, scale)
		require.True(t, back.Equal(d), "%s -> %d -> %s at scale %d", s, minor, back, scale)
	})
}
