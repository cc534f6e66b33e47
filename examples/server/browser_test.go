package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/shopspring/decimal"
	"github.com/stretchr/testify/require"

	"github.com/creditledger/creditledger/ledger"
)

// browserPaths are the Chromium (or Chrome) binaries the browser test
// looks for, in order; $CHROMIUM names another.
var browserPaths = []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "headless-shell"}

// findBrowser returns the path of a Chromium binary, or "" when there is
// none.
func findBrowser() string {
	if p := os.Getenv("CHROMIUM"); p != "" {
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	for _, name := range browserPaths {
		if path, err := exec.LookPath(name); err == nil {
			return path
		}
	}
	return ""
}

// TestConsoleInBrowser drives a real headless Chromium through the
// console as an evaluator would: the accounts page, one account, the
// login, a pack and an amount granted and a consume through the forms
// (holds and a capture too when that feature is compiled in), a
// distribution run; it checks what the page shows after each, and saves
// screenshots at 1280 and 375 px under the test's temporary folder (or
// the folder $CREDITLEDGER_SCREENSHOTS names, to keep them), the charts
// of a ledger that has lived three months among them. With
// CREDITLEDGER_CONSOLE_PNG set it also writes that ledger's chart account
// at 1280 px there, and console-375.png and console-runs.png beside it
// (how docs/console*.png are made).
//
// Without a browser it skips, except under CI=true, where it fails:
// .ci/run installs Debian's chromium.
func TestConsoleInBrowser(t *testing.T) {
	exe := findBrowser()
	if exe == "" {
		msg := "no Chromium found (looked for $CHROMIUM, " + strings.Join(browserPaths, ", ") +
			"); install it with apt-get install -y chromium"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	e := newConsole(t)
	// A host granted credits to an account without setting its plan: the
	// distribution owes it the free plan's 50 this month.
	_, err := e.l.Grant(context.Background(), ledger.GrantParams{Account: "acme-team-42", Amount: decimal.NewFromInt(5),
		IdempotencyKey: "welcome", Source: "promo"})
	require.NoError(t, err)
	shots := t.TempDir()
	if dir := os.Getenv("CREDITLEDGER_SCREENSHOTS"); dir != "" {
		shots = dir // to look at them after the test
	}

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe),
		chromedp.Headless,
		chromedp.NoSandbox, // CI runs as root, where Chromium's sandbox refuses to start
		chromedp.DisableGPU,
		chromedp.Flag("disable-dev-shm-usage", true), // containers often have a tiny /dev/shm
		chromedp.Flag("hide-scrollbars", true),
		chromedp.Flag("font-render-hinting", "none"),
		chromedp.WindowSize(1280, 900),
	)
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancel()
	ctx, cancel := chromedp.NewContext(actx, chromedp.WithLogf(t.Logf))
	defer cancel()
	ctx, cancel = context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()

	run := func(what string, actions ...chromedp.Action) {
		t.Helper()
		require.NoError(t, chromedp.Run(ctx, actions...), what)
	}
	textOf := func(sel string) string {
		t.Helper()
		var s string
		run("read "+sel, chromedp.Text(sel, &s, chromedp.ByQuery))
		return strings.TrimSpace(s)
	}
	shoot := func(name string, width int64) string {
		t.Helper()
		var png []byte
		run("screenshot "+name,
			chromedp.EmulateViewport(width, 900),
			chromedp.FullScreenshot(&png, 100)) // quality 100: a PNG
		path := filepath.Join(shots, name)
		require.NoError(t, os.WriteFile(path, png, 0o644))
		t.Logf("screenshot: %s (%d bytes)", path, len(png))
		return path
	}
	// shootElement saves a screenshot of the element sel only.
	shootElement := func(name, sel string) {
		t.Helper()
		var png []byte
		run("screenshot "+sel, chromedp.Screenshot(sel, &png, chromedp.ByQuery))
		path := filepath.Join(shots, name)
		require.NoError(t, os.WriteFile(path, png, 0o644))
		t.Logf("screenshot: %s (%d bytes)", path, len(png))
	}
	// noOverflow checks that the page does not scroll sideways at its
	// width: long ids and tables wrap or scroll inside their box.
	noOverflow := func(what string) {
		t.Helper()
		var fits bool
		run("measure "+what, chromedp.Evaluate(`document.documentElement.scrollWidth <= window.innerWidth`, &fits))
		require.True(t, fits, "%s is wider than the window", what)
	}

	// The accounts page: the demo accounts and the totals.
	run("open the accounts page",
		chromedp.Navigate(e.srv.URL+"/"),
		chromedp.WaitVisible(`#accounts`, chromedp.ByQuery))
	require.Equal(t, "5", textOf(`#total-accounts`))
	require.Equal(t, "2655", textOf(`#total-available`))
	require.Contains(t, textOf(`#accounts`), "demo-free-1")

	// One account, read without signing in.
	run("open an account",
		submit(`a[href="/accounts/demo-free-1"]`),
		chromedp.WaitVisible(`#account-id`, chromedp.ByQuery))
	require.Equal(t, "demo-free-1", textOf(`#account-id`))
	require.Equal(t, "200", textOf(`#available`))

	// Sign in from the account page; the login comes back to it.
	run("sign in",
		submit(`#sign-in-to-act`),
		chromedp.WaitVisible(`#token`, chromedp.ByQuery),
		chromedp.SendKeys(`#token`, adminToken, chromedp.ByQuery),
		submit(`#sign-in`),
		chromedp.WaitVisible(`#grant-pack`, chromedp.ByQuery))
	require.Equal(t, "demo-free-1", textOf(`#account-id`))

	// A pack, an amount that expires in 3 days, a consume.
	run("grant a pack",
		chromedp.SetValue(`#pack`, "basic", chromedp.ByQuery),
		submit(`#grant-pack button`),
		chromedp.WaitVisible(`#flash-notice`, chromedp.ByQuery))
	require.Contains(t, textOf(`#flash-notice`), "Granted pack basic: 300 credits available now")
	require.Equal(t, "300", textOf(`#available`))

	run("grant an amount",
		chromedp.SendKeys(`#grant-amount-value`, "25", chromedp.ByQuery),
		chromedp.SendKeys(`#grant-days`, "3", chromedp.ByQuery),
		chromedp.SendKeys(`#grant-source`, "support", chromedp.ByQuery),
		submit(`#grant-amount button`),
		chromedp.WaitVisible(`#flash-notice`, chromedp.ByQuery))
	require.Equal(t, "325", textOf(`#available`))
	require.Equal(t, "25", textOf(`#expiring`))
	require.Contains(t, textOf(`#lots`), "(in 2d 23h)")

	run("consume",
		chromedp.SendKeys(`#consume-amount`, "30", chromedp.ByQuery),
		chromedp.SendKeys(`#consume-description`, "one AI call", chromedp.ByQuery),
		submit(`#consume button`),
		chromedp.WaitVisible(`#flash-notice`, chromedp.ByQuery))
	require.Contains(t, textOf(`#flash-notice`), "Consumed 30 credits: 295 credits available now")
	require.Equal(t, "295", textOf(`#available`))
	hist := textOf(`#history tbody`)
	require.Contains(t, hist, "consume")
	require.Contains(t, hist, "-25")
	require.Contains(t, hist, "one AI call")
	require.Contains(t, hist, "+25")
	require.Contains(t, hist, "+100")

	// A refused form says why and changes nothing.
	run("consume too much",
		chromedp.SendKeys(`#consume-amount`, "1000", chromedp.ByQuery),
		submit(`#consume button`),
		chromedp.WaitVisible(`#flash-error`, chromedp.ByQuery))
	require.Contains(t, textOf(`#flash-error`), "insufficient credits")
	require.Contains(t, textOf(`#flash-error`), "Nothing was written.")
	require.Equal(t, "295", textOf(`#available`))

	for _, step := range featureBrowserSteps {
		step(t, ctx, textOf)
	}
	// The other accounts hold 2455; the totals below add this one.
	total := decimal.RequireFromString(textOf(`#available`)).Add(decimal.NewFromInt(2455))

	noOverflow("the account page at 1280 px")
	shoot("account-1280.png", 1280)
	run("narrow", chromedp.EmulateViewport(375, 812))
	noOverflow("the account page at 375 px")
	shoot("account-375.png", 375)

	// The charts, on a ledger that has lived three months: at each width
	// the size drawn for it shows, close to its own scale, so that its
	// labels keep their size.
	story := newChartStory(t)
	chartFits := func(sel string, width int64, class string) {
		t.Helper()
		var got struct {
			Class string  `json:"class"`
			Scale float64 `json:"scale"`
			Shown int     `json:"shown"`
		}
		run("measure "+sel, chromedp.Evaluate(`(() => {
			const shown = [...document.querySelectorAll('`+sel+` svg')].filter(s => getComputedStyle(s).display !== 'none');
			const s = shown[0];
			return {class: s.getAttribute('class'), scale: s.getBoundingClientRect().width / s.viewBox.baseVal.width, shown: shown.length};
		})()`, &got))
		require.Equal(t, 1, got.Shown, "%s at %d px shows one size", sel, width)
		require.Equal(t, class, got.Class, "%s at %d px", sel, width)
		require.InDelta(t, 1, got.Scale, 0.12, "%s at %d px is drawn near its own scale", sel, width)
	}
	for _, w := range []struct {
		width int64
		class string
	}{{1280, "chart-l"}, {375, "chart-s"}} {
		run("the chart account", chromedp.EmulateViewport(w.width, 900),
			chromedp.Navigate(story.srv.URL+"/accounts/"+chartAccount),
			chromedp.WaitVisible(`#balance-chart`, chromedp.ByQuery))
		chartFits("#balance-chart", w.width, w.class)
		noOverflow("the chart account's page")
		shoot(fmt.Sprintf("chart-account-%d.png", w.width), w.width)
		shootElement(fmt.Sprintf("chart-balance-%d.png", w.width), "#balance-chart")
		run("the chart's accounts page", chromedp.Navigate(story.srv.URL+"/#distribution"),
			chromedp.WaitVisible(`#runs-chart`, chromedp.ByQuery))
		chartFits("#runs-chart", w.width, w.class)
		noOverflow("the runs chart's page")
		shoot(fmt.Sprintf("chart-runs-%d.png", w.width), w.width)
		shootElement(fmt.Sprintf("chart-runs-only-%d.png", w.width), "#runs-chart")
	}
	if dst := os.Getenv("CREDITLEDGER_CONSOLE_PNG"); dst != "" {
		// docs/console.png (the top of the chart account's page at 1280
		// px), and beside it console-375.png (the same on a phone) and
		// console-runs.png (the runs chart).
		docs := func(name string, actions ...chromedp.Action) {
			t.Helper()
			var png []byte
			run("docs screenshot "+name, append(actions, chromedp.CaptureScreenshot(&png))...)
			path := filepath.Join(filepath.Dir(dst), name)
			if name == "console.png" {
				path = dst
			}
			require.NoError(t, os.WriteFile(path, png, 0o644))
			t.Logf("docs screenshot: %s (%d bytes)", path, len(png))
		}
		page := story.srv.URL + "/accounts/" + chartAccount
		docs("console.png", chromedp.EmulateViewport(1280, 900), chromedp.Navigate(page),
			chromedp.WaitVisible(`#balance-chart`, chromedp.ByQuery))
		docs("console-375.png", chromedp.EmulateViewport(375, 700), chromedp.Navigate(page),
			chromedp.WaitVisible(`#balance-chart`, chromedp.ByQuery))
		var png []byte
		run("docs screenshot of the runs chart", chromedp.EmulateViewport(1280, 900),
			chromedp.Navigate(story.srv.URL+"/"), chromedp.WaitVisible(`#runs-chart`, chromedp.ByQuery),
			chromedp.Screenshot(`#runs-chart`, &png, chromedp.ByQuery))
		path := filepath.Join(filepath.Dir(dst), "console-runs.png")
		require.NoError(t, os.WriteFile(path, png, 0o644))
		t.Logf("docs screenshot: %s (%d bytes)", path, len(png))
	}
	run("back", chromedp.EmulateViewport(1280, 900))

	// A distribution run from the page, back at 1280 px.
	run("run the distribution",
		chromedp.EmulateViewport(1280, 900),
		chromedp.Navigate(e.srv.URL+"/"),
		chromedp.WaitVisible(`#run-now`, chromedp.ByQuery),
		submit(`#run-now`),
		chromedp.WaitVisible(`#flash-notice`, chromedp.ByQuery))
	require.Contains(t, textOf(`#flash-notice`), "distribute credits success, users: 1, processed: 1, errors: 0; 1 lot granted (50 credits)")
	require.Contains(t, textOf(`#runs tbody`), "console")
	require.Equal(t, total.Add(decimal.NewFromInt(50)).String(), textOf(`#total-available`))

	// A metered call in flight elsewhere: the totals show what it holds.
	_, err = e.l.Hold(context.Background(), ledger.HoldParams{Account: "acme-team-42", Amount: decimal.NewFromInt(12),
		TTL: time.Hour, Description: "an AI call"})
	require.NoError(t, err)
	run("reload",
		chromedp.Navigate(e.srv.URL+"/"),
		chromedp.WaitVisible(`#accounts`, chromedp.ByQuery))
	require.Equal(t, "12", textOf(`#total-held`))
	require.Equal(t, total.Add(decimal.NewFromInt(50-12)).String(), textOf(`#total-available`))

	noOverflow("the accounts page at 1280 px")
	shoot("accounts-1280.png", 1280)
	// An id of 255 bytes without a space wraps instead of widening the
	// pages on a phone.
	longID := strings.Repeat("long-id-", 31) + "end12"
	_, err = e.l.Grant(context.Background(), ledger.GrantParams{Account: longID, Amount: decimal.NewFromInt(5), IdempotencyKey: "long"})
	require.NoError(t, err)
	run("narrow",
		chromedp.EmulateViewport(375, 812),
		chromedp.Navigate(e.srv.URL+"/"),
		chromedp.WaitVisible(`#accounts`, chromedp.ByQuery))
	require.Contains(t, textOf(`#accounts`), longID)
	noOverflow("the accounts page at 375 px")
	shoot("accounts-375.png", 375)
	run("the long id's page",
		submit(`a[href="/accounts/`+longID+`"]`),
		chromedp.WaitVisible(`#account-id`, chromedp.ByQuery))
	require.Equal(t, longID, textOf(`#account-id`))
	noOverflow("a 255-byte id's page at 375 px")

	// An account named ".." has a link that Chromium does not resolve to
	// the accounts page.
	_, err = e.l.Grant(context.Background(), ledger.GrantParams{Account: "..", Amount: decimal.NewFromInt(9), IdempotencyKey: "dots"})
	require.NoError(t, err)
	run("the .. account's page",
		chromedp.Navigate(e.srv.URL+"/"),
		chromedp.WaitVisible(`#accounts`, chromedp.ByQuery),
		chromedp.Evaluate(`document.body.dataset.stale = "1"`, nil),
		chromedp.Click(`//table[@id="accounts"]//a[code[text()=".."]]`, chromedp.BySearch),
		chromedp.WaitNotPresent(`body[data-stale]`, chromedp.ByQuery),
		chromedp.WaitVisible(`#account-id`, chromedp.ByQuery))
	require.Equal(t, "..", textOf(`#account-id`))
	require.Equal(t, "9", textOf(`#available`))
}

// submit clicks sel, which sends a form or follows a link, and waits for
// the next page: the current one is marked first, so that its elements
// are never mistaken for the next page's.
func submit(sel string) chromedp.Action {
	return chromedp.Tasks{
		chromedp.Evaluate(`document.body.dataset.stale = "1"`, nil),
		chromedp.Click(sel, chromedp.ByQuery),
		chromedp.WaitNotPresent(`body[data-stale]`, chromedp.ByQuery),
		chromedp.WaitReady(`body`, chromedp.ByQuery),
	}
}

// featureBrowserSteps are the browser test's steps of the features of
// compiledFeatures (console_holds.go adds a hold and a capture), run on the
// account page of demo-free-1, signed in, with 295 credits available.
var featureBrowserSteps = []func(t *testing.T, ctx context.Context, textOf func(sel string) string){
	holdsBrowserStep,  // console_holds_test.go
	eventsBrowserStep, // console_events_test.go
}
