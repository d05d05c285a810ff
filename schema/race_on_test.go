//go:build race

package schema

// raceEnabled: under the race detector sync.Pool drops items at random,
// so allocation counts are not those of a normal build.
const raceEnabled = true
