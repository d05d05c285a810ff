package conformance

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/familylinks/flx/federation"
)

// The candidate as a coordinator (SPEC.md §14.3, §17): it may relay, and it
// receives statistics reports. These checks run only against a candidate
// that the conformance manifest lists as a coordinator (init --candidate
// ID:COUNTRY:coordinator:URL); against another they are skipped. The final
// recipient of what the candidate relays is XD-PULL, which is pull_only:
// the tester pulls the chain the candidate forwards.

// mayRelay skips a check when the candidate may not relay.
func (t *T) mayRelay() {
	if !t.id.Manifest.MayRelay(t.candidate) {
		t.Skipf("the candidate may not relay (it is no coordinator and no member names it in relay_via)")
	}
}

// relayThroughCandidate sends the tester's envelope inner (for another
// member) to the candidate in a one-hop chain and returns what it answered,
// the chain's bytes and claims.
func (t *T) relayThroughCandidate(inner []byte, caseID string) (*Answer, []byte, Claims) {
	raw, c := t.relayed(inner, caseID, nil)
	return t.post(t, raw), raw, c
}

// testerCaseFor is a case.create of a fresh tester case for member, whose
// consent covers the transfer, with its document changed by edit.
func (t *T) testerCaseFor(member string, edit map[string]any) ([]byte, Claims) {
	id := newCaseID(MemberTester)
	doc := []byte(outboundCase(MemberTester, id))
	if edit != nil {
		doc = setMembers(doc, edit)
	}
	c := t.claims(federation.KindCaseCreate, doc)
	c.Aud = member
	return t.sign(c, keyTester), c
}

// pulledChain pulls, as XD-PULL, the relay.forward of caseID that the
// candidate forwarded, and checks it: signed by the candidate for XD-PULL,
// the same inner bytes, the hops received and one of the candidate's.
func (t *T) pulledChain(caseID string, inner []byte, hops []string) string {
	_, got := t.waitPulled(caseID, 50)
	v := &federation.Verifier{Manifest: federation.StaticManifest(t.id.Manifest), Self: MemberPull, Skew: t.skew, Now: t.now}
	for _, raw := range got {
		env, err := v.Verify(t.ctx, []byte(raw), t.candidate)
		if err != nil {
			t.Errorf("the pulled envelope does not verify as the candidate's for %s: %v", MemberPull, err)
			continue
		}
		in, err := federation.RelayInner([]byte(raw))
		if env.Kind != federation.KindRelayForward || err != nil || string(in) != string(inner) {
			continue
		}
		if err := t.hopsOf(env, hops); err != nil {
			t.Errorf("the relayed chain: %v", err)
		}
		return raw
	}
	t.Fatalf("no relay.forward carrying the same inner bytes could be pulled (%d envelope(s) of the case)", len(got))
	return ""
}

// checkRelayForwards checks the candidate as relay: a chain for XD-PULL
// (pull_only) is answered 202 and queued for pull with the same inner bytes,
// the tester's hop and one more of its own; a case its own policy denies
// (purpose law_enforcement) and a kind the final recipient does not accept
// are refused with relay_refused (a suspended final recipient:
// checkSuspendedRecipient).
func checkRelayForwards(t *T) {
	t.mayRelay()
	t.drainPull(t)
	inner, c := t.testerCaseFor(MemberPull, nil)
	ans, raw, oc := t.relayThroughCandidate(inner, c.CaseID)
	t.mustAccept(t, ans, raw, oc, federation.ReceiptAccepted)
	got := t.pulledChain(c.CaseID, inner, hopsOf(oc))
	t.ackPulled(t, []string{got})

	denied, dc := t.testerCaseFor(MemberPull, map[string]any{"purpose": "law_enforcement"})
	unaccepted, uc := t.testerCaseFor(MemberPeer, nil) // XD-PEER accepts no case.create
	for _, f := range []struct {
		what  string
		inner []byte
		c     Claims
	}{
		{"a case the relay's policy denies (purpose law_enforcement)", denied, dc},
		{"a kind the final recipient does not accept", unaccepted, uc},
	} {
		ans, _, _ := t.relayThroughCandidate(f.inner, f.c.CaseID)
		if _, err := shouldRefuse(ans, "relay_refused"); err != nil {
			t.Errorf("%s: %v", f.what, err)
		}
	}
}

