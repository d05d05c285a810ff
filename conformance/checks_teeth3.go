package conformance

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/familylinks/flx/federation"
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

// batchRest is the Retry-After the tester answers the lead case of a
// batch probe with: the candidate's destination rests that long while the
// tester queues more cases, which then go out together, in a batch.
const batchRest = 4 * time.Second

// batchEntry is one case of a batch probe: the answer its envelope gets
// in the first batch that carries it, and whether it must come again.
type batchEntry struct {
	what   string
	answer Action
	again  bool // retried (§8.2, FLX-RCP-005); false: delivered or dead-lettered
	caseID string
}

// batchEntries are the per-envelope answers of FLX-BAT-005, each the only
// fault of its envelope's result: a valid receipt; every receipt fault of
// FLX-RCP-005 and the receipt of another envelope of the batch (retried);
// each retried refusal of §8.2 (retried); refusals that are not retried.
func batchEntries() []batchEntry {
	es := []batchEntry{{what: "a valid receipt", again: false}}
	for _, f := range append([]string{"swapped"}, badReceipts...) {
		es = append(es, batchEntry{what: "a receipt with fault " + f, answer: Action{Receipt: f}, again: true})
	}
	for _, r := range []struct {
		status int
		code   string
		again  bool
	}{
		{http.StatusServiceUnavailable, "unavailable", true}, {http.StatusTooManyRequests, "rate_limited", true},
		{http.StatusRequestTimeout, "request_timeout", true}, {http.StatusUnauthorized, "unauthenticated_peer", true},
		{http.StatusBadRequest, "unknown_key", true}, {http.StatusInternalServerError, "internal_error", true},
		{http.StatusUnprocessableEntity, "schema_invalid", false}, {http.StatusConflict, "replay", false},
		{http.StatusBadRequest, "bad_envelope", false}, {http.StatusRequestEntityTooLarge, "too_large", false},
	} {
		es = append(es, batchEntry{what: fmt.Sprintf("%d %s", r.status, r.code), answer: Action{Status: r.status, Code: r.code}, again: r.again})
	}
	return es
}

