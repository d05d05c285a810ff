//go:build !race

package racetest

const builtWithRace = false