// checkWithdrawalRelayed checks that a relay does not refuse a withdrawal
// (FLX-RLY-010): the tester's case.create for XD-PULL and then its
// withdrawal, each relayed through the candidate, are both answered 202
// and both queued for XD-PULL with the same inner bytes, the withdrawal
// after the create.
func checkWithdrawalRelayed(t *T) {
	t.mayRelay()
	t.drainPull(t)
	inner, c := t.testerCaseFor(MemberPull, nil)
	ans, raw, oc := t.relayThroughCandidate(inner, c.CaseID)
	t.mustAccept(t, ans, raw, oc, federation.ReceiptAccepted)
	createHops := hopsOf(oc)
	wc := t.claims(federation.KindCaseWithdraw, withdrawalDoc(c.CaseID))
	wc.Aud = MemberPull
	win := t.sign(wc, keyTester)
	ans, raw, oc = t.relayThroughCandidate(win, c.CaseID)
	if _, err := t.checkReceipt(ans, raw, oc, federation.ReceiptAccepted); err != nil {
		t.Fatalf("the relayed withdrawal: %v", err)
	}
	first := t.pulledChain(c.CaseID, inner, createHops)
	t.ackPulled(t, []string{first})
	second := t.pulledChain(c.CaseID, win, hopsOf(oc))
	t.ackPulled(t, []string{second})
}

// hopsOf is the hops of the relay.forward whose claims are c.
func hopsOf(c Claims) []string {
	var b struct {
		Hops []string `json:"hops"`
	}
	_ = json.Unmarshal(c.Body, &b)
	return b.Hops
}

// statsPeriod is a month of the past that no other run is likely to use.
func statsPeriod() string {
	return fmt.Sprintf("%d-%02d", 1990+rand.IntN(30), 1+rand.IntN(12))
}

// statsBody is a statistics report of member for period with every count
// 0 but those in counts (nil: suppressed).
func statsBody(member, period string, revision int, counts map[string]any) map[string]any {
	all := map[string]any{}
	for _, m := range []string{"rcm_collected", "rcm_transmitted", "rcm_distributed", "phone_calls", "video_messages",
		"tracing_opened", "tracing_located", "tracing_closed", "people_registered", "people_reunited", "children_reunited"} {
		all[m] = 0
	}
	for k, v := range counts {
		all[k] = v
	}
	return map[string]any{
		"schema": "flx/v1/stats_report", "member": member, "country": "XD", "period": period, "revision": revision,
		"threshold": 5, "rounding": 5, "counts": all,
	}
}

// statsEnvelope signs a stats.report of body from member (with its key)
// under caseID ("": <member>:stats-<period>).
func (t *T) statsEnvelope(member, key string, body map[string]any, caseID string) ([]byte, Claims) {
	b, _ := json.Marshal(body)
	c := t.claims(federation.KindStatsReport, b)
	c.Iss = member
	c.CaseID = caseID
	if caseID == "" {
		c.CaseID = member + ":stats-" + body["period"].(string)
	}
	return t.sign(c, key), c
}

// acceptsStats skips a check when the candidate does not accept stats.report.
func (t *T) acceptsStats() {
	if !slices.Contains(t.id.Candidate().Accepts, federation.KindStatsReport) {
		t.Skipf("the candidate does not accept stats.report (only a coordinator receives statistics)")
	}
}

