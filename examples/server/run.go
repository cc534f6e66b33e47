package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/shopspring/decimal"

	"github.com/creditledger/creditledger/httpcron"
	"github.com/creditledger/creditledger/internal/defaults"
	"github.com/creditledger/creditledger/ledger"
	"github.com/creditledger/creditledger/policy"
	"github.com/creditledger/creditledger/storage/bunstore"
)

// defaultDB is the SQLite file used when neither -db nor DATABASE_URL is
// given (the repository's .gitignore lists it); cmd/creditledger shares it.
const defaultDB = defaults.ExampleSQLiteFile

// lowBalance is the example's balance.low threshold, in credits.
const lowBalance = 20

// serverCatalog is the server's catalog without -catalog: demoCatalog,
// with a balance.low threshold on the default pool so that the console's
// events show one (docs/EVENTS.md).
func serverCatalog() *policy.Catalog {
	c := demoCatalog()
	c.LowBalance = map[string]decimal.Decimal{"": decimal.NewFromInt(lowBalance)}
	return c
}

// shutdownTimeout is how long in-flight requests (a cron run among them)
// get to finish after SIGINT or SIGTERM.
const shutdownTimeout = 30 * time.Second

// config is what the flags and the environment say.
type config struct {
	addr   string
	dsn    string
	seed   int
	verify bool
	// catalog is a JSON catalog file; "" for demoCatalog.
	catalog string
	// webhookURL and webhookSecret: where the ledger's events are
	// delivered, and the key of their signature (webhook.go).
	webhookURL, webhookSecret string
}

// usageError is a flag error; the flag package has already printed why.
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

// errViolations is returned by -verify when an invariant is broken.
var errViolations = errors.New("the ledger violates its invariants")

func parseFlags(args []string, stderr io.Writer) (*config, error) {
	cfg := &config{}
	fs := flag.NewFlagSet("server", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.addr, "addr", "127.0.0.1:8080", "address to listen on")
	// No default shown: $DATABASE_URL may hold a password.
	fs.StringVar(&cfg.dsn, "db", "", "SQLite file or file: URL, or postgres://... (default $DATABASE_URL, else "+defaultDB+")")
	fs.IntVar(&cfg.seed, "seed", 3, "demo accounts per plan created at first start (0: none)")
	fs.BoolVar(&cfg.verify, "verify", false, "check the ledger's invariants and exit (1 on any violation) without serving")
	fs.StringVar(&cfg.catalog, "catalog", "", "a JSON catalog file (default: the reference catalog with two demo feature prices)")
	// No defaults shown: the URL may carry a token, the secret is one.
	fs.StringVar(&cfg.webhookURL, "webhook-url", "", "POST the ledger's events to this URL, signed (default $"+webhookURLEnv+"; none: not delivered)")
	fs.StringVar(&cfg.webhookSecret, "webhook-secret", "", "the webhook signature's secret (default $"+webhookSecretEnv+", else one made and printed at start)")
	if err := fs.Parse(args); err != nil {
		return nil, &usageError{err}
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "unexpected arguments: %q\n", fs.Args())
		fs.Usage()
		return nil, &usageError{fmt.Errorf("unexpected arguments %q", fs.Args())}
	}
	if cfg.seed < 0 || cfg.seed > 1000 {
		fmt.Fprintln(stderr, "-seed must be between 0 and 1000")
		return nil, &usageError{errors.New("-seed out of range")}
	}
	if cfg.dsn == "" {
		cfg.dsn = os.Getenv("DATABASE_URL")
	}
	if cfg.dsn == "" {
		cfg.dsn = defaultDB
	}
	if cfg.webhookURL == "" {
		cfg.webhookURL = strings.TrimSpace(os.Getenv(webhookURLEnv))
	}
	if cfg.webhookSecret == "" {
		cfg.webhookSecret = strings.TrimSpace(os.Getenv(webhookSecretEnv))
	}
	return cfg, nil
}

