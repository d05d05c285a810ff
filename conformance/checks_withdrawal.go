package conformance

import (
	"encoding/json"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/familylinks/flx/federation"
	"github.com/familylinks/flx/schema"
)

// Withdrawal, both sides (SPEC.md §11): what a recipient's confirmation
// copies, and what becomes of envelopes an origin still has queued when it
// withdraws a case.

// checkConfirmationCopies checks that the confirmation of a withdrawal that
// names persons and an earlier withdrawn_at copies case_id, reason,
// withdrawn_at and person_ids, names the withdrawal's jti in confirms, and
// has an erased_at not before withdrawn_at.
func checkConfirmationCopies(t *T) {
	id := newCaseID(MemberTester)
	raw, c := t.envelope(federation.KindCaseCreate, caseDoc(id, MemberTester))
	t.mustAccept(t, t.post(t, raw), raw, c, federation.ReceiptAccepted)
	withdrawnAt := t.now().Add(-90 * time.Minute).UTC().Truncate(time.Second)
	want := map[string]any{
		"schema": "flx/v1/withdrawal", "case_id": id, "reason": "erasure_request",
		"withdrawn_at": withdrawnAt.Format(time.RFC3339), "person_ids": []string{"p1", "p2"},
	}
	body, _ := json.Marshal(want)
	wraw, wc := t.envelope(federation.KindCaseWithdraw, body)
	t.mustAccept(t, t.post(t, wraw), wraw, wc, federation.ReceiptAccepted)
	got := t.waitConfirmation(id, wc.JTI, t.patience)
	if len(got) == 0 {
		t.Fatalf("no confirmation of withdrawal %s arrived within %s", wc.JTI, t.patience)
	}
	a := got[0]
	if a.Env.Audience != MemberTester {
		t.Errorf("confirmation addressed to %q, want the origin %s", a.Env.Audience, MemberTester)
	}
	w, err := schema.ParseWithdrawal(a.Env.Body)
	if err != nil {
		t.Fatalf("confirmation body: %v", err)
	}
	if w.CaseID != id || string(w.Reason) != "erasure_request" {
		t.Errorf("confirmation case_id %q reason %q, want %q %q", w.CaseID, w.Reason, id, "erasure_request")
	}
	if got, err := time.Parse(time.RFC3339, string(w.WithdrawnAt)); err != nil || !got.Equal(withdrawnAt) {
		t.Errorf("confirmation withdrawn_at %q, the withdrawal's is %s", w.WithdrawnAt, withdrawnAt.Format(time.RFC3339))
	}
	if !slices.Equal(w.PersonIDs, []string{"p1", "p2"}) {
		t.Errorf("confirmation person_ids %v, the withdrawal's are [p1 p2]", w.PersonIDs)
	}
	if erased, err := time.Parse(time.RFC3339, string(w.ErasedAt)); err != nil || erased.Before(withdrawnAt) {
		t.Errorf("confirmation erased_at %q is missing or before withdrawn_at", w.ErasedAt)
	}
}

// withdrawGrace is how long after the withdraw call an attempt that was
// already under way may still arrive (FLX-WDR-007 orders the withdrawal
// after envelopes in flight); later copies were not in flight.
const withdrawGrace = time.Second

// checkQueuedUpdateCancelled checks that a case.update the recipient
// refused with 503, waiting to be retried when the case is withdrawn, is
// never sent after the withdrawal: the case.withdraw arrives and the update
// does not (it is cancelled, not delivered).
func checkQueuedUpdateCancelled(t *T) {
	var (
		mu        sync.Mutex
		withdrawn time.Time
	)
	caseID := t.sendCase(func(a *Arrival) Action {
		if a.Kind != string(federation.KindCaseUpdate) {
			return Action{}
		}
		mu.Lock()
		defer mu.Unlock()
		// Refused until well after the withdrawal, then accepted: a sender
		// that kept the update delivers it.
		if withdrawn.IsZero() || a.At.Before(withdrawn.Add(withdrawGrace)) {
			return Action{Status: http.StatusServiceUnavailable, Code: "unavailable"}
		}
		return Action{}
	})
	if len(t.listener.Wait(forCase(caseID), 1, t.patience)) == 0 {
		t.Fatalf("no case.create arrived within %s of the forward", t.patience)
	}
	ans, err := t.trigger.updateCase(caseID, outboundCaseVersion(t.candidate, caseID, 2))
	switch {
	case err != nil:
		t.Abortf("trigger: update case: %v", err)
	case ans.Status == http.StatusNotFound || ans.Status == http.StatusMethodNotAllowed || ans.Status == http.StatusNotImplemented:
		t.Skipf("the candidate offers no update call (SPEC.md §12)")
	case ans.Status/100 != 2:
		t.Abortf("update case refused: %s", ans)
	}
	t.forwardCase(caseID)
	isUpdate := func(a *Arrival) bool { return a.CaseID == caseID && a.Kind == string(federation.KindCaseUpdate) }
	if len(t.listener.Wait(isUpdate, 1, t.patience)) == 0 {
		t.Fatalf("the case.update did not arrive within %s", t.patience)
	}
	w, err := t.trigger.withdraw(caseID, "consent_withdrawn")
	if err != nil {
		t.Abortf("trigger: withdraw: %v", err)
	}
	if w.Status != http.StatusAccepted {
		t.Fatalf("withdraw: want 202, got %s", w)
	}
	mu.Lock()
	withdrawn = time.Now()
	mu.Unlock()
	isWithdraw := func(a *Arrival) bool { return a.CaseID == caseID && a.Kind == string(federation.KindCaseWithdraw) }
	if len(t.listener.Wait(isWithdraw, 1, t.patience)) == 0 {
		t.Errorf("no case.withdraw arrived within %s of the withdraw call", t.patience)
	}
	time.Sleep(t.quiet)
	for _, a := range t.listener.Arrivals(isUpdate) {
		if a.At.After(withdrawn.Add(withdrawGrace)) {
			t.Errorf("the case.update refused before the withdrawal was sent again %s after it (answered %s)",
				a.At.Sub(withdrawn).Round(10*time.Millisecond), a.Answered)
			break
		}
	}
}

