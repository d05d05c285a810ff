package conformance

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/familylinks/flx/federation"
)

// The coordinator's part (SPEC.md §14 relay, §15 pull). The tester relays
// to the candidate with one-hop chains (the origin's own hop to the
// candidate: a valid chain, as end-to-end receipts travel), so no tester
// member needs to be a relay.

// hopClaims are the claims of a relay hop (SPEC.md §14.2).
type hopClaims struct {
	Iss   string `json:"iss"`
	Aud   string `json:"aud"`
	Iat   int64  `json:"iat"`
	Inner string `json:"inner_sha256"`
	Prev  string `json:"prev_sha256,omitempty"`
}

// hop signs a hop with the named tester key.
func (env *Env) hop(h hopClaims, key string) string {
	p, err := json.Marshal(h)
	if err != nil {
		panic(err)
	}
	s := signerOf(env.id.Keys[key])
	return string(compact(header(s.alg, s.kid, federation.TypHop), p, s))
}

// relayed wraps inner (signed by the tester) in a relay.forward from the
// tester to the candidate whose body is body (nil: {"inner", "hops"} with
// the tester's one hop binding inner).
func (env *Env) relayed(inner []byte, caseID string, body map[string]any) ([]byte, Claims) {
	if body == nil {
		h := hopClaims{Iss: MemberTester, Aud: env.candidate, Iat: env.now().Unix(), Inner: sha256Hex(inner)}
		body = map[string]any{"inner": string(inner), "hops": []string{env.hop(h, keyTester)}}
	}
	b, err := json.Marshal(body)
	if err != nil {
		panic(err)
	}
	c := env.claims(federation.KindRelayForward, nil)
	c.Body, c.CaseID = b, caseID
	return env.sign(c, keyTester), c
}

// checkRelayBodyShape checks that a relay.forward body with a member other
// than inner and hops is refused with bad_envelope.
func checkRelayBodyShape(t *T) {
	inner, c := t.validCase()
	h := hopClaims{Iss: MemberTester, Aud: t.candidate, Iat: t.now().Unix(), Inner: sha256Hex(inner)}
	raw, _ := t.relayed(inner, c.CaseID, map[string]any{"inner": string(inner), "hops": []string{t.hop(h, keyTester)}, "via": "XD-PEER"})
	mustRefuse(t, t.post(t, raw), "bad_envelope")
}

// checkRelayChainDoesNotHold checks that chains that do not hold are refused
// with bad_relay: a hop that binds other inner bytes (the inner swapped),
// a first hop naming a predecessor, and a last hop that is not the outer
// envelope.
func checkRelayChainDoesNotHold(t *T) {
	inner, c := t.validCase()
	// Another valid envelope of the same case: only the hop tells them apart.
	oc := c
	oc.JTI = federation.NewJTI()
	other := t.sign(oc, keyTester)
	now := t.now().Unix()
	cases := []struct {
		what string
		body map[string]any
	}{
		{"inner swapped", map[string]any{"inner": string(other), "hops": []string{
			t.hop(hopClaims{Iss: MemberTester, Aud: t.candidate, Iat: now, Inner: sha256Hex(inner)}, keyTester)}}},
		{"first hop with a predecessor", map[string]any{"inner": string(inner), "hops": []string{
			t.hop(hopClaims{Iss: MemberTester, Aud: t.candidate, Iat: now, Inner: sha256Hex(inner), Prev: sha256Hex(other)}, keyTester)}}},
		{"last hop is not the outer envelope", map[string]any{"inner": string(inner), "hops": []string{
			t.hop(hopClaims{Iss: MemberTester, Aud: MemberPeer, Iat: now, Inner: sha256Hex(inner)}, keyTester)}}},
	}
	for _, tc := range cases {
		raw, _ := t.relayed(inner, c.CaseID, tc.body)
		ans := t.post(t, raw)
		if _, err := shouldRefuse(ans, "bad_relay"); err != nil {
			t.Errorf("%s: %v", tc.what, err)
		}
	}
}

// checkRelayHopKey checks that a hop naming the tester but signed with
// another member's key is refused with unknown_key.
func checkRelayHopKey(t *T) {
	inner, c := t.validCase()
	h := hopClaims{Iss: MemberTester, Aud: t.candidate, Iat: t.now().Unix(), Inner: sha256Hex(inner)}
	raw, _ := t.relayed(inner, c.CaseID, map[string]any{"inner": string(inner), "hops": []string{t.hop(h, keyPeer)}})
	mustRefuse(t, t.post(t, raw), "unknown_key")
}

