package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"regexp"
	"slices"
	"sort"
	"strconv"
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

// dbUse is what a command does with the ledger's database.
type dbUse int

const (
	// dbNone: the command opens no database (catalog) and has no -db.
	dbNone dbUse = iota
	// dbExisting: the database must hold the ledger's tables, up to date;
	// the command creates nothing (every command but migrate).
	dbExisting
	// dbCreate: the command creates the database and its tables if need
	// be (migrate).
	dbCreate
)

// command is one subcommand. To add one, write its options type with a
// run method (see runner) and add a line to commands().
type command struct {
	name, args, summary string
	// nargs is the number of positional arguments it takes.
	nargs int
	db    dbUse
	// flags returns the command's own options, bound to fs.
	flags func(fs *flag.FlagSet) runner
}

// runner is a command's options: each command has its own type, whose
// fields are its flags and whose run method is the command.
type runner interface {
	run(ctx context.Context, e *env) error
}

// commonOpts are the flags every command that opens a database takes.
type commonOpts struct {
	dsn, catalog string
	scale        scaleFlag
	json         bool
}

// scaleFlag is -scale: decimal places of one credit, 0..ledger.MaxScale;
// unset, the scale the database records (0 for a new one).
type scaleFlag struct {
	n   int32
	set bool
}

func (f *scaleFlag) String() string {
	if f == nil || !f.set {
		return ""
	}
	return strconv.Itoa(int(f.n))
}

func (f *scaleFlag) Set(s string) error {
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 || n > ledger.MaxScale {
		return fmt.Errorf("%q is not a scale in 0..%d", s, ledger.MaxScale)
	}
	f.n, f.set = int32(n), true
	return nil
}

