package conformance

import (
	"encoding/json"
	"time"

	"github.com/familylinks/flx/federation"
	"github.com/familylinks/flx/schema"
)

// Receiving: duplicates and replay (SPEC.md §10.3), withdrawal (§11).

// waitConfirmation waits for the candidate's confirmation of the withdrawal
// jti and returns every confirmation of it that arrived.
func (t *T) waitConfirmation(caseID, jti string, timeout time.Duration) []*Arrival {
	match := func(a *Arrival) bool {
		if a.CaseID != caseID || a.Kind != string(federation.KindCaseWithdraw) || a.Env == nil {
			return false
		}
		w, err := schema.ParseWithdrawal(a.Env.Body)
		return err == nil && w.Confirms == jti
	}
	return t.listener.Wait(match, 1, timeout)
}

// checkDuplicateSameBytes checks that the same envelope sent again at once is
// answered 202 with a duplicate receipt.
func checkDuplicateSameBytes(t *T) {
	raw, c := t.validCase()
	t.mustAccept(t, t.post(t, raw), raw, c, federation.ReceiptAccepted)
	for range 2 {
		t.mustAccept(t, t.post(t, raw), raw, c, federation.ReceiptDuplicate)
	}
}

// checkReplaySameJTIOtherBytes checks that the same (iss, jti) with other
// bytes is refused with replay.
func checkReplaySameJTIOtherBytes(t *T) {
	raw, c := t.validCase()
	t.mustAccept(t, t.post(t, raw), raw, c, federation.ReceiptAccepted)
	other := c
	other.CaseID = newCaseID(MemberTester)
	other.Body = caseDoc(other.CaseID, MemberTester)
	mustRefuse(t, t.post(t, t.sign(other, keyTester)), "replay")
	// Same claims, other signature bytes (P-256 signatures differ each time).
	c2 := c
	c2.Iat++
	mustRefuse(t, t.post(t, t.sign(c2, keyTester)), "replay")
}

// checkReplayScopePerSender checks that two members using the same jti are
// both accepted.
func checkReplayScopePerSender(t *T) {
	jti := federation.NewJTI()
	kind, doc := federation.KindMessageDeliver, messageDoc
	if !t.accepts(kind) {
		kind, doc = federation.KindCaseWithdraw, withdrawalDoc
	}
	c := t.claims(kind, doc(newCaseID(MemberTester)))
	c.JTI = jti
	raw := t.sign(c, keyTester)
	t.mustAccept(t, t.post(t, raw), raw, c, federation.ReceiptAccepted)
	p := t.claims(kind, doc(newCaseID(MemberPeer)))
	p.Iss, p.JTI = MemberPeer, jti
	praw := t.sign(p, keyPeer)
	t.mustAccept(t, t.postAs(t, certPeer, praw, "application/jose"), praw, p, federation.ReceiptAccepted)
}

// checkDuplicateRemembered checks that a copy sent 60 s later is still a
// duplicate.
func checkDuplicateRemembered(t *T) {
	raw, c := t.validCase()
	t.mustAccept(t, t.post(t, raw), raw, c, federation.ReceiptAccepted)
	time.Sleep(60 * time.Second)
	t.mustAccept(t, t.post(t, raw), raw, c, federation.ReceiptDuplicate)
}

// checkRefusedNotRecorded checks that a refused envelope is refused again
// (not duplicate) and its jti stays usable.
func checkRefusedNotRecorded(t *T) {
	id := newCaseID(MemberTester)
	c := t.claims(federation.KindCaseCreate, setMembers(caseDoc(id, MemberTester), map[string]any{"status": "no_such_status"}))
	raw := t.sign(c, keyTester)
	mustRefuse(t, t.post(t, raw), "schema_invalid")
	mustRefuse(t, t.post(t, raw), "schema_invalid")
	c.Body = caseDoc(id, MemberTester)
	good := t.sign(c, keyTester)
	t.mustAccept(t, t.post(t, good), good, c, federation.ReceiptAccepted)
}

// checkWithdrawalFromNonOrigin checks that a withdrawal request from a member
// that is not the case's origin is refused with sender_mismatch.
func checkWithdrawalFromNonOrigin(t *T) {
	raw, _ := t.envelope(federation.KindCaseWithdraw, withdrawalDoc(newCaseID(MemberPeer)))
	mustRefuse(t, t.post(t, raw), "sender_mismatch")
}