// createCases makes the candidate create n cases (not forwarded yet), in
// parallel, and returns their ids.
func (t *T) createCases(n int) []string {
	ids := make([]string, n)
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for i := range ids {
		ids[i] = newCaseID(t.candidate)
		wg.Add(1)
		go func() {
			defer wg.Done()
			ans, err := t.trigger.createCase(outboundCase(t.candidate, ids[i]))
			switch {
			case err != nil:
				errs <- err
			case ans.Status != http.StatusCreated:
				errs <- fmt.Errorf("create case refused: %s", ans)
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		t.Abortf("trigger: %v", err)
	}
	return ids
}

// forwardAll forwards the cases to the tester, in parallel.
func (t *T) forwardAll(ids []string) {
	errs := make(chan error, len(ids))
	var wg sync.WaitGroup
	for _, id := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ans, err := t.trigger.forward(id, MemberTester)
			switch {
			case err != nil:
				errs <- err
			case ans.Status != http.StatusAccepted:
				errs <- fmt.Errorf("forward refused: %s", ans)
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		t.Abortf("trigger: %v", err)
	}
}

// batchOf makes the candidate send the cases ids (created, not forwarded)
// in one batch: the first is forwarded alone and its first attempt
// answered 503 with Retry-After batchRest; while the destination rests,
// the others are forwarded. firstInBatch answers each case's first
// arrival in a batch; later arrivals get valid receipts. It returns the
// arrivals of the first batch holding the cases, or skips the check when
// the candidate sent them alone (a node need not send batches).
func (t *T) batchOf(ids []string, firstInBatch func(caseID string) Action) []*Arrival {
	own := map[string]bool{}
	for _, id := range ids {
		own[id] = true
	}
	for _, id := range ids {
		t.listener.Script(id, func(a *Arrival) Action {
			switch {
			case a.Attempt == 1 && a.Batch == 0 && id == ids[0]:
				return Action{Status: http.StatusServiceUnavailable, Code: "unavailable", RetryAfter: strconv.Itoa(int(batchRest / time.Second))}
			case a.Attempt == 1 && a.Batch > 0:
				return firstInBatch(id)
			}
			return Action{}
		})
	}
	t.forwardAll(ids[:1])
	if len(t.listener.Wait(forCase(ids[0]), 1, t.patience)) == 0 {
		t.Fatalf("the first attempt of the lead case did not arrive within %s", t.patience)
	}
	// The 503 is answered after the arrival is seen: a candidate sends
	// what is queued while a request is in flight at once, in a free slot,
	// so the rest is forwarded once the 503 has had time to rest the
	// destination.
	time.Sleep(batchRest / 4)
	t.forwardAll(ids[1:])
	// The largest batch of these cases: on a loaded machine the rest may
	// end before every case is queued, and the candidate then sends what
	// it holds (even one envelope) and the rest in later batches. A batch
	// of one would hide a candidate that pairs receipts with the wrong
	// envelopes, so the check waits (within its patience) for a batch of
	// at least half the cases, and otherwise takes the largest it saw.
	inBatch := func(a *Arrival) bool { return own[a.CaseID] && a.Batch > 0 }
	largest := func() []*Arrival {
		by := map[int][]*Arrival{}
		var best []*Arrival
		for _, a := range t.listener.Arrivals(inBatch) {
			by[a.Batch] = append(by[a.Batch], a)
			if len(by[a.Batch]) > len(best) {
				best = by[a.Batch]
			}
		}
		return best
	}
	deadline := time.Now().Add(t.patience + batchRest)
	for len(largest()) < max(2, len(ids)/2) && time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
	}
	got := largest()
	if len(got) < 2 {
		t.Skipf("the candidate sent the %d cases queued while its destination rested alone, not in a batch (FLX-BAT-005 concerns senders of batches)", len(ids))
	}
	return got
}

// checkBatchAnswersEach checks FLX-BAT-005 as a class: in a batch whose
// results carry, envelope by envelope, a valid receipt, each receipt
// fault of FLX-RCP-005, the valid receipt of another envelope of the
// batch, each refusal of §8.2 that is retried and some that are not, the
// candidate sends again exactly the envelopes §8.2 and FLX-RCP-005 retry
// (the same bytes) and never the others; then a batch refused as a whole
// (413 too_large, not retried) has each of its envelopes sent alone.
func checkBatchAnswersEach(t *T) {
	t.listener.ServeBatches(func([]*Arrival) Action { return Action{} })
	defer t.listener.ServeBatches(nil)
	es := batchEntries()
	ids := t.createCases(len(es))
	byCase := map[string]*batchEntry{}
	for i := range es {
		es[i].caseID = ids[i]
		byCase[ids[i]] = &es[i]
	}
	batch := t.batchOf(ids, func(id string) Action { return byCase[id].answer })
	answeredAt := time.Now()
	inFirst := map[string]bool{}
	for _, a := range batch {
		inFirst[a.CaseID] = true
	}
	var again, never []*batchEntry
	for i := range es {
		switch {
		case !inFirst[es[i].caseID]:
			t.Logf("%s: not in the first batch", es[i].what)
		case es[i].again:
			again = append(again, &es[i])
		default:
			never = append(never, &es[i])
		}
	}
	t.Logf("first batch: %d envelopes", len(batch))
	// What must not come again is looked for first (a broken candidate
	// fails sooner), then what must.
	time.Sleep(time.Until(answeredAt.Add(t.quiet)))
	failed := false
	first := batch[0].Batch
	for _, e := range never {
		later := t.listener.Arrivals(func(a *Arrival) bool { return a.CaseID == e.caseID && a.Batch != first && a.At.After(batch[0].At) })
		if len(later) > 0 {
			t.Errorf("the envelope answered in a batch with %s was sent again after the batch (copies: %d): it is %s", e.what, len(later),
				map[bool]string{true: "dead-lettered under §8.2", false: "delivered"}[e.answer.Status != 0])
			failed = true
		}
	}
	if failed {
		return
	}
	deadline := time.Now().Add(t.patience)
	for _, e := range again {
		cs := t.listener.Wait(forCase(e.caseID), 2, time.Until(deadline))
		if len(cs) < 2 {
			t.Errorf("the envelope answered in a batch with %s was not sent again within %s", e.what, t.patience)
			failed = true
			continue
		}
		sameBytes(t, cs[:2])
	}
	if failed {
		return // the batch refused as a whole is left for a candidate that answers each envelope right
	}

	// A batch refused as a whole, with a code that is not retried.
	whole := t.createCases(3)
	t.listener.ServeBatches(func(as []*Arrival) Action {
		for _, a := range as {
			if slices.Contains(whole, a.CaseID) && a.Attempt == 1 {
				return Action{Status: http.StatusRequestEntityTooLarge, Code: "too_large"}
			}
		}
		return Action{}
	})
	refused := t.batchOf(whole, func(string) Action { return Action{} })
	if !t.sentAlone(refused, "413 too_large") {
		return
	}

	// Last, a batch refused as a whole with 415: a peer without batches.
	// The candidate may then stop batching to the tester for a while, so
	// this is the run's last batch (404, which the listener answers to
	// batches outside this check, leaves every other outbound check to
	// catch a candidate that dead-letters its envelopes).
	whole = t.createCases(3)
	t.listener.ServeBatches(func(as []*Arrival) Action {
		for _, a := range as {
			if slices.Contains(whole, a.CaseID) && a.Attempt == 1 {
				return Action{Status: http.StatusUnsupportedMediaType, Code: "unsupported_media_type"}
			}
		}
		return Action{}
	})
	t.sentAlone(t.batchOf(whole, func(string) Action { return Action{} }), "415 unsupported_media_type")
}

// sentAlone checks that each envelope of a batch refused as a whole
// (answered what) arrives again alone, with the same bytes, within the
// patience; it reports whether all did.
func (t *T) sentAlone(refused []*Arrival, what string) bool {
	ok := true
	deadline := time.Now().Add(t.patience)
	for _, a := range refused {
		cs := t.listener.Wait(func(b *Arrival) bool { return b.CaseID == a.CaseID && b.Batch == 0 && bytes.Equal(b.Raw, a.Raw) }, 1, time.Until(deadline))
		if len(cs) == 0 {
			t.Errorf("an envelope of a batch answered %s as a whole was not sent alone within %s", what, t.patience)
			ok = false
		}
	}
	return ok
}

// checkBatchStoredBeforeAnswer checks the part of FLX-BAT-004 a peer sees:
// once a batch is answered, every envelope it accepted is stored. Right
// after the 200, each accepted envelope sent again alone (all at once)
// and the whole batch sent again are duplicates, with receipts; the
// refused envelope of the batch, sent alone, is refused again.
func checkBatchStoredBeforeAnswer(t *T) {
	var raws [][]byte
	var cs []Claims
	for range 4 {
		raw, c := t.validCase()
		raws, cs = append(raws, raw), append(cs, c)
	}
	c := t.valid()
	c.Aud = MemberPeer
	misaddressed := t.sign(c, keyTester)
	res := t.batchResults(t.postBatch(batchBody(append(slices.Clone(raws), misaddressed)...), "application/json"), len(raws)+1)
	for i := range raws {
		if _, err := t.checkReceipt(asReceipt(res[i]), raws[i], cs[i], federation.ReceiptAccepted); err != nil {
			t.Fatalf("envelope %d of the batch: %v", i, err)
		}
	}
	var wg sync.WaitGroup
	for i := range raws {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ans, err := t.request(certTester, http.MethodPost, "/flx/v1/envelopes", raws[i], "application/jose")
			if err != nil {
				t.Errorf("envelope %d sent alone: %v", i, err)
				return
			}
			if _, err := t.checkReceipt(ans, raws[i], cs[i], federation.ReceiptDuplicate); err != nil {
				t.Errorf("envelope %d of the answered batch, sent again alone at once, is not a duplicate (the batch was answered before it was stored): %v", i, err)
			}
		}()
	}
	wg.Wait()
	again := t.batchResults(t.postBatch(batchBody(raws...), "application/json"), len(raws))
	for i := range raws {
		if _, err := t.checkReceipt(asReceipt(again[i]), raws[i], cs[i], federation.ReceiptDuplicate); err != nil {
			t.Errorf("envelope %d in the batch sent again: %v", i, err)
		}
	}
	if _, err := shouldRefuse(t.post(t, misaddressed), "wrong_audience"); err != nil {
		t.Errorf("the misaddressed envelope of the batch, sent alone: %v", err)
	}
}

