package backoff

import (
	"testing"
	"time"
)

func TestDelayBounds(t *testing.T) {
	p := Policy{Initial: time.Second, Max: time.Minute}
	tests := []struct {
		attempt int
		lo, hi  time.Duration
	}{
		{0, 500 * time.Millisecond, time.Second},
		{1, 500 * time.Millisecond, time.Second},
		{2, time.Second, 2 * time.Second},
		{3, 2 * time.Second, 4 * time.Second},
		{7, 30 * time.Second, time.Minute},
		{1000, 30 * time.Second, time.Minute}, // no overflow
	}
	for _, tc := range tests {
		for _, r := range []float64{0, 0.5, 0.999999} {
			p.Rand = func() float64 { return r }
			d := p.Delay(tc.attempt)
			if d < tc.lo || d > tc.hi {
				t.Errorf("Delay(%d) with r=%v = %v, want in [%v, %v]", tc.attempt, r, d, tc.lo, tc.hi)
			}
		}
	}
}

func TestDelayIsJittered(t *testing.T) {
	p := Policy{Initial: time.Second, Max: time.Hour}
	seen := map[time.Duration]bool{}
	for i := 0; i < 50; i++ {
		seen[p.Delay(5)] = true
	}
	if len(seen) < 10 {
		t.Fatalf("only %d distinct delays in 50 draws: not jittered", len(seen))
	}
}

func TestDelayGrows(t *testing.T) {
	p := Policy{Initial: 100 * time.Millisecond, Max: time.Hour, Rand: func() float64 { return 0 }}
	prev := time.Duration(0)
	for a := 1; a < 16; a++ {
		d := p.Delay(a)
		if d < prev {
			t.Fatalf("delay shrank at attempt %d: %v < %v", a, d, prev)
		}
		prev = d
	}
}

func TestWaitHonoursRetryAfterWithinMax(t *testing.T) {
	p := Policy{Initial: time.Second, Max: time.Minute, Rand: func() float64 { return 0 }}
	tests := []struct {
		failures int
		after    time.Duration
		want     time.Duration
	}{
		{1, 0, 500 * time.Millisecond},
		{1, 3 * time.Second, 3 * time.Second},
		{3, time.Second, 2 * time.Second}, // the backoff is longer
		{1, time.Hour, time.Minute},       // capped at Max
		{8, 0, 30 * time.Second},
	}
	for _, tc := range tests {
		if got := p.Wait(tc.failures, tc.after); got != tc.want {
			t.Errorf("Wait(%d, %v) = %v, want %v", tc.failures, tc.after, got, tc.want)
		}
	}
}
