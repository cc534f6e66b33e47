package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"sort"
	"strings"

	"github.com/creditledger/creditledger/internal/defaults"
	"github.com/creditledger/creditledger/ledger"
	"github.com/creditledger/creditledger/policy"
	"github.com/creditledger/creditledger/storage/bunstore"
)

// Exit statuses.
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
)

// command is one subcommand.
type command struct {
	name, args, summary string
	// flags adds the command's own flags; nil: none.
	flags func(fs *flag.FlagSet, o *cmdOpts)
	// nargs is the number of positional arguments it takes.
	nargs int
	run   func(ctx context.Context, e *env) error
}

// cmdOpts holds every command's flag values.
type cmdOpts struct {
	dsn, catalog string
	scale        int
	json         bool
	citus        bool // migrate -citus

	// distribute
	budget     durationFlag
	chunk      int
	progress   string
	expireOnly bool
	// entries
	limit  int
	cursor string
	// import-mksaas
	from, planMap, tz string
	dryRun            bool
}

// env is what a command runs with.
type env struct {
	opts           *cmdOpts
	args           []string
	stdout, stderr io.Writer
	logger         *slog.Logger
	catalog        *policy.Catalog
	// open opens the store and the ledger; the command closes the store.
	open func(ctx context.Context) (*ledger.Ledger, *bunstore.Store, error)
}

// usageError is a mistake in the command line: exit 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return &usageError{fmt.Sprintf(format, args...)} }

// failure is an error already reported to the user (violations found,
// accounts that failed): exit 1 without printing it again.
type failure struct{ msg string }

func (e *failure) Error() string { return e.msg }

func commands() []*command {
	return []*command{
		{name: "migrate", summary: "create or upgrade the ledger's tables", flags: migrateFlags, run: runMigrate},
		{name: "verify", summary: "check every invariant; exit 1 on any violation", run: runVerify},
		{name: "distribute", summary: "the daily job: expire due lots, grant what plans owe", flags: distributeFlags, run: runDistribute},
		{name: "balance", args: "ACCOUNT", nargs: 1, summary: "an account's available credits and open lots", run: runBalance},
		{name: "entries", args: "ACCOUNT", nargs: 1, summary: "an account's history, newest first", flags: entriesFlags, run: runEntries},
		{name: "import-mksaas", summary: "import the open lots and plans of a MkSaaS database", flags: importFlags, run: runImport},
		{name: "catalog", summary: "print the catalog in use as JSON", run: runCatalog},
	}
}

// run is the whole program: main adds the signal context and exits with
// the status it returns.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cmds := commands()
	if len(args) == 0 {
		topUsage(stderr, cmds)
		return exitUsage
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		topUsage(stdout, cmds)
		return exitOK
	}
	var cmd *command
	for _, c := range cmds {
		if c.name == args[0] {
			cmd = c
		}
	}
	if cmd == nil {
		fmt.Fprintf(stderr, "creditledger: unknown command %q\n\n", args[0])
		topUsage(stderr, cmds)
		return exitUsage
	}
	return runCommand(ctx, cmd, args[1:], stdout, stderr)
}

