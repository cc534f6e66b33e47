// Command embed shows how an existing app that already has its own bun
// database and tables adds creditledger to them:
//
//   - the ledger's tables (all named creditledger_*) live in the app's own
//     database, next to its "payments" table, on the app's own *bun.DB;
//   - the cron endpoint is mounted on the app's own http.ServeMux;
//   - the payment webhook records the payment row and grants the purchased
//     credit pack in ONE transaction: both commit, or neither does.
//
// Run it from the repository root:
//
//	go run ./examples/embed          # one simulated webhook, delivered twice, then the balance
//	go run ./examples/embed -serve   # listen on 127.0.0.1:8081 (POST /webhooks/payment, /api/distribute-credits)
//
// The database is an in-memory SQLite one unless -db names a SQLite file or
// DATABASE_URL (or -db) is a postgres:// URL. -serve needs
// CRON_JOBS_USERNAME and CRON_JOBS_PASSWORD for the cron endpoint.
package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/uptrace/bun"
	"github.com/uptrace/bun/dialect/pgdialect"
	"github.com/uptrace/bun/dialect/sqlitedialect"
	_ "modernc.org/sqlite" // the pure-Go SQLite driver, "sqlite"

	"github.com/creditledger/creditledger/httpcron"
	"github.com/creditledger/creditledger/ledger"
	"github.com/creditledger/creditledger/policy"
	"github.com/creditledger/creditledger/storage/bunstore"
)

// Payment is the app's own table, created and written with bun as usual.
type Payment struct {
	bun.BaseModel `bun:"table:payments"`
	ID            string    `bun:"id,pk"` // the payment provider's id
	UserID        string    `bun:"user_id,notnull"`
	Pack          string    `bun:"pack,notnull"`
	CreatedAt     time.Time `bun:"created_at,notnull"`
}

// app is the host application: its database, plus the ledger on it.
type app struct {
	db    *bun.DB
	store *bunstore.Store
	l     *ledger.Ledger
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], os.Stdout)
	stop()
	os.Exit(exitCode(err, os.Stderr))
}

// exitCode is the process's exit status for run's error: 0 for none and
// for -h (the flag package has printed the usage), 2 for other bad flags
// (it has printed why), 1 for anything else, which it prints.
func exitCode(err error, stderr io.Writer) int {
	var fe *flagError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &fe):
		return 2
	}
	fmt.Fprintln(stderr, "embed:", err)
	return 1
}

// flagError is an error of the command line.
type flagError struct{ err error }

func (e *flagError) Error() string { return e.err.Error() }
func (e *flagError) Unwrap() error { return e.err }

func run(ctx context.Context, args []string, stdout io.Writer) error {
	flags := flag.NewFlagSet("embed", flag.ContinueOnError)
	dsn := flags.String("db", "", "SQLite file or postgres:// URL (default $DATABASE_URL, else in-memory SQLite)")
	serve := flags.Bool("serve", false, "listen instead of running the simulated webhook")
	if err := flags.Parse(args); err != nil {
		return &flagError{err}
	}
	if *dsn == "" {
		*dsn = os.Getenv("DATABASE_URL")
	}
	db, err := openDB(*dsn)
	if err != nil {
		return err
	}
	defer db.Close()

	// The app's own schema.
	if _, err := db.NewCreateTable().Model((*Payment)(nil)).IfNotExists().Exec(ctx); err != nil {
		return err
	}
	// The ledger on the same *bun.DB: its tables are added next to the app's.
	store, err := bunstore.New(db, nil)
	if err != nil {
		return err
	}
	if err := store.Migrate(ctx); err != nil {
		return err
	}
	l, err := ledger.New(store, &ledger.Config{Catalog: policy.ReferenceCatalog()})
	if err != nil {
		return err
	}
	a := &app{db: db, store: store, l: l}

	// The app's own mux: its routes, and the cron endpoint next to them.
	mux := http.NewServeMux()
	mux.HandleFunc("POST /webhooks/payment", a.paymentWebhook)
	cronOpts := httpcron.OptionsFromEnv() // CRON_JOBS_USERNAME, CRON_JOBS_PASSWORD
	cronOpts.Run = func(ctx context.Context) (*ledger.DistributeResult, error) {
		return l.Distribute(ctx, &ledger.DistributeOpts{})
	}
	cron, err := httpcron.NewHandler(cronOpts)
	switch {
	case err == nil:
		mux.Handle("/api/distribute-credits", cron)
	case *serve:
		return err // fail closed: never serve the job without credentials
	default:
		fmt.Fprintln(stdout, "(cron endpoint not mounted: CRON_JOBS_USERNAME/CRON_JOBS_PASSWORD are unset)")
	}

	if !*serve {
		return a.simulate(ctx, mux, stdout)
	}
	srv := &http.Server{Addr: "127.0.0.1:8081", Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { <-ctx.Done(); _ = srv.Shutdown(context.Background()) }()
	fmt.Fprintln(stdout, "listening on http://"+srv.Addr)
	if err := srv.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// openDB opens the app's database the way the app already does.
func openDB(dsn string) (*bun.DB, error) {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		cfg, err := pgx.ParseConfig(dsn)
		if err != nil {
			return nil, err
		}
		// bun formats arguments into the SQL text; the simple protocol
		// spares pgx a prepare per statement.
		cfg.DefaultQueryExecMode = pgx.QueryExecModeSimpleProtocol
		return bun.NewDB(stdlib.OpenDB(*cfg), pgdialect.New()), nil
	}
	if dsn == "" {
		dsn = ":memory:"
	} else if dir := filepath.Dir(dsn); dsn != ":memory:" {
		// SQLite would only say "out of memory (14)" at the first query.
		if _, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("open SQLite file %s: folder %q does not exist", dsn, dir)
		}
	}
	sqldb, err := sql.Open("sqlite", "file:"+dsn+"?_pragma=foreign_keys(1)&_pragma=busy_timeout(5000)&_txlock=immediate")
	if err != nil {
		return nil, err
	}
	// SQLite has one writer: one connection serializes the app's
	// transactions instead of failing them as busy (and keeps :memory:).
	sqldb.SetMaxOpenConns(1)
	return bun.NewDB(sqldb, sqlitedialect.New()), nil
}

