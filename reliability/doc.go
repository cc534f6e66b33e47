// Package reliability holds the reliability tests of creditledger (issue
// #7): what the ledger does when the process running it is killed, when the
// database connection dies, times out or becomes unreachable, when many
// processes and goroutines use one database at once, and when callers pass
// hostile input.
//
// The package has no code of its own: everything is in its _test.go files,
// which run with the rest of the module's tests (go test ./...). The
// PostgreSQL scenarios use a schema of their own per test (see
// internal/testdb) and skip when PostgreSQL is unreachable, unless
// CREDITLEDGER_REQUIRE_POSTGRES=1. Some tests re-execute the test binary as
// child processes (TestHelperDistributeWorker), which they kill with
// SIGKILL or run five at a time.
//
// The default sizes keep the whole package well under three minutes with
// -race on two cores. -reliability.heavy runs larger variants (more
// accounts, kills, rounds, processes and inputs); -reliability.seed=S
// replays the random choices of a run (every test logs its seed).
//
// docs/RELIABILITY.md describes each scenario, how to run
// it, what it asserts, and the figures of a real run.
package reliability
