package main

import "testing"

// TestMemoryLimit: a configured limit is kept, -1 is none, and 0 is three
// quarters of the memory available (a cgroup's limit, or the machine's),
// none when that is unknown.
func TestMemoryLimit(t *testing.T) {
	avail := func(v int64) func() int64 { return func() int64 { return v } }
	for _, tc := range []struct {
		name       string
		configured int64
		available  int64
		want       int64
	}{
		{"configured", 512 << 20, 8 << 30, 512 << 20},
		{"none", -1, 8 << 30, 0},
		{"automatic", 0, 8 << 30, 6 << 30},
		{"automatic, nothing known", 0, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := memoryLimit(tc.configured, avail(tc.available)); got != tc.want {
				t.Fatalf("memoryLimit(%d) = %d, want %d", tc.configured, got, tc.want)
			}
		})
	}
}

// TestCgroupAndMeminfo: the cgroup limit files and /proc/meminfo as the
// kernel writes them.
func TestCgroupAndMeminfo(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
		ok   bool
	}{
		{"max\n", 0, false},
		{"1073741824\n", 1 << 30, true},
		{"9223372036854771712\n", 0, false}, // cgroup v1: no limit
		{"", 0, false},
	} {
		if got, ok := cgroupLimit([]byte(tc.in)); got != tc.want || ok != tc.ok {
			t.Errorf("cgroupLimit(%q) = %d %t, want %d %t", tc.in, got, ok, tc.want, tc.ok)
		}
	}
	info := "MemFree:         1000 kB\nMemTotal:        8048576 kB\n"
	if got := memTotal([]byte(info)); got != 8048576<<10 {
		t.Errorf("memTotal = %d", got)
	}
	if got := memTotal([]byte("MemFree: 1 kB\n")); got != 0 {
		t.Errorf("memTotal without MemTotal = %d", got)
	}
}
