package e2e

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/familylinks/flx/node"
	"github.com/familylinks/flx/node/internal/fedtest"
	"github.com/familylinks/flx/node/internal/nodetest"
	"github.com/familylinks/flx/node/store"
	"github.com/familylinks/flx/schema"
)

// cw is the caseworker every in-process call acts as.
var cw = node.Actor{Name: "caseworker-1", Role: "caseworker"}

// demoCase is the case id of testdata/case.json (copied from
// node/cmd/flx/demodata with its response and messages).
const demoCase = "XA-RC:DEMO-0001"

// readTestdata returns a file of testdata/.
func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// patch returns doc (a JSON object) with the given members set; a key
// "a/b" sets member b of object a.
func patch(t testing.TB, doc []byte, set map[string]any) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(doc, &m); err != nil {
		t.Fatalf("patch: %v", err)
	}
	for k, v := range set {
		obj := m
		parts := strings.Split(k, "/")
		for _, p := range parts[:len(parts)-1] {
			next, ok := obj[p].(map[string]any)
			if !ok {
				t.Fatalf("patch: %q is not an object", p)
			}
			obj = next
		}
		obj[parts[len(parts)-1]] = v
	}
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// minimalCase is a small valid case of origin member with the given id.
func minimalCase(t testing.TB, caseID string) []byte {
	t.Helper()
	ex, ok := schema.ExampleNamed("case.tracing_request.minimal")
	if !ok {
		t.Fatal("no example case.tracing_request.minimal")
	}
	origin, _, _ := strings.Cut(caseID, ":")
	return patch(t, ex.Doc, map[string]any{"case_id": caseID, "origin/member": origin})
}

// pointerPresent reports whether the JSON pointer (RFC 6901) resolves in doc.
func pointerPresent(t testing.TB, doc []byte, ptr string) bool {
	t.Helper()
	_, ok := pointerValue(t, doc, ptr)
	return ok
}

// pointerValue returns the value at a JSON pointer in doc, and whether it
// is there.
func pointerValue(t testing.TB, doc []byte, ptr string) (any, bool) {
	t.Helper()
	var v any
	if err := json.Unmarshal(doc, &v); err != nil {
		t.Fatalf("pointer: %v", err)
	}
	if ptr == "" {
		return v, true
	}
	for _, tok := range strings.Split(strings.TrimPrefix(ptr, "/"), "/") {
		tok = strings.NewReplacer("~1", "/", "~0", "~").Replace(tok)
		switch c := v.(type) {
		case map[string]any:
			next, ok := c[tok]
			if !ok {
				return nil, false
			}
			v = next
		case []any:
			i, err := strconv.Atoi(tok)
			if err != nil || i < 0 || i >= len(c) {
				return nil, false
			}
			v = c[i]
		default:
			return nil, false
		}
	}
	return v, true
}

// sameJSON reports whether a and b hold the same JSON value.
func sameJSON(t testing.TB, a, b []byte) bool {
	t.Helper()
	var x, y any
	if err := json.Unmarshal(a, &x); err != nil {
		t.Fatalf("sameJSON: %v", err)
	}
	if err := json.Unmarshal(b, &y); err != nil {
		t.Fatalf("sameJSON: %v", err)
	}
	return reflect.DeepEqual(x, y)
}

// claimsOf decodes the payload of a compact JWS without verifying it (the
// node verified it on receipt).
type claimsOf struct {
	Iss    string          `json:"iss"`
	Aud    string          `json:"aud"`
	JTI    string          `json:"jti"`
	Kind   string          `json:"kind"`
	CaseID string          `json:"case_id"`
	Status string          `json:"status"` // receipts
	Body   json.RawMessage `json:"body"`
}

func decodeJWS(t testing.TB, raw []byte) claimsOf {
	t.Helper()
	parts := bytes.Split(bytes.TrimSpace(raw), []byte{'.'})
	if len(parts) != 3 {
		t.Fatalf("not a compact JWS: %.60q", raw)
	}
	b, err := base64.RawURLEncoding.DecodeString(string(parts[1]))
	if err != nil {
		t.Fatal(err)
	}
	var c claimsOf
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	return c
}

