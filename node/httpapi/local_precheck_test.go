package httpapi_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/familylinks/flx/node/internal/nodetest"
)

// TestSendPrecheck: a case whose envelope would exceed the destination's
// declared body limit is refused before anything is recorded or queued,
// with a clear error.
func TestSendPrecheck(t *testing.T) {
	f, lns := newFederation(t, "XA-RC", "XB-RC")
	a := startLocal(t, f, "XA-RC", lns["XA-RC"], nodetest.Options{NoRun: true})
	startLocal(t, f, "XB-RC", lns["XB-RC"], nodetest.Options{NoRun: true})
	big := caseDoc(t, func(m map[string]any) {
		persons := m["persons"].([]any)
		for i := range 250 {
			var names []any
			for j := range 20 {
				names = append(names, map[string]any{"value": fmt.Sprintf("Invented%d %d %s", i, j, strings.Repeat("Name ", 45))})
			}
			persons = append(persons, map[string]any{"id": fmt.Sprintf("x%d", i), "roles": []any{"family_member"}, "birth_date": "1950", "names": names})
		}
		m["persons"] = persons
	})
	expect(t, a.api.do("POST", "/api/v1/cases", tokCaseworker, big), 201, "CaseSummary")
	p := expectProblem(t, a.api.do("POST", casePth+"/forward", tokCaseworker, `{"to":"XB-RC"}`), 413, "too_large")
	if !strings.Contains(p.Detail, "XB-RC") || !strings.Contains(p.Detail, "declared limit") || !strings.Contains(p.Detail, "nothing was queued") {
		t.Fatalf("detail %q", p.Detail)
	}
	var ol struct {
		Items []any `json:"items"`
	}
	expect(t, a.api.do("GET", "/api/v1/outbox", tokOperator, nil), 200, "OutboxList").decode(t, &ol)
	if len(ol.Items) != 0 {
		t.Fatalf("queued anyway: %+v", ol.Items)
	}
	// A case within the limit goes.
	expect(t, a.api.do("POST", "/api/v1/cases", tokCaseworker, caseDoc(t, withID("SMALL-1"))), 201, "CaseSummary")
	expect(t, a.api.do("POST", "/api/v1/cases/XA-RC:SMALL-1/forward", tokCaseworker, `{"to":"XB-RC"}`), 202, "SendResult")
}
