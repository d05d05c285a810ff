package node_test

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/familylinks/flx/federation"
	"github.com/familylinks/flx/node"
	"github.com/familylinks/flx/node/internal/fedtest"
	"github.com/familylinks/flx/node/internal/nodetest"
	"github.com/familylinks/flx/node/store"
	"github.com/familylinks/flx/policy"
	"github.com/familylinks/flx/schema"
)

// batchCases are n tracing requests of XA-RC (XA-RC:TR-B-000...): every
// fifth one leaves XB-RC out of its consent (the policy denies it), every
// fifth from the second records no birth date of the enquirer (held for
// review), the others are queued.
func batchCases(t testing.TB, n int) []json.RawMessage {
	t.Helper()
	ex, ok := schema.ExampleNamed("case.tracing_request")
	if !ok {
		t.Fatal("no example case.tracing_request")
	}
	docs := make([]json.RawMessage, n)
	for i := range n {
		var m map[string]any
		if err := json.Unmarshal(ex.Doc, &m); err != nil {
			t.Fatal(err)
		}
		m["case_id"] = fmt.Sprintf("XA-RC:TR-B-%03d", i)
		switch i % 5 {
		case 0:
			m["consents"].([]any)[0].(map[string]any)["scope"].(map[string]any)["members"] = []any{"XC-RC"}
		case 1:
			delete(m["persons"].([]any)[0].(map[string]any), "birth_date")
		}
		docs[i], _ = json.Marshal(m)
	}
	return docs
}

func batchIDs(docs []json.RawMessage) []string {
	ids := make([]string, len(docs))
	for i, d := range docs {
		ids[i] = schema.PeekCaseID(d)
	}
	return ids
}

// sentRows is what a node wrote for forwarding a case, ids and times aside.
type sentRows struct {
	Decisions []string // effect, kind, version, fired rules, redactions
	Outbox    []string // kind, version, destination, seq, state, discloses, withdraws, body
	Audit     []string // action and details without row ids
}