// checkAuditHeadSent checks FLX-WIT-001 for a candidate that names
// XD-TESTER as its witness (conformance init --witness; skipped
// otherwise): its signed audit head arrives within the patience, as an
// audit.head envelope of case <candidate>:audit-head whose body is
// exactly the object of §21.1, naming the candidate, signed at a time
// not ahead of the tester's clock beyond SKEW. A head sent again when it
// changed needs the candidate's interval (at least a minute for this
// node): not checked.
func checkAuditHeadSent(t *T) {
	if m, ok := t.id.Manifest.Member(MemberTester); !ok || !m.AcceptsKind(federation.KindAuditHead) {
		t.Skipf("the manifest does not list audit.head for %s: set the candidate up with conformance init --witness to check that it sends its audit head", MemberTester)
	}
	caseID := federation.AuditHeadCaseID(t.candidate)
	heads := t.listener.Wait(func(a *Arrival) bool { return a.Peer == t.candidate && a.Kind == string(federation.KindAuditHead) }, 1, t.patience)
	if len(heads) == 0 {
		t.Fatalf("no audit.head arrived from the candidate within %s (it names %s as its witness)", t.patience, MemberTester)
	}
	a := heads[0]
	switch {
	case a.VerifyErr != nil:
		t.Fatalf("the audit.head does not verify: %v", a.VerifyErr)
	case a.CaseID != caseID:
		t.Errorf("the audit.head's case_id is %q, want %q", a.CaseID, caseID)
	}
	h, err := federation.ParseAuditHead(a.Env.Body)
	if err != nil {
		t.Fatalf("the audit.head's body is not the object of §21.1: %v", err)
	}
	if h.Member != t.candidate {
		t.Errorf("the audit.head names member %q, want the candidate %s", h.Member, t.candidate)
	}
	if ahead := h.SignedAt.Sub(a.At.Add(t.clockOffset)); ahead > t.skew {
		t.Errorf("the audit.head was signed at %s, %s ahead of its arrival", h.SignedAt.Format(time.RFC3339), ahead.Round(time.Second))
	}
	t.Logf("audit head: %d entries, head %.12s...", h.Count, h.Head)
}

