//go:build unix

package cputime_test

import (
	"crypto/sha256"
	"os"
	"runtime"
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

// TestOfProcessReadsOwnProcess: /proc's reading of this process follows
// the work it does like Process does; a process that does not exist is
// not read.
func TestOfProcessReadsOwnProcess(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("/proc/<pid>/stat is Linux's")
	}
	before, ok := cputime.OfProcess(os.Getpid())
	if !ok {
		t.Fatal("this process's /proc/<pid>/stat could not be read")
	}
	// 100 ms of CPU by getrusage, however loaded the machine is.
	sum := sha256.Sum256(nil)
	for start := cputime.Process(); cputime.Process()-start < 100*time.Millisecond; {
		for range 1000 {
			sum = sha256.Sum256(sum[:])
		}
	}
	after, ok := cputime.OfProcess(os.Getpid())
	if !ok || after-before < 50*time.Millisecond {
		t.Fatalf("CPU time %v after 100 ms of hashing, %v before (%x)", after, before, sum[:2])
	}
	if d := cputime.Process(); after > d+20*time.Millisecond {
		t.Fatalf("/proc says %v, getrusage %v later", after, d)
	}
	if d, ok := cputime.OfProcess(1 << 30); ok {
		t.Fatalf("a process that cannot exist read as %v", d)
	}
}