// checkStatsRefused checks that a coordinator refuses a report whose body
// fails the schema (a free-text member), whose body.member is not its iss,
// whose case_id is not <member>:stats-<period>, or that publishes a count
// its stated protection never publishes (3 with k = b = 5); a valid report
// is accepted.
func checkStatsRefused(t *T) {
	t.acceptsStats()
	period := statsPeriod()
	withNote := statsBody(MemberTester, period, 1, nil)
	withNote["note"] = "Amira Testova was registered on the 3rd"
	names := statsBody(MemberTester, period, 1, nil)
	names["counts"].(map[string]any)["names"] = []string{"Karo Sampleyan"}
	other, _ := t.statsEnvelope(MemberTester, keyTester, statsBody(MemberPeer, period, 1, nil), MemberPeer+":stats-"+period)
	for _, f := range []struct {
		what, code string
		raw        []byte
	}{
		{"a free-text member", "schema_invalid", first(t.statsEnvelope(MemberTester, keyTester, withNote, ""))},
		{"a list of names among the counts", "schema_invalid", first(t.statsEnvelope(MemberTester, keyTester, names, ""))},
		{"a report about another member", "sender_mismatch", other},
		{"a case_id of another month", "bad_envelope", first(t.statsEnvelope(MemberTester, keyTester, statsBody(MemberTester, period, 1, nil), MemberTester+":stats-1989-01"))},
		{"a count of 3 with k = b = 5", "schema_invalid", first(t.statsEnvelope(MemberTester, keyTester, statsBody(MemberTester, period, 1, map[string]any{"tracing_opened": 3}), ""))},
	} {
		if _, err := shouldRefuse(t.post(t, f.raw), f.code); err != nil {
			t.Errorf("%s: %v", f.what, err)
		}
	}
	raw, c := t.statsEnvelope(MemberTester, keyTester, statsBody(MemberTester, period, 1, map[string]any{"rcm_collected": 10, "tracing_opened": nil}), "")
	t.mustAccept(t, t.post(t, raw), raw, c, federation.ReceiptAccepted)
}

func first(raw []byte, _ Claims) []byte { return raw }

// statsCell is one aggregated count of GET /api/v1/stats.
type statsCell struct {
	Sum        int `json:"sum"`
	Suppressed int `json:"suppressed"`
}

// checkStatsAggregated checks that a coordinator aggregates from published
// values only: reports of XD-TESTER and XD-REMOTE for one month, one count
// suppressed (null) in one of them and a later revision replacing the
// first, sum to the published values of the latest revisions and say how
// many values were suppressed. Read with the optional call GET
// /api/v1/stats (SPEC.md §12).
func checkStatsAggregated(t *T) {
	t.acceptsStats()
	period := statsPeriod()
	send := func(member, key, cert string, rev int, counts map[string]any) {
		raw, c := t.statsEnvelope(member, key, statsBody(member, period, rev, counts), "")
		t.mustAccept(t, t.postAs(t, cert, raw, "application/jose"), raw, c, federation.ReceiptAccepted)
	}
	send(MemberTester, keyTester, certTester, 1, map[string]any{"rcm_collected": 10, "tracing_opened": nil})
	send(MemberTester, keyTester, certTester, 2, map[string]any{"rcm_collected": 15, "tracing_opened": nil})
	send(MemberRemote, keyRemote, certRemote, 1, map[string]any{"rcm_collected": 20, "tracing_opened": 5})
	want := map[string]statsCell{"rcm_collected": {Sum: 35}, "tracing_opened": {Sum: 5, Suppressed: 1}, "phone_calls": {}}
	var last string
	for range 40 {
		ans, err := t.trigger.call(http.MethodGet, "/api/v1/stats?by=period&period="+url.QueryEscape(period), t.trigger.token, nil)
		if err != nil {
			t.Abortf("trigger: %v", err)
		}
		if ans.Status == http.StatusNotFound || ans.Status == http.StatusMethodNotAllowed || ans.Status == http.StatusNotImplemented {
			t.Skipf("the candidate does not offer GET /api/v1/stats (SPEC.md §12)")
		}
		var out struct {
			Rows []struct {
				Period  string               `json:"period"`
				Reports int                  `json:"reports"`
				Counts  map[string]statsCell `json:"counts"`
			} `json:"rows"`
		}
		if ans.Status != http.StatusOK || json.Unmarshal(ans.Body, &out) != nil {
			t.Fatalf("GET /api/v1/stats: want 200 with rows, got %s", ans)
		}
		last = string(ans.Body)
		if len(out.Rows) == 1 && out.Rows[0].Reports == 2 {
			r := out.Rows[0]
			for m, w := range want {
				if got := r.Counts[m]; got != w {
					t.Errorf("%s of %s: sum %d with %d suppressed, want %d with %d suppressed (the latest revisions' published values)", m, period, got.Sum, got.Suppressed, w.Sum, w.Suppressed)
				}
			}
			return
		}
		time.Sleep(250 * time.Millisecond)
	}
	t.Fatalf("GET /api/v1/stats never showed one row of two reports for %s: %s", period, last)
}
