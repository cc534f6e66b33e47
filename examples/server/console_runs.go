package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"time"

	"github.com/creditledger/creditledger/httpcron"
	"github.com/creditledger/creditledger/ledger"
)

// keptRuns is how many distribution runs the console remembers.
const keptRuns = 10

// runRecord is one distribution run as the console shows it.
type runRecord struct {
	Trigger  string // "console" (Run now) or "cron" (the HTTP endpoint)
	Started  time.Time
	Duration time.Duration
	Result   *ledger.DistributeResult // nil when the run failed
	Failed   bool                     // the detail is in the server's log
	// Progress is the run's totals after its last committed chunk, while
	// it goes on; nil before the first.
	Progress *ledger.DistributeProgress
}

// runLog remembers the last runs of the distribution, whoever started
// them, and the one in progress. It lives in memory: a restart forgets it.
type runLog struct {
	now     func() time.Time // the clock of Started; nil: time.Now
	mu      sync.Mutex
	running *runRecord // in progress, nil when none
	last    []runRecord
}

// triggerKey is the context key under which the console marks its runs.
type triggerKey struct{}

// track runs run (the distribution) and records it; run passes progress
// to DistributeOpts.Progress, so that the page shows how far it is.
func (g *runLog) track(ctx context.Context,
	run func(ctx context.Context, progress func(ledger.DistributeProgress)) (*ledger.DistributeResult, error),
) (*ledger.DistributeResult, error) {
	trigger, _ := ctx.Value(triggerKey{}).(string)
	if trigger == "" {
		trigger = "cron"
	}
	now := g.now
	if now == nil {
		now = time.Now
	}
	rec := runRecord{Trigger: trigger, Started: now()}
	running := rec // a copy: rec is written below without the lock
	g.mu.Lock()
	g.running = &running
	g.mu.Unlock()

	res, err := run(ctx, func(p ledger.DistributeProgress) {
		g.mu.Lock()
		defer g.mu.Unlock()
		if g.running == &running {
			running.Progress = &p
		}
	})

	rec.Duration = now().Sub(rec.Started)
	if err != nil || res == nil {
		rec.Failed = true
	} else {
		rec.Result = res
	}
	g.mu.Lock()
	g.running = nil
	g.last = append([]runRecord{rec}, g.last...)
	if len(g.last) > keptRuns {
		g.last = g.last[:keptRuns]
	}
	g.mu.Unlock()
	return res, err
}

// snapshot returns the run in progress (nil when none) and the last runs,
// newest first.
func (g *runLog) snapshot() (*runRecord, []runRecord) {
	g.mu.Lock()
	defer g.mu.Unlock()
	var running *runRecord
	if g.running != nil {
		r := *g.running // Progress is replaced, never changed in place
		running = &r
	}
	return running, append([]runRecord(nil), g.last...)
}

// cronAnswer is what the cron endpoint answered a console's Run now.
type cronAnswer struct {
	Status int
	OK     *httpcron.Response
	Error  string
}

// runNow calls the cron endpoint in-process, through the same handler and
// with the same credentials as the scheduler, and returns its answer.
func (s *server) runNow(ctx context.Context) cronAnswer {
	ctx = context.WithValue(ctx, triggerKey{}, "console")
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "/api/distribute-credits", http.NoBody)
	if err != nil { // not reached: the method and URL are constants
		return cronAnswer{Status: http.StatusInternalServerError, Error: err.Error()}
	}
	req.RemoteAddr = "console"
	if s.creds.Username != "" {
		req.SetBasicAuth(s.creds.Username, s.creds.Password)
	} else {
		req.Header.Set("Authorization", "Bearer "+s.creds.BearerToken)
	}
	rec := httptest.NewRecorder()
	s.cron.ServeHTTP(rec, req)
	out := cronAnswer{Status: rec.Code}
	if rec.Code == http.StatusOK {
		var ok httpcron.Response
		if err := json.Unmarshal(rec.Body.Bytes(), &ok); err == nil {
			out.OK = &ok
			return out
		}
	}
	var e httpcron.ErrorResponse
	if err := json.Unmarshal(rec.Body.Bytes(), &e); err == nil && e.Error != "" {
		out.Error = e.Error
	} else {
		out.Error = "HTTP " + strconv.Itoa(rec.Code)
	}
	return out
}
