package main

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/creditledger/creditledger/ledger"
)

// eventsBrowserStep is the events feature's step of the browser test: a
// consume that crosses the threshold (20) shows a balance.low event on
// the account page and on the events page, pending (no webhook here).
// It starts and ends on demo-free-1's page, signed in, 280 available.
func eventsBrowserStep(t *testing.T, ctx context.Context, textOf func(string) string) {
	step := func(what string, actions ...chromedp.Action) {
		t.Helper()
		require.NoError(t, chromedp.Run(ctx, actions...), what)
	}
	require.NotContains(t, textOf(`#account-events`), "balance.low")
	step("consume below the threshold",
		chromedp.SendKeys(`#consume-amount`, "270", chromedp.ByQuery),
		submit(`#consume button`),
		chromedp.WaitVisible(`#flash-notice`, chromedp.ByQuery))
	require.Equal(t, "10", textOf(`#available`))
	events := textOf(`#account-events`)
	require.Contains(t, events, "balance.low")
	require.Contains(t, events, "pending")
	var url string
	step("where we are", chromedp.Location(&url))
	base := strings.SplitN(url, "/accounts/", 2)[0]
	step("the events page",
		chromedp.Navigate(base+"/events"),
		chromedp.WaitVisible(`#all-events`, chromedp.ByQuery))
	require.Contains(t, textOf(`#all-events`), "balance.low")
	require.Contains(t, textOf(`#all-events`), "demo-free-1")
	require.NotEqual(t, "0", textOf(`#events-pending`))
	step("back to the account",
		chromedp.Navigate(base+"/accounts/demo-free-1"),
		chromedp.WaitVisible(`#account-events`, chromedp.ByQuery))
}

// The events page and the account's section without a browser: every
// write's events, newest first, with their delivery state.
func TestConsoleEvents(t *testing.T) {
	t.Parallel()
	e := newConsole(t)
	b := e.browser(t)
	b.login()
	status, page := b.get("/events")
	require.Equal(t, http.StatusOK, status)
	require.Contains(t, page, "credits.granted", "the seed's grants")
	require.Contains(t, page, "No webhook")
	bal, err := e.l.Balance(context.Background(), "demo-free-1")
	require.NoError(t, err)
	_, err = e.l.Consume(context.Background(), ledger.ConsumeParams{Account: "demo-free-1", Amount: bal.Available.Sub(decimal.NewFromInt(1))})
	require.NoError(t, err)
	_, page = b.get("/accounts/demo-free-1")
	require.Contains(t, page, `id="account-events"`)
	require.Contains(t, page, "balance.low")
	require.Contains(t, page, `class="state">pending<`)
	_, page = b.get("/events")
	require.Contains(t, page, "balance.low")
}
