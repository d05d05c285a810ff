package main

import (
	"strings"
	"testing"
	"time"
)

// TestParseLink: --link's delay and cut size, each unit, and the errors.
// Each case is parsed many times: the units were once tried in a map's
// random order, so "5MiB" read now and then as "5Mi" with the unit B.
func TestParseLink(t *testing.T) {
	for _, tc := range []struct {
		in    string
		delay time.Duration
		cut   int64
		err   string
	}{
		{in: ""},
		{in: "300ms", delay: 300 * time.Millisecond},
		{in: "300ms,cut=5MiB", delay: 300 * time.Millisecond, cut: 5 << 20},
		{in: "1s, cut=64KiB", delay: time.Second, cut: 64 << 10},
		{in: "0s,cut=1000B", cut: 1000},
		{in: "10ms,cut=4096", delay: 10 * time.Millisecond, cut: 4096},
		{in: "fast", err: "want a one-way delay"},
		{in: "-1s", err: "want a one-way delay"},
		{in: "300ms,drop=5", err: "unknown"},
		{in: "300ms,cut=5Mi", err: "want a size"},
		{in: "300ms,cut=0MiB", err: "want a size"},
		{in: "300ms,cut=MiB", err: "want a size"},
		{in: "300ms,cut=9223372036854775807MiB", err: "want a size"},
	} {
		for range 64 {
			l, err := parseLink(tc.in)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("parseLink(%q) = %v, want an error with %q", tc.in, err, tc.err)
				}
				continue
			}
			if err != nil || l.Delay != tc.delay || l.CutEach != tc.cut {
				t.Fatalf("parseLink(%q) = delay %v cut %d, %v; want %v, %d", tc.in, l.Delay, l.CutEach, err, tc.delay, tc.cut)
			}
		}
	}
}
