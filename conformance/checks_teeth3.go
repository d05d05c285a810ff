package conformance

import (
	"time"
)

// Checks of issue 12's last requirements: an attempt the peer never
// answers (FLX-DLV-007), batches sent and answered (FLX-BAT-004,
// FLX-BAT-005), the audit head sent to a witness (FLX-WIT-001).

// checkHungAttemptAbandoned checks FLX-DLV-007 at both edges of the
// candidate's request timeout d (declared at init; 120 s when not): an
// attempt the tester never answers is given up and the same bytes arrive
// again on a new request within d and the patience (for the backoff); an
// attempt answered after d/2, inside the timeout, is taken as delivered
// and not sent again. The first probe is where a node without a timeout
// (or one over 120 s) fails; the second keeps the first honest: a node
// abandoning every attempt at once would pass it.
func checkHungAttemptAbandoned(t *T) {
	d := t.requestTimeout
	hung := t.sendCase(func(a *Arrival) Action {
		if a.Attempt == 1 {
			return Action{Hang: true}
		}
		return Action{}
	})
	first := t.listener.Wait(forCase(hung), 1, t.patience)
	if len(first) == 0 {
		t.Fatalf("the case's first attempt did not arrive within %s", t.patience)
	}
	wait := d + t.patience
	cs := t.listener.Wait(forCase(hung), 2, time.Until(first[0].At.Add(wait)))
	if len(cs) < 2 {
		t.Fatalf("an attempt the tester never answered was not abandoned and made again within %s (the candidate's request timeout %s, declared at init, and the patience %s for its backoff; FLX-DLV-007 allows at most 120 s)",
			wait, d, t.patience)
	}
	sameBytes(t, cs[:2])
	t.Logf("hung attempt given up and made again after %s (request timeout %s)", cs[1].At.Sub(cs[0].At).Round(100*time.Millisecond), d)

	slow := t.sendCase(func(a *Arrival) Action {
		if a.Attempt == 1 {
			return Action{Delay: d / 2}
		}
		return Action{}
	})
	got := t.listener.Wait(forCase(slow), 1, t.patience+d)
	if len(got) == 0 {
		t.Fatalf("the second case's first attempt was not answered within %s", t.patience+d)
	}
	time.Sleep(time.Until(got[0].AnsweredAt.Add(t.quiet)))
	if again := t.listener.Arrivals(forCase(slow)); len(again) > 1 {
		t.Errorf("an attempt answered with a valid receipt after %s, inside the request timeout %s, was made again (%d copies): it was abandoned early",
			d/2, d, len(again))
	}
}
