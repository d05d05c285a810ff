//go:build race

package racetest

const builtWithRace = true
