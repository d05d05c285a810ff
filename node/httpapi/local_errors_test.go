package httpapi_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/familylinks/flx/node/httpapi"
	"github.com/familylinks/flx/node/internal/nodetest"
)

// bodyKind is what a route with a request body takes.
type bodyKind int

const (
	bodyDocument bodyKind = iota // a schema v1 document: bad content is 422 schema_invalid
	bodyWrapper                  // a request wrapper: bad content is 400 bad_request
	bodyOptional                 // a wrapper that may be left out
	bodyNone                     // no body (one sent is not read)
	bodyBinary                   // bytes, not JSON (media chunks)
)

// routeBodies classifies every route that may carry a body. A new POST,
// PUT or PATCH route must be added here: the test fails until it is.
var routeBodies = map[string]bodyKind{
	"POST /api/v1/cases":                              bodyDocument,
	"PUT /api/v1/cases/{id}":                          bodyDocument,
	"POST /api/v1/cases/{id}/responses":               bodyDocument,
	"POST /api/v1/import/cases":                       bodyWrapper,
	"POST /api/v1/cases/{id}/forward":                 bodyWrapper,
	"POST /api/v1/cases/{id}/policy-check":            bodyWrapper,
	"POST /api/v1/cases/{id}/messages":                bodyWrapper,
	"POST /api/v1/cases/{id}/withdraw":                bodyWrapper,
	"POST /api/v1/cases/{id}/media":                   bodyWrapper,
	"POST /api/v1/cases/{id}/match-query":             bodyWrapper,
	"POST /api/v1/tokens":                             bodyWrapper,
	"POST /api/v1/cases/{id}/decisions/{did}/approve": bodyOptional,
	"POST /api/v1/cases/{id}/decisions/{did}/reject":  bodyOptional,
	"POST /api/v1/matches/{mid}/confirm":              bodyOptional,
	"POST /api/v1/matches/{mid}/reject":               bodyOptional,
	"POST /api/v1/matches/rematch":                    bodyOptional,
	"POST /api/v1/outbox/{oid}/requeue":               bodyNone,
	"POST /api/v1/outbox/peers/{member}/retry":        bodyNone,
	"POST /api/v1/stats/send":                         bodyNone,
	"POST /api/v1/bundles/export":                     bodyWrapper,
	"POST /api/v1/bundles/import":                     bodyWrapper,
	"PATCH /api/v1/media/uploads/{uid}":               bodyBinary,
}

// TestBodyErrorsOneVocabulary: every route that reads a JSON body answers
// a body that is not one JSON object (invalid JSON, trailing data, an
// array, a scalar) with 400 bad_request and a member given twice with 400
// duplicate_key, whether it takes a wrapper or a document; an object with
// wrong content is 400 bad_request for a wrapper and 422 schema_invalid
// for a document. The routes are read from the real router.
func TestBodyErrorsOneVocabulary(t *testing.T) {
	// b holds a case of its own (XB-RC:TR-9) and one received from a
	// (caseID), which a response answers.
	f, lns := newFederation(t, "XA-RC", "XB-RC")
	a := startLocal(t, f, "XA-RC", lns["XA-RC"], nodetest.Options{})
	b := startLocal(t, f, "XB-RC", lns["XB-RC"], nodetest.Options{})
	expect(t, a.api.do("POST", "/api/v1/cases", tokCaseworker, caseDoc(t, nil)), 201, "CaseSummary")
	expect(t, a.api.do("POST", caseEsc+"/forward", tokCaseworker, `{"to":"XB-RC"}`), 202, "SendResult")
	waitFor(t, "the case at XB-RC", func() bool { return b.api.do("GET", caseEsc, tokCaseworker, nil).Status == 200 })
	own := caseDoc(t, func(m map[string]any) {
		m["case_id"] = "XB-RC:TR-9"
		m["origin"].(map[string]any)["member"] = "XB-RC"
	})
	expect(t, b.api.do("POST", "/api/v1/cases", tokCaseworker, own), 201, "CaseSummary")
	routes, err := httpapi.RegisteredLocalRoutes()
	if err != nil {
		t.Fatal(err)
	}
	tokens := map[string]string{"caseworker": tokCaseworker, "operator": tokOperator, "auditor": tokAuditor, "admin": tokAdmin}
	path := strings.NewReplacer("{id}", "XB-RC%3ATR-9", "{did}", "1", "{mid}", "1",
		"{oid}", "1", "{member}", "XB-RC", "{uid}", "u1")
	malformed := []struct{ name, body string }{
		{"invalid JSON", `{"to":`},
		{"trailing data", `{"to":"XB-RC"} {}`},
		{"array", `[{"to":"XB-RC"}]`},
		{"string", `"XB-RC"`},
		{"number", `7`},
		{"null", `null`},
	}
	checked := 0
	for _, rt := range routes {
		if rt.Method != http.MethodPost && rt.Method != http.MethodPut && rt.Method != http.MethodPatch {
			continue
		}
		name := rt.Method + " " + rt.Path
		kind, ok := routeBodies[name]
		if !ok {
			t.Errorf("%s: not classified in routeBodies", name)
			continue
		}
		if kind == bodyNone || kind == bodyBinary {
			continue
		}
		if len(rt.Roles) == 0 {
			t.Fatalf("%s: no role", name)
		}
		tok := tokens[rt.Roles[0]]
		p := path.Replace(rt.Path)
		if strings.HasSuffix(rt.Path, "/responses") { // a response answers another member's case
			p = caseEsc + "/responses"
		}
		checked++
		t.Run(strings.ReplaceAll(name, "/", "_"), func(t *testing.T) {
			for _, m := range malformed {
				t.Run(m.name, func(t *testing.T) {
					expectProblem(t, b.api.do(rt.Method, p, tok, m.body), 400, "bad_request")
				})
			}
			expectProblem(t, b.api.do(rt.Method, p, tok, `{"schema":"x","schema":"y"}`), 400, "duplicate_key")
			switch kind {
			case bodyDocument:
				expectProblem(t, b.api.do(rt.Method, p, tok, `{"schema":7}`), 422, "schema_invalid")
			default:
				expectProblem(t, b.api.do(rt.Method, p, tok, `{"no_such_member":1}`), 400, "bad_request")
			}
		})
	}
	if checked < 10 {
		t.Fatalf("only %d routes with a JSON body checked", checked)
	}
}
