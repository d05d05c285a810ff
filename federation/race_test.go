package federation

import (
	"runtime/debug"
	"testing"
)

// skipUnderRace skips a test that is a pure computation (no goroutine, no
// shared state) when the binary was built with -race: the README's third
// test command runs it without the detector, which finds nothing in it and
// makes it ten times slower.
func skipUnderRace(t *testing.T) {
	t.Helper()
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "-race" && s.Value == "true" {
				t.Skip("a pure computation: run without -race by the README's third test command")
			}
		}
	}
}
