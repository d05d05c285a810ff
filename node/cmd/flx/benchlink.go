package main

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/familylinks/flx/node/linksim"
)

// linkSpec is a simulated long link for flx bench exchange --link.
type linkSpec = linksim.Link

// parseLink reads "300ms" or "300ms,cut=5MiB" (units B, KiB, MiB).
func parseLink(s string) (linkSpec, error) {
	var l linkSpec
	if s == "" {
		return l, nil
	}
	parts := strings.Split(s, ",")
	d, err := time.ParseDuration(strings.TrimSpace(parts[0]))
	if err != nil || d < 0 {
		return l, fmt.Errorf("--link: %q: want a one-way delay such as 300ms, then optionally ,cut=5MiB", s)
	}
	l.Delay = d
	for _, p := range parts[1:] {
		v, ok := strings.CutPrefix(strings.TrimSpace(p), "cut=")
		if !ok {
			return l, fmt.Errorf("--link: unknown %q", p)
		}
		num, mult := v, int64(1)
		// Longest suffix first: "B" also ends "MiB" (a map's order once
		// made "5MiB" read as "5Mi" bytes, now and then).
		for _, u := range []struct {
			suffix string
			mult   int64
		}{{"MiB", 1 << 20}, {"KiB", 1 << 10}, {"B", 1}} {
			if t, ok := strings.CutSuffix(v, u.suffix); ok {
				num, mult = t, u.mult
				break
			}
		}
		n, err := strconv.ParseInt(num, 10, 64)
		if err != nil || n <= 0 || n > math.MaxInt64/mult {
			return l, fmt.Errorf("--link: cut=%q: want a size such as 5MiB", v)
		}
		l.CutEach = n * mult
	}
	return l, nil
}

func linkString(l linkSpec) string {
	s := fmt.Sprintf("%s each way (%s round trip)", l.Delay, 2*l.Delay)
	if l.CutEach > 0 {
		s += fmt.Sprintf(", every connection cut after %d KiB", l.CutEach>>10)
	}
	return s
}
