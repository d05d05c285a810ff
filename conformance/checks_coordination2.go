package conformance

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// Acknowledgements of pulled envelopes (SPEC.md §15.1, FLX-PUL-006 and
// FLX-PUL-007), checked from the tester's side as a pulling member.

// ackResult is the answer to POST /flx/v1/pull/ack.
type ackResult struct {
	Receipts []ackItem `json:"receipts"`
	Refusals []ackItem `json:"refusals"`
}

type ackItem struct {
	JTI    string `json:"jti"`
	Status string `json:"status"`
	Code   string `json:"code"`
}

// ack posts an acknowledgement body as the tester.
func (env *Env) ack(t TB, body []byte) *Answer {
	t.Helper()
	ans, err := env.request(certTester, http.MethodPost, "/flx/v1/pull/ack", body, "application/json")
	if err != nil {
		t.Fatalf("POST /flx/v1/pull/ack: %v", err)
	}
	return ans
}

// checkPullAckLimits checks that an acknowledgement with 1001 items or over
// 4 MiB is refused with too_large, and one that is not an object with
// exactly receipts (an array) and optionally refusals with bad_envelope.
func checkPullAckLimits(t *T) {
	items := make([]string, 1001)
	for i := range items {
		items[i] = fmt.Sprintf(`{"jti":"ack-%d","sha256":"%064d","code":"schema_invalid"}`, i, 0)
	}
	if _, err := shouldRefuse(t.ack(t, []byte(`{"receipts":[],"refusals":[`+strings.Join(items, ",")+`]}`)), "too_large"); err != nil {
		t.Errorf("1001 items: %v", err)
	}
	big := `{"receipts":["` + strings.Repeat("A", 4<<20) + `"]}`
	if _, err := shouldRefuse(t.ack(t, []byte(big)), "too_large"); err != nil {
		t.Errorf("over 4 MiB: %v", err)
	}
	// Without a Content-Length the node counts what it reads.
	ans, err := t.requestChunked(certTester, http.MethodPost, "/flx/v1/pull/ack", []byte(big), "application/json")
	if err != nil {
		t.Fatalf("POST /flx/v1/pull/ack chunked: %v", err)
	}
	if _, err := shouldRefuse(ans, "too_large"); err != nil {
		t.Errorf("over 4 MiB, chunked: %v", err)
	}
	for _, body := range []string{
		`[]`, `{}`, `{"refusals":[]}`, `{"receipts":"x"}`, `{"receipts":null}`,
		`{"receipts":[],"extra":1}`, `{"receipts":[],"receipts":[]}`, `{"receipts":[]`,
	} {
		if _, err := shouldRefuse(t.ack(t, []byte(body)), "bad_envelope"); err != nil {
			t.Errorf("acknowledgement %s: %v", body, err)
		}
	}
}

// checkPullAckVerified checks that a serving node records nothing on an
// acknowledgement it cannot verify: a refusal with a code that §8.2 retries
// is answered refused with bad_envelope, and a receipt whose iss is another
// member than the puller (signed by the puller) is answered refused.
func checkPullAckVerified(t *T) {
	jti := "ack-" + fmt.Sprint(t.now().UnixNano())
	rc := map[string]any{
		"iss": MemberPeer, "aud": t.candidate, "iat": t.now().Unix(), "receipt_for": jti,
		"sha256": sha256Hex([]byte(jti)), "status": "accepted",
	}
	p, _ := json.Marshal(rc)
	s := signerOf(t.id.Keys[keyTester])
	receipt := compact(header(s.alg, s.kid, "flx-receipt+jws"), p, s)
	body, _ := json.Marshal(map[string]any{
		"receipts": []string{string(receipt)},
		"refusals": []map[string]string{{"jti": jti, "sha256": sha256Hex([]byte(jti)), "code": "unknown_key"}},
	})
	ans := t.ack(t, body)
	var r ackResult
	if ans.Status != http.StatusOK || json.Unmarshal(ans.Body, &r) != nil || len(r.Receipts) != 1 || len(r.Refusals) != 1 {
		t.Fatalf("POST /flx/v1/pull/ack: want 200 with one result per receipt and refusal, got %s", ans)
	}
	if got := r.Receipts[0]; got.Status != "refused" || got.Code == "" {
		t.Errorf("a receipt whose iss is not the puller: want status refused with a code, got %+v", got)
	}
	if got := r.Refusals[0]; got.Status != "refused" || got.Code != "bad_envelope" {
		t.Errorf("a refusal with the retried code unknown_key: want status refused, code bad_envelope, got %+v", got)
	}
}