// checkWithdrawalOfUnknownCase checks that the origin's withdrawal of a case
// the candidate never received is accepted.
func checkWithdrawalOfUnknownCase(t *T) {
	raw, c := t.envelope(federation.KindCaseWithdraw, withdrawalDoc(newCaseID(MemberTester)))
	t.mustAccept(t, t.post(t, raw), raw, c, federation.ReceiptAccepted)
}

// checkReplaySurvivesErasure checks that an envelope accepted before a
// withdrawal is a duplicate when sent again after it.
func checkReplaySurvivesErasure(t *T) {
	id := newCaseID(MemberTester)
	raw, c := t.envelope(federation.KindCaseCreate, caseDoc(id, MemberTester))
	t.mustAccept(t, t.post(t, raw), raw, c, federation.ReceiptAccepted)
	wraw, wc := t.envelope(federation.KindCaseWithdraw, withdrawalDoc(id))
	t.mustAccept(t, t.post(t, wraw), wraw, wc, federation.ReceiptAccepted)
	if len(t.waitConfirmation(id, wc.JTI, t.patience)) == 0 {
		t.Logf("no confirmation seen; resending anyway")
	}
	t.mustAccept(t, t.post(t, raw), raw, c, federation.ReceiptDuplicate)
}

// checkWithdrawalConfirmed checks that a withdrawal is confirmed to the
// origin (confirms, erased_at) within 60 s, and its duplicate is not
// confirmed again.
func checkWithdrawalConfirmed(t *T) {
	id := newCaseID(MemberTester)
	raw, c := t.envelope(federation.KindCaseCreate, caseDoc(id, MemberTester))
	t.mustAccept(t, t.post(t, raw), raw, c, federation.ReceiptAccepted)
	wraw, wc := t.envelope(federation.KindCaseWithdraw, withdrawalDoc(id))
	accepted := time.Now()
	t.mustAccept(t, t.post(t, wraw), wraw, wc, federation.ReceiptAccepted)
	got := t.waitConfirmation(id, wc.JTI, t.patience)
	if len(got) == 0 {
		t.Fatalf("no confirmation of withdrawal %s arrived within %s", wc.JTI, t.patience)
	}
	a := got[0]
	if d := a.At.Sub(accepted); d > 60*time.Second {
		t.Errorf("first confirmation attempt %s after the 202", d.Round(time.Second))
	}
	if a.Env.Audience != MemberTester || a.Env.Issuer != t.candidate {
		t.Errorf("confirmation iss %q aud %q", a.Env.Issuer, a.Env.Audience)
	}
	w, _ := schema.ParseWithdrawal(a.Env.Body)
	if w.ErasedAt == "" || w.CaseID != id || w.Reason != "consent_withdrawn" {
		t.Errorf("confirmation body %s lacks erased_at or does not copy case_id and reason", a.Env.Body)
	}
	// The same withdrawal again: duplicate, and no second confirmation.
	t.mustAccept(t, t.post(t, wraw), wraw, wc, federation.ReceiptDuplicate)
	time.Sleep(t.quiet)
	confs := map[string]bool{}
	for _, x := range t.waitConfirmation(id, wc.JTI, 0) {
		confs[x.JTI] = true
	}
	if len(confs) > 1 {
		t.Errorf("%d distinct confirmations (jti) of one withdrawal; a duplicate was processed again", len(confs))
	}
}

// checkNoConfirmationOfConfirmation checks that a confirmation is accepted
// and never confirmed back.
func checkNoConfirmationOfConfirmation(t *T) {
	id := newCaseID(t.candidate)
	var m map[string]any
	_ = json.Unmarshal(withdrawalDoc(id), &m)
	m["confirms"] = federation.NewJTI()
	m["erased_at"] = time.Now().UTC().Format(time.RFC3339)
	body, _ := json.Marshal(m)
	raw, c := t.envelope(federation.KindCaseWithdraw, body)
	t.mustAccept(t, t.post(t, raw), raw, c, federation.ReceiptAccepted)
	time.Sleep(t.quiet)
	if got := t.listener.Arrivals(forCase(id)); len(got) > 0 {
		t.Errorf("the candidate sent %d envelope(s) about the case after a confirmation, first %s", len(got), got[0].Kind)
	}
}
