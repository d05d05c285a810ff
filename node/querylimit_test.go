package node_test

import (
	"context"
	"testing"

	"github.com/familylinks/flx/federation"
	"github.com/familylinks/flx/federation/problem"
	"github.com/familylinks/flx/node"
	"github.com/familylinks/flx/node/internal/fedtest"
	"github.com/familylinks/flx/node/internal/nodetest"
	"github.com/familylinks/flx/node/store"
	"github.com/familylinks/flx/schema"
)

// TestMatchQueriesAreRateLimitedPerMember (FLX-MAT-007): past its bucket
// a member's match query is refused with rate_limited and nothing of it
// is kept; another member's bucket is its own; other kinds are not
// counted.
func TestMatchQueriesAreRateLimitedPerMember(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := fedtest.New(t, "XA-RC:XA:society", "XB-RC:XB:society", "XC-RC:XC:society")
	xa := nodetest.Start(t, f, "XA-RC", nil, nodetest.Options{NoRun: true, Match: node.MatchOptions{Secret: testSecret}})
	xc := nodetest.Start(t, f, "XC-RC", nil, nodetest.Options{NoRun: true, Match: node.MatchOptions{Secret: testSecret}})
	xb := nodetest.Start(t, f, "XB-RC", nil, nodetest.Options{NoRun: true, Match: node.MatchOptions{Secret: testSecret, QueriesPerMinute: 2}})
	cw := node.Actor{Name: "cw-anna", Role: "caseworker"}
	sought := person("p1", schema.PersonSought, "1990-03-14", name("Karo", "given", "Latn"), name("Hovsampelyan", "family", "Latn"))
	if _, err := xa.CreateCase(ctx, cw, withConsent(t, caseOf(t, "XA-RC:TR-1", schema.CaseTracingRequest, 1, sought))); err != nil {
		t.Fatal(err)
	}
	if _, err := xc.CreateCase(ctx, cw, withConsent(t, caseOf(t, "XC-RC:TR-1", schema.CaseTracingRequest, 1, sought))); err != nil {
		t.Fatal(err)
	}
	queries := func(from *nodetest.Node, caseID string, n int) [][]byte {
		for range n {
			if _, err := from.SendMatchQuery(ctx, cw, caseID, "p1", "XB-RC"); err != nil {
				t.Fatal(err)
			}
		}
		rows, _ := from.Store.ListOutbox(ctx, store.OutboxFilter{Destination: "XB-RC", Limit: 100})
		var out [][]byte
		for _, r := range rows {
			if r.Kind != string(federation.KindMatchQuery) {
				continue
			}
			it, _ := from.Store.GetOutbox(ctx, r.ID)
			out = append(out, it.Envelope)
		}
		return out
	}
	fromA := queries(xa, "XA-RC:TR-1", 3)
	for i, env := range fromA {
		_, err := xb.Receive(ctx, "XA-RC", env)
		if i < 2 && err != nil {
			t.Fatalf("query %d within the bucket: %v", i, err)
		}
		if i == 2 && problem.As(err).Code != problem.RateLimited {
			t.Fatalf("query %d past the bucket: %v, want rate_limited", i, err)
		}
	}
	if in, _ := xb.View().ListInbox(ctx, store.InboxFilter{Kind: "match.query", Limit: 10}); len(in) != 2 {
		t.Fatalf("XB-RC kept %d queries, want 2", len(in))
	}
	// XC-RC has its own bucket.
	if _, err := xb.Receive(ctx, "XC-RC", queries(xc, "XC-RC:TR-1", 1)[0]); err != nil {
		t.Fatalf("another member's query: %v", err)
	}
}
