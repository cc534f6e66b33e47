// Package httpcron is the HTTP endpoint an external scheduler calls to run
// the credit distribution (expire due lots, grant the credits that are
// due). It is a plain net/http handler; the host mounts it on its own mux
// and supplies the run:
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
// Every request must carry the credentials (HTTP Basic, or a bearer
// token), compared in constant time; GET and POST run the job, at most one
// at a time per handler, within [Options.Budget]. A run answers 200 with a
// [Response], a superset of MkSaaS's; a refusal or failure answers an
// [ErrorResponse], {"error":"unauthorized","code":"unauthorized"}. Logs go
// through log/slog and never hold a credential.
//
// docs/HTTPCRON.md in the repository has the rest: mounting on chi, echo
// or gin, setting up cron-job.org, every answer, how the budget keeps a
// run inside a scheduler's 30 s timeout.
package httpcron
