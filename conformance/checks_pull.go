package conformance

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/familylinks/flx/federation"
)

// The tester as a pull-only member (SPEC.md §15): XD-PULL is pull_only in
// the conformance manifest. The candidate must never dial it; what it
// queues for XD-PULL waits to be pulled with XD-PULL's certificate, is
// leased to one pull at a time, offered again when a pull is cut (no
// acknowledgement), and kept in per-case order.

// pulled is one answer to GET /flx/v1/pull.
type pulled struct {
	Envelopes  []string `json:"envelopes"`
	LeaseUntil int64    `json:"lease_until"`
	More       bool     `json:"more"`
}

// pullAs pulls as the member whose certificate is cert.
func (env *Env) pullAs(t TB, cert string, max, wait int) pulled {
	t.Helper()
	ans, err := env.request(cert, http.MethodGet, "/flx/v1/pull?max="+strconv.Itoa(max)+"&wait="+strconv.Itoa(wait), nil, "")
	if err != nil {
		t.Fatalf("GET /flx/v1/pull: %v", err)
	}
	var p pulled
	if ans.Status != http.StatusOK || federation.DecodeStrict(ans.Body, &p) != nil || p.Envelopes == nil || p.LeaseUntil <= 0 {
		t.Fatalf("GET /flx/v1/pull: want 200 with {envelopes, lease_until, more}, got %s", ans)
	}
	return p
}

// ofCase returns the envelopes of p whose case_id is caseID.
func (p pulled) ofCase(caseID string) []string {
	var out []string
	for _, e := range p.Envelopes {
		var c Claims
		if json.Unmarshal(payloadOf([]byte(e)), &c) == nil && c.CaseID == caseID {
			out = append(out, e)
		}
	}
	return out
}

// pullReceipt is XD-PULL's receipt for a pulled envelope.
func (env *Env) pullReceipt(raw string) string {
	var c Claims
	_ = json.Unmarshal(payloadOf([]byte(raw)), &c)
	p, _ := json.Marshal(map[string]any{
		"iss": MemberPull, "aud": c.Iss, "iat": env.now().Unix(), "receipt_for": c.JTI,
		"sha256": sha256Hex([]byte(raw)), "status": "accepted",
	})
	s := signerOf(env.id.Keys[keyPull])
	return string(compact(header(s.alg, s.kid, "flx-receipt+jws"), p, s))
}

// ackPulled acknowledges pulled envelopes with XD-PULL's receipts and
// returns the status of each.
func (env *Env) ackPulled(t TB, raws []string) []string {
	t.Helper()
	receipts := make([]string, len(raws))
	for i, r := range raws {
		receipts[i] = env.pullReceipt(r)
	}
	body, _ := json.Marshal(map[string]any{"receipts": receipts})
	ans, err := env.request(certPull, http.MethodPost, "/flx/v1/pull/ack", body, "application/json")
	if err != nil {
		t.Fatalf("POST /flx/v1/pull/ack: %v", err)
	}
	var r ackResult
	if ans.Status != http.StatusOK || json.Unmarshal(ans.Body, &r) != nil || len(r.Receipts) != len(raws) {
		t.Fatalf("POST /flx/v1/pull/ack: want 200 with one result per receipt, got %s", ans)
	}
	out := make([]string, len(r.Receipts))
	for i, it := range r.Receipts {
		out[i] = it.Status
	}
	return out
}

// drainPull pulls and acknowledges whatever waits for XD-PULL, so that a
// check starts from an empty queue.
func (env *Env) drainPull(t TB) {
	t.Helper()
	for range 20 {
		p := env.pullAs(t, certPull, 500, 0)
		if len(p.Envelopes) == 0 {
			return
		}
		env.ackPulled(t, p.Envelopes)
	}
}

// waitPulled pulls as XD-PULL until an envelope of caseID comes (up to
// the patience) and returns that answer.
func (t *T) waitPulled(caseID string, max int) (pulled, []string) {
	deadline := time.Now().Add(t.patience)
	for {
		p := t.pullAs(t, certPull, max, 5)
		if got := p.ofCase(caseID); len(got) > 0 {
			return p, got
		}
		if len(p.Envelopes) > 0 {
			t.ackPulled(t, p.Envelopes) // another check's leftovers
		}
		if time.Now().After(deadline) {
			t.Fatalf("no envelope of case %s could be pulled as %s within %s", caseID, MemberPull, t.patience)
		}
	}
}

