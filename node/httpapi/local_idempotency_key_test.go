package httpapi_test

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/familylinks/flx/node/httpapi"
	"github.com/familylinks/flx/node/internal/nodetest"
)

// TestIdempotencyKey: a POST with an Idempotency-Key runs once per caller
// and key; a retry with the same request gets the first answer unchanged
// (errors included, marked Idempotent-Replayed), the same key with another
// request is 409 idempotency_key_reused, another token's key is its own,
// racing retries run the request once, and a bad key is 400. On both
// stores.
func TestIdempotencyKey(t *testing.T) {
	for _, d := range []nodetest.Dialect{nodetest.SQLite, nodetest.Postgres} {
		t.Run(string(d), func(t *testing.T) {
			f, lns := newFederation(t, "XA-RC")
			a := startLocal(t, f, "XA-RC", lns["XA-RC"], nodetest.Options{Dialect: d, NoRun: true})
			api := a.api
			key := func(k string) []string { return []string{httpapi.IdempotencyKeyHeader, k} }
			doc := caseDoc(t, nil)

			first := expect(t, api.do("POST", "/api/v1/cases", tokCaseworker, doc, key("create-1")...), 201, "CaseSummary")
			if first.Header.Get(httpapi.ReplayedHeader) != "" {
				t.Fatal("first answer marked replayed")
			}
			for _, tc := range []struct {
				name   string
				method string
				path   string
				tok    string
				body   any
				key    string
				status int
				code   string // a problem's code
				replay bool
			}{
				{"same key, same request: the first answer", "POST", "/api/v1/cases", tokCaseworker, doc, "create-1", 201, "", true},
				{"without a key the request runs: the case exists", "POST", "/api/v1/cases", tokCaseworker, doc, "", 409, "conflict", false},
				{"same key, other body", "POST", "/api/v1/cases", tokCaseworker, caseDoc(t, withID("TR-OTHER")), "create-1", 409, "idempotency_key_reused", false},
				{"same key, other path", "POST", caseEsc + "/forward", tokCaseworker, `{"to":"XB-RC"}`, "create-1", 409, "idempotency_key_reused", false},
				{"another token's key is its own", "POST", caseEsc + "/policy-check", tokOperator, `{"to":"XB-RC"}`, "create-1", 200, "", false},
				{"an error answer is kept", "POST", caseEsc + "/forward", tokCaseworker, `{"to":"XZ-RC"}`, "fwd-unknown", 404, "unknown_member", false},
				{"and given again", "POST", caseEsc + "/forward", tokCaseworker, `{"to":"XZ-RC"}`, "fwd-unknown", 404, "unknown_member", true},
				{"key too long", "POST", "/api/v1/cases", tokCaseworker, doc, strings.Repeat("k", 256), 400, "bad_request", false},
				{"key with a space", "POST", "/api/v1/cases", tokCaseworker, doc, "a b", 400, "bad_request", false},
			} {
				t.Run(tc.name, func(t *testing.T) {
					var hdr []string
					if tc.key != "" {
						hdr = key(tc.key)
					}
					r := api.do(tc.method, tc.path, tc.tok, tc.body, hdr...)
					if tc.code != "" {
						expectProblem(t, r, tc.status, tc.code)
					} else {
						expect(t, r, tc.status, "")
					}
					if got := r.Header.Get(httpapi.ReplayedHeader) == "true"; got != tc.replay {
						t.Fatalf("replayed %v, want %v", got, tc.replay)
					}
					if tc.replay && tc.code == "" && (!bytes.Equal(r.Body, first.Body) || r.Header.Get("Location") != first.Header.Get("Location")) {
						t.Fatalf("replay %q (Location %q), first %q (Location %q)", r.Body, r.Header.Get("Location"), first.Body, first.Header.Get("Location"))
					}
				})
			}

			// Racing retries of one new case: it is created once; every
			// other answer is the first one or 409 conflict (still running).
			race := caseDoc(t, withID("TR-RACE"))
			var wg sync.WaitGroup
			replies := make([]reply, 8)
			for i := range replies {
				wg.Add(1)
				go func() {
					defer wg.Done()
					replies[i] = api.do("POST", "/api/v1/cases", tokCaseworker, race, key("race-1")...)
				}()
			}
			wg.Wait()
			created, replayed := 0, 0
			for _, r := range replies {
				switch {
				case r.Status == 201 && r.Header.Get(httpapi.ReplayedHeader) == "":
					created++
				case r.Status == 201:
					replayed++
				case r.Status == 409 && strings.Contains(string(r.Body), `"code":"conflict"`):
				default:
					t.Fatalf("racing answer %s", r)
				}
			}
			if created != 1 {
				t.Fatalf("%d racing requests ran (%d replayed)", created, replayed)
			}
			expect(t, api.do("POST", "/api/v1/cases", tokCaseworker, race, key("race-1")...), 201, "CaseSummary")
		})
	}
}

