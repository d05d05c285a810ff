package racetest

import (
	"runtime/debug"
	"testing"
)

// Enabled reports whether this binary was built with -race.
func Enabled() bool {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return false
	}
	for _, s := range bi.Settings {
		if s.Key == "-race" {
			return s.Value == "true"
		}
	}
	return false
}

// SkipComputation skips t under the race detector. Use it only for tests
// with no concurrency of their own: the README's test command runs them
// again without -race, where they take a sixth of the time.
func SkipComputation(t testing.TB) {
	t.Helper()
	if Enabled() {
		t.Skip("a pure computation: run without -race by the README's third test command")
	}
}