// withdrawHold is how long the tester keeps a case.create in flight after
// the candidate's withdraw call returned (FLX-WDR-007/after-in-flight): a
// sender that does not order the withdrawal after it sends the
// case.withdraw meanwhile (this node kicks its delivery at once).
const withdrawHold = 2 * time.Second

// checkWithdrawalAfterInFlight checks that a withdrawal is ordered after an
// envelope of the case in flight (FLX-WDR-007, its second item): the
// tester holds its answer to the case.create while the case is withdrawn,
// and no case.withdraw may arrive before that answer; after it, the
// case.withdraw arrives (the create was attempted: the tester counts as a
// member that received the case).
func checkWithdrawalAfterInFlight(t *T) {
	// Held well inside the candidate's request timeout: an attempt it gave
	// up would no longer be in flight.
	bound := min(t.requestTimeout*3/5, withdrawHold+8*time.Second)
	arrived, release := make(chan struct{}), make(chan struct{})
	var arrive, rel sync.Once
	free := func() { rel.Do(func() { close(release) }) }
	defer free()
	caseID := t.sendCase(func(a *Arrival) Action {
		if a.Kind != string(federation.KindCaseCreate) || a.Attempt != 1 {
			return Action{}
		}
		arrive.Do(func() { close(arrived) })
		return Action{Delay: bound, Release: release}
	})
	select {
	case <-arrived:
	case <-time.After(t.patience):
		t.Fatalf("no case.create arrived within %s of the forward", t.patience)
	}
	w, err := t.trigger.withdraw(caseID, "consent_withdrawn")
	withdrawn := time.Now()
	if err != nil {
		t.Abortf("trigger: withdraw: %v", err)
	}
	if w.Status != http.StatusAccepted {
		t.Fatalf("withdraw: want 202, got %s", w)
	}
	isWithdraw := func(a *Arrival) bool { return a.CaseID == caseID && a.Kind == string(federation.KindCaseWithdraw) }
	t.listener.Wait(isWithdraw, 1, time.Until(withdrawn.Add(withdrawHold)))
	free()
	isCreate := func(a *Arrival) bool {
		return a.CaseID == caseID && a.Kind == string(federation.KindCaseCreate) && a.Attempt == 1
	}
	cs := t.listener.Wait(isCreate, 1, bound)
	if len(cs) == 0 {
		t.Abortf("the tester's held answer to the case.create was not recorded")
	}
	create := cs[0]
	for _, a := range t.listener.Arrivals(isWithdraw) {
		if a.At.Before(create.AnsweredAt) {
			t.Fatalf("the case.withdraw arrived while the case.create was still in flight (the tester held its answer, and let it go only once the case.withdraw had come)")
		}
	}
	// Nothing came while the create was held: that says something only if
	// it was held long enough after the withdrawal.
	if held := create.AnsweredAt.Sub(withdrawn); held < withdrawHold/2 {
		t.Abortf("the case.create was answered %s after the withdraw call returned (%s after it arrived): too soon to tell whether the withdrawal waits for it",
			held.Round(10*time.Millisecond), withdrawn.Sub(create.At).Round(10*time.Millisecond))
	}
	if len(t.listener.Wait(isWithdraw, 1, t.patience)) == 0 {
		t.Errorf("no case.withdraw arrived within %s of the tester's answer to the case.create (%s)", t.patience, create.Answered)
	}
}
