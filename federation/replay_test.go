package federation

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func TestMemoryReplayGuard(t *testing.T) {
	ctx := context.Background()
	clock := &fakeClock{now: t0}
	g := NewMemoryReplayGuard(clock.Now, time.Minute)
	exp := t0.Add(time.Hour)
	steps := []struct {
		name     string
		jti, sum string
		wantDup  bool
		wantCode Code
	}{
		{"first sighting", "XA-RC/1", "aa", false, ""},
		{"same bytes again", "XA-RC/1", "aa", true, ""},
		{"same jti, other bytes", "XA-RC/1", "bb", false, CodeReplay},
		{"still a duplicate after the refused replay", "XA-RC/1", "aa", true, ""},
		{"same jti from another sender", "XB-RC/1", "bb", false, ""},
	}
	for _, s := range steps {
		dup, err := g.Seen(ctx, s.jti, s.sum, exp)
		if dup != s.wantDup || CodeOf(err) != s.wantCode {
			t.Fatalf("%s: dup=%v err=%v", s.name, dup, err)
		}
	}
	if g.Len() != 2 {
		t.Fatalf("Len %d", g.Len())
	}

	// Forgotten only after exp + grace, then pruned.
	clock.Advance(time.Hour + 30*time.Second)
	if dup, _ := g.Seen(ctx, "XA-RC/1", "aa", exp); !dup {
		t.Fatal("forgot the jti within the grace period")
	}
	clock.Advance(time.Minute)
	if dup, err := g.Seen(ctx, "XA-RC/1", "cc", clock.Now().Add(time.Hour)); dup || err != nil {
		t.Fatalf("expired entry still blocks: dup=%v err=%v", dup, err)
	}
	clock.Advance(2 * time.Hour)
	if _, err := g.Seen(ctx, "XC-RC/9", "dd", clock.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if g.Len() != 1 {
		t.Fatalf("after pruning Len = %d, want 1", g.Len())
	}

	if _, err := g.Seen(ctx, "", "aa", exp); err == nil {
		t.Fatal("empty jti accepted")
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := g.Seen(cctx, "x", "aa", exp); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: %v", err)
	}
}

// Run with -race: concurrent re-sends of one envelope are recorded once; of
// concurrent different envelopes under one jti, exactly one wins.
func TestMemoryReplayGuardConcurrent(t *testing.T) {
	ctx := context.Background()
	g := NewMemoryReplayGuard(nil, -1)
	exp := time.Now().Add(time.Hour)
	const n = 32
	var first, dups, replays atomic.Int32
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			dup, err := g.Seen(ctx, "XA-RC/same", "aa", exp)
			switch {
			case err != nil:
				t.Error(err)
			case dup:
				dups.Add(1)
			default:
				first.Add(1)
			}
			_, err = g.Seen(ctx, "XA-RC/contested", fmt.Sprint(i), exp)
			if errors.Is(err, ErrReplay) {
				replays.Add(1)
			} else if err != nil {
				t.Error(err)
			}
			_, _ = g.Seen(ctx, fmt.Sprintf("XB-RC/%d", i), "bb", exp)
		}(i)
	}
	wg.Wait()
	if first.Load() != 1 || dups.Load() != n-1 || replays.Load() != n-1 || g.Len() != n+2 {
		t.Fatalf("first=%d dups=%d replays=%d len=%d", first.Load(), dups.Load(), replays.Load(), g.Len())
	}
}

func TestEnvelopeCheckReplay(t *testing.T) {
	f := newFixture(t)
	v := f.verifier("XB-RC")
	g := NewMemoryReplayGuard(func() time.Time { return t0 }, DefaultSkew)
	raw := f.sign(t, f.claims("XA-RC", "XB-RC"), f.keys["XA-RC"])
	env := must(v.Verify(t.Context(), raw, "XA-RC"))
	if dup, err := env.CheckReplay(t.Context(), g); dup || err != nil {
		t.Fatalf("first: %v %v", dup, err)
	}
	again := must(v.Verify(t.Context(), raw, "XA-RC"))
	if dup, err := again.CheckReplay(t.Context(), g); !dup || err != nil {
		t.Fatalf("re-send: %v %v", dup, err)
	}
	// The same jti re-signed (other bytes) is a replay.
	c := f.claims("XA-RC", "XB-RC")
	c.JTI = env.JTI
	c.Body = []byte(`{"schema":"flx/v1/case","case_id":"XA-RC:other"}`)
	forged := must(v.Verify(t.Context(), f.sign(t, c, f.keys["XA-RC"]), "XA-RC"))
	if _, err := forged.CheckReplay(t.Context(), g); !errors.Is(err, ErrReplay) {
		t.Fatalf("same jti, other bytes: %v", err)
	}
	if ReplayKey("XA-RC", "j") != "XA-RC/j" {
		t.Fatal("ReplayKey")
	}
}
