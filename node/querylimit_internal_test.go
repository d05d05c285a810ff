package node

import (
	"testing"
	"time"
)

// TestQueryLimiterRefills: a bucket of 2 a minute gives 2 at once, then
// one every 30 s, and says how long to wait.
func TestQueryLimiterRefills(t *testing.T) {
	l := newQueryLimiter(2)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i, want := range []bool{true, true, false} {
		if ok, _ := l.take("XA-RC", t0); ok != want {
			t.Fatalf("take %d: %v", i, ok)
		}
	}
	if ok, wait := l.take("XA-RC", t0.Add(10*time.Second)); ok || wait < 19*time.Second || wait > 21*time.Second {
		t.Fatalf("10 s later: %v, wait %s (want about 20 s)", ok, wait)
	}
	if ok, _ := l.take("XA-RC", t0.Add(31*time.Second)); !ok {
		t.Fatal("31 s later: still refused")
	}
	if newQueryLimiter(-1) != nil {
		t.Fatal("a negative rate must mean no bound")
	}
}