func topUsage(w io.Writer, cmds []*command) {
	fmt.Fprintln(w, "Usage: creditledger COMMAND [flags] [ARG]")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Commands:")
	for _, c := range cmds {
		fmt.Fprintf(w, "  %-22s %s\n", strings.TrimSpace(c.name+" "+c.args), c.summary)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Run 'creditledger COMMAND -h' for a command's flags. Exit status: 0 success, 1 failure, 2 usage error.")
}

func runCommand(ctx context.Context, cmd *command, args []string, stdout, stderr io.Writer) int {
	o := &cmdOpts{}
	fs := flag.NewFlagSet("creditledger "+cmd.name, flag.ContinueOnError)
	var flagOut strings.Builder
	fs.SetOutput(&flagOut)
	fs.StringVar(&o.dsn, "db", "", "postgres://... or a SQLite file or file: URL (default $DATABASE_URL, else "+defaults.ExampleSQLiteFile+")")
	fs.StringVar(&o.catalog, "catalog", "", "JSON catalog file (default: the reference catalog)")
	fs.IntVar(&o.scale, "scale", 0, "decimal places of one credit, as the database was created with")
	fs.BoolVar(&o.json, "json", false, "print the result as JSON")
	if cmd.flags != nil {
		cmd.flags(fs, o)
	}
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: creditledger %s [flags] %s\n\n%s.\n\nFlags:\n", cmd.name, cmd.args, capitalize(cmd.summary))
		fs.PrintDefaults()
	}
	// Flags may follow the positional argument: "balance alice -json".
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				io.WriteString(stdout, flagOut.String())
				return exitOK
			}
			io.WriteString(stderr, flagOut.String())
			return exitUsage
		}
		if fs.NArg() == 0 {
			break
		}
		positional = append(positional, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if len(positional) != cmd.nargs {
		if cmd.nargs == 0 {
			fmt.Fprintf(stderr, "creditledger %s: takes no arguments, got %q\n", cmd.name, positional)
		} else {
			fmt.Fprintf(stderr, "creditledger %s: needs %s, got %d arguments\n", cmd.name, cmd.args, len(positional))
		}
		fs.SetOutput(stderr)
		fs.Usage()
		return exitUsage
	}
	if o.scale < 0 || o.scale > ledger.MaxScale {
		fmt.Fprintf(stderr, "creditledger %s: -scale %d is outside 0..%d\n", cmd.name, o.scale, ledger.MaxScale)
		return exitUsage
	}
	e := &env{opts: o, args: positional, stdout: stdout, stderr: stderr,
		logger: slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))}
	cat, err := loadCatalog(o.catalog)
	if err != nil {
		fmt.Fprintf(stderr, "creditledger %s: %v\n", cmd.name, err)
		return exitFailure
	}
	e.catalog = cat
	e.open = func(ctx context.Context) (*ledger.Ledger, *bunstore.Store, error) {
		dsn := resolveDSN(o.dsn)
		store, err := bunstore.OpenWith(ctx, dsn, &bunstore.Options{Citus: o.citus})
		if err != nil {
			return nil, nil, fmt.Errorf("open %s: %w", describeDSN(dsn), err)
		}
		l, err := ledger.NewContext(ctx, store, &ledger.Config{Scale: int32(o.scale), Catalog: cat, Logger: e.logger})
		if err != nil {
			store.Close()
			return nil, nil, err
		}
		return l, store, nil
	}
	err = cmd.run(ctx, e)
	var ue *usageError
	var f *failure
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "creditledger %s: %s\n", cmd.name, ue.msg)
		fs.SetOutput(stderr)
		fs.Usage()
		return exitUsage
	case errors.As(err, &f):
		if f.msg != "" {
			fmt.Fprintf(stderr, "creditledger %s: %s\n", cmd.name, f.msg)
		}
		return exitFailure
	default:
		fmt.Fprintf(stderr, "creditledger %s: %v\n", cmd.name, err)
		return exitFailure
	}
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// loadCatalog reads a JSON catalog file, or returns the reference one.
func loadCatalog(path string) (*policy.Catalog, error) {
	if path == "" {
		return policy.ReferenceCatalog(), nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("catalog: %w", err)
	}
	c, err := policy.ParseCatalog(data)
	if err != nil {
		return nil, fmt.Errorf("catalog %s: %w", path, err)
	}
	return c, nil
}

// resolveDSN applies the defaults: -db, else $DATABASE_URL, else the
// example server's SQLite file.
func resolveDSN(flagValue string) string {
	if flagValue != "" {
		return flagValue
	}
	if env := os.Getenv("DATABASE_URL"); env != "" {
		return env
	}
	return defaults.ExampleSQLiteFile
}

// describeDSN names a database without its password or parameters.
func describeDSN(dsn string) string {
	lower := strings.ToLower(dsn)
	if strings.HasPrefix(lower, "postgres://") || strings.HasPrefix(lower, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			return "postgres (unparsable URL)"
		}
		u.RawQuery = "" // parameters may carry a password too
		return u.Redacted()
	}
	return "sqlite " + dsn
}

// writeJSON prints v as indented JSON.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// sortedKeys returns m's keys in order.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