// forwardTo makes the candidate create a case and forward it to member.
func (t *T) forwardTo(member string) string {
	caseID := newCaseID(t.candidate)
	ans, err := t.trigger.createCase(outboundCase(t.candidate, caseID))
	if err != nil {
		t.Abortf("trigger: create case: %v", err)
	}
	if ans.Status != http.StatusCreated {
		t.Abortf("create case refused: %s", ans)
	}
	t.forwardAgain(caseID, member)
	return caseID
}

// forwardAgain makes the candidate forward caseID to member.
func (t *T) forwardAgain(caseID, member string) {
	ans, err := t.trigger.forward(caseID, member)
	if err != nil {
		t.Abortf("trigger: forward: %v", err)
	}
	if ans.Status != http.StatusAccepted {
		t.Abortf("forward to %s refused (is the candidate's policy set to allow transfers to it?): %s", member, ans)
	}
}

// checkPullOnlyNotDialled checks that a case forwarded to the pull-only
// XD-PULL never reaches its endpoint within the quiet period, and waits to
// be pulled: the envelope comes, signed by the candidate for XD-PULL, and
// its receipt is recorded.
func checkPullOnlyNotDialled(t *T) {
	spy := t.spyEndpoint(MemberPull, certPull)
	defer spy.srv.Close()
	caseID := t.forwardTo(MemberPull)
	time.Sleep(t.quiet)
	if n := spy.envelopes.Load(); n > 0 {
		t.Errorf("%d request(s) reached the endpoint of %s, which the manifest declares pull_only", n, MemberPull)
	}
	_, got := t.waitPulled(caseID, 50)
	v := &federation.Verifier{Manifest: federation.StaticManifest(t.id.Manifest), Self: MemberPull, Skew: t.skew, Now: t.now}
	env, err := v.Verify(t.ctx, []byte(got[0]), t.candidate)
	if err != nil {
		t.Fatalf("the pulled envelope does not verify as the candidate's for %s: %v", MemberPull, err)
	}
	if env.Kind != federation.KindCaseCreate {
		t.Errorf("the first envelope of the case is %s, want case.create", env.Kind)
	}
	if st := t.ackPulled(t, got[:1]); st[0] != "recorded" {
		t.Errorf("XD-PULL's valid receipt for the pulled envelope: status %q, want recorded", st[0])
	}
}

// checkPullLease checks what happens when a pull is cut (no
// acknowledgement): the envelope is not offered to another pull before
// lease_until, is offered again with the same bytes after it, and is no
// longer offered once its receipt is recorded.
func checkPullLease(t *T) {
	t.drainPull(t)
	caseID := t.forwardTo(MemberPull)
	p, got := t.waitPulled(caseID, 50)
	first := got[0]
	if again := t.pullAs(t, certPull, 50, 0).ofCase(caseID); len(again) > 0 {
		t.Errorf("an envelope leased until %d was offered again at once", p.LeaseUntil)
	}
	wait := time.Until(time.Unix(p.LeaseUntil, 0).Add(-t.clockOffset)) + time.Second
	if wait > 3*time.Minute {
		t.Abortf("lease_until is %s away: longer than the tester waits", wait.Round(time.Second))
	}
	time.Sleep(wait)
	_, again := t.waitPulled(caseID, 50)
	if again[0] != first {
		t.Errorf("after lease_until the envelope was offered with other bytes (a pull that was cut must get the same envelope again)")
	}
	if st := t.ackPulled(t, again[:1]); st[0] != "recorded" {
		t.Errorf("XD-PULL's valid receipt: status %q, want recorded", st[0])
	}
	if left := t.pullAs(t, certPull, 50, 0).ofCase(caseID); len(left) > 0 {
		t.Errorf("an envelope whose receipt was recorded was offered again")
	}
}

