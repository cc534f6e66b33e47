package main

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The context ends once the parent changes, and not before.
func TestExitWithParent(t *testing.T) {
	t.Parallel()
	var polls atomic.Int32
	ppid := func() int {
		if polls.Add(1) > 3 { // the first call is the one at start
			return 1 // handed to init
		}
		return 4242
	}
	gone := make(chan struct{}, 2)
	ctx := exitWithParent(context.Background(), time.Millisecond, ppid, func() { gone <- struct{}{} })
	select {
	case <-ctx.Done():
	case <-time.After(30 * time.Second):
		t.Fatal("the context outlived its parent")
	}
	require.Len(t, gone, 1, "gone is called once")
	require.EqualValues(t, 4, polls.Load(), "it stopped at the first poll that saw another parent")

	// A parent that stays: only the outer context ends it.
	outer, cancel := context.WithCancel(context.Background())
	polls.Store(0)
	ctx = exitWithParent(outer, time.Millisecond, func() int { polls.Add(1); return 7 }, func() { t.Error("gone called") })
	for polls.Load() < 10 {
		time.Sleep(time.Millisecond)
	}
	require.NoError(t, ctx.Err(), "ten polls of the same parent")
	cancel()
	<-ctx.Done()
}
