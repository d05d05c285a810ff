package conformance

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/familylinks/flx/federation"
	"github.com/familylinks/flx/schema"
)

// Outbound checks: the candidate sends to the tester (SPEC.md §2.1, §5.6,
// §7, §10, §11, §12).

// sameBytes requires every arrival to carry the bytes of the first.
func sameBytes(t TB, as []*Arrival) {
	t.Helper()
	for i, a := range as[1:] {
		if !bytes.Equal(a.Raw, as[0].Raw) {
			t.Errorf("copy %d differs from the first (jti %q vs %q): re-sends must be byte-identical", i+2, a.JTI, as[0].JTI)
		}
	}
}

func copiesOf(as []*Arrival, kind string) []*Arrival {
	var out []*Arrival
	for _, a := range as {
		if a.Kind == kind {
			out = append(out, a)
		}
	}
	return out
}

// checkSent checks one envelope the candidate sent (FLX-ENV-013,
// FLX-KEY-009, FLX-SCH-004, FLX-TLS-005 client side).
func (t *T) checkSent(a *Arrival) error {
	var probs []string
	if a.VerifyErr != nil {
		probs = append(probs, fmt.Sprintf("does not verify against the manifest as sent to %s: %v", MemberTester, a.VerifyErr))
	}
	// An envelope comes alone as application/jose, or in a batch (§19).
	wantType, wantPath := "application/jose", "/flx/v1/envelopes"
	if a.Batch > 0 {
		wantType, wantPath = federation.BatchMediaType, federation.BatchesPath
	}
	if mt, _, _ := mime.ParseMediaType(a.ContentType); !strings.EqualFold(mt, wantType) {
		probs = append(probs, fmt.Sprintf("Content-Type %q", a.ContentType))
	}
	if a.Path != wantPath || a.Method != http.MethodPost {
		probs = append(probs, fmt.Sprintf("%s %s", a.Method, a.Path))
	}
	if a.TLSVersion != tls.VersionTLS13 {
		probs = append(probs, fmt.Sprintf("TLS version %#x", a.TLSVersion))
	}
	if a.Peer != t.candidate {
		probs = append(probs, fmt.Sprintf("client certificate authenticates %q", a.Peer))
	}
	if e := a.Env; e != nil {
		if e.Issuer != t.candidate || e.Audience != MemberTester {
			probs = append(probs, fmt.Sprintf("iss %q aud %q", e.Issuer, e.Audience))
		}
		if e.ExpiresAt.Sub(e.IssuedAt) > federation.DefaultMaxTTL {
			probs = append(probs, "exp - iat over 7 days")
		}
		if a.Attempt == 1 {
			if d := e.IssuedAt.Sub(t.now()); d > t.skew || d < -t.skew-2*time.Minute {
				probs = append(probs, fmt.Sprintf("iat %s far from now", e.IssuedAt.Format(time.RFC3339)))
			}
		}
		var h struct {
			CaseID string `json:"case_id"`
		}
		_ = json.Unmarshal(e.Body, &h)
		if e.Kind == federation.KindAuditHead {
			h.CaseID = federation.AuditHeadCaseID(e.Issuer) // the form §21.1 gives it
		}
		if h.CaseID != e.CaseID {
			probs = append(probs, "case_id claim differs from body.case_id")
		}
		if e.Kind == federation.KindAuditHead {
			// Not a schema v1 document: exactly the object of §21.1.
			if _, err := federation.ParseAuditHead(e.Body); err != nil {
				probs = append(probs, fmt.Sprintf("audit.head body: %v", err))
			}
		} else if k, ok := schema.KindForEnvelope(string(e.Kind)); !ok {
			probs = append(probs, "kind "+string(e.Kind)+" has no schema")
		} else if err := schema.Validate(k, e.Body); err != nil {
			probs = append(probs, fmt.Sprintf("body is not valid schema v1 %s: %v", k, err))
		}
	}
	if len(probs) == 0 {
		return nil
	}
	return fmt.Errorf("envelope %s (%s): %s", a.JTI, a.Kind, strings.Join(probs, "; "))
}

