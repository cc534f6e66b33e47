package httpcron_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/shopspring/decimal"

	"github.com/creditledger/creditledger/httpcron"
	"github.com/creditledger/creditledger/ledger"
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