func rowsOf(t *testing.T, st store.Store, caseID string) sentRows {
	t.Helper()
	ctx := context.Background()
	var r sentRows
	ds, err := st.ListDecisions(ctx, caseID)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range ds {
		var pd policy.Decision
		if err := json.Unmarshal(d.Decision, &pd); err != nil {
			t.Fatal(err)
		}
		var fired []string
		for _, f := range pd.Fired {
			fired = append(fired, f.RuleID+"/"+f.Effect+": "+f.Reason)
		}
		r.Decisions = append(r.Decisions, fmt.Sprintf("%s %s %s v%d %s %q %q", d.Destination, d.Effect, pd.Kind, pd.CaseVersion, pd.PolicyHash, fired, pd.Redactions))
	}
	rows, err := st.ListOutbox(ctx, store.OutboxFilter{CaseID: caseID, Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].Seq < rows[j].Seq })
	for _, o := range rows {
		full, err := st.GetOutbox(ctx, o.ID)
		if err != nil {
			t.Fatal(err)
		}
		c, err := federation.ClaimsOf(full.Envelope)
		if err != nil {
			t.Fatal(err)
		}
		r.Outbox = append(r.Outbox, fmt.Sprintf("%s v%d %s seq=%d %s disc=%v wdr=%v aud=%s body=%s", o.Kind, o.CaseVersion, o.Destination, o.Seq, o.State, o.Discloses, o.Withdraws, c.Audience, c.Body))
	}
	as, err := st.ListAudit(ctx, store.AuditFilter{Object: caseID, Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range as {
		var det map[string]any
		if err := json.Unmarshal(a.Details, &det); err != nil {
			t.Fatal(err)
		}
		delete(det, "decision_id")
		delete(det, "outbox_id")
		b, _ := json.Marshal(det)
		r.Audit = append(r.Audit, a.Actor+" "+a.Action+" "+string(b))
	}
	return r
}

// TestImportForwardAsForward: an import forwarded as one batch writes, case
// by case, the decisions, outbox rows, envelopes and audit records that
// forwarding each case alone writes (queued, denied and held for review),
// skips a case sent already at its version, and forwards an existing one
// that was not; the results are the same.
func TestImportForwardAsForward(t *testing.T) {
	t.Parallel()
	nodetest.EachDialect(t, func(t *testing.T, d nodetest.Dialect) {
		ctx := t.Context()
		f := fedtest.New(t, "XA-RC:XA:society", "XB-RC:XB:society", "XC-RC:XC:society")
		batch := nodetest.Start(t, f, "XA-RC", nil, nodetest.Options{Dialect: d, NoRun: true})
		alone := nodetest.Start(t, f, "XA-RC", nil, nodetest.Options{Dialect: d, NoRun: true})
		cw := node.Actor{Name: "cw", Role: "caseworker"}
		docs := batchCases(t, 15)
		ids := batchIDs(docs)
		// On both: case 2 exists and was forwarded, case 3 exists unsent.
		for _, x := range []*nodetest.Node{batch, alone} {
			if _, err := x.ImportCases(ctx, cw, docs[2:4], ""); err != nil {
				t.Fatal(err)
			}
			if _, err := x.Forward(ctx, cw, ids[2], "XB-RC"); err != nil {
				t.Fatal(err)
			}
		}
		got, err := batch.ImportCases(ctx, cw, docs, "XB-RC")
		if err != nil {
			t.Fatal(err)
		}
		// The same, case by case as before: import, then Forward each
		// case not sent at its version.
		if _, err := alone.ImportCases(ctx, cw, docs, ""); err != nil {
			t.Fatal(err)
		}
		var want []node.ImportForward
		for _, id := range ids {
			if id == ids[2] {
				continue
			}
			r, err := alone.Forward(ctx, cw, id, "XB-RC")
			if err != nil && r.State != "denied" {
				t.Fatal(err)
			}
			f := node.ImportForward{CaseID: id, State: r.State}
			if r.State != "queued" {
				for _, fr := range r.Decision.Fired {
					f.Rules = append(f.Rules, fr.RuleID)
				}
			}
			want = append(want, f)
		}
		states := map[string]int{}
		for i := range got.Forwarded {
			got.Forwarded[i].DecisionID, got.Forwarded[i].OutboxID = 0, 0
			states[got.Forwarded[i].State]++
		}
		if !reflect.DeepEqual(got.Forwarded, want) {
			t.Errorf("batch forwarded\n%+v\none by one\n%+v", got.Forwarded, want)
		}
		if states["queued"] == 0 || states["denied"] == 0 || states["needs_review"] == 0 {
			t.Fatalf("states %v: the test needs queued, denied and needs_review cases", states)
		}
		for _, id := range ids {
			b, a := rowsOf(t, batch.Store, id), rowsOf(t, alone.Store, id)
			if !reflect.DeepEqual(b, a) {
				t.Errorf("case %s: batch wrote\n%+v\nalone\n%+v", id, b, a)
			}
			if id == ids[2] && len(b.Outbox) != 1 {
				t.Errorf("case %s forwarded before: %d rows", id, len(b.Outbox))
			}
		}
		if v, err := batch.Store.VerifyAudit(ctx); err != nil || v.FirstBadSeq != 0 {
			t.Fatalf("audit chain: %+v %v", v, err)
		}
	})
}

// TestImportForwardCommitsOnce: forwarding an import of 50 cases takes one
// transaction (one commit), not one per case.
func TestImportForwardCommitsOnce(t *testing.T) {
	t.Parallel()
	nodetest.EachDialect(t, func(t *testing.T, d nodetest.Dialect) {
		ctx := t.Context()
		f := fedtest.New(t, "XA-RC:XA:society", "XB-RC:XB:society", "XC-RC:XC:society")
		var w *watchStore
		xa := nodetest.Start(t, f, "XA-RC", nil, nodetest.Options{Dialect: d, NoRun: true,
			WrapStore: func(s store.Store) store.Store { w = newWatchStore(s); return w }})
		txs := w.txs
		cw := node.Actor{Name: "cw", Role: "caseworker"}
		docs := batchCases(t, 100)
		// The same import without forward: its own transactions.
		before := txs.Load()
		if _, err := xa.ImportCases(ctx, cw, docs[50:], ""); err != nil {
			t.Fatal(err)
		}
		alone := txs.Load() - before
		before = txs.Load()
		res, err := xa.ImportCases(ctx, cw, docs[:50], "XB-RC")
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Created) != 50 || len(res.Forwarded) != 50 {
			t.Fatalf("created %d, forwarded %d", len(res.Created), len(res.Forwarded))
		}
		if n := txs.Load() - before - alone; n != 1 {
			t.Errorf("forwarding 50 imported cases ran %d transactions, want 1", n)
		}
	})
}

// raceOutbox runs the hook of a case once, the first time the node lists
// the outbox of cases including it outside a transaction (a batch forward
// reading what is queued of existing cases, before it judges and locks
// them), and then answers with what it listed before the hook ran.
type raceOutbox struct {
	store.Store
	hooks map[string]func()
	ran   map[string]*atomic.Bool
}

func (s raceOutbox) ListCasesOutbox(ctx context.Context, keys []store.CaseDest, kinds []string) ([]store.OutboxItem, error) {
	rows, err := s.Store.ListCasesOutbox(ctx, keys, kinds)
	for _, k := range keys {
		if h, ok := s.hooks[k.CaseID]; ok && s.ran[k.CaseID].CompareAndSwap(false, true) {
			h()
		}
	}
	return rows, err
}

