package conformance

import (
	"bytes"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// Outbound fault injection (SPEC.md §7, §10.1): the tester, as the
// receiving peer, gives every answer the SPEC classifies, each as the only
// fault of one case, and watches what the candidate does next.

// retriedAnswer is an answer a sender must treat as a failed attempt and
// retry with the same bytes (FLX-DLV-002).
type retriedAnswer struct {
	name string
	act  Action
}

// retriedAnswers are the answers of FLX-DLV-002 the tester injects, besides
// the 503s, dropped connections and receipt faults of other checks.
var retriedAnswers = []retriedAnswer{
	{"500 internal_error", Action{Status: http.StatusInternalServerError, Code: "internal_error"}},
	{"502", Action{Status: http.StatusBadGateway, Code: "internal_error"}},
	{"429 rate_limited without Retry-After", Action{Status: http.StatusTooManyRequests, Code: "rate_limited"}},
	{"408", Action{Status: http.StatusRequestTimeout, Code: "internal_error"}},
	{"401 unauthenticated_peer", Action{Status: http.StatusUnauthorized, Code: "unauthenticated_peer"}},
	{"400 unknown_key", Action{Status: http.StatusBadRequest, Code: "unknown_key"}},
	{"307 to another path", Action{Status: http.StatusTemporaryRedirect, Code: "internal_error", Location: movedPath}},
	{"204 without a receipt", Action{Status: http.StatusNoContent}},
}

// movedPath is where the tester's 3xx answers point: a sender never follows
// them (FLX-API-006), so nothing may arrive there.
const movedPath = "/flx/v1/moved"

// firstAnswered makes the candidate send one case whose first attempt gets
// act and later ones a valid receipt; it returns the arrivals of the case
// once a second copy came (or patience ran out) and what is wrong with them.
func (t *T) firstAnswered(act Action) (string, []*Arrival, error) {
	caseID := t.sendCase(func(a *Arrival) Action {
		if a.Attempt == 1 {
			return act
		}
		return Action{}
	})
	got := t.listener.Wait(forCase(caseID), 2, t.patience)
	switch {
	case len(got) == 0:
		return caseID, got, fmt.Errorf("nothing arrived within %s of the forward", t.patience)
	case len(got) < 2:
		return caseID, got, fmt.Errorf("not sent again within %s", t.patience)
	case !bytes.Equal(got[1].Raw, got[0].Raw):
		return caseID, got, fmt.Errorf("sent again with other bytes (jti %s, then %s)", got[0].JTI, got[1].JTI)
	}
	return caseID, got, nil
}

// checkEveryRetriedAnswer checks that each answer FLX-DLV-002 lists (500,
// 502, 429, 408, 401 unauthenticated_peer, 400 unknown_key, a 3xx, another
// 2xx), given as the only fault to a case's first attempt, is retried with
// the same bytes, and that a 3xx is not followed.
func checkEveryRetriedAnswer(t *T) {
	for _, ra := range retriedAnswers {
		start := time.Now()
		_, got, err := t.firstAnswered(ra.act)
		if err != nil {
			t.Errorf("after %s: %v", ra.name, err)
			continue
		}
		t.Logf("%s: retried after %s", ra.name, got[1].At.Sub(got[0].At).Round(10*time.Millisecond))
		if ra.act.Location != "" {
			if moved := t.listener.Arrivals(func(a *Arrival) bool { return a.Path == movedPath && a.At.After(start) }); len(moved) > 0 {
				t.Errorf("after %s: the candidate followed the redirect to %s (FLX-API-006)", ra.name, movedPath)
			}
		}
	}
}

// checkEveryBadReceipt checks that a 202 whose receipt breaks one thing
// FLX-RCP-005 makes the sender check (digest, receipt_for, aud, iss, signer,
// signature, typ, status, iat, claims, key validity) is retried with the
// same bytes: each fault as the only one of a case's first attempt.
func checkEveryBadReceipt(t *T) {
	for _, fault := range badReceipts {
		_, got, err := t.firstAnswered(Action{Receipt: fault})
		if err != nil {
			t.Errorf("after a receipt with %s: %v", fault, err)
			continue
		}
		t.Logf("%s: retried after %s", fault, got[1].At.Sub(got[0].At).Round(10*time.Millisecond))
	}
}

// deadLetterCodes are refusals a sender must not retry (FLX-DLV-003): every
// 4xx code of §8.2 other than unauthenticated_peer and unknown_key.
var deadLetterCodes = []string{
	"bad_envelope", "bad_signature", "unsupported_alg", "sender_mismatch", "wrong_audience", "expired",
	"not_yet_valid", "replay", "schema_invalid", "too_large", "unsupported_kind", "suspended_member",
	"not_found", "method_not_allowed",
}

// checkNoResendAfterEvery4xx checks that after each 4xx refusal other than
// 401 unauthenticated_peer, 400 unknown_key, 408 and 429 (one case per
// code, all at once) no copy arrives within the quiet period.
func checkNoResendAfterEvery4xx(t *T) {
	cases := map[string]string{}
	for _, code := range deadLetterCodes {
		status := statusFor(code)
		act := Action{Status: status, Code: code}
		cases[t.sendCase(func(*Arrival) Action { return act })] = fmt.Sprintf("%d %s", status, code)
	}
	deadline := time.Now().Add(t.patience)
	var missing []string
	for id, name := range cases {
		if len(t.listener.Wait(forCase(id), 1, time.Until(deadline))) == 0 {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		t.Fatalf("no attempt arrived within %s for the cases to be answered %s", t.patience, strings.Join(missing, ", "))
	}
	time.Sleep(t.quiet)
	for id, name := range cases {
		if got := t.listener.Arrivals(forCase(id)); len(got) > 1 {
			t.Errorf("after %s the envelope was sent %d more time(s)", name, len(got)-1)
		}
	}
}
