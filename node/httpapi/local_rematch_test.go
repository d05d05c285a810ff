package httpapi_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/familylinks/flx/node/httpapi"
	"github.com/familylinks/flx/node/internal/nodetest"
	"github.com/familylinks/flx/node/store"
)

// holdTx holds the next transaction, when armed, until release is closed
// (entered is closed once it is held).
type holdTx struct {
	store.Store
	armed   *atomic.Bool
	entered chan struct{}
	release chan struct{}
}

func (h holdTx) Tx(ctx context.Context, fn func(tx store.Tx) error) error {
	if h.armed.CompareAndSwap(true, false) {
		close(h.entered)
		<-h.release
	}
	return h.Store.Tx(ctx, fn)
}

// TestLocalRematch: the bulk match job over the local API, on both stores.
// Only an operator runs it; it answers with the counts, is audited once
// naming the operator, keeps confirmed and rejected candidates as they
// were, and refuses a second run while one runs (409 conflict).
func TestLocalRematch(t *testing.T) {
	for _, d := range []nodetest.Dialect{nodetest.SQLite, nodetest.Postgres} {
		t.Run(string(d), func(t *testing.T) {
			armed := &atomic.Bool{}
			entered, release := make(chan struct{}), make(chan struct{})
			f, lns := newFederation(t, "XA-RC")
			a := startLocal(t, f, "XA-RC", lns["XA-RC"], nodetest.Options{Dialect: d, NoRun: true,
				WrapStore: func(s store.Store) store.Store { return holdTx{s, armed, entered, release} }})
			for _, c := range []map[string]any{
				personCase("XA-RC:TR-1", "tracing_request", "sought_person", "1990-03-14",
					[3]string{"Karo", "given", "Latn"}, [3]string{"Hovsampelyan", "family", "Latn"}),
				personCase("XA-RC:DN-1", "detention_notification", "detainee", "1990", [3]string{"Каро Овсампелян", "full", "Cyrl"}),
				personCase("XA-RC:TR-2", "tracing_request", "sought_person", "1975-11-02",
					[3]string{"Armen", "given", "Latn"}, [3]string{"Sargsyan", "family", "Latn"}),
				personCase("XA-RC:DN-2", "detention_notification", "detainee", "1975", [3]string{"Армен Саргсян", "full", "Cyrl"}),
				personCase("XA-RC:TR-3", "tracing_request", "sought_person", "1962-01-20",
					[3]string{"Levon", "given", "Latn"}, [3]string{"Petrosyan", "family", "Latn"}),
				personCase("XA-RC:DN-3", "detention_notification", "detainee", "1962", [3]string{"Левон Петросян", "full", "Cyrl"}),
			} {
				expect(t, a.api.do("POST", "/api/v1/cases", tokCaseworker, c), 201, "CaseSummary")
			}
			var list httpapi.MatchList
			expect(t, a.api.do("GET", "/api/v1/matches?state=all", tokCaseworker, nil), 200, "MatchList").decode(t, &list)
			if len(list.Matches) != 3 {
				t.Fatalf("candidates before: %+v", list)
			}
			decided := map[int64]string{}
			for i, decision := range []string{"confirm", "reject"} {
				id := list.Matches[i].ID
				expect(t, a.api.do("POST", fmt.Sprintf("/api/v1/matches/%d/%s", id, decision), tokCaseworker, nil), 200, "Match")
				decided[id] = map[string]string{"confirm": "confirmed", "reject": "rejected"}[decision]
			}

			expectProblem(t, a.api.do("POST", "/api/v1/matches/rematch", tokCaseworker, nil), 403, "forbidden")
			expectProblem(t, a.api.do("POST", "/api/v1/matches/rematch", tokAuditor, nil), 403, "forbidden")
			expectProblem(t, a.api.do("POST", "/api/v1/matches/rematch", tokOperator, `{"all":true}`), 400, "bad_request")

			var res httpapi.RematchResult
			expect(t, a.api.do("POST", "/api/v1/matches/rematch", tokOperator, nil), 200, "RematchResult").decode(t, &res)
			if res.Cases != 6 || res.PersonsMatched != 6 || res.CandidatesWritten != 3 || res.DurationSeconds <= 0 {
				t.Fatalf("rematch: %+v", res)
			}
			expect(t, a.api.do("GET", "/api/v1/matches?state=all", tokCaseworker, nil), 200, "MatchList").decode(t, &list)
			if len(list.Matches) != 3 {
				t.Fatalf("candidates after: %+v", list)
			}
			open := 0
			for _, m := range list.Matches {
				if want, ok := decided[m.ID]; ok {
					if m.State != want || m.DecidedBy != "cw-anna" {
						t.Fatalf("decided candidate after rematch: %+v, want %s", m, want)
					}
					delete(decided, m.ID)
				} else if m.State == "open" {
					open++
				}
			}
			if len(decided) != 0 || open != 1 {
				t.Fatalf("after rematch: %d open, decisions lost %v: %+v", open, decided, list)
			}

			var audit struct {
				Items []struct {
					Actor, Action, Object string
				} `json:"items"`
			}
			expect(t, a.api.do("GET", "/api/v1/audit?action=match.rematch", tokAuditor, nil), 200, "AuditList").decode(t, &audit)
			if len(audit.Items) != 1 || audit.Items[0].Actor != "op-ben" {
				t.Fatalf("audit %+v", audit)
			}

			// A second run while one runs is a conflict; the first ends well.
			armed.Store(true)
			first := make(chan reply, 1)
			go func() { first <- a.api.do("POST", "/api/v1/matches/rematch", tokOperator, `{}`) }()
			<-entered
			expectProblem(t, a.api.do("POST", "/api/v1/matches/rematch", tokOperator, nil), 409, "conflict")
			close(release)
			expect(t, <-first, 200, "RematchResult").decode(t, &res)
			if res.CandidatesWritten != 3 {
				t.Fatalf("second rematch: %+v", res)
			}
			expect(t, a.api.do("GET", "/api/v1/audit?action=match.rematch", tokAuditor, nil), 200, "AuditList").decode(t, &audit)
			if len(audit.Items) != 2 {
				t.Fatalf("audit after two runs: %+v", audit)
			}
		})
	}
}
