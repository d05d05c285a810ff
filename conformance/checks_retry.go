package conformance

import (
	"net/http"
	"sync"
	"time"
)

// Retry-After given as an HTTP-date (SPEC.md FLX-DLV-006): a sender that
// reads only delta-seconds retries on its own backoff, about 1 s later.

// retryAfterDateLead is how far ahead of the 503 the tester's HTTP-date
// lies: at least 4 s (the date has whole seconds, so it is rounded up).
const retryAfterDateLead = 4 * time.Second

// checkRetryAfterDateHonoured checks that after a 503 whose Retry-After
// is an HTTP-date about 4 s ahead, the next attempt comes no sooner than
// that date.
func checkRetryAfterDateHonoured(t *T) {
	var (
		mu    sync.Mutex
		until time.Time
	)
	caseID := t.sendCase(func(a *Arrival) Action {
		if a.Attempt == 1 {
			mu.Lock()
			until = time.Now().Add(retryAfterDateLead + time.Second).Truncate(time.Second)
			mu.Unlock()
			return Action{Status: http.StatusServiceUnavailable, Code: "unavailable",
				RetryAfter: until.UTC().Format(http.TimeFormat)}
		}
		return Action{}
	})
	cs := t.listener.Wait(forCase(caseID), 2, t.patience+retryAfterDateLead)
	if len(cs) < 2 {
		t.Fatalf("%d attempts arrived within %s (the first answered 503 with an HTTP-date Retry-After), want 2", len(cs), t.patience+retryAfterDateLead)
	}
	mu.Lock()
	defer mu.Unlock()
	gap := cs[1].At.Sub(cs[0].At)
	if early := until.Sub(cs[1].At); early > timingSlack {
		t.Errorf("the next attempt came %s after a 503 with Retry-After: %s, %s before that date", gap.Round(10*time.Millisecond), until.UTC().Format(http.TimeFormat), early.Round(10*time.Millisecond))
	}
	t.Logf("gap %s", gap.Round(10*time.Millisecond))
}
