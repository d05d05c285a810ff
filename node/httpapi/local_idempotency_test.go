package httpapi_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/familylinks/flx/node/internal/nodetest"
	"github.com/familylinks/flx/node/store"
)

// TestMessageSentOnce: a message is identified by its message_id, which
// belongs to its sender. The same message submitted again, one after the
// other or by racing clients, is one send answered with the first result;
// the same id with other content is a conflict; an id of another member is
// refused. On both stores.
func TestMessageSentOnce(t *testing.T) {
	for _, d := range []nodetest.Dialect{nodetest.SQLite, nodetest.Postgres} {
		t.Run(string(d), func(t *testing.T) {
			f, lns := newFederation(t, "XA-RC")
			a := startLocal(t, f, "XA-RC", lns["XA-RC"], nodetest.Options{Dialect: d, NoRun: true})
			expect(t, a.api.do("POST", "/api/v1/cases", tokCaseworker, caseDoc(t, nil)), 201, "CaseSummary")
			msg := func(id, body string) map[string]any {
				return map[string]any{"to": "XB-RC", "message": map[string]any{
					"schema": "flx/v1/message", "message_id": id, "case_id": caseID,
					"kind": "family_news", "channel": "verbal", "created_at": "2026-01-02T03:04:05Z",
					"from": map[string]any{"person": "p1", "member": "XA-RC"}, "to": map[string]any{"person": "p2", "member": "XB-RC"},
					"body": body,
				}}
			}
			type sent struct {
				State      string `json:"state"`
				OutboxID   int64  `json:"outbox_id"`
				JTI        string `json:"jti"`
				DecisionID int64  `json:"decision_id"`
			}
			var first, second sent
			expect(t, a.api.do("POST", caseEsc+"/messages", tokCaseworker, msg("XA-RC:FN-1", "All well (invented).")), 202, "SendResult").decode(t, &first)
			expect(t, a.api.do("POST", caseEsc+"/messages", tokCaseworker, msg("XA-RC:FN-1", "All well (invented).")), 202, "SendResult").decode(t, &second)
			if first.State != "queued" || first.OutboxID == 0 || second != first {
				t.Fatalf("first %+v, second %+v: want the same send", first, second)
			}
			expectProblem(t, a.api.do("POST", caseEsc+"/messages", tokCaseworker, msg("XA-RC:FN-1", "Other text (invented).")), 409, "conflict")
			expectProblem(t, a.api.do("POST", caseEsc+"/messages", tokCaseworker, msg("XB-RC:FN-1", "All well (invented).")), 400, "bad_request")

			// Racing duplicates of a new message: one send.
			const n = 8
			got := make([]sent, n)
			var wg sync.WaitGroup
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					r := a.api.do("POST", caseEsc+"/messages", tokCaseworker, msg("XA-RC:FN-2", "Racing (invented)."))
					if r.Status != 202 {
						t.Errorf("racing send %d: %d %s", i, r.Status, r.Body)
						return
					}
					r.decode(t, &got[i])
				}()
			}
			wg.Wait()
			for i := range got {
				if got[i] != got[0] || got[i].OutboxID == 0 || got[i].OutboxID == first.OutboxID {
					t.Fatalf("racing sends %+v", got)
				}
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			rows, err := a.Store.ListOutbox(ctx, store.OutboxFilter{CaseID: caseID, Limit: 100})
			if err != nil {
				t.Fatal(err)
			}
			msgs := 0
			for _, r := range rows {
				if r.Kind == "message.deliver" {
					msgs++
				}
			}
			if msgs != 2 {
				t.Fatalf("%d message.deliver rows queued, want 2 (%s)", msgs, fmt.Sprint(rows))
			}
		})
	}
}
