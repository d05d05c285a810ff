package node_test

import (
	"context"
	"encoding/json"
	"sync/atomic"
	"testing"

	"github.com/familylinks/flx/federation"
	"github.com/familylinks/flx/node/internal/fedtest"
	"github.com/familylinks/flx/node/internal/nodetest"
	"github.com/familylinks/flx/node/store"
	"github.com/familylinks/flx/schema"
)

// docsRead counts the case documents read through GetCases.
type docsRead struct {
	store.Store
	n *atomic.Int64
}

func (s docsRead) GetCases(ctx context.Context, ids []string) (map[string]store.Case, error) {
	s.n.Add(int64(len(ids)))
	return s.Store.GetCases(ctx, ids)
}

// TestMatchingWorkerReadsNoDocumentDecodedOnReceipt: the matching worker,
// matching a batch of received cases, takes each case as it was decoded
// when it was applied (receivedKeys) once the store says, by the SHA-256
// of the document it holds, that it is that one: it reads no document
// (GetCases read all of them before), and the candidates are found. A
// batch with two rows of one case (a create and its update) reads that
// case's document, and leaves the candidates matching each row leaves
// (TestReceivedBatchMatchingAsPerCase covers the rest).
func TestMatchingWorkerReadsNoDocumentDecodedOnReceipt(t *testing.T) {
	t.Parallel()
	reg, sought := corpusCases(t, 47, 30)
	nodetest.EachDialect(t, func(t *testing.T, d nodetest.Dialect) {
		ctx := context.Background()
		var read atomic.Int64
		f := fedtest.New(t, "XA-RC:XA:society", "XB-RC:XB:society")
		n := nodetest.Start(t, f, "XB-RC", nil, nodetest.Options{NoRun: true, Dialect: d,
			WrapStore: func(s store.Store) store.Store { return docsRead{s, &read} }})
		n.QueueReceivedMatchesForTest()
		receive := func(kind federation.Kind, docs []json.RawMessage) {
			t.Helper()
			for _, doc := range docs {
				raw := f.Envelope(t, "XA-RC", "XB-RC", kind, schema.PeekCaseID(doc), doc)
				if _, err := n.Receive(ctx, "XA-RC", raw); err != nil {
					t.Fatal(err)
				}
			}
			if err := n.ProcessInbox(ctx); err != nil {
				t.Fatal(err)
			}
			n.DrainMatchQueueForTest(ctx)
		}
		receive(federation.KindCaseCreate, append(append([]json.RawMessage{}, reg...), sought...))
		if got := read.Load(); got != 0 {
			t.Errorf("the matching worker read %d case documents, want 0 (each was decoded on receipt)", got)
		}
		if len(candidateSummary(t, n.Store)) == 0 {
			t.Fatal("no candidate found: the corpus tests nothing")
		}
		// A create and an update of one case in one batch: each row
		// prepares its own persons, from the document read.
		id := schema.PeekCaseID(reg[0])
		receive(federation.KindCaseUpdate, []json.RawMessage{bumpVersion(t, reg[0]), bumpVersion(t, bumpVersion(t, reg[0]))})
		if got := read.Load(); got != 1 {
			t.Errorf("after two rows of %s in one batch the worker read %d documents, want 1", id, got)
		}
	})
}
