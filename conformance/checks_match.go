package conformance

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"time"

	"github.com/familylinks/flx/federation"
	"github.com/familylinks/flx/schema"
)

// Cross-border matching (SPEC.md §20): match.query and match.answer.

// encodingDoc is a well-formed encoding of version 1 (random bits: the
// suite holds no federation matching secret, so it matches nothing).
func encodingDoc(exp time.Time) map[string]any {
	filter := base64.StdEncoding.EncodeToString(randBytes(128))
	return map[string]any{
		"v": 1, "alg": "clk-hmac-sha256-blip", "kid": "conformance-1",
		"params":  map[string]any{"l": 1024, "k_skel": 16, "k_phon": 0, "k_year": 24, "k_sex": 8, "flip": 0.02, "block_bits": 16},
		"exp":     exp.UTC().Truncate(time.Second).Format(time.RFC3339),
		"filters": []string{filter, base64.StdEncoding.EncodeToString(randBytes(128))},
		"blocks":  []string{base64.RawURLEncoding.EncodeToString(randBytes(2)), base64.RawURLEncoding.EncodeToString(randBytes(2))},
	}
}

// queryDoc is a match query about person p1 of caseID.
func queryDoc(caseID string, enc map[string]any) []byte {
	b, _ := json.Marshal(map[string]any{"schema": "flx/v1/match_query", "case_id": caseID, "person_id": "p1", "encoding": enc})
	return b
}

// checkMatchQueryAnswered checks that a match query from the case's origin
// is accepted and answered, within the patience, by a match.answer to the
// origin that copies case_id and person_id, names the query's jti and the
// candidate as responder, and conforms to match_answer (handles and scores
// only).
func checkMatchQueryAnswered(t *T) {
	id := newCaseID(MemberTester)
	raw, c := t.envelope(federation.KindMatchQuery, queryDoc(id, encodingDoc(time.Now().Add(time.Hour))))
	t.mustAccept(t, t.post(t, raw), raw, c, federation.ReceiptAccepted)
	got := t.listener.Wait(func(a *Arrival) bool {
		return a.CaseID == id && a.Kind == string(federation.KindMatchAnswer) && a.Env != nil
	}, 1, t.patience)
	if len(got) == 0 {
		t.Fatalf("no match.answer to query %s arrived within %s", c.JTI, t.patience)
	}
	a := got[0].Env
	if a.Audience != MemberTester || a.Issuer != t.candidate {
		t.Errorf("answer iss %q aud %q", a.Issuer, a.Audience)
	}
	ans, err := schema.ParseMatchAnswer(a.Body)
	if err != nil {
		t.Fatalf("the answer does not conform to match_answer: %v", err)
	}
	if ans.InReplyTo != c.JTI || ans.CaseID != id || ans.PersonID != "p1" || ans.Responder != t.candidate {
		t.Errorf("answer %s does not copy case_id and person_id, or name the query's jti and the candidate", a.Body)
	}
}

// checkMatchQueryNoNames checks that a match query carrying anything beside
// the encoding and ids (a names member; a name where base64 belongs) is
// refused with schema_invalid.
func checkMatchQueryNoNames(t *T) {
	id := newCaseID(MemberTester)
	withNames := setMembers(queryDoc(id, encodingDoc(time.Now().Add(time.Hour))),
		map[string]any{"names": []any{map[string]any{"value": "Karo Hovsampelyan", "part": "full"}}})
	raw, _ := t.envelope(federation.KindMatchQuery, withNames)
	mustRefuse(t, t.post(t, raw), "schema_invalid")
	enc := encodingDoc(time.Now().Add(time.Hour))
	enc["filters"] = []string{"Karo Hovsampelyan"}
	raw, _ = t.envelope(federation.KindMatchQuery, queryDoc(id, enc))
	mustRefuse(t, t.post(t, raw), "schema_invalid")
}

// checkMatchSenderRole checks that a match query about another member's
// case, and a match answer whose responder is not iss, are refused with
// sender_mismatch.
func checkMatchSenderRole(t *T) {
	raw, _ := t.envelope(federation.KindMatchQuery, queryDoc(newCaseID(MemberPeer), encodingDoc(time.Now().Add(time.Hour))))
	mustRefuse(t, t.post(t, raw), "sender_mismatch")
	ans, _ := json.Marshal(map[string]any{"schema": "flx/v1/match_answer", "case_id": newCaseID(t.candidate), "person_id": "p1",
		"in_reply_to": federation.NewJTI(), "responder": MemberPeer, "candidates": []any{}})
	raw, _ = t.envelope(federation.KindMatchAnswer, ans)
	mustRefuse(t, t.post(t, raw), "sender_mismatch")
}

// checkMatchQueryExpired checks that a match query whose encoding expired
// is refused with expired.
func checkMatchQueryExpired(t *T) {
	raw, _ := t.envelope(federation.KindMatchQuery, queryDoc(newCaseID(MemberTester), encodingDoc(time.Now().Add(-time.Minute))))
	mustRefuse(t, t.post(t, raw), "expired")
}

// maxQueriesPerMinute is the most match queries a minute from one member
// FLX-MAT-007 lets a node accept.
const maxQueriesPerMinute = 600

// checkMatchQueryRateLimited sends valid match queries as fast as the
// candidate answers until it refuses one with rate_limited (429 with
// Retry-After); more than maxQueriesPerMinute accepted fails. It runs
// after the other match checks: it empties the tester's bucket.
func checkMatchQueryRateLimited(t *T) {
	start := time.Now()
	for i := 0; i <= maxQueriesPerMinute; i++ {
		raw, _ := t.envelope(federation.KindMatchQuery, queryDoc(newCaseID(MemberTester), encodingDoc(time.Now().Add(time.Hour))))
		ans := t.post(t, raw)
		if ans.Status == http.StatusAccepted {
			continue
		}
		mustRefuse(t, ans, "rate_limited")
		if ans.Header.Get("Retry-After") == "" {
			t.Errorf("rate_limited without Retry-After after %d queries", i)
		}
		// Other kinds do not count: a case.create right after the
		// refused query is accepted.
		raw, c := t.envelope(federation.KindCaseCreate, caseDoc(newCaseID(MemberTester), MemberTester))
		if _, err := t.checkReceipt(t.post(t, raw), raw, c, federation.ReceiptAccepted); err != nil {
			t.Errorf("a case.create right after the refused query (other kinds do not count): %v", err)
		}
		return
	}
	t.Fatalf("%d match queries from one member accepted in %s: no bound", maxQueriesPerMinute+1, time.Since(start).Round(time.Millisecond))
}
