// Command dockerpg starts PostgreSQL in a Docker container for dbtest (the
// tests' fallback when FLX_TEST_POSTGRES is not set), prints the server's
// DSN on a line of its own, and purges the container when its standard
// input ends: when the test binary that started it closes the pipe, or
// exits or is killed. Docker also removes the container after 15 minutes
// (a safety net: this process itself killed).
//
// It is a process of its own so that Docker's client libraries, which
// dockertest brings, are compiled only when a test needs Docker: never in
// the README's test command, which names its PostgreSQL server (dbtest
// runs it with `go run`).
//
// Like dbtest, it must never import an FLX package: it starts a container
// and hands out its DSN, nothing else.
package main
