//go:build !unix

package cputime

import "time"

// Process is not measured on this platform: it is 0, and benchmarks report
// wall time.
func Process() time.Duration { return 0 }

// OfProcess is not measured on this platform: ok is false.
func OfProcess(pid int) (d time.Duration, ok bool) { return 0, false }
