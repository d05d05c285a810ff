// Package dbtest gives tests throwaway databases: a fresh, uniquely named
// PostgreSQL database per call (from FLX_TEST_POSTGRES, or a dockertest
// container when a Docker engine is reachable, started by the command
// dockerpg with `go run`) and a SQLite file in a
// temporary directory (on /dev/shm when there is one). Each database is dropped when its test ends, so test runs never
// depend on earlier runs and packages can run in parallel against one
// server. Under Main (a package's TestMain) the drops run after the test,
// off its path, and PostgresDSNFrom and SQLitePathFrom hand out copies of
// a database prepared once per test binary (a migrated schema).
//
// Without PostgreSQL a test is skipped with a message saying how to provide
// one, unless FLX_REQUIRE_POSTGRES=1 (CI), where it fails instead.
//
// It is for tests only. It must never import the store or any other FLX
// package (federation, policy, schema, conformance, the node's HTTP
// packages): it hands out connection strings and nothing else.
package dbtest