// checkRelayedInnerVerified checks that the candidate, as final recipient,
// checks the inner envelope as if its origin had sent it: a changed inner
// payload is refused with bad_signature, a case of another origin with
// sender_mismatch; a valid one is answered with a receipt for the outer
// bytes, and the same inner envelope relayed again is a duplicate.
func checkRelayedInnerVerified(t *T) {
	// Signed, then changed: the hop binds the changed bytes.
	_, c := t.validCase()
	good := t.sign(c, keyTester)
	changed := append([]byte(nil), good...)
	changed = []byte(string(changed[:len(changed)/2]) + flipB64(changed[len(changed)/2]) + string(changed[len(changed)/2+1:]))
	raw, _ := t.relayed(changed, c.CaseID, nil)
	if _, err := shouldRefuse(t.post(t, raw), "bad_signature"); err != nil {
		// a change in the header or signature may also read as bad_envelope
		if _, err2 := shouldRefuse(t.post(t, raw), "bad_envelope"); err2 != nil {
			t.Errorf("changed inner envelope: %v", err)
		}
	}
	// A case.create of XD-PEER's case, sent by the tester.
	peerCase := newCaseID(MemberPeer)
	pc := t.claims(federation.KindCaseCreate, caseDoc(peerCase, MemberPeer))
	raw, _ = t.relayed(t.sign(pc, keyTester), peerCase, nil)
	mustRefuse(t, t.post(t, raw), "sender_mismatch")
	// Valid: a receipt for the outer bytes; relayed again: duplicate.
	for _, want := range []federation.ReceiptStatus{federation.ReceiptAccepted, federation.ReceiptDuplicate} {
		raw, oc := t.relayed(good, c.CaseID, nil)
		t.mustAccept(t, t.post(t, raw), raw, oc, want)
	}
}

// flipB64 returns another base64url character than b.
func flipB64(b byte) string {
	if b == 'A' {
		return "B"
	}
	return "A"
}

// checkRelayNotARelay checks that a chain whose inner envelope is for
// another member is refused with wrong_audience by a candidate that may not
// relay.
func checkRelayNotARelay(t *T) {
	if t.id.Candidate().Role == federation.RoleCoordinator {
		t.Skipf("the candidate is a coordinator: it may relay")
	}
	id := newCaseID(MemberTester)
	c := t.claims(federation.KindCaseCreate, caseDoc(id, MemberTester))
	c.Aud = MemberPeer
	raw, _ := t.relayed(t.sign(c, keyTester), id, nil)
	mustRefuse(t, t.post(t, raw), "wrong_audience")
}

// checkEndToEndReceipt checks that a relayed case.create accepted by the
// candidate is answered, within 90 s, with an end-to-end receipt: a
// relay.forward to the tester whose inner token is the candidate's receipt
// for the inner envelope's jti and bytes.
func checkEndToEndReceipt(t *T) {
	inner, c := t.validCase()
	raw, oc := t.relayed(inner, c.CaseID, nil)
	t.mustAccept(t, t.post(t, raw), raw, oc, federation.ReceiptAccepted)
	match := func(a *Arrival) bool {
		if a.Kind != string(federation.KindRelayForward) || a.Env == nil || a.Env.CaseID != c.CaseID {
			return false
		}
		in, err := federation.RelayInner(a.Raw)
		if err != nil {
			return false
		}
		_, err = federation.VerifyReceipt(in, t.id.Manifest, federation.ExpectedReceipt{
			Issuer: t.candidate, Audience: MemberTester, ReceiptFor: c.JTI, SHA256: sha256Hex(inner), Skew: t.skew,
		}, t.now())
		return err == nil
	}
	if got := t.listener.Wait(match, 1, 90*time.Second); len(got) == 0 {
		t.Fatalf("no end-to-end receipt for the relayed envelope %s arrived within 90 s", c.JTI)
	}
}

