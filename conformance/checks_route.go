package conformance

import (
	"encoding/json"
	"time"

	"github.com/familylinks/flx/federation"
)

// The candidate as an origin that sends through a relay (SPEC.md §14.2,
// §14.4): a case forwarded to XD-REMOTE, whose relay_via names XD-TESTER,
// must reach XD-TESTER as the inner token of a relay.forward, and counts as
// delivered only once XD-REMOTE's end-to-end receipt comes back.

// relayedArrival waits for the relay.forward carrying the candidate's
// envelope of caseID for XD-REMOTE, and returns it with the inner token.
func (t *T) relayedArrival(caseID string) (*Arrival, []byte, Claims) {
	match := func(a *Arrival) bool {
		return a.CaseID == caseID && a.Kind == string(federation.KindRelayForward) && a.Env != nil
	}
	got := t.listener.Wait(match, 1, t.patience)
	if len(got) == 0 {
		direct := t.listener.Arrivals(forCase(caseID))
		t.Fatalf("no relay.forward of case %s reached %s (the relay_via of %s) within %s (%d other arrivals)", caseID, MemberTester, MemberRemote, t.patience, len(direct))
	}
	a := got[0]
	inner, err := federation.RelayInner(a.Raw)
	if err != nil {
		t.Fatalf("relay.forward: %v", err)
	}
	var c Claims
	_ = json.Unmarshal(payloadOf(inner), &c)
	return a, inner, c
}

// checkSentThroughRelay checks that a case forwarded to XD-REMOTE arrives
// at its relay XD-TESTER as a relay.forward whose inner envelope is the
// candidate's case.create for XD-REMOTE, with one hop by the candidate, and
// that nothing reaches XD-REMOTE's own endpoint.
func checkSentThroughRelay(t *T) {
	spy := t.spyEndpoint(MemberRemote, certRemote)
	defer spy.srv.Close()
	caseID := t.forwardTo(MemberRemote)
	a, inner, _ := t.relayedArrival(caseID)
	v := &federation.Verifier{Manifest: federation.StaticManifest(t.id.Manifest), Self: MemberRemote, Skew: t.skew, Now: t.now}
	env, err := v.Verify(t.ctx, inner, t.candidate)
	switch {
	case err != nil:
		t.Errorf("the inner envelope does not verify as the candidate's for %s: %v", MemberRemote, err)
	case env.Kind != federation.KindCaseCreate || env.CaseID != caseID:
		t.Errorf("the inner envelope is a %s of %s, want the case.create of %s", env.Kind, env.CaseID, caseID)
	}
	if err := t.hopsOf(a.Env, nil); err != nil {
		t.Errorf("chain: %v", err)
	}
	time.Sleep(t.quiet)
	if n := spy.envelopes.Load(); n > 0 {
		t.Errorf("%d request(s) reached %s's own endpoint, which names %s in relay_via", n, MemberRemote, MemberTester)
	}
}

// receiptClaims signs receipt claims with the named key.
func (env *Env) receiptSigned(claims map[string]any, key string) []byte {
	p, _ := json.Marshal(claims)
	s := signerOf(env.id.Keys[key])
	return compact(header(s.alg, s.kid, "flx-receipt+jws"), p, s)
}

// checkDeliveredOnlyEndToEnd checks that the relay's receipt does not
// deliver an envelope sent through it, nor do end-to-end receipts that fail
// FLX-RCP-005 (signed by the relay in the final recipient's name, issued
// by the relay, bound to other bytes); XD-REMOTE's valid end-to-end
// receipt does. Delivery is read with the optional call GET
// /api/v1/cases/{id} (SPEC.md §12).
func checkDeliveredOnlyEndToEnd(t *T) {
	caseID := t.forwardTo(MemberRemote)
	_, inner, ic := t.relayedArrival(caseID)
	delivered := func() bool {
		d, ok, err := t.trigger.caseRecipients(caseID)
		switch {
		case err != nil:
			t.Abortf("trigger: %v", err)
		case !ok:
			t.Skipf("the candidate does not offer GET /api/v1/cases/{id} (SPEC.md §12)")
		}
		return !d[MemberRemote].IsZero()
	}
	time.Sleep(2 * time.Second)
	if delivered() {
		t.Errorf("the case counts as delivered to %s on the relay's receipt alone", MemberRemote)
	}
	claims := func(iss, sum string) map[string]any {
		return map[string]any{"iss": iss, "aud": t.candidate, "iat": t.now().Unix(), "receipt_for": ic.JTI, "sha256": sum, "status": "accepted"}
	}
	faults := []struct {
		what    string
		receipt []byte
		byRelay bool // the chain starts at the relay (the receipt's signer)
	}{
		{"signed by the relay in the final recipient's name", t.receiptSigned(claims(MemberRemote, sha256Hex(inner)), keyTester), false},
		{"issued by the relay", t.receiptSigned(claims(MemberTester, sha256Hex(inner)), keyTester), true},
		{"bound to other bytes", t.receiptSigned(claims(MemberRemote, sha256Hex(append([]byte("x"), inner...))), keyRemote), false},
	}
	for _, f := range faults {
		var raw []byte
		if f.byRelay {
			raw, _ = t.relayed(f.receipt, caseID, nil)
		} else {
			raw, _ = t.relayedByTester(f.receipt, caseID)
		}
		ans := t.post(t, raw)
		t.Logf("%s: %s", f.what, ans)
	}
	time.Sleep(2 * time.Second)
	if delivered() {
		t.Fatalf("the case counts as delivered to %s on an end-to-end receipt that fails FLX-RCP-005", MemberRemote)
	}
	good := t.receiptSigned(claims(MemberRemote, sha256Hex(inner)), keyRemote)
	raw, oc := t.relayedByTester(good, caseID)
	t.mustAccept(t, t.post(t, raw), raw, oc, federation.ReceiptAccepted)
	deadline := time.Now().Add(t.patience)
	for !delivered() {
		if time.Now().After(deadline) {
			t.Fatalf("the case does not count as delivered to %s within %s of its valid end-to-end receipt", MemberRemote, t.patience)
		}
		time.Sleep(500 * time.Millisecond)
	}
}
