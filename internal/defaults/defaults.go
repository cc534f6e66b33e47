// Package defaults holds values that several programs of the repository
// must agree on.
package defaults

// ExampleSQLiteFile is the SQLite database the example server and the
// creditledger command open when neither -db nor DATABASE_URL says
// otherwise: a file of that name in the working folder (the repository's
// .gitignore lists it). Sharing the name lets `go run ./cmd/creditledger
// balance demo-free-1` read what `go run ./examples/server` wrote.
const ExampleSQLiteFile = "creditledger-example.db"
