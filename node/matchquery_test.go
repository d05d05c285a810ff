package node_test

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/familylinks/flx/federation"
	"github.com/familylinks/flx/federation/problem"
	"github.com/familylinks/flx/node"
	"github.com/familylinks/flx/node/internal/fedtest"
	"github.com/familylinks/flx/node/internal/nodetest"
	"github.com/familylinks/flx/node/internal/racetest"
	"github.com/familylinks/flx/node/match/corpus"
	"github.com/familylinks/flx/node/match/pprl"
	"github.com/familylinks/flx/node/store"
	"github.com/familylinks/flx/schema"
)

var testSecret = &pprl.Secret{ID: "2026-1", Key: bytes.Repeat([]byte{7}, 32)}

// carry moves the envelopes of kind queued at from to their destination
// to, as delivery would, and processes them there.
func carry(t testing.TB, from, to *nodetest.Node, kind federation.Kind) [][]byte {
	t.Helper()
	ctx := context.Background()
	rows, err := from.Store.ListOutbox(ctx, store.OutboxFilter{Destination: to.Self(), Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for _, r := range rows {
		if r.Kind != string(kind) || r.State != store.Queued {
			continue
		}
		it, err := from.Store.GetOutbox(ctx, r.ID)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := to.Receive(ctx, from.Self(), it.Envelope); err != nil {
			t.Fatalf("%s refused %s: %v", to.Self(), kind, err)
		}
		if err := from.Store.MarkDead(ctx, r.ID, 0, "carried by the test"); err != nil {
			t.Fatal(err)
		}
		out = append(out, it.Envelope)
	}
	if err := to.ProcessInbox(ctx); err != nil {
		t.Fatal(err)
	}
	return out
}

func answerOf(t testing.TB, env []byte) schema.MatchAnswer {
	t.Helper()
	c, err := federation.ClaimsOf(env)
	if err != nil {
		t.Fatal(err)
	}
	a, err := schema.ParseMatchAnswer(c.Body)
	if err != nil {
		t.Fatal(err)
	}
	return *a
}

// TestMatchQueryAcrossBorders: XA-RC asks XB-RC about a sought person;
// only the encoding travels, XB-RC answers with a random handle for its
// registration of the same person in another script, the audit log at
// XB-RC maps the handle to its case, and nothing of either person's names
// is in the envelopes. Then the attacks: a query about another member's
// case, an expired encoding, and a person the policy withholds.
func TestMatchQueryAcrossBorders(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := fedtest.New(t, "XA-RC:XA:society", "XB-RC:XB:society", "XC-RC:XC:society")
	xa := nodetest.Start(t, f, "XA-RC", nil, nodetest.Options{NoRun: true, Match: node.MatchOptions{Secret: testSecret}})
	xb := nodetest.Start(t, f, "XB-RC", nil, nodetest.Options{NoRun: true, Match: node.MatchOptions{Secret: testSecret}})
	cwA := node.Actor{Name: "cw-anna", Role: "caseworker"}
	cwB := node.Actor{Name: "cw-bela", Role: "caseworker"}

	sought := person("p1", schema.PersonSought, "1990-03-14", name("Karo", "given", "Latn"), name("Hovsampelyan", "family", "Latn"))
	tr := withConsent(t, caseOf(t, "XA-RC:TR-1", schema.CaseTracingRequest, 1, sought))
	if _, err := xa.CreateCase(ctx, cwA, tr); err != nil {
		t.Fatal(err)
	}
	detainee := person("d1", schema.PersonDetainee, "1990", name("Կարո", "given", "Armn"), name("Հովսամփելյան", "family", "Armn"))
	other := person("d2", schema.PersonDetainee, "1961", name("Tigran", "given", "Latn"), name("Abgaryan", "family", "Latn"))
	if _, err := xb.CreateCase(ctx, cwB, withConsent(t, caseOf(t, "XB-RC:DN-1", schema.CaseDetentionNotification, 1, detainee))); err != nil {
		t.Fatal(err)
	}
	if _, err := xb.CreateCase(ctx, cwB, withConsent(t, caseOf(t, "XB-RC:DN-2", schema.CaseDetentionNotification, 1, other))); err != nil {
		t.Fatal(err)
	}

	res, err := xa.SendMatchQuery(ctx, cwA, "XA-RC:TR-1", "p1", "XB-RC")
	if err != nil {
		t.Fatalf("query: %v (%+v)", err, res.Decision.Fired)
	}
	queries := carry(t, xa, xb, federation.KindMatchQuery)
	answers := carry(t, xb, xa, federation.KindMatchAnswer)
	if len(queries) != 1 || len(answers) != 1 {
		t.Fatalf("%d queries, %d answers", len(queries), len(answers))
	}
	for _, env := range [][]byte{queries[0], answers[0]} {
		c, _ := federation.ClaimsOf(env)
		for _, w := range []string{"Karo", "Hovsampelyan", "Կարո", "Tigran", "DN-1", "1990"} {
			if bytes.Contains(c.Body, []byte(w)) {
				t.Fatalf("%s carries %q: %s", c.Kind, w, c.Body)
			}
		}
	}
	a := answerOf(t, answers[0])
	if a.CaseID != "XA-RC:TR-1" || a.PersonID != "p1" || a.Responder != "XB-RC" || len(a.Candidates) != 1 || a.Candidates[0].Score < pprl.DefaultThreshold {
		t.Fatalf("answer %+v", a)
	}
	// The holder's audit log maps the handle to its case.
	audit, _ := xb.View().ListAudit(ctx, store.AuditFilter{Action: "match.answer", Limit: 10})
	if len(audit) != 1 || !strings.Contains(string(audit[0].Details), a.Candidates[0].Handle) || !strings.Contains(string(audit[0].Details), "XB-RC:DN-1") {
		t.Fatalf("audit at the holder: %+v", audit)
	}
	// The holder keeps nothing of the encoding once it answered.
	held, _ := xb.View().ListInbox(ctx, store.InboxFilter{Kind: "match.query", Limit: 10, IncludeEnvelope: true})
	if len(held) != 1 || held[0].Envelope != nil || held[0].ProcessError != "" {
		t.Fatalf("query at the holder after answering: %+v", held)
	}
	// The asker keeps the answer in its inbox, with the case.
	in, _ := xa.View().ListInbox(ctx, store.InboxFilter{CaseID: "XA-RC:TR-1", Limit: 10})
	if len(in) != 1 || in[0].Kind != "match.answer" || in[0].ProcessError != "" {
		t.Fatalf("inbox at the asker: %+v", in)
	}
	// Its candidate is listed with the node's own (GET /api/v1/matches,
	// flx match list): the member that answered and the handle it gave
	// stand for the other side; matching the case again keeps it.
	remote := func() []store.MatchCandidate {
		ms, _ := xa.View().ListMatches(ctx, store.MatchFilter{CaseID: "XA-RC:TR-1"})
		return ms
	}
	if ms := remote(); len(ms) != 1 || ms[0].Remote != "XB-RC" || ms[0].BCase != "XB-RC" || ms[0].BPerson != a.Candidates[0].Handle ||
		ms[0].ACase != "XA-RC:TR-1" || ms[0].APerson != "p1" || ms[0].State != store.MatchOpen || !strings.Contains(string(ms[0].Explanation), `"method":"pprl"`) {
		t.Fatalf("candidates at the asker: %+v", ms)
	}
	// A second query reuses the encoding (fresh noise each time could be averaged away).
	if _, err := xa.SendMatchQuery(ctx, cwA, "XA-RC:TR-1", "p1", "XB-RC"); err != nil {
		t.Fatal(err)
	}
	again := carry(t, xa, xb, federation.KindMatchQuery)
	c1, _ := federation.ClaimsOf(queries[0])
	c2, _ := federation.ClaimsOf(again[0])
	if !bytes.Equal(c1.Body, c2.Body) {
		t.Fatal("a second query about the same person sent another encoding")
	}
	if b := answerOf(t, carry(t, xb, xa, federation.KindMatchAnswer)[0]); len(b.Candidates) != 1 || b.Candidates[0].Handle == a.Candidates[0].Handle {
		t.Fatalf("second answer %+v: handles must be new each time", b)
	}
	if _, err := xa.UpdateCase(ctx, cwA, "XA-RC:TR-1", withConsent(t, caseOf(t, "XA-RC:TR-1", schema.CaseTracingRequest, 2, sought))); err != nil {
		t.Fatal(err)
	}
	if ms := remote(); len(ms) != 2 || ms[1].Remote != "XB-RC" {
		t.Fatalf("candidates after matching the case again: %+v", ms)
	}

	// Attacks on the holder.
	body := c1.Body
	if _, err := xb.Receive(ctx, "XC-RC", f.Envelope(t, "XC-RC", "XB-RC", federation.KindMatchQuery, "XA-RC:TR-1", body)); problem.As(err).Code != federation.CodeSenderMismatch {
		t.Fatalf("query about another member's case: %v", err)
	}
	var named map[string]any
	json.Unmarshal(body, &named)
	named["names"] = []any{map[string]any{"value": "Karo"}}
	nb, _ := json.Marshal(named)
	if _, err := xb.Receive(ctx, "XA-RC", f.Envelope(t, "XA-RC", "XB-RC", federation.KindMatchQuery, "XA-RC:TR-1", nb)); problem.As(err).Code != problem.SchemaInvalid {
		t.Fatalf("query with names: %v", err)
	}
	var e map[string]any
	json.Unmarshal(body, &e)
	e["encoding"].(map[string]any)["exp"] = "2020-01-01T00:00:00Z"
	expired, _ := json.Marshal(e)
	if _, err := xb.Receive(ctx, "XA-RC", f.Envelope(t, "XA-RC", "XB-RC", federation.KindMatchQuery, "XA-RC:TR-1", expired)); problem.As(err).Code != federation.CodeExpired {
		t.Fatalf("expired encoding: %v", err)
	}

	// The policy: a person with no legal basis for the destination is not encoded for it.
	bare := caseOf(t, "XA-RC:TR-2", schema.CaseTracingRequest, 1, sought)
	if _, err := xa.CreateCase(ctx, cwA, bare); err != nil {
		t.Fatal(err)
	}
	if _, err := xa.SendMatchQuery(ctx, cwA, "XA-RC:TR-2", "p1", "XB-RC"); problem.As(err).Code != problem.PolicyDenied {
		t.Fatalf("query without a legal basis: %v", err)
	}
	if _, err := xa.SendMatchQuery(ctx, cwA, "XA-RC:TR-1", "p9", "XB-RC"); problem.As(err).Code != problem.NotFound {
		t.Fatalf("unknown person: %v", err)
	}
}

// withConsent adds what the default policy needs to let a case go to a
// member: a consent of the sought person's family covering transfers to
// XA-RC and XB-RC.
func withConsent(t testing.TB, doc []byte) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(doc, &m); err != nil {
		t.Fatal(err)
	}
	m["legal_basis"] = map[string]any{"type": "vital_interest", "justification": "Tracing a missing person for the family; consent cannot be asked.",
		"documented_by": "caseworker", "documented_at": "2024-05-01T10:00:00Z"}
	m["retention_until"] = "2054-12-31"
	m["purpose"] = "tracing"
	if m["type"] == string(schema.CaseDetentionNotification) {
		m["detention"] = map[string]any{"authority": "XB Ministry of the Interior (invented)", "detained_since": "2024-03", "status": "interned", "notification_agreed": true}
	}
	b, _ := json.Marshal(m)
	return b
}

// TestMatchQueryQuality: the encoded path through two nodes on the seeded
// corpus: XB-RC holds the registrations, XA-RC asks about each sought
// person; recall is the share of true pairs among the answers.
func TestMatchQueryQuality(t *testing.T) {
	t.Parallel()
	racetest.SkipComputation(t)
	if testing.Short() {
		t.Skip("-short")
	}
	ctx := context.Background()
	c := corpus.Generate(corpus.Config{Seed: 16, Sought: 1000, Registered: 1000, Overlap: 0.5})
	f := fedtest.New(t, "XA-RC:XA:society", "XB-RC:XB:society")
	xa := nodetest.Start(t, f, "XA-RC", nil, nodetest.Options{NoRun: true, Match: node.MatchOptions{Secret: testSecret}})
	xb := nodetest.Start(t, f, "XB-RC", nil, nodetest.Options{NoRun: true, Match: node.MatchOptions{Secret: testSecret, QueriesPerMinute: -1}})
	cw := node.Actor{Name: "cw", Role: "caseworker"}
	truth := map[string]int{}
	for _, r := range c.Registered {
		truth[r.CaseID] = r.Truth
		if _, err := xb.CreateCase(ctx, cw, withConsent(t, caseOf(t, r.CaseID, r.CaseType, 1, r.Person))); err != nil {
			t.Fatal(err)
		}
	}
	soughtTruth := map[string]int{}
	for _, r := range c.Sought {
		id := r.CaseID
		soughtTruth[id] = r.Truth
		if _, err := xa.CreateCase(ctx, cw, withConsent(t, caseOf(t, id, r.CaseType, 1, r.Person))); err != nil {
			t.Fatal(err)
		}
		if _, err := xa.SendMatchQuery(ctx, cw, id, r.Person.ID, "XB-RC"); err != nil {
			t.Fatal(err)
		}
	}
	carry(t, xa, xb, federation.KindMatchQuery)
	answers := carry(t, xb, xa, federation.KindMatchAnswer)
	audit, _ := xb.View().ListAudit(ctx, store.AuditFilter{Action: "match.answer", Limit: 1000})
	handleCase := map[string]string{}
	for _, r := range audit {
		var d struct {
			Candidates []struct {
				Handle string `json:"handle"`
				CaseID string `json:"case_id"`
			} `json:"candidates"`
		}
		json.Unmarshal(r.Details, &d)
		for _, c := range d.Candidates {
			handleCase[c.Handle] = c.CaseID
		}
	}
	cands, correct := 0, 0
	for _, env := range answers {
		a := answerOf(t, env)
		for _, cd := range a.Candidates {
			cands++
			if truth[handleCase[cd.Handle]] == soughtTruth[a.CaseID] {
				correct++
			}
		}
	}
	precision, recall := float64(correct)/float64(max(cands, 1)), float64(correct)/float64(c.TruePairs())
	t.Logf("encoded path through two nodes, %d queries x %d registrations: %d answers, %d true pairs, precision %.3f recall %.3f",
		len(c.Sought), len(c.Registered), cands, c.TruePairs(), precision, recall)
	if recall < 0.90 || precision < 0.80 {
		t.Fatalf("precision %.3f recall %.3f below the floors 0.80 and 0.90", precision, recall)
	}
}