// paymentEvent is what the (fake) payment provider posts.
type paymentEvent struct {
	PaymentID string `json:"paymentId"`
	UserID    string `json:"userId"`
	Pack      string `json:"pack"`
}

// paymentWebhook records the payment and grants its pack atomically. A
// real webhook verifies the provider's signature first.
func (a *app) paymentWebhook(w http.ResponseWriter, r *http.Request) {
	var ev paymentEvent
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10)).Decode(&ev); err != nil || ev.PaymentID == "" {
		http.Error(w, "bad event", http.StatusBadRequest)
		return
	}
	var rec *ledger.Receipt
	err := a.db.RunInTx(r.Context(), nil, func(ctx context.Context, tx bun.Tx) error {
		// A redelivered event finds its row already there: keep the first.
		p := &Payment{ID: ev.PaymentID, UserID: ev.UserID, Pack: ev.Pack, CreatedAt: time.Now().UTC()}
		if _, err := tx.NewInsert().Model(p).On("CONFLICT (id) DO NOTHING").Exec(ctx); err != nil {
			return err
		}
		// The grant joins tx: store.WithTx(tx) is the ledger's store bound
		// to this transaction. The payment id is the idempotency key, so a
		// redelivery replays the first grant instead of granting again.
		var err error
		rec, err = a.l.WithStore(a.store.WithTx(tx)).GrantPack(ctx, ev.UserID, ev.Pack, "payment:"+ev.PaymentID)
		return err // an error rolls back the payment row too
	})
	switch {
	case errors.Is(err, ledger.ErrNotFound), errors.Is(err, ledger.ErrInvalidArgument):
		http.Error(w, err.Error(), http.StatusBadRequest) // unknown pack, bad user id...
	case err != nil:
		http.Error(w, "internal error", http.StatusInternalServerError)
	default:
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"balance": rec.Balance.String(), "replayed": rec.Replayed})
	}
}

// simulate delivers one payment event twice, as providers do on a timeout,
// then one for a pack that does not exist, and prints what the database holds.
func (a *app) simulate(ctx context.Context, mux http.Handler, stdout io.Writer) error {
	deliver := func(label, body string) {
		rr := httptest.NewRecorder()
		mux.ServeHTTP(rr, httptest.NewRequestWithContext(ctx, http.MethodPost, "/webhooks/payment", strings.NewReader(body)))
		fmt.Fprintf(stdout, "%-24s %d %s", label, rr.Code, rr.Body.String())
	}
	event := `{"paymentId":"pay_1001","userId":"user-42","pack":"standard"}`
	deliver("webhook:", event)
	deliver("webhook, redelivered:", event)
	deliver("webhook, unknown pack:", `{"paymentId":"pay_1002","userId":"user-42","pack":"platinum"}`)

	b, err := a.l.Balance(ctx, "user-42")
	if err != nil {
		return err
	}
	page, err := a.l.Entries(ctx, "user-42", nil)
	if err != nil {
		return err
	}
	grants := 0
	for _, e := range page.Entries {
		if e.Kind == ledger.KindGrant {
			grants++
		}
	}
	payments, err := a.db.NewSelect().Model((*Payment)(nil)).Count(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "balance of user-42: %s credits from %d grant(s); payments rows: %d\n", b.Available, grants, payments)
	return nil
}
