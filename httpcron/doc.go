// Package httpcron is the HTTP endpoint an external scheduler calls to run
// the credit distribution (expire due lots, grant the monthly credits that
// are due). It is a plain net/http handler; the host mounts it on its own
// mux and supplies the run:
//
//	opts := httpcron.OptionsFromEnv() // CRON_JOBS_USERNAME, CRON_JOBS_PASSWORD, CRON_JOBS_TOKEN
//	opts.Run = func(ctx context.Context) (*ledger.DistributeResult, error) {
//		return l.Distribute(ctx, &ledger.DistributeOpts{})
//	}
//	h, err := httpcron.NewHandler(opts)
//	if err != nil {
//		log.Fatal(err) // e.g. the credentials are not set: fail closed
//	}
//	mux.Handle("/api/distribute-credits", h)
//
// # Mounting on a router
//
// The handler is a plain [http.Handler] that ignores the request path and
// answers every method itself (405 with Allow for those other than GET and
// POST), so any router mounts it for all methods on the path of your
// choice; none of these routers is a dependency of this package.
//
// The standard library's [http.ServeMux] (see the examples): register the
// path without a method, so that other methods get the handler's JSON 405
// rather than the mux's plain-text one:
//
//	mux.Handle("/api/distribute-credits", h)
//
// chi (github.com/go-chi/chi/v5), at the top level or inside a Route
// group:
//
//	r := chi.NewRouter()
//	r.Handle("/api/distribute-credits", h)
//
// echo (github.com/labstack/echo/v4), through its adapter for an
// http.Handler:
//
//	e := echo.New()
//	e.Any("/api/distribute-credits", echo.WrapHandler(h))
//
// gin (github.com/gin-gonic/gin), likewise:
//
//	r := gin.New()
//	r.Any("/api/distribute-credits", gin.WrapH(h))
//	// or in a group: r.Group("/api").Any("/distribute-credits", gin.WrapH(h))
//
// With any of them: keep the router's own authentication off this route
// (the handler checks the cron credentials itself, and a middleware that
// consumes or rewrites the Authorization header breaks it), and give any
// timeout middleware more than Options.Budget (25 s by default), or the
// run's answer may be cut off after it has done its work.
//
// # Scheduler setup (cron-job.org)
//
// Create a job with URL https://your-host/api/distribute-credits, method
// GET (POST works too), the schedule you like (once a day is enough: each
// run grants whatever is due; the time zone does not matter), request
// timeout 30 s, and under "Advanced" HTTP authentication (Basic) with the
// values of CRON_JOBS_USERNAME and CRON_JOBS_PASSWORD. A scheduler that
// can only send a fixed header may instead send
// "Authorization: Bearer <CRON_JOBS_TOKEN>" when a BearerToken is set.
// Treat any answer other than 200 as a failure.
//
// # Authentication
//
// Every request must carry the configured credentials; NewHandler refuses
// to build a handler without any ([ErrNoCredentials]), so a deployment
// that forgot its environment does not serve an open endpoint. The
// username, password and token are compared in constant time (over
// SHA-256 digests, so lengths do not leak), and the password may contain
// ':' (the Basic value is split at its first ':'). Credentials are checked
// before the method, so an unauthenticated request always gets the same
// answer: 401, "WWW-Authenticate: Basic realm="Secure Area"" and the body
// {"error":"unauthorized"}.
//
// # Answers
//
// All bodies are JSON, with "Cache-Control: no-store". A run that happened
// answers 200 with a [Response]:
//
//	{"message":"distribute credits success, users: 321, processed: 320, errors: 1",
//	 "usersCount":321,"processedCount":320,"errorCount":1,
//	 "grantedCount":300,"expiredCount":12,"grantedCredits":"29500","expiredCredits":"410",
//	 "complete":true,"durationMs":6870}
//
// usersCount is the number of accounts examined, processedCount those done
// without error, errorCount those that failed (the reasons are in the
// ledger's log), grantedCount and expiredCount the lots granted and expired
// by this call, grantedCredits and expiredCredits their credits as decimal
// strings, durationMs the run's duration in milliseconds. The first four
// fields are the reference system's, so existing monitors keep working.
// complete is false when the budget ran out with work left: the next call
// goes on where this one stopped, so a 200 with "complete":false is
// progress, not failure.
//
// The other answers carry an [ErrorResponse]:
//
//   - 401 {"error":"unauthorized"}: missing or wrong credentials, see above.
//   - 405 {"error":"method not allowed"}: a method other than GET or POST
//     (after authentication), with "Allow: GET, POST".
//   - 409 {"error":"a distribution run is already in progress"}: this
//     handler is already running the job (a manual test call overlapping
//     the scheduled one, or a scheduler retry after a timeout). The answer
//     is immediate rather than queued, because a second run right after
//     the first would find nothing left to do, and a queued request would
//     only eat the caller's timeout. The guard is per handler instance;
//     several replicas running at once are safe anyway, the ledger shares
//     the work through the database.
//   - 500 {"error":"distribute credits failed"}: Run returned an error (or
//     panicked, or returned neither a result nor an error). The detail is
//     logged at Error level, never sent.
//
// # Budget
//
// Run gets a context whose deadline is Budget (default 25 s) away, set
// when the request has been authenticated, just before Run is called. The ledger's Distribute starts no chunk of accounts
// that it cannot finish before that deadline and then returns
// Complete: false, so the answer is written well inside cron-job.org's
// 30 s timeout, leaving 5 s for the last chunk's commit, the network and
// the response. A scheduler that times out sees a failure and may retry
// into a still-running job; a run that stops in time reports honestly and
// is continued by the next call. Raise Budget only together with the
// scheduler's timeout. The context is also cancelled when the client goes
// away.
//
// # Logging
//
// The handler logs through log/slog (Options.Logger, default
// slog.Default()): one Info record per run with the counts and duration,
// Error for a failed run, Warn for refused requests (unauthorized, or 409).
// No record holds a credential, the Authorization header or a part of it.
package httpcron
