package racetest

import "testing"

// TestEnabledMatchesTheBuild compares Enabled, read from the build settings,
// with the race build tag the compiler set for this test binary.
func TestEnabledMatchesTheBuild(t *testing.T) {
	if got := Enabled(); got != builtWithRace {
		t.Fatalf("Enabled() = %t in a binary built with race = %t", got, builtWithRace)
	}
}

// TestSkipComputation: under -race the test is skipped, without it it runs.
func TestSkipComputation(t *testing.T) {
	ran := false
	t.Run("computation", func(t *testing.T) {
		SkipComputation(t)
		ran = true
	})
	if ran == builtWithRace {
		t.Fatalf("SkipComputation let the test run = %t in a binary built with race = %t", ran, builtWithRace)
	}
}
