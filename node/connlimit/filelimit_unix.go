//go:build unix

package connlimit

import (
	"math"
	"syscall"
)

// FileLimit returns how many files this process may hold open
// (RLIMIT_NOFILE's soft limit, which Go raises to the hard limit as the
// process starts), or 0 when it cannot tell.
func FileLimit() int {
	var r syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r); err != nil {
		return 0
	}
	// Cur is unsigned on some systems, signed on others (RLIM_INFINITY
	// is then -1): either way a value beyond MaxInt32 is as good as none.
	cur := uint64(r.Cur)
	if cur > math.MaxInt32 {
		return math.MaxInt32
	}
	return int(cur)
}
