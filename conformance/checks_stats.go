package conformance

import (
	"encoding/json"
	"math/rand/v2"
	"net/http"
	"slices"
	"time"

	"github.com/familylinks/flx/federation"
	"github.com/familylinks/flx/schema"
)

// The candidate's statistics reports (SPEC.md §17). XD-COORD is a
// coordinator that names XD-TESTER in relay_via: the reports the candidate
// queues for it arrive at the tester's listener as relay.forward
// envelopes. The optional trigger POST /api/v1/stats/send (§12) makes the
// candidate report now; the tester creates tracing requests dated in a
// past month so that the month's count is known.

// sentReport is a statistics report the candidate sent, as XD-COORD reads it.
type sentReport struct {
	Member    string          `json:"member"`
	Country   string          `json:"country"`
	Period    string          `json:"period"`
	Revision  int             `json:"revision"`
	Threshold int             `json:"threshold"`
	Rounding  int             `json:"rounding"`
	Counts    map[string]*int `json:"counts"`
}

// sendStats makes the candidate report now.
func (t *T) sendStats() {
	ans, err := t.trigger.call(http.MethodPost, "/api/v1/stats/send", t.trigger.token, nil)
	switch {
	case err != nil:
		t.Abortf("trigger: %v", err)
	case ans.Status == http.StatusNotFound || ans.Status == http.StatusMethodNotAllowed || ans.Status == http.StatusNotImplemented:
		t.Skipf("the candidate does not offer POST /api/v1/stats/send (SPEC.md §12)")
	case ans.Status/100 != 2:
		t.Abortf("POST /api/v1/stats/send: %s", ans)
	}
}

// createDated makes the candidate create n tracing requests whose
// origin.created_at is at.
func (t *T) createDated(n int, at time.Time) {
	for range n {
		id := newCaseID(t.candidate)
		var doc map[string]any
		_ = json.Unmarshal(outboundCase(t.candidate, id), &doc)
		doc["origin"].(map[string]any)["created_at"] = at.UTC().Format(time.RFC3339)
		b, _ := json.Marshal(doc)
		ans, err := t.trigger.createCase(b)
		if err != nil {
			t.Abortf("trigger: create case: %v", err)
		}
		if ans.Status != http.StatusCreated {
			t.Abortf("create case dated %s refused: %s", at.Format(time.RFC3339), ans)
		}
	}
}

// waitReport waits for the candidate's report of period with a revision
// above after, checks the envelope and the body's shape (FLX-STA-001,
// FLX-STA-003), and returns the body.
func (t *T) waitReport(period string, after int) sentReport {
	rep, _ := t.waitReportAck(period, after)
	return rep
}

// waitReportAck is waitReport that also returns XD-COORD's end-to-end
// receipt for the report, relayed back to the candidate through XD-TESTER
// (FLX-RLY-008): the candidate sends a later report of the month only once
// the earlier one is delivered (per-case order, FLX-RLY-009).
func (t *T) waitReportAck(period string, after int) (sentReport, []byte) {
	caseID := t.candidate + ":stats-" + period
	open, match := t.reportOf(period, after)
	got := t.listener.Wait(match, 1, t.patience)
	if len(got) == 0 {
		t.Fatalf("no statistics report of %s (revision above %d) that verifies as the candidate's for %s reached it through %s within %s",
			period, after, MemberCoord, MemberTester, t.patience)
	}
	env, r, _ := open(got[0])
	inner, _ := federation.RelayInner(got[0].Raw)
	receipt := t.receiptSigned(map[string]any{"iss": MemberCoord, "aud": t.candidate, "iat": t.now().Unix(),
		"receipt_for": env.JTI, "sha256": sha256Hex(inner), "status": "accepted"}, keyCoord)
	now := t.now().Unix()
	h1 := t.hop(hopClaims{Iss: MemberCoord, Aud: MemberTester, Iat: now - 1, Inner: sha256Hex(receipt)}, keyCoord)
	h2 := t.hop(hopClaims{Iss: MemberTester, Aud: t.candidate, Iat: now, Inner: sha256Hex(receipt), Prev: sha256Hex([]byte(h1))}, keyTester)
	back, bc := t.relayed(receipt, caseID, map[string]any{"inner": string(receipt), "hops": []string{h1, h2}})
	t.mustAccept(t, t.post(t, back), back, bc, federation.ReceiptAccepted)
	if k, ok := schema.KindForEnvelope(string(env.Kind)); !ok || schema.Validate(k, env.Body) != nil {
		t.Errorf("the report of %s does not validate against schema/v1/stats_report.json", period)
	}
	if env.CaseID != caseID || r.Member != t.candidate || r.Country != t.id.Candidate().Country || r.Period != period {
		t.Errorf("the report of %s names case %s, member %s, country %s, period %s; want %s, %s, %s, %s",
			period, env.CaseID, r.Member, r.Country, r.Period, caseID, t.candidate, t.id.Candidate().Country, period)
	}
	return r, receipt
}

