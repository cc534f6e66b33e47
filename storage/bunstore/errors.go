package bunstore

import (
	"errors"
	"log/slog"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
)

// Driver errors are recognized by interface where possible, so that a host's
// *bun.DB on another driver (bun's pgdriver, mattn/go-sqlite3) works too:
// pgx's *pgconn.PgError and bun's pgdriver.Error for PostgreSQL,
// modernc.org/sqlite's *sqlite.Error (Code() int) for SQLite, and SQLite's
// messages, which every SQLite driver passes through.

// PostgreSQL SQLSTATE codes the store reacts to.
const (
	pgSerializationFailure = "40001"
	pgDeadlockDetected     = "40P01"
	pgUniqueViolation      = "23505"
	pgCheckViolation       = "23514"
	pgForeignKeyViolation  = "23503"
	pgNoDataFound          = "P0002"
)

// SQLite result codes the store reacts to (primary codes; extended codes
// carry them in their low byte).
const (
	sqliteBusy   = 5
	sqliteLocked = 6

	sqliteConstraintPrimaryKey = 1555
	sqliteConstraintUnique     = 2067
)

// Constraint names the store maps to its own errors.
const (
	operationKeyConstraint = "creditledger_entries_idempotency_key_key"
	lotRemainingConstraint = "creditledger_lots_remaining_check"
)

// pgError returns the SQLSTATE and constraint name of a PostgreSQL error in
// err's chain, or "" and "".
func pgError(err error) (state, constraint string) {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code, constraintName(pgErr.ConstraintName, pgErr.Message)
	}
	var fielder interface{ Field(byte) string } // bun's pgdriver.Error
	if errors.As(err, &fielder) {
		return fielder.Field('C'), constraintName(fielder.Field('n'), fielder.Field('M'))
	}
	var stater interface{ SQLState() string }
	if errors.As(err, &stater) {
		return stater.SQLState(), ""
	}
	return "", ""
}

// sqliteCode returns the (extended) result code of a SQLite error in err's
// chain, or 0.
func sqliteCode(err error) int {
	var coder interface{ Code() int }
	if errors.As(err, &coder) {
		return coder.Code()
	}
	return 0
}

// isRetryable reports whether a transaction that failed with err may
// succeed if run again: PostgreSQL serialization failures and deadlocks,
// SQLite busy or locked databases.
func isRetryable(err error) bool {
	if err == nil {
		return false
	}
	switch state, _ := pgError(err); state {
	case pgSerializationFailure, pgDeadlockDetected:
		return true
	}
	return isBusy(err)
}

// isBusy reports whether err is SQLite's SQLITE_BUSY or SQLITE_LOCKED.
func isBusy(err error) bool {
	if err == nil {
		return false
	}
	switch sqliteCode(err) & 0xff {
	case sqliteBusy, sqliteLocked:
		return true
	}
	msg := err.Error()
	return strings.Contains(msg, "database is locked") ||
		strings.Contains(msg, "database table is locked") ||
		strings.Contains(msg, "SQLITE_BUSY")
}

// isUniqueViolation reports whether err is a unique or primary key
// violation on either database.
func isUniqueViolation(err error) bool {
	if state, _ := pgError(err); state == pgUniqueViolation {
		return true
	}
	switch sqliteCode(err) {
	case sqliteConstraintUnique, sqliteConstraintPrimaryKey:
		return true
	}
	return strings.Contains(err.Error(), "UNIQUE constraint failed")
}

// isDuplicateOperationKey reports whether err is the unique violation of an
// operation's idempotency key.
func isDuplicateOperationKey(err error) bool {
	if state, constraint := pgError(err); state == pgUniqueViolation {
		return constraint == operationKeyConstraint
	}
	// SQLite names the columns: "UNIQUE constraint failed:
	// creditledger_entries.account_id, creditledger_entries.idempotency_key".
	return strings.Contains(err.Error(), "creditledger_entries.idempotency_key")
}

// isLotRemainingViolation reports whether err is the CHECK that keeps a
// lot's remaining within [0, amount].
func isLotRemainingViolation(err error) bool {
	if state, constraint := pgError(err); state == pgCheckViolation {
		return constraint == lotRemainingConstraint
	}
	return strings.Contains(err.Error(), lotRemainingConstraint)
}

func slogDialect(k kind) slog.Attr { return slog.String("dialect", k.String()) }

// isRequiredCountViolation reports whether err is the error of
// creditledger_require_count: a batch debited a lot or updated an account
// that does not exist.
func isRequiredCountViolation(err error) bool {
	state, _ := pgError(err)
	return state == pgNoDataFound
}

// isForeignKeyViolation reports whether err is a foreign key violation: a
// record naming an account, operation or lot that does not exist.
func isForeignKeyViolation(err error) bool {
	if state, _ := pgError(err); state == pgForeignKeyViolation {
		return true
	}
	return strings.Contains(err.Error(), "FOREIGN KEY constraint failed")
}
