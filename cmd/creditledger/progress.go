package main

import (
	"fmt"
	"io"
	"os"
	"time"

	"github.com/mattn/go-isatty"
	"github.com/schollz/progressbar/v3"

	"github.com/creditledger/creditledger/ledger"
)

// How distribute shows its progress on stderr.
const (
	progressBar   = "bar"
	progressLines = "lines"
	progressNone  = "none"
)

// progressMode resolves -progress: auto is a bar when stderr is a
// terminal, lines otherwise (a log, a pipe, a test).
func progressMode(flagValue string, stderr io.Writer) (string, error) {
	switch flagValue {
	case "auto":
		if f, ok := stderr.(*os.File); ok && (isatty.IsTerminal(f.Fd()) || isatty.IsCygwinTerminal(f.Fd())) {
			return progressBar, nil
		}
		return progressLines, nil
	case progressBar, progressLines, progressNone:
		return flagValue, nil
	default:
		return "", usagef("-progress %q is not auto, bar, lines or none", flagValue)
	}
}

// progress shows a distribution's progress. The ledger calls update
// after each committed chunk, one call at a time.
type progress struct {
	mode  string
	w     io.Writer
	bar   *progressbar.ProgressBar
	every time.Duration // lines mode: at most one line per every
	last  time.Time
	n     int // lines printed
}

func newProgress(mode string, w io.Writer) *progress {
	p := &progress{mode: mode, w: w, every: time.Second}
	if mode == progressBar {
		// The number of due accounts is not known ahead (Remaining is
		// -1), so the bar is a spinner with a count and a rate.
		p.bar = progressbar.NewOptions(-1,
			progressbar.OptionSetWriter(w),
			progressbar.OptionSetDescription("distributing"),
			progressbar.OptionSetItsString("accounts"),
			progressbar.OptionShowIts(),
			progressbar.OptionShowCount(),
			progressbar.OptionSetElapsedTime(true),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionClearOnFinish(),
		)
	}
	return p
}

func (p *progress) update(d ledger.DistributeProgress) {
	switch p.mode {
	case progressBar:
		p.bar.Describe(fmt.Sprintf("distributing: %d granted, %d expired, %d errors", d.Granted, d.Expired, d.Errors))
		_ = p.bar.Set(d.Accounts)
	case progressLines:
		now := time.Now()
		if p.n > 0 && now.Sub(p.last) < p.every {
			return
		}
		p.last = now
		p.n++
		fmt.Fprintf(p.w, "distribute: chunk %d: %d accounts (%d errors), %d lots granted (%s credits), %d expired (%s credits), %s\n",
			d.Chunks, d.Accounts, d.Errors, d.Granted, d.GrantedCredits, d.Expired, d.ExpiredCredits, d.Elapsed.Round(time.Millisecond))
	}
}

// finish clears the bar; the result line follows on stdout.
func (p *progress) finish() {
	if p.bar != nil {
		_ = p.bar.Finish()
	}
}