// checkPullOrder checks per-case order through pull: with a case.create
// and a later envelope of the same case queued for XD-PULL, a pull of one
// envelope gets the create, and a second pull before lease_until does not
// get the later one; once the create is acknowledged, the later one comes.
func checkPullOrder(t *T) {
	t.drainPull(t)
	caseID := t.forwardTo(MemberPull)
	ans, err := t.trigger.updateCase(caseID, outboundCaseVersion(t.candidate, caseID, 2))
	switch {
	case err != nil:
		t.Abortf("trigger: update case: %v", err)
	case ans.Status == http.StatusNotFound || ans.Status == http.StatusMethodNotAllowed || ans.Status == http.StatusNotImplemented:
		t.Skipf("the candidate offers no update call (SPEC.md §12): no later envelope of the case to queue")
	case ans.Status/100 != 2:
		t.Abortf("update case refused: %s", ans)
	}
	t.forwardAgain(caseID, MemberPull)
	time.Sleep(time.Second)
	_, got := t.waitPulled(caseID, 1)
	var c Claims
	_ = json.Unmarshal(payloadOf([]byte(got[0])), &c)
	if c.Kind != string(federation.KindCaseCreate) {
		t.Fatalf("a pull of one envelope got the case's %s before its case.create", c.Kind)
	}
	if later := t.pullAs(t, certPull, 50, 0).ofCase(caseID); len(later) > 0 {
		t.Errorf("a later envelope of the case was pulled while its case.create was leased to another pull")
	}
	if st := t.ackPulled(t, got[:1]); st[0] != "recorded" {
		t.Fatalf("XD-PULL's valid receipt for the case.create: status %q, want recorded", st[0])
	}
	_, next := t.waitPulled(caseID, 50)
	var n Claims
	_ = json.Unmarshal(payloadOf([]byte(next[0])), &n)
	if n.JTI == c.JTI {
		t.Errorf("the acknowledged case.create was offered again")
	}
	t.ackPulled(t, next)
}

// checkPullerProcessesOnce checks the candidate as a pull-only member
// (init --pull-only) pulling from XD-TESTER: the tester queues a valid
// case.create, a schema-invalid one and one signed with a key that is not
// valid yet (unknown_key, which §8.2 retries), and cuts the candidate's
// first acknowledgement. The candidate must pull again after the lease and
// acknowledge the valid envelope with a receipt that passes FLX-RCP-005 and
// the invalid one with a schema_invalid refusal, never the one it must
// retry; the valid envelope, POSTed afterwards, is a duplicate: stored
// once, though processed on both pulls.
func checkPullerProcessesOnce(t *T) {
	if !t.id.Candidate().PullOnly {
		t.Skipf("the candidate is not pull_only (conformance init --pull-only)")
	}
	good, gc := t.validCase()
	bc := t.valid()
	bc.Body = setMembers(bc.Body, map[string]any{"purpose": nil})
	bad := t.sign(bc, keyTester)
	retried := t.sign(t.valid(), keyTesterFuture)
	rc, _ := payloadClaims(retried)
	ps := t.listener.ServePull([][]byte{good, bad, retried}, 3*time.Second, 1)
	defer t.listener.ServePull(nil, time.Second, 0)
	deadline := time.Now().Add(t.patience)
	var acks []pullAck
	for {
		acks = ps.Acks()
		var recorded int
		for _, a := range acks {
			if !a.Cut {
				recorded++
			}
		}
		if recorded > 0 && ps.doneExcept(rc.JTI) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("within %s the candidate did not pull and acknowledge the valid and the invalid envelope (%d acknowledgements, the first cut)", t.patience, len(acks))
		}
		select {
		case <-ps.changed:
		case <-time.After(time.Second):
		}
	}
	if len(acks) < 2 || !acks[0].Cut {
		t.Errorf("the candidate did not pull again after its first acknowledgement was cut (%d acknowledgements)", len(acks))
	}
	var receipted, refused bool
	for _, a := range acks {
		for _, r := range a.Ack.Receipts {
			if _, err := federation.VerifyReceipt([]byte(r), t.id.Manifest, federation.ExpectedReceipt{
				Issuer: t.candidate, Audience: MemberTester, ReceiptFor: gc.JTI, SHA256: sha256Hex(good), Skew: t.skew,
			}, t.now()); err == nil {
				receipted = true
			}
		}
		for _, f := range a.Ack.Refusals {
			switch f.JTI {
			case bc.JTI:
				refused = refused || f.Code == "schema_invalid" && f.SHA256 == sha256Hex(bad)
			case rc.JTI:
				t.Errorf("the candidate acknowledged a refusal (%s) of an envelope it must retry (unknown_key, a key not valid yet)", f.Code)
			}
		}
	}
	if !receipted {
		t.Errorf("no acknowledgement held a receipt for the valid envelope that passes FLX-RCP-005")
	}
	if !refused {
		t.Errorf("no acknowledgement held a schema_invalid refusal of the invalid envelope with its jti and sha256")
	}
	t.mustAccept(t, t.post(t, good), good, gc, federation.ReceiptDuplicate)
}