// checkPullAckNotStrings checks that an acknowledgement whose receipts are
// not all strings is refused as a whole with bad_envelope (FLX-PUL-007), as
// a batch is (FLX-BAT-003): a null is not an empty receipt to be answered
// refused beside the others.
func checkPullAckNotStrings(t *T) {
	jti := "ack-" + fmt.Sprint(t.now().UnixNano())
	p, _ := json.Marshal(map[string]any{
		"iss": MemberTester, "aud": t.candidate, "iat": t.now().Unix(), "receipt_for": jti,
		"sha256": sha256Hex([]byte(jti)), "status": "accepted",
	})
	s := signerOf(t.id.Keys[keyTester])
	receipt, _ := json.Marshal(string(compact(header(s.alg, s.kid, "flx-receipt+jws"), p, s)))
	rc := string(receipt)
	for _, body := range []string{
		`{"receipts":[null]}`,
		`{"receipts":[` + rc + `,null]}`,
		`{"receipts":[null,` + rc + `]}`,
		`{"receipts":[` + rc + `,1]}`,
		`{"receipts":[` + rc + `,{}]}`,
		`{"receipts":[],"refusals":[null]}`,
	} {
		if _, err := shouldRefuse(t.ack(t, []byte(body)), "bad_envelope"); err != nil {
			t.Errorf("acknowledgement %s: %v", strings.Replace(body, rc, `"<receipt>"`, 1), err)
		}
	}
}

// checkPullAckQueued checks acknowledgements against an envelope really
// queued for XD-PULL (FLX-PUL-006): a receipt bound to other bytes, a forged
// receipt (signed with another key under XD-PULL's kid) and a refusal with
// a code that is not retried but the sha256 of other bytes must each record
// nothing: the envelope is offered again, with the same bytes, once the
// lease after each has run out. Its valid receipt is then recorded.
func checkPullAckQueued(t *T) {
	t.drainPull(t)
	caseID := t.forwardTo(MemberPull)
	p, got := t.waitPulled(caseID, 50)
	raw := got[0]
	var c Claims
	_ = json.Unmarshal(payloadOf([]byte(raw)), &c)
	other := sha256Hex([]byte(raw + " "))
	pull, tester := signerOf(t.id.Keys[keyPull]), signerOf(t.id.Keys[keyTester])
	receipt := func(sha string, s *rawSigner) string {
		b, _ := json.Marshal(map[string]any{
			"iss": MemberPull, "aud": c.Iss, "iat": t.now().Unix(), "receipt_for": c.JTI,
			"sha256": sha, "status": "accepted",
		})
		return string(compact(header(pull.alg, pull.kid, "flx-receipt+jws"), b, s))
	}
	for _, f := range []struct {
		name string
		ack  map[string]any
	}{
		{"a receipt bound to other bytes", map[string]any{"receipts": []string{receipt(other, pull)}}},
		{"a forged receipt (another key's signature under XD-PULL's kid)", map[string]any{"receipts": []string{receipt(sha256Hex([]byte(raw)), tester)}}},
		{"a schema_invalid refusal with the sha256 of other bytes", map[string]any{"receipts": []string{},
			"refusals": []map[string]string{{"jti": c.JTI, "sha256": other, "code": "schema_invalid"}}}},
	} {
		body, _ := json.Marshal(f.ack)
		ans, err := t.request(certPull, http.MethodPost, "/flx/v1/pull/ack", body, "application/json")
		if err != nil {
			t.Fatalf("POST /flx/v1/pull/ack: %v", err)
		}
		var r ackResult
		if ans.Status != http.StatusOK || json.Unmarshal(ans.Body, &r) != nil || len(r.Receipts)+len(r.Refusals) != 1 {
			t.Fatalf("%s: want 200 with one result, got %s", f.name, ans)
		}
		if len(r.Receipts) == 1 && (r.Receipts[0].Status != "refused" || r.Receipts[0].Code == "") {
			t.Errorf("%s: want status refused with a code, got %+v", f.name, r.Receipts[0])
		}
		if len(r.Refusals) == 1 && r.Refusals[0].Status == "recorded" {
			t.Errorf("%s: answered recorded", f.name)
		}
		wait := time.Until(time.Unix(p.LeaseUntil, 0).Add(-t.clockOffset)) + time.Second
		if wait > 3*time.Minute {
			t.Abortf("lease_until is %s away: longer than the tester waits", wait.Round(time.Second))
		}
		time.Sleep(wait)
		p = t.pullAs(t, certPull, 50, 5)
		if got = p.ofCase(caseID); len(got) == 0 {
			t.Fatalf("after %s, the envelope queued for %s was no longer offered once its lease ran out", f.name, MemberPull)
		}
		if got[0] != raw {
			t.Fatalf("after %s, the envelope was offered again with other bytes", f.name)
		}
	}
	if st := t.ackPulled(t, got[:1]); st[0] != "recorded" {
		t.Errorf("XD-PULL's valid receipt after the faults: status %q, want recorded", st[0])
	}
}
