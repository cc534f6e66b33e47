package id

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestIdsIncrease(t *testing.T) {
	t.Parallel()
	var g Generator
	now := time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC)
	prev := g.New(now)
	require.Len(t, prev, 26)
	for i := range 10000 {
		at := now
		switch i % 3 {
		case 1:
			at = now.Add(-time.Hour) // the clock stepped back
		case 2:
			now = now.Add(time.Millisecond)
			at = now
		}
		next := g.New(at)
		require.Greater(t, next, prev)
		prev = next
	}
}

func TestIncrementCarries(t *testing.T) {
	t.Parallel()
	b := [16]byte{0, 0, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	increment(&b)
	require.Equal(t, [16]byte{0, 0, 0, 0, 0, 2}, b)
}