// sendCase makes the candidate create a case and forward it to the tester,
// whose listener answers the case's envelopes with script.
func (t *T) sendCase(script Script) string {
	caseID := newCaseID(t.candidate)
	t.listener.Script(caseID, script)
	ans, err := t.trigger.createCase(outboundCase(t.candidate, caseID))
	if err != nil {
		t.Abortf("trigger: create case: %v", err)
	}
	if ans.Status != http.StatusCreated {
		t.Abortf("create case refused: %s", ans)
	}
	t.forwardCase(caseID)
	return caseID
}

// forwardCase makes the candidate forward caseID to the tester.
func (t *T) forwardCase(caseID string) {
	ans, err := t.trigger.forward(caseID, MemberTester)
	if err != nil {
		t.Abortf("trigger: forward: %v", err)
	}
	if ans.Status != http.StatusAccepted {
		t.Abortf("forward refused (is the candidate's policy set to allow transfers to %s?): %s", MemberTester, ans)
	}
}

// retryAfterWait is the Retry-After the tester answers in FLX-DLV-006/retry-after.
const retryAfterWait = 3 * time.Second

// timingSlack is what the tester allows for its own timing.
const timingSlack = 100 * time.Millisecond

// checkRetryAfterHonoured checks that after a 503 with Retry-After: 3 the
// next attempt comes no sooner than 3 s, and after a 429 with
// Retry-After: 3 too (FLX-DLV-006 names both).
func checkRetryAfterHonoured(t *T) {
	for _, a := range []struct {
		status int
		code   string
	}{{http.StatusServiceUnavailable, "unavailable"}, {http.StatusTooManyRequests, "rate_limited"}} {
		caseID := t.sendCase(func(ar *Arrival) Action {
			if ar.Attempt == 1 {
				return Action{Status: a.status, Code: a.code, RetryAfter: strconv.Itoa(int(retryAfterWait / time.Second))}
			}
			return Action{}
		})
		cs := t.listener.Wait(forCase(caseID), 2, t.patience)
		if len(cs) < 2 {
			t.Fatalf("%d attempts arrived within %s (the first answered %d), want 2", len(cs), t.patience, a.status)
		}
		gap := cs[1].At.Sub(cs[0].At)
		if gap < retryAfterWait-timingSlack {
			t.Errorf("the next attempt came %s after a %d with Retry-After: %d", gap.Round(10*time.Millisecond), a.status, int(retryAfterWait/time.Second))
		}
		t.Logf("gap after %d: %s", a.status, gap.Round(10*time.Millisecond))
	}
}

// checkCaseOrderKept checks that while a case.create is answered 503, a later
// envelope of the case waits until the create is accepted.
func checkCaseOrderKept(t *T) {
	// The create is refused until a later envelope of the case is
	// queued, and once more after that: a sender that does not keep
	// the order sends the later one meanwhile.
	var (
		mu      sync.Mutex
		queued  bool
		refused int // create attempts refused after the later envelope was queued
	)
	caseID := t.sendCase(func(a *Arrival) Action {
		if a.Kind != string(federation.KindCaseCreate) {
			return Action{}
		}
		mu.Lock()
		defer mu.Unlock()
		if !queued || refused == 0 {
			if queued {
				refused++
			}
			return Action{Status: http.StatusServiceUnavailable, Code: "unavailable"}
		}
		return Action{}
	})
	got := t.listener.Wait(forCase(caseID), 1, t.patience)
	if len(got) == 0 {
		t.Fatalf("no envelope arrived within %s of the forward", t.patience)
	}
	create := got[0]
	if create.Kind != string(federation.KindCaseCreate) {
		t.Fatalf("the first envelope of the case is %s, want case.create", create.Kind)
	}
	// Queue a later envelope of the case: the next version if the
	// candidate offers the update call (SPEC.md §12).
	later := "a case.update of version 2"
	ans, err := t.trigger.updateCase(caseID, outboundCaseVersion(t.candidate, caseID, 2))
	switch {
	case err != nil:
		t.Abortf("trigger: update case: %v", err)
	case ans.Status == http.StatusNotFound || ans.Status == http.StatusMethodNotAllowed || ans.Status == http.StatusNotImplemented:
		later = "the unchanged case forwarded again (no update call)"
	case ans.Status/100 != 2:
		t.Abortf("update case refused: %s", ans)
	}
	t.forwardCase(caseID)
	mu.Lock()
	queued = true
	mu.Unlock()
	next := func(a *Arrival) bool { return a.CaseID == caseID && a.JTI != create.JTI }
	if len(t.listener.Wait(next, 1, t.patience)) == 0 {
		t.Fatalf("%s did not arrive within %s", later, t.patience)
	}
	var accepted *Arrival
	all := t.listener.Arrivals(forCase(caseID))
	for _, a := range all {
		if a.JTI == create.JTI && strings.HasPrefix(a.Answered, "202") {
			accepted = a
			break
		}
	}
	for _, a := range all {
		if a.JTI == create.JTI {
			continue
		}
		switch {
		case accepted == nil:
			t.Errorf("%s (jti %s) arrived while the case.create was still refused", a.Kind, a.JTI)
		case a.At.Before(accepted.AnsweredAt):
			t.Errorf("%s (jti %s) arrived %s before the 202 to the case.create", a.Kind, a.JTI, accepted.AnsweredAt.Sub(a.At).Round(10*time.Millisecond))
		}
	}
	if accepted != nil {
		t.Logf("later envelope: %s; case.create accepted at attempt %d", later, accepted.Attempt)
	}
}

