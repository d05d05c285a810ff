package main

import (
	"bufio"
	"bytes"
	"log/slog"
	"math"
	"os"
	"runtime/debug"
	"strconv"
	"strings"

	"github.com/familylinks/flx/node/config"
)

// applyRuntime sets the garbage collector's target and soft memory limit
// of this process from c (config.Runtime), unless the standard GOGC or
// GOMEMLIMIT variable set them already, and logs what it set. It is
// process-wide: flx serve calls it once, before starting the node. It
// returns the settings in effect (limit 0: none).
func applyRuntime(c config.Runtime, log *slog.Logger) (gcPercent int, limit int64) {
	attrs := []any{}
	if _, ok := os.LookupEnv("GOGC"); ok {
		attrs = append(attrs, "gc_percent", "GOGC")
	} else {
		debug.SetGCPercent(c.GCPercent)
		attrs = append(attrs, "gc_percent", c.GCPercent)
	}
	if _, ok := os.LookupEnv("GOMEMLIMIT"); ok {
		attrs = append(attrs, "memory_limit", "GOMEMLIMIT")
	} else if limit := memoryLimit(c.MemoryLimitBytes, availableMemory); limit > 0 {
		debug.SetMemoryLimit(limit)
		attrs = append(attrs, "memory_limit_mib", limit>>20)
	} else {
		attrs = append(attrs, "memory_limit", "none")
	}
	log.Info("garbage collector", attrs...)
	gcPercent = debug.SetGCPercent(-1)
	debug.SetGCPercent(gcPercent)
	if limit = debug.SetMemoryLimit(-1); limit == math.MaxInt64 {
		limit = 0
	}
	return gcPercent, limit
}

// memoryLimit is the soft limit for configured (runtime.memory_limit_bytes):
// the value itself when positive, none (0) for -1, and for 0 three
// quarters of what available returns (0 when it knows nothing).
func memoryLimit(configured int64, available func() int64) int64 {
	switch {
	case configured > 0:
		return configured
	case configured < 0:
		return 0
	}
	return available() / 4 * 3
}

// availableMemory returns the memory this process may use: its cgroup's
// limit (v2, then v1) when one is set, else the machine's memory; 0 when
// neither can be read.
func availableMemory() int64 {
	for _, f := range []string{"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"} {
		if b, err := os.ReadFile(f); err == nil {
			if v, ok := cgroupLimit(b); ok {
				return v
			}
		}
	}
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0
	}
	return memTotal(b)
}

// cgroupLimit reads a cgroup memory limit file: "max", or a v1 value so
// large it stands for no limit, is none.
func cgroupLimit(b []byte) (int64, bool) {
	s := strings.TrimSpace(string(b))
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v <= 0 || v >= 1<<60 {
		return 0, false
	}
	return v, true
}

// memTotal reads MemTotal (kB) from /proc/meminfo, in bytes.
func memTotal(b []byte) int64 {
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) >= 2 && f[0] == "MemTotal:" {
			kb, err := strconv.ParseInt(f[1], 10, 64)
			if err != nil || kb <= 0 {
				return 0
			}
			return kb << 10
		}
	}
	return 0
}