// checkSupersededHashesKept checks the part of FLX-COR-003 a peer sees: a
// recipient that applied version 2 of a case keeps what it needs of
// version 1's envelope, its SHA-256 and its replay record, while it drops
// the bytes. Version 1 sent again is a duplicate with a receipt for its
// bytes, and its jti with other bytes is refused with replay. That it
// keeps no superseded document or envelope bytes cannot be seen from
// outside. The tester waits until version 2 is processed: it then
// withdraws a case it never sent and waits for the confirmation (a node
// processes in order what one member sent it; otherwise the confirmation
// still comes after version 2 was received), and the quiet period.
func checkSupersededHashesKept(t *T) {
	id := newCaseID(MemberTester)
	v1 := caseDoc(id, MemberTester)
	raw1, c1 := t.envelope(federation.KindCaseCreate, v1)
	t.mustAccept(t, t.post(t, raw1), raw1, c1, federation.ReceiptAccepted)
	raw2, c2 := t.envelope(federation.KindCaseUpdate, setMembers(v1, map[string]any{"version": 2}))
	t.mustAccept(t, t.post(t, raw2), raw2, c2, federation.ReceiptAccepted)

	other := newCaseID(MemberTester)
	wraw, wc := t.envelope(federation.KindCaseWithdraw, withdrawalDoc(other))
	t.mustAccept(t, t.post(t, wraw), wraw, wc, federation.ReceiptAccepted)
	if len(t.waitConfirmation(other, wc.JTI, t.patience)) == 0 {
		t.Logf("no confirmation of the barrier withdrawal within %s", t.patience)
	}
	time.Sleep(t.quiet / 2)

	if _, err := t.checkReceipt(t.post(t, raw1), raw1, c1, federation.ReceiptDuplicate); err != nil {
		t.Errorf("version 1 sent again after version 2 was applied (its hash must be kept): %v", err)
	}
	c1.Iat++ // the same jti, other bytes
	changed := t.sign(c1, keyTester)
	if _, err := shouldRefuse(t.post(t, changed), "replay"); err != nil {
		t.Errorf("version 1's jti with other bytes, after version 2 was applied (its replay record must be kept): %v", err)
	}
	if _, err := t.checkReceipt(t.post(t, raw2), raw2, c2, federation.ReceiptDuplicate); err != nil {
		t.Errorf("version 2 sent again: %v", err)
	}
}