// env is what a command runs with.
type env struct {
	common         commonOpts
	use            dbUse
	args           []string
	stdout, stderr io.Writer
	logger         *slog.Logger
	catalog        *policy.Catalog
	// db is the database the command uses, as shown to the user (no
	// password), once open has resolved it.
	db string
	// citus: open distributes the schema on Citus (migrate -citus).
	citus bool
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
		{name: "migrate", db: dbCreate, summary: "create or upgrade the ledger's tables (the one command that creates them)", flags: migrateFlags},
		{name: "verify", db: dbExisting, summary: "check every invariant; exit 1 on any violation", flags: verifyFlags},
		{name: "anchor", db: dbExisting, summary: "print every account's chain head and their digest, to keep off the database",
			flags: func(*flag.FlagSet) runner { return &anchorCmd{} }},
		{name: "distribute", db: dbExisting, summary: "the daily job: expire due lots, grant what plans owe", flags: distributeFlags},
		{name: "balance", args: "ACCOUNT", nargs: 1, db: dbExisting, summary: "an account's available credits and open lots",
			flags: func(*flag.FlagSet) runner { return &balanceCmd{} }},
		{name: "entries", args: "ACCOUNT", nargs: 1, db: dbExisting, summary: "an account's history, newest first", flags: entriesFlags},
		{name: "holds", args: "ACCOUNT", nargs: 1, db: dbExisting, summary: "an account's active holds",
			flags: func(*flag.FlagSet) runner { return &holdsCmd{} }},
		{name: "events", db: dbExisting, summary: "the outbox's events, newest first, with their delivery state", flags: eventsFlags},
		{name: "grant", args: "ACCOUNT AMOUNT", nargs: 2, db: dbExisting, summary: "grant credits as a new lot (-key required)", flags: grantFlags},
		{name: "grant-pack", args: "ACCOUNT PACK", nargs: 2, db: dbExisting, summary: "grant one of the catalog's packs (-key required)", flags: grantPackFlags},
		{name: "consume", args: "ACCOUNT AMOUNT", nargs: 2, db: dbExisting, summary: "spend credits in burn order", flags: consumeFlags},
		{name: "hold", args: "ACCOUNT AMOUNT", nargs: 2, db: dbExisting, summary: "reserve credits until captured, released or expired", flags: holdFlags},
		{name: "capture", args: "ACCOUNT HOLD AMOUNT", nargs: 3, db: dbExisting, summary: "spend AMOUNT of an active hold, release the rest", flags: captureFlags},
		{name: "release", args: "ACCOUNT HOLD", nargs: 2, db: dbExisting, summary: "give a hold's credits back", flags: releaseFlags},
		{name: "reverse", args: "ACCOUNT", nargs: 1, db: dbExisting, summary: "undo a grant, consume or capture (-operation or -of-key)", flags: reverseFlags},
		{name: "set-lot-expiry", args: "ACCOUNT LOT INSTANT|never", nargs: 3, db: dbExisting, summary: "change one open lot's expiry, as an entry in its history",
			flags: func(*flag.FlagSet) runner { return &setLotExpiryCmd{} }},
		{name: "set-plan", args: "ACCOUNT PLAN", nargs: 2, db: dbExisting, summary: "put an account on a plan and grant what is due now", flags: setPlanFlags},
		{name: "import-mksaas", db: dbExisting, summary: "import the open lots and plans of a MkSaaS database", flags: importFlags},
		{name: "catalog", db: dbNone, summary: "print the catalog in use as JSON",
			flags: func(*flag.FlagSet) runner { return &catalogCmd{} }},
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
	fmt.Fprintln(w, "Usage: creditledger COMMAND [flags] [ARG...]")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Commands:")
	for _, c := range cmds {
		fmt.Fprintf(w, "  %-26s %s\n", strings.TrimSpace(c.name+" "+c.args), c.summary)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Run 'creditledger COMMAND -h' for a command's flags. Exit status: 0 success, 1 failure, 2 usage error.")
}

func runCommand(ctx context.Context, cmd *command, args []string, stdout, stderr io.Writer) int {
	e := &env{use: cmd.db, stdout: stdout, stderr: stderr,
		logger: slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))}
	fs := flag.NewFlagSet("creditledger "+cmd.name, flag.ContinueOnError)
	var flagOut strings.Builder
	fs.SetOutput(&flagOut)
	o := &e.common
	if cmd.db != dbNone {
		fs.StringVar(&o.dsn, "db", "", "postgres://... or a SQLite file or file: URL (default $DATABASE_URL, else "+
			defaults.ExampleSQLiteFile+" if it exists in the working folder)")
		fs.Var(&o.scale, "scale", "decimal places of one credit; the database refuses another than its own (default: the database's, 0 for a new one)")
	}
	fs.StringVar(&o.catalog, "catalog", "", "JSON catalog file (default: the reference catalog)")
	fs.BoolVar(&o.json, "json", false, "print the result as JSON")
	r := cmd.flags(fs)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: creditledger %s [flags] %s\n\n%s.\n\nFlags:\n", cmd.name, cmd.args, capitalize(cmd.summary))
		fs.PrintDefaults()
	}
	// Flags come first, but may follow a positional argument too:
	// "balance alice -json". After "--" every argument is positional,
	// even one that starts with a dash (a negative amount).
	var afterDashes []string
	if i := slices.Index(args, "--"); i >= 0 {
		args, afterDashes = args[:i], args[i+1:]
	}
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
		e.args = append(e.args, fs.Arg(0))
		args = fs.Args()[1:]
	}
	e.args = append(e.args, afterDashes...)
	if len(e.args) != cmd.nargs {
		if cmd.nargs == 0 {
			fmt.Fprintf(stderr, "creditledger %s: takes no arguments, got %q\n", cmd.name, e.args)
		} else {
			fmt.Fprintf(stderr, "creditledger %s: needs %s, got %d arguments\n", cmd.name, cmd.args, len(e.args))
		}
		fs.SetOutput(stderr)
		fs.Usage()
		return exitUsage
	}
	cat, err := loadCatalog(o.catalog)
	if err != nil {
		fmt.Fprintf(stderr, "creditledger %s: %v\n", cmd.name, err)
		return exitFailure
	}
	e.catalog = cat
	err = r.run(ctx, e)
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
	case badInput(err):
		// A value the ledger refused: a usage error, but the flags'
		// help would bury the reason.
		fmt.Fprintf(stderr, "creditledger %s: %s\n", cmd.name, errorText(err))
		return exitUsage
	default:
		fmt.Fprintf(stderr, "creditledger %s: %s\n", cmd.name, errorText(err))
		return exitFailure
	}
}