// reportOf returns how to open a report of period that reached the
// tester (verified as the candidate's for XD-COORD) and a match for those
// with a revision above after.
func (t *T) reportOf(period string, after int) (func(*Arrival) (*federation.Envelope, sentReport, error), func(*Arrival) bool) {
	caseID := t.candidate + ":stats-" + period
	v := &federation.Verifier{Manifest: federation.StaticManifest(t.id.Manifest), Self: MemberCoord, Skew: t.skew, Now: t.now}
	open := func(a *Arrival) (*federation.Envelope, sentReport, error) {
		var r sentReport
		inner, err := federation.RelayInner(a.Raw)
		if err != nil {
			return nil, r, err
		}
		env, err := v.Verify(t.ctx, inner, t.candidate)
		if err != nil {
			return nil, r, err
		}
		return env, r, json.Unmarshal(env.Body, &r)
	}
	match := func(a *Arrival) bool {
		if a.Kind != string(federation.KindRelayForward) || a.CaseID != caseID || a.Env == nil {
			return false
		}
		env, r, err := open(a)
		return err == nil && env.Kind == federation.KindStatsReport && r.Revision > after
	}
	return open, match
}

// reportedBefore receipts end to end, as XD-COORD, each report of period
// that reached the tester so far (a report of every month since the
// candidate's first record, sent for an earlier check, is never receipted
// by that check: the candidate holds the month's later revisions until it
// is, per-case order) and returns the highest revision, 0 if none.
func (t *T) reportedBefore(period string) int {
	open, match := t.reportOf(period, 0)
	var revs []int
	for _, a := range t.listener.Arrivals(match) {
		if _, r, err := open(a); err == nil {
			revs = append(revs, r.Revision)
		}
	}
	slices.Sort(revs)
	last := 0
	for _, rev := range slices.Compact(revs) {
		last = t.waitReport(period, rev-1).Revision
	}
	return last
}

// published is what a count of n becomes under threshold k and rounding
// b (FLX-STA-002): 0, null (-1 here) or n rounded to b, halves up.
func published(n, k, b int) int {
	switch {
	case n == 0:
		return 0
	case n < k:
		return -1
	}
	return (n + b/2) / b * b
}

// checkStatsReported checks the reports the candidate sends to a
// coordinator: after two tracing requests dated in a past month, its
// report of that month (from itself, about itself, its country, case_id
// <member>:stats-<period>, valid against the schema) publishes
// tracing_opened as null; after k + 1 more, a higher revision publishes
// the total rounded to b. No report is sent for a month that has not ended.
//
// The first wait takes a revision produced in this run: those of the month
// that reached the tester before the check's cases (from an earlier check,
// or queued by a candidate that reported the month before) are receipted
// first (reportedBefore), and the check takes the first later revision that
// publishes null; one that does not is the answer only when no higher
// revision follows it within the patience.
func checkStatsReported(t *T) {
	now := t.now().UTC()
	month := time.Date(now.Year(), now.Month(), 10, 12, 0, 0, 0, time.UTC).AddDate(0, -2-rand.IntN(4), 0)
	period := month.Format("2006-01")
	before := t.reportedBefore(period)
	t.createDated(2, month)
	t.sendStats()
	first := t.waitReport(period, before)
	for first.Counts["tracing_opened"] != nil {
		if _, higher := t.reportOf(period, first.Revision); len(t.listener.Wait(higher, 1, t.patience)) == 0 {
			break
		}
		first = t.waitReport(period, first.Revision)
	}
	if first.Threshold < 3 || first.Rounding < 1 || first.Rounding > first.Threshold {
		t.Fatalf("the report states threshold %d and rounding %d: want 3 <= k and 1 <= b <= k", first.Threshold, first.Rounding)
	}
	if v := first.Counts["tracing_opened"]; v != nil {
		t.Errorf("tracing_opened of %s is %d after 2 tracing requests, below the threshold %d: want null", period, *v, first.Threshold)
	}
	more := first.Threshold + 1
	t.createDated(more, month)
	t.sendStats()
	second := t.waitReport(period, first.Revision)
	want := published(2+more, second.Threshold, second.Rounding)
	switch v := second.Counts["tracing_opened"]; {
	case v == nil:
		t.Errorf("tracing_opened of %s is null after %d tracing requests, threshold %d", period, 2+more, second.Threshold)
	case *v != want:
		t.Errorf("tracing_opened of %s is %d after %d tracing requests: want %d (threshold %d, rounding %d)", period, *v, 2+more, want, second.Threshold, second.Rounding)
	}
	current := now.Format("2006-01")
	for _, a := range t.listener.Arrivals(func(a *Arrival) bool { return a.Kind == string(federation.KindRelayForward) }) {
		inner, err := federation.RelayInner(a.Raw)
		if err != nil {
			continue
		}
		var c Claims
		var r sentReport
		if json.Unmarshal(payloadOf(inner), &c) == nil && c.Kind == string(federation.KindStatsReport) &&
			json.Unmarshal(c.Body, &r) == nil && r.Period >= current {
			t.Errorf("a report of %s, a month that has not ended", r.Period)
		}
	}
}