// TestIdempotencyKeyUpdate: a case update (PUT) with an Idempotency-Key
// runs once per caller and key, as a POST does: a retry of the same update
// after a lost answer gets the first answer (not 409 conflict for a
// version already stored), the same key with another body is 409
// idempotency_key_reused (a POST's too), and a bad key is 400. On both
// stores.
func TestIdempotencyKeyUpdate(t *testing.T) {
	for _, d := range []nodetest.Dialect{nodetest.SQLite, nodetest.Postgres} {
		t.Run(string(d), func(t *testing.T) {
			f, lns := newFederation(t, "XA-RC")
			a := startLocal(t, f, "XA-RC", lns["XA-RC"], nodetest.Options{Dialect: d, NoRun: true})
			api := a.api
			key := func(k string) []string { return []string{httpapi.IdempotencyKeyHeader, k} }
			expect(t, api.do("POST", "/api/v1/cases", tokCaseworker, caseDoc(t, nil)), 201, "CaseSummary")
			// The example is at version 3.
			edit := func(v int, note string) []byte {
				return caseDoc(t, func(m map[string]any) {
					m["version"] = v
					m["notes"] = append(m["notes"].([]any), map[string]any{"text": note, "author_member": "XA-RC", "at": "2024-05-01T08:00:00Z"})
				})
			}
			v4, v5 := edit(4, "Called the enquirer."), edit(5, "Called the enquirer again.")

			first := expect(t, api.do("PUT", caseEsc, tokCaseworker, v4, key("update-1")...), 200, "CaseSummary")
			if first.Header.Get(httpapi.ReplayedHeader) != "" {
				t.Fatal("first answer marked replayed")
			}
			again := expect(t, api.do("PUT", caseEsc, tokCaseworker, v4, key("update-1")...), 200, "CaseSummary")
			if again.Header.Get(httpapi.ReplayedHeader) != "true" || !bytes.Equal(again.Body, first.Body) {
				t.Fatalf("retry: %s, first %s", again, first)
			}
			// Without the key the same update runs again: a conflict.
			expectProblem(t, api.do("PUT", caseEsc, tokCaseworker, v4), 409, "conflict")
			expectProblem(t, api.do("PUT", caseEsc, tokCaseworker, v5, key("update-1")...), 409, "idempotency_key_reused")
			// The key used for a POST is not the same request either.
			expectProblem(t, api.do("POST", caseEsc+"/policy-check", tokCaseworker, `{"to":"XB-RC"}`, key("update-1")...), 409, "idempotency_key_reused")
			expectProblem(t, api.do("PUT", caseEsc, tokCaseworker, v5, key("a b")...), 400, "bad_request")
			expect(t, api.do("PUT", caseEsc, tokCaseworker, v5, key("update-2")...), 200, "CaseSummary")
			c, err := a.Store.GetCase(context.Background(), "XA-RC:TR-2024-0117")
			if err != nil || c.Version != 5 {
				t.Fatalf("case at version %d (%v), want 5", c.Version, err)
			}
		})
	}
}
