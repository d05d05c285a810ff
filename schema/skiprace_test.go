package schema

import "testing"

// skipUnderRace skips a test that is a pure computation (no goroutine, no
// shared state) under the race detector: the README's third test command
// runs it without the detector, which finds nothing in it and makes it five
// times slower. (schema cannot import node/internal/racetest.)
func skipUnderRace(t *testing.T) {
	t.Helper()
	if raceEnabled {
		t.Skip("a pure computation: run without -race by the README's third test command")
	}
}