// versionOf returns the version member of a case document.
func versionOf(t testing.TB, doc []byte) int64 {
	t.Helper()
	var v struct {
		Version int64 `json:"version"`
	}
	if err := json.Unmarshal(doc, &v); err != nil {
		t.Fatal(err)
	}
	return v.Version
}

// allInbox pages through every inbox row matching f.
func allInbox(t testing.TB, st store.Queries, f store.InboxFilter) []store.InboxItem {
	t.Helper()
	var out []store.InboxItem
	f.Limit = 1000
	for {
		rows, err := st.ListInbox(context.Background(), f)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, rows...)
		if len(rows) < f.Limit {
			return out
		}
		f.AfterID = rows[len(rows)-1].ID
	}
}

// allOutbox pages through every outbox row matching f.
func allOutbox(t testing.TB, st store.Queries, f store.OutboxFilter) []store.OutboxItem {
	t.Helper()
	var out []store.OutboxItem
	f.Limit = 1000
	for {
		rows, err := st.ListOutbox(context.Background(), f)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, rows...)
		if len(rows) < f.Limit {
			return out
		}
		f.AfterID = rows[len(rows)-1].ID
	}
}

// processCounts counts the inbox.process audit entries per inbox row id
// (for the case caseID, or every case when empty): exactly-once processing
// means one entry per row.
func processCounts(t testing.TB, st store.Queries, caseID string) map[int64]int {
	t.Helper()
	out := map[int64]int{}
	f := store.AuditFilter{Action: "inbox.process", Object: caseID, Limit: 1000}
	for {
		rows, err := st.ListAudit(context.Background(), f)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rows {
			var d struct {
				InboxID int64 `json:"inbox_id"`
			}
			if err := json.Unmarshal(r.Details, &d); err != nil {
				t.Fatalf("audit %d details: %v", r.Seq, err)
			}
			out[d.InboxID]++
		}
		if len(rows) < f.Limit {
			return out
		}
		f.AfterSeq = rows[len(rows)-1].Seq
	}
}

// waitProcessed waits until st has processed at least n inbox rows of kind
// about caseID.
func waitProcessed(t testing.TB, st store.Queries, caseID, kind string, n int) {
	t.Helper()
	nodetest.WaitFor(t, 30*time.Second, "processed "+kind+" of "+caseID, func() bool {
		rows, err := st.ListInbox(context.Background(), store.InboxFilter{CaseID: caseID, Kind: kind, Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		done := 0
		for _, r := range rows {
			if !r.ProcessedAt.IsZero() {
				done++
			}
		}
		return done >= n
	})
}

// noProcessErrors fails if any inbox row was processed with an error.
func noProcessErrors(t testing.TB, who string, st store.Queries) {
	t.Helper()
	for _, r := range allInbox(t, st, store.InboxFilter{State: "failed"}) {
		t.Errorf("%s: inbox row %d (%s %s) failed: %s", who, r.ID, r.Kind, r.CaseID, r.ProcessError)
	}
}

// auditIntact fails unless the audit chain of st verifies.
func auditIntact(t testing.TB, who string, st store.Queries) {
	t.Helper()
	v, err := st.VerifyAudit(context.Background())
	if err != nil {
		t.Fatalf("%s: verify audit: %v", who, err)
	}
	if !v.OK() || v.Rows == 0 {
		t.Errorf("%s: audit chain: %d rows, first bad seq %d: %s", who, v.Rows, v.FirstBadSeq, v.Problem)
	}
}

// pullersLast returns f's member ids with the pull-only members last: a
// node's pull loop starts with a pull, and a test that waits for that one
// pull (its pull interval an hour) must have the node it pulls from
// started, not still opening its store while the request times out.
func pullersLast(f *fedtest.Federation) []string {
	var ids []string
	for id := range f.Members {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, func(a, b string) int {
		if pa, pb := f.Members[a].PullOnly, f.Members[b].PullOnly; pa != pb {
			if pa {
				return 1
			}
			return -1
		}
		return strings.Compare(a, b)
	})
	return ids
}
