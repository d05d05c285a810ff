package federation

import (
	"runtime"
	"syscall"
	"time"
)

// threadCPU locks the goroutine to its thread and returns the CPU time
// that thread has used: what a benchmark loop costs, whatever else runs on
// the machine.
func threadCPU() time.Duration {
	runtime.LockOSThread()
	var ru syscall.Rusage
	if err := syscall.Getrusage(1 /* RUSAGE_THREAD */, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