// checkPullQuery checks GET /flx/v1/pull: an unknown parameter, a
// parameter twice, max and wait just outside their ranges (0 and 501, 31)
// and a non-numeric wait are refused with bad_envelope; a plain pull by a
// member that has nothing queued there answers 200 with an empty batch.
func checkPullQuery(t *T) {
	for _, q := range []string{"?foo=1", "?max=0", "?max=501", "?wait=31", "?max=1&max=2", "?wait=soon"} {
		ans, err := t.request(certTester, http.MethodGet, "/flx/v1/pull"+q, nil, "")
		if err != nil {
			t.Fatalf("GET /flx/v1/pull%s: %v", q, err)
		}
		if _, err := shouldRefuse(ans, "bad_envelope"); err != nil {
			t.Errorf("GET /flx/v1/pull%s: %v", q, err)
		}
	}
	ans, err := t.request(certTester, http.MethodGet, "/flx/v1/pull", nil, "")
	if err != nil {
		t.Fatalf("GET /flx/v1/pull: %v", err)
	}
	var b struct {
		Envelopes  []string `json:"envelopes"`
		LeaseUntil int64    `json:"lease_until"`
		More       bool     `json:"more"`
	}
	if ans.Status != http.StatusOK || json.Unmarshal(ans.Body, &b) != nil || b.Envelopes == nil || b.LeaseUntil <= 0 {
		t.Fatalf("GET /flx/v1/pull: want 200 with a batch, got %s", ans)
	}
	for _, e := range b.Envelopes {
		if cl, err := federation.ClaimsOf([]byte(e)); err != nil || cl.Audience != MemberTester {
			t.Errorf("the batch holds an envelope not addressed to the puller")
		}
	}
}

// candidateAccepts is what the conformance manifest says the candidate
// accepts: every case kind, relay.forward (SPEC.md §14) and audit.head
// (§21: any member may witness), and stats.report for a coordinator (§17).
func candidateAccepts(role federation.Role) []federation.Kind {
	k := append(append(append([]federation.Kind(nil), federation.Kinds...), federation.MatchKinds...), federation.KindRelayForward, federation.KindAuditHead)
	if role == federation.RoleCoordinator {
		k = append(k, federation.KindStatsReport)
	}
	return k
}

// checkRelayHopShape checks that a relay.forward body or hop that is not
// exactly of its shape is refused with bad_envelope (FLX-RLY-002): a hop
// with a claim twice or an unknown claim (signed as they are), a body with
// hops twice or hops not an array. The same inner envelope with a
// well-formed hop is then accepted.
func checkRelayHopShape(t *T) {
	inner, c := t.validCase()
	s := signerOf(t.id.Keys[keyTester])
	hopOf := func(payload string) string {
		return string(compact(header(s.alg, s.kid, federation.TypHop), []byte(payload), s))
	}
	quote := func(v string) string { b, _ := json.Marshal(v); return string(b) }
	claims := `"iss":` + quote(MemberTester) + `,"aud":` + quote(t.candidate) + `,"iat":` + strconv.FormatInt(t.now().Unix(), 10) +
		`,"inner_sha256":` + quote(sha256Hex(inner))
	good := quote(hopOf("{" + claims + "}"))
	in := `"inner":` + quote(string(inner))
	for _, f := range []struct{ what, body string }{
		{"a hop with iss twice", "{" + in + `,"hops":[` + quote(hopOf("{"+claims+`,"iss":`+quote(MemberTester)+"}")) + "]}"},
		{"a hop with an unknown claim", "{" + in + `,"hops":[` + quote(hopOf("{"+claims+`,"via":"XD-PEER"}`)) + "]}"},
		{"a body with hops twice", "{" + in + `,"hops":[` + good + `],"hops":[` + good + "]}"},
		{"a body whose hops is a string", "{" + in + `,"hops":` + good + "}"},
	} {
		oc := t.claims(federation.KindRelayForward, nil)
		oc.Body, oc.CaseID = json.RawMessage(f.body), c.CaseID
		if _, err := shouldRefuse(t.post(t, t.sign(oc, keyTester)), "bad_envelope"); err != nil {
			t.Errorf("%s: %v", f.what, err)
		}
	}
	oc := t.claims(federation.KindRelayForward, nil)
	oc.Body, oc.CaseID = json.RawMessage("{"+in+`,"hops":[`+good+"]}"), c.CaseID
	raw := t.sign(oc, keyTester)
	t.mustAccept(t, t.post(t, raw), raw, oc, federation.ReceiptAccepted)
}