// checkPullerAnswerNotStrings checks that a pull-only candidate takes a
// pull answer whose envelopes are not all strings as a failed pull
// (FLX-PUL-005): the tester answers each pull with a valid envelope and a
// null beside it. Once the candidate pulled that answer twice, it must have
// acknowledged nothing, and the envelope, POSTed afterwards, must be
// accepted, not a duplicate: it was not stored from the pull.
func checkPullerAnswerNotStrings(t *T) {
	if !t.id.Candidate().PullOnly {
		t.Skipf("the candidate is not pull_only (conformance init --pull-only)")
	}
	good, gc := t.validCase()
	ps := t.listener.servePullExtra([][]byte{good}, time.Second, 0, 0, "null")
	defer t.listener.ServePull(nil, time.Second, 0)
	deadline := time.Now().Add(t.patience)
	for ps.handedTimes(gc.JTI) < 2 && len(ps.Acks()) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("within %s the candidate did not pull twice (pulled %d times)", t.patience, ps.handedTimes(gc.JTI))
		}
		select {
		case <-ps.changed:
		case <-time.After(time.Second):
		}
	}
	if acks := ps.Acks(); len(acks) > 0 {
		t.Errorf("the candidate acknowledged a pull answer whose envelopes held a null: %d receipts, %d refusals", len(acks[0].Ack.Receipts), len(acks[0].Ack.Refusals))
	}
	t.mustAccept(t, t.post(t, good), good, gc, federation.ReceiptAccepted)
}

// payloadClaims reads the claims of a compact JWS the tester made.
func payloadClaims(raw []byte) (Claims, error) {
	var c Claims
	err := json.Unmarshal(payloadOf(raw), &c)
	return c, err
}

// checkPullOwnOnly checks that a pull answers only the puller's own
// envelopes: with a case queued for XD-PULL, pulls by XD-TESTER and XD-PEER
// (each waiting a second for envelopes to come) hold nothing addressed to
// another member, and XD-PULL then gets the case's envelope, addressed to
// it; with a second case queued, XD-PULL's pulls with max=1 answer one
// envelope each.
func checkPullOwnOnly(t *T) {
	caseID := t.forwardTo(MemberPull)
	second := t.forwardTo(MemberPull)
	for _, p := range []struct{ cert, member string }{{certTester, MemberTester}, {certPeer, MemberPeer}} {
		got := t.pullAs(t, p.cert, 500, 1)
		for _, e := range got.Envelopes {
			if c, err := payloadClaims([]byte(e)); err != nil || c.Aud != p.member {
				t.Errorf("a pull by %s answered an envelope addressed to %q (case %s)", p.member, c.Aud, c.CaseID)
			}
		}
		if len(got.ofCase(caseID)) > 0 {
			t.Errorf("a pull by %s answered the envelope queued for %s", p.member, MemberPull)
		}
	}
	// Two cases wait for XD-PULL: pulls with max=1 answer one envelope
	// each (max bounds the answer), until both came.
	seen := map[string]bool{}
	deadline := time.Now().Add(t.patience)
	for !seen[caseID] || !seen[second] {
		p := t.pullAs(t, certPull, 1, 5)
		if len(p.Envelopes) > 1 {
			t.Errorf("a pull by %s with max=1 answered %d envelopes", MemberPull, len(p.Envelopes))
		}
		for _, e := range p.Envelopes {
			c, err := payloadClaims([]byte(e))
			if err != nil || c.Aud != MemberPull {
				t.Errorf("a pull by %s answered an envelope addressed to %q", MemberPull, c.Aud)
			}
			seen[c.CaseID] = true
		}
		if len(p.Envelopes) > 0 {
			t.ackPulled(t, p.Envelopes)
		}
		if time.Now().After(deadline) {
			t.Fatalf("the envelopes of cases %s and %s could not both be pulled as %s within %s", caseID, second, MemberPull, t.patience)
		}
	}
}
