//go:build unix

package cputime_test

import (
	"crypto/sha256"
	"testing"
	"time"

	"github.com/familylinks/flx/node/cputime"
)

// TestProcessCountsWork: work done between two readings shows as CPU
// time, and the reading never goes back.
func TestProcessCountsWork(t *testing.T) {
	before := cputime.Process()
	sum := sha256.Sum256(nil)
	for start := time.Now(); time.Since(start) < 50*time.Millisecond; {
		sum = sha256.Sum256(sum[:])
	}
	after := cputime.Process()
	if after <= before {
		t.Fatalf("CPU time %v after 50 ms of hashing, %v before (%x)", after, before, sum[:2])
	}
}