// errorText is err's message without the "creditledger: " its sentinel
// starts with: the line already begins "creditledger COMMAND: ".
func errorText(err error) string {
	return strings.TrimPrefix(err.Error(), "creditledger: ")
}

// badInput reports whether err is the ledger refusing a value given on
// the command line, which exits 2 like any other usage error.
func badInput(err error) bool {
	for _, target := range []error{ledger.ErrInvalidAmount, ledger.ErrInvalidArgument, ledger.ErrUnknownPlan, ledger.ErrUnknownPack} {
		if errors.Is(err, target) {
			return true
		}
	}
	return false
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
// example server's SQLite file if it exists in the working folder. With
// none of them it is a usage error: guessing a file would create it.
func resolveDSN(flagValue string) (string, error) {
	if flagValue != "" {
		return flagValue, nil
	}
	if env := os.Getenv("DATABASE_URL"); env != "" {
		return env, nil
	}
	if fi, err := os.Stat(defaults.ExampleSQLiteFile); err == nil && !fi.IsDir() {
		return defaults.ExampleSQLiteFile, nil
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("default database %s: %w", defaults.ExampleSQLiteFile, err)
	}
	return "", usagef("no database: give -db DSN or set $DATABASE_URL (no %s in the working folder)", defaults.ExampleSQLiteFile)
}

// open resolves the command's database, says on stderr which it is, and
// opens it with the ledger on it; the command closes the store. Every
// command but migrate opens an existing ledger only: a database without
// the ledger's tables, or a SQLite file that does not exist, is an error
// and nothing is created.
func (e *env) open(ctx context.Context) (*ledger.Ledger, *bunstore.Store, error) {
	dsn, err := resolveDSN(e.common.dsn)
	if err != nil {
		return nil, nil, err
	}
	e.db = describeDSN(dsn)
	fmt.Fprintf(e.stderr, "creditledger: database %s\n", e.db)
	var store *bunstore.Store
	if e.use == dbCreate {
		store, err = bunstore.OpenWith(ctx, dsn, &bunstore.Options{Citus: e.citus})
	} else {
		store, err = bunstore.OpenExisting(ctx, dsn, nil)
	}
	switch {
	case errors.Is(err, bunstore.ErrNoSchema):
		return nil, nil, &failure{fmt.Sprintf("%s has no creditledger tables (wrong database? 'creditledger migrate' creates them); nothing was written", e.db)}
	case errors.Is(err, fs.ErrNotExist):
		return nil, nil, fmt.Errorf("%w; 'creditledger migrate' creates a database", err)
	case errors.Is(err, bunstore.ErrSchemaOutdated):
		return nil, nil, fmt.Errorf("%w; 'creditledger migrate' applies them", err)
	case err != nil:
		// The store's error names the database already.
		return nil, nil, err
	}
	scale := e.common.scale.n
	if !e.common.scale.set {
		recorded, ok, err := store.RecordedScale(ctx)
		if err != nil {
			store.Close()
			return nil, nil, err
		}
		if ok {
			scale = recorded
		}
	}
	l, err := ledger.NewContext(ctx, store, &ledger.Config{Scale: scale, Catalog: e.catalog, Logger: e.logger})
	if err != nil {
		store.Close()
		return nil, nil, err
	}
	return l, store, nil
}

// passwordParam matches a password=... parameter in a DSN that is not a
// URL (a key=value PostgreSQL string given where a URL was expected).
var passwordParam = regexp.MustCompile(`(?i)(password\s*=\s*)('[^']*'|[^\s&]*)`)

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
	path, _, _ := strings.Cut(dsn, "?")
	return "sqlite " + passwordParam.ReplaceAllString(path, "${1}xxxxx")
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