// checkMatchQueryOnlyAllowed checks FLX-MAT-006 at the policy's edge,
// through the optional match-query call of §12 (skipped when the candidate
// lacks it): asked about the sought person of a case whose consent covers
// the tester, the candidate sends it a match.query about that case and
// person; asked the same about a case whose consent leaves the tester out
// (a forward would be refused), nothing of that case reaches the tester
// within the quiet period. Names withheld by a redaction, the decision
// recorded, encodings reused and erased: not checked (the policy and the
// records are the candidate's own).
func checkMatchQueryOnlyAllowed(t *T) {
	ask := func(caseID string) *Answer {
		ans, err := t.trigger.matchQuery(caseID, "p2", MemberTester)
		switch {
		case err != nil:
			t.Abortf("trigger: match query: %v", err)
		case ans.Status == http.StatusNotFound || ans.Status == http.StatusMethodNotAllowed || ans.Status == http.StatusNotImplemented:
			t.Skipf("the candidate offers no match-query call (SPEC.md §12): %s", ans)
		case ans.Status == http.StatusServiceUnavailable:
			t.Skipf("the candidate does not match across borders (no matching secret): %s", ans)
		}
		return ans
	}
	allowed := t.createCases(1)[0]
	if ans := ask(allowed); ans.Status/100 != 2 {
		t.Abortf("match query about a case whose consent covers %s refused: %s", MemberTester, ans)
	}
	refused := newCaseID(t.candidate)
	var doc map[string]any
	_ = json.Unmarshal(outboundCase(t.candidate, refused), &doc)
	doc["consents"].([]any)[0].(map[string]any)["scope"].(map[string]any)["members"] = []string{MemberPeer}
	b, _ := json.Marshal(doc)
	if ans, err := t.trigger.createCase(b); err != nil || ans.Status != http.StatusCreated {
		t.Abortf("trigger: create case: %v %s", err, ans)
	}
	asked := time.Now()
	ask(refused)

	isQuery := func(id string) func(*Arrival) bool {
		return func(a *Arrival) bool { return a.CaseID == id && a.Kind == string(federation.KindMatchQuery) }
	}
	got := t.listener.Wait(isQuery(allowed), 1, t.patience)
	if len(got) == 0 {
		t.Errorf("no match.query about a case whose consent covers %s arrived within %s of the call", MemberTester, t.patience)
	} else if got[0].Env != nil {
		var q struct {
			CaseID   string `json:"case_id"`
			PersonID string `json:"person_id"`
		}
		_ = json.Unmarshal(got[0].Env.Body, &q)
		if q.CaseID != allowed || q.PersonID != "p2" {
			t.Errorf("the match.query asks about %s person %q, want %s person p2", q.CaseID, q.PersonID, allowed)
		}
	}
	time.Sleep(time.Until(asked.Add(t.quiet)))
	if cs := t.listener.Arrivals(forCase(refused)); len(cs) > 0 {
		t.Errorf("a %s about a case whose consent leaves %s out reached it: the query must wait for the policy to allow the case and the person's names", cs[0].Kind, MemberTester)
	}
	if len(got) == 0 {
		return
	}
	// The member asked holds the case's query: withdrawing the case
	// reaches it, as every member an envelope about the case went to.
	if ans, err := t.trigger.withdraw(allowed, "consent_withdrawn"); err != nil || ans.Status != http.StatusAccepted {
		t.Abortf("trigger: withdraw %s: %v %s", allowed, err, ans)
	}
	isWithdraw := func(a *Arrival) bool { return a.CaseID == allowed && a.Kind == string(federation.KindCaseWithdraw) }
	if len(t.listener.Wait(isWithdraw, 1, t.patience)) == 0 {
		t.Errorf("withdrawing a case whose person %s was asked about sent it no case.withdraw within %s: a withdrawal reaches every member asked", MemberTester, t.patience)
	}
}
