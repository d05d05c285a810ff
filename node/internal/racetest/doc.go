// Package racetest tells a test whether its binary was built with the race
// detector, so that a pure computation (a quality measurement over tens of
// thousands of generated people, say) can run once, without the detector,
// in the README's third test command instead of six times slower under it.
// Only tests import it; it must never import anything of this module.
package racetest