// checkTriggerTokenRequired checks that trigger calls without a token or with
// a wrong one get 401 and have no effect.
func checkTriggerTokenRequired(t *T) {
	id := newCaseID(t.candidate)
	doc := outboundCase(t.candidate, id)
	for _, tok := range []string{"", "wrong-token"} {
		ans, err := t.trigger.call(http.MethodPost, "/api/v1/cases", tok, doc)
		if err != nil {
			t.Abortf("trigger: %v", err)
		}
		if ans.Status != http.StatusUnauthorized {
			t.Errorf("token %q: want 401, got %s", tok, ans)
		}
	}
	ans, err := t.trigger.createCase(doc)
	if err != nil {
		t.Abortf("trigger: %v", err)
	}
	if ans.Status != http.StatusCreated {
		t.Errorf("with the token, the same case was not created (an earlier call had an effect?): %s", ans)
	}
}

// checkCreateAndForward checks that create answers 201 with case_id and
// version, forward answers 202, and the first attempt comes within 60 s.
func checkCreateAndForward(t *T) {
	sc := t.outbound("retry-503")
	var out struct {
		CaseID  string `json:"case_id"`
		Version *int   `json:"version"`
	}
	if err := json.Unmarshal(sc.created.Body, &out); err != nil || out.CaseID != sc.caseID || out.Version == nil {
		t.Errorf("create answer lacks case_id %s and version: %s", sc.caseID, sc.created)
	}
	if sc.created.Status != http.StatusCreated {
		t.Errorf("create: want 201, got %s", sc.created)
	}
	if sc.forwarded.Status != http.StatusAccepted {
		t.Errorf("forward: want 202, got %s", sc.forwarded)
	}
	if len(sc.arrivals) == 0 {
		t.Fatalf("no envelope arrived within 90 s of the forward")
	}
	if d := sc.arrivals[0].At.Sub(sc.triggerAt); d > 60*time.Second {
		t.Errorf("first attempt %s after the forward", d.Round(time.Second))
	}
	if sc.arrivals[0].Kind != string(federation.KindCaseCreate) {
		t.Errorf("first envelope of the case is %s, want case.create", sc.arrivals[0].Kind)
	}
}

// checkSentEnvelopesConform checks that every envelope the candidate sends
// conforms, is signed with its valid key, over TLS 1.3 with its pinned
// certificate; jti are distinct.
func checkSentEnvelopesConform(t *T) {
	t.outbound("retry-503")
	t.outbound("withdraw")
	byJTI := map[string][]byte{}
	// A batch the listener answered 404 (it serves batches only for
	// FLX-BAT-005) is no envelope: the sender then sends each alone.
	all := t.listener.Arrivals(func(a *Arrival) bool {
		return a.Peer == t.candidate && !(a.Path == federation.BatchesPath && a.Batch == 0)
	})
	if len(all) == 0 {
		t.Fatalf("nothing arrived")
	}
	for _, a := range all {
		if err := t.checkSent(a); err != nil {
			t.Errorf("%v", err)
		}
		if prev, ok := byJTI[a.JTI]; ok && !bytes.Equal(prev, a.Raw) {
			t.Errorf("jti %s used for two different envelopes", a.JTI)
		}
		byJTI[a.JTI] = a.Raw
	}
}