// run is the whole program: main only adds the signal context and the exit
// code. It serves until ctx ends, then shuts down gracefully. Its first
// line on stdout once it listens is "listening on http://HOST:PORT".
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	logger := slog.New(slog.NewTextHandler(stderr, nil))
	catalog, err := loadCatalog(cfg.catalog)
	if err != nil {
		return err
	}
	if cfg.catalog == "" {
		catalog = serverCatalog() // with its balance.low threshold
	}

	store, err := bunstore.Open(ctx, cfg.dsn)
	if err != nil {
		return err // bunstore never puts the password in its errors
	}
	defer store.Close()
	mp, metrics, err := newMetrics() // served at /metrics, see metrics.go
	if err != nil {
		return err
	}
	defer mp.Shutdown(context.Background())
	// ledger.New runs the store's migrations.
	l, err := ledger.NewContext(ctx, store, &ledger.Config{Catalog: catalog, Logger: logger, MeterProvider: mp})
	if err != nil {
		return err
	}
	logger.Info("database open", "db", describeDSN(cfg.dsn))

	if cfg.verify {
		return verify(ctx, l, stdout)
	}
	if err := seed(ctx, l, cfg.seed, logger); err != nil {
		return fmt.Errorf("seeding demo accounts: %w", err)
	}

	creds := httpcron.OptionsFromEnv()
	demoCreds := creds.Username == "" && creds.Password == "" && creds.BearerToken == ""
	if demoCreds {
		creds.Username, creds.Password = "demo-"+randomString(6), randomString(18)
	}
	adminToken := strings.TrimSpace(os.Getenv(adminTokenEnv))
	demoAdmin := adminToken == ""
	if demoAdmin {
		adminToken = randomString(24)
	}
	var wh *webhook
	demoSecret := false
	if cfg.webhookURL != "" {
		if cfg.webhookSecret == "" {
			cfg.webhookSecret, demoSecret = randomString(24), true
		}
		if wh, err = newWebhook(cfg.webhookURL, cfg.webhookSecret); err != nil {
			return err
		}
	}
	srvState, h, err := buildServer(l, creds, adminToken, logger)
	if err != nil {
		return err
	}
	if wh != nil {
		srvState.webhookURL = redactURL(wh.url)
	}
	h = withOps(h, metrics, store.DB().PingContext, logger)

	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return err
	}
	base := "http://" + ln.Addr().String()
	// The only places a credential is ever printed. The export lines make
	// the README's commands, which name the variables, work as pasted
	// (base64url secrets need no quoting).
	if demoCreds {
		fmt.Fprintf(stderr, "\nDEMO credentials for %s/api/distribute-credits\n"+
			"(CRON_JOBS_USERNAME and CRON_JOBS_PASSWORD are unset; they change at every start):\n"+
			"  username: %s\n  password: %s\n"+
			"  export %s=%s %s=%s\n"+
			"  curl -u \"$%s:$%s\" %s/api/distribute-credits\n\n",
			base, creds.Username, creds.Password, httpcron.EnvUsername, creds.Username, httpcron.EnvPassword, creds.Password,
			httpcron.EnvUsername, httpcron.EnvPassword, base)
	}
	if demoAdmin {
		fmt.Fprintf(stderr, "\nADMIN token for the routes that write (consume, grant, set plan)\n"+
			"(%s is unset; it changes at every start):\n"+
			"  token: %s\n  export %s=%s\n"+
			"  curl -H \"Authorization: Bearer $%s\" -X POST -d '{\"amount\":\"1\"}' %s/api/accounts/demo-free-1/consume\n\n",
			adminTokenEnv, adminToken, adminTokenEnv, adminToken, adminTokenEnv, base)
	}
	if demoSecret {
		fmt.Fprintf(stderr, "\nWEBHOOK secret for the signatures of %s\n"+
			"(%s is unset; it changes at every start):\n"+
			"  secret: %s\n  export %s=%s\n\n",
			redactURL(wh.url), webhookSecretEnv, cfg.webhookSecret, webhookSecretEnv, cfg.webhookSecret)
	}
	// After the DEMO block, so that whoever waits for this line has both.
	fmt.Fprintf(stdout, "listening on %s\n", base)
	logger.Info("serving", "url", base)

	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		// The cron run has a 25 s budget; leave room to write its answer.
		WriteTimeout: 60 * time.Second,
		IdleTimeout:  2 * time.Minute,
		ErrorLog:     slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	delivered := make(chan struct{})
	if wh != nil {
		// Delivers the outbox until ctx ends (at least once, in order per
		// account; errors are logged and retried with backoff).
		logger.Info("delivering events", "webhook", redactURL(wh.url))
		go func() {
			defer close(delivered)
			_ = l.DeliverEvents(ctx, wh.deliver, &ledger.DeliverOpts{Logger: logger})
		}()
	} else {
		close(delivered)
	}

	select {
	case err := <-served:
		return err // Serve failed before any shutdown
	case <-ctx.Done():
	}
	logger.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		_ = srv.Close()
		return fmt.Errorf("shutdown: %w", err)
	}
	<-delivered
	if err := <-served; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// verify prints every violation of the ledger's invariants and returns
// errViolations when there is any.
func verify(ctx context.Context, l *ledger.Ledger, stdout io.Writer) error {
	rep, err := l.Verify(ctx)
	if err != nil {
		return err
	}
	for _, v := range rep.Violations {
		fmt.Fprintln(stdout, v.String())
	}
	fmt.Fprintf(stdout, "verified %s, %s, %s: %s\n", plural(rep.Accounts, "account"), plural(rep.Lots, "lot"),
		plural(rep.Entries, "entry"), plural(len(rep.Violations), "violation"))
	if !rep.OK() {
		return errViolations
	}
	return nil
}

// describeDSN says which database is used without its password.
func describeDSN(dsn string) string {
	lower := strings.ToLower(dsn)
	if strings.HasPrefix(lower, "postgres://") || strings.HasPrefix(lower, "postgresql://") {
		if u, err := url.Parse(dsn); err == nil {
			u.RawQuery = "" // parameters may carry a password too
			return u.Redacted()
		}
		return "postgres (unparsable URL)"
	}
	return "sqlite " + dsn
}

// randomString returns n random bytes, URL-safe base64 encoded.
func randomString(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return base64.RawURLEncoding.EncodeToString(b)
}

// parentPollInterval is how often a server built by go run checks that go
// is still running.
const parentPollInterval = 500 * time.Millisecond

// builtByGoRun reports whether this binary is one that go run built: go
// run links it into a temporary go-build folder.
func builtByGoRun() bool {
	exe, err := os.Executable()
	return err == nil && strings.Contains(filepath.ToSlash(exe), "/go-build")
}

// exitWithParent returns a context that ends with ctx, or when the
// process's parent (ppid, polled every interval) is no longer the one it
// had at the call: the parent died and the process was handed to another
// (init, or a subreaper). gone is called once then. Polling works on
// every platform, where a parent-death signal is Linux's alone.
func exitWithParent(ctx context.Context, interval time.Duration, ppid func() int, gone func()) context.Context {
	ctx, cancel := context.WithCancel(ctx)
	parent := ppid()
	go func() {
		defer cancel()
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				if ppid() != parent {
					gone()
					return
				}
			}
		}
	}()
	return ctx
}
