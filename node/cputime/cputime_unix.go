//go:build unix

package cputime

import (
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Process is the CPU time (user and system) this process has used so far;
// 0 if the system does not say.
func Process() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// OfProcess is the CPU time (user and system) process pid has used so far,
// read from /proc/<pid>/stat (Linux): how the benchmarks count a local
// PostgreSQL server's backends. ok is false where it cannot be read (no
// such process, no /proc, a line not as Linux writes it).
func OfProcess(pid int) (d time.Duration, ok bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, false
	}
	// The fields after the command name (which may hold spaces and
	// parentheses): the state is the first, utime and stime the 12th and
	// 13th, in clock ticks.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0, false
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, false
	}
	const hz = 100 // USER_HZ on Linux
	return time.Duration(ut+st) * time.Second / hz, true
}