// TestImportForwardRaces: a withdrawal that commits after a batch forward
// read a case refuses that case alone (nothing is queued for it) and the
// others go; a case forwarded meanwhile is not queued twice.
func TestImportForwardRaces(t *testing.T) {
	t.Parallel()
	nodetest.EachDialect(t, func(t *testing.T, d nodetest.Dialect) {
		ctx := t.Context()
		f := fedtest.New(t, "XA-RC:XA:society", "XB-RC:XB:society", "XC-RC:XC:society")
		cw := node.Actor{Name: "cw", Role: "caseworker"}
		docs := batchCases(t, 10)
		ids := batchIDs(docs)
		withdrawn, forwarded := ids[3], ids[4]
		var xa *nodetest.Node
		var early node.SendResult
		hooks := map[string]func(){
			withdrawn: func() {
				if _, err := xa.Withdraw(context.Background(), cw, withdrawn, "consent_withdrawn"); err != nil {
					t.Error(err)
				}
			},
			forwarded: func() {
				var err error
				if early, err = xa.Forward(context.Background(), cw, forwarded, "XB-RC"); err != nil {
					t.Error(err)
				}
			},
		}
		ran := map[string]*atomic.Bool{withdrawn: {}, forwarded: {}}
		xa = nodetest.Start(t, f, "XA-RC", nil, nodetest.Options{Dialect: d, NoRun: true,
			WrapStore: func(s store.Store) store.Store { return raceOutbox{s, hooks, ran} }})
		if _, err := xa.ImportCases(ctx, cw, docs[3:5], ""); err != nil {
			t.Fatal(err)
		}
		res, err := xa.ImportCases(ctx, cw, docs, "XB-RC")
		if err != nil {
			t.Fatal(err)
		}
		if early.OutboxID == 0 {
			t.Fatal("the racing forward queued nothing")
		}
		byID := map[string]node.ImportForward{}
		for _, f := range res.Forwarded {
			byID[f.CaseID] = f
		}
		if len(byID) != len(ids) {
			t.Fatalf("forwarded %+v", res.Forwarded)
		}
		if g := byID[withdrawn]; g.State != "erased" || g.DecisionID != 0 || g.OutboxID != 0 {
			t.Errorf("withdrawn case: %+v", g)
		}
		if g := byID[forwarded]; g.State != "queued" || g.OutboxID != early.OutboxID {
			t.Errorf("case forwarded meanwhile: %+v, the forward queued row %d", g, early.OutboxID)
		}
		for _, id := range ids {
			rows, ds := sentTo(t, xa.Store, id, "XB-RC")
			want := 1
			if id == withdrawn {
				want = 0
			}
			if len(ds) != want || (byID[id].State == "queued") != (len(rows) == 1) || len(rows) > 1 {
				t.Errorf("case %s (%s): %d decisions, %d rows", id, byID[id].State, len(ds), len(rows))
			}
			if id != withdrawn && byID[id].State != "queued" && byID[id].State != "denied" && byID[id].State != "needs_review" {
				t.Errorf("case %s: %+v", id, byID[id])
			}
		}
	})
}

// TestImportForwardConcurrent: two imports of overlapping cases, in
// opposite orders, forwarded at once: neither deadlocks or fails, and a
// case is queued once.
func TestImportForwardConcurrent(t *testing.T) {
	t.Parallel()
	nodetest.EachDialect(t, func(t *testing.T, d nodetest.Dialect) {
		ctx := t.Context()
		f := fedtest.New(t, "XA-RC:XA:society", "XB-RC:XB:society", "XC-RC:XC:society")
		xa := nodetest.Start(t, f, "XA-RC", nil, nodetest.Options{Dialect: d, NoRun: true})
		cw := node.Actor{Name: "cw", Role: "caseworker"}
		docs := batchCases(t, 120)
		ids := batchIDs(docs)
		a := docs[:80]
		b := append([]json.RawMessage(nil), docs[40:]...)
		for i, j := 0, len(b)-1; i < j; i, j = i+1, j-1 {
			b[i], b[j] = b[j], b[i]
		}
		// Both created first, so both forwards meet on the same rows.
		if _, err := xa.ImportCases(ctx, cw, docs, ""); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		for _, part := range [][]json.RawMessage{a, b} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := xa.ImportCases(ctx, cw, part, "XB-RC"); err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		for _, id := range ids {
			rows, ds := sentTo(t, xa.Store, id, "XB-RC")
			allowed := 0
			for _, d := range ds {
				if d.Effect == string(policy.Allow) || d.Effect == string(policy.AllowWithRedactions) {
					allowed++
				}
			}
			// A refused case may be judged by both (as two forwards
			// would); a queued one is queued and judged once.
			if len(ds) == 0 || len(rows) > 1 || allowed > 1 || (allowed == 1) != (len(rows) == 1) {
				t.Errorf("case %s: %d decisions (%d allowed), %d rows", id, len(ds), allowed, len(rows))
			}
		}
	})
}

// sentTo reads what s holds of case id for member to: its outbox rows for
// the member and the case's policy decisions.
func sentTo(t *testing.T, s store.Store, id, to string) ([]store.OutboxItem, []store.Decision) {
	t.Helper()
	rows, err := s.ListOutbox(t.Context(), store.OutboxFilter{CaseID: id, Destination: to})
	if err != nil {
		t.Fatal(err)
	}
	ds, err := s.ListDecisions(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	return rows, ds
}