// checkRetriedAfter503 checks that after 503 answers the same bytes are sent
// again until a receipt.
func checkRetriedAfter503(t *T) {
	sc := t.outbound("retry-503")
	cs := copiesOf(sc.arrivals, string(federation.KindCaseCreate))
	if len(cs) < retry503Failures+1 {
		t.Fatalf("%d copies arrived (%d answered 503), want %d", len(cs), retry503Failures, retry503Failures+1)
	}
	sameBytes(t, cs[:retry503Failures+1])
}

// checkBackoffGrows checks that waits between attempts are at least 0.5 s and
// grow exponentially: the k-th wait is at least 0.5 × 2^(k-1) s, for five
// waits (at least 8 s before the 6th attempt).
func checkBackoffGrows(t *T) {
	sc := t.outbound("retry-503")
	cs := copiesOf(sc.arrivals, string(federation.KindCaseCreate))
	if len(cs) < retry503Failures+1 {
		t.Fatalf("%d copies arrived, want %d", len(cs), retry503Failures+1)
	}
	var gaps []string
	for k := 1; k <= retry503Failures; k++ {
		gap := cs[k].At.Sub(cs[k-1].At)
		gaps = append(gaps, gap.Round(10*time.Millisecond).String())
		min := time.Duration(float64(500*time.Millisecond) * float64(int(1)<<(k-1)))
		if gap < min-50*time.Millisecond {
			t.Errorf("wait after %d failed attempt(s) was %s, want at least %s", k, gap.Round(10*time.Millisecond), min)
		}
	}
	t.Logf("gaps %s", strings.Join(gaps, ", "))
}

// checkNoResendAfterReceipt checks that after a valid receipt the envelope is
// not sent again.
func checkNoResendAfterReceipt(t *T) {
	sc := t.outbound("retry-503")
	if len(sc.extra) > 0 {
		t.Errorf("%d copies arrived after the receipt", len(sc.extra))
	}
}

// checkRetriedAfterDroppedConnection checks that after the tester drops the
// connection twice the same bytes arrive a third time.
func checkRetriedAfterDroppedConnection(t *T) {
	sc := t.outbound("drop")
	if len(sc.arrivals) < 3 {
		t.Fatalf("%d copies arrived (2 dropped), want 3", len(sc.arrivals))
	}
	sameBytes(t, sc.arrivals[:3])
	if len(sc.extra) > 0 {
		t.Errorf("%d copies arrived after the receipt", len(sc.extra))
	}
}

// checkBadReceiptRetried checks that a 202 whose receipt has the wrong
// sha256, and a 202 without a receipt, are retried with the same bytes.
func checkBadReceiptRetried(t *T) {
	sc := t.outbound("bad-receipt")
	if len(sc.arrivals) < 3 {
		t.Fatalf("%d copies arrived (bad receipt, no receipt), want 3", len(sc.arrivals))
	}
	sameBytes(t, sc.arrivals[:3])
}

// checkNoResendAfter422 checks that after 422 schema_invalid the envelope is
// not sent again.
func checkNoResendAfter422(t *T) {
	sc := t.outbound("dead-letter")
	if len(sc.arrivals) == 0 {
		t.Fatalf("nothing arrived")
	}
	if len(sc.extra) > 0 {
		t.Errorf("%d copies arrived after a 422", len(sc.extra))
	}
}

// checkWithdrawalSent checks that withdrawing a forwarded case sends
// case.withdraw to the recipient, and nothing more about the case.
func checkWithdrawalSent(t *T) {
	sc := t.outbound("withdraw")
	if sc.withdrawn == nil || sc.withdrawn.Status != http.StatusAccepted {
		t.Fatalf("withdraw trigger: want 202, got %s", sc.withdrawn)
	}
	ws := copiesOf(sc.arrivals, string(federation.KindCaseWithdraw))
	if len(ws) == 0 {
		t.Fatalf("no case.withdraw arrived")
	}
	if ws[0].Env != nil {
		w, err := schema.ParseWithdrawal(ws[0].Env.Body)
		if err != nil || w.Confirms != "" {
			t.Errorf("the withdrawal is not a withdrawal request: %s", ws[0].Env.Body)
		}
	}
	for _, a := range sc.extra {
		if a.Kind != string(federation.KindCaseWithdraw) || !bytes.Equal(a.Raw, ws[0].Raw) {
			t.Errorf("after the withdrawal the candidate sent %s about the case", a.Kind)
		}
	}
}
