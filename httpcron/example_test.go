package httpcron_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"github.com/creditledger/creditledger/httpcron"
	"github.com/creditledger/creditledger/ledger"
	"github.com/creditledger/creditledger/policy"
	"github.com/creditledger/creditledger/storage/memory"
)

func Example() {
	h, err := httpcron.NewHandler(&httpcron.Options{
		Username: "cron",
		Password: "change:me", // a ':' in the password is fine
		// A real host calls its ledger here:
		//	return l.Distribute(ctx, &ledger.DistributeOpts{})
		Run: func(ctx context.Context) (*ledger.DistributeResult, error) {
			return &ledger.DistributeResult{
				Accounts:       321,
				Processed:      321,
				Granted:        300,
				Expired:        12,
				GrantedCredits: decimal.NewFromInt(30000),
				ExpiredCredits: decimal.NewFromInt(410),
				Complete:       true,
				Duration:       6870 * time.Millisecond,
			}, nil
		},
		Logger: slog.New(slog.DiscardHandler), // hosts pass their own logger
	})
	if err != nil {
		fmt.Println(err)
		return
	}

	mux := http.NewServeMux()
	mux.Handle("/api/distribute-credits", h)

	// What cron-job.org sends: GET with HTTP Basic credentials.
	req := httptest.NewRequest(http.MethodGet, "/api/distribute-credits", nil)
	req.SetBasicAuth("cron", "change:me")
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, req)

	fmt.Println(rec.Code)
	fmt.Print(rec.Body.String())
	// Output:
	// 200
	// {"message":"distribute credits success, users: 321, processed: 321, errors: 0","usersCount":321,"processedCount":321,"errorCount":0,"grantedCount":300,"expiredCount":12,"grantedCredits":"30000","expiredCredits":"410","complete":true,"durationMs":6870}
}

// Example_serveMux mounts the handler on the standard mux in front of a
// real ledger (an in-memory store here; bunstore in production) and calls
// it as the scheduler does.
func Example_serveMux() {
	l, err := ledger.New(memory.New(), &ledger.Config{
		Catalog: policy.ReferenceCatalog(),
		Now:     func() time.Time { return time.Date(2026, 11, 10, 12, 0, 0, 0, time.UTC) },
		Logger:  slog.New(slog.DiscardHandler),
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	// A new account is on the catalog's default plan ("free"), which owes
	// it 50 credits this month.
	if _, err := l.Grant(context.Background(), ledger.GrantParams{Account: "alice", IdempotencyKey: "welcome-alice", Amount: decimal.NewFromInt(5)}); err != nil {
		fmt.Println(err)
		return
	}

	h, err := httpcron.NewHandler(&httpcron.Options{
		Username: "cron",
		Password: "change:me",
		Run: func(ctx context.Context) (*ledger.DistributeResult, error) {
			return l.Distribute(ctx, &ledger.DistributeOpts{})
		},
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	mux := http.NewServeMux()
	mux.Handle("/api/distribute-credits", h) // no method in the pattern: the handler answers 405 itself

	call := func(method string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(method, "/api/distribute-credits", nil)
		req.SetBasicAuth("cron", "change:me")
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, req)
		return rec
	}
	rec := call(http.MethodGet)
	var out httpcron.Response
	if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(rec.Code, out.Message)
	fmt.Println("granted:", out.GrantedCount, "lots,", out.GrantedCredits, "credits; complete:", out.Complete)

	bal, err := l.Balance(context.Background(), "alice")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("alice:", bal.Available)

	rec = call(http.MethodDelete)
	fmt.Println(rec.Code, rec.Header().Get("Allow"), strings.TrimSpace(rec.Body.String()))
	// Output:
	// 200 distribute credits success, users: 1, processed: 1, errors: 0
	// granted: 1 lots, 50 credits; complete: true
	// alice: 55
	// 405 GET, POST {"error":"method not allowed","code":"method_not_allowed"}
}
