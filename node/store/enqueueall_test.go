package store_test

import (
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/familylinks/flx/node/store"
)

// TestEnqueueAllConcurrent: callers queueing at the same time each get
// their own rows and answer: every row once, seqs per (destination, case) without gaps or
// repeats, and a caller whose jti is already queued or taken by another
// caller refused alone.
func TestEnqueueAllConcurrent(t *testing.T) {
	withAllStores(t, func(t *testing.T, b *backend) {
		ctx := t.Context()
		enqueue(t, b.s, queue(memberB, "XA-RC:C0", "case.create", "taken"))
		const callers = 40
		ins := make([][]store.NewOutboxItem, callers)
		for i := range ins {
			for j := range 1 + i%3 {
				ins[i] = append(ins[i], queue(memberB, fmt.Sprintf("XA-RC:C%d", i%4), "case.update", fmt.Sprintf("c-%d-%d", i, j)))
			}
		}
		ins[7] = append(ins[7], queue(memberB, "XA-RC:C1", "case.update", "taken"))    // already queued
		ins[11] = append(ins[11], queue(memberB, "XA-RC:C2", "case.update", "shared")) // one of these two
		ins[12] = append(ins[12], queue(memberC, "XA-RC:C3", "case.update", "shared")) // wins
		outs, errs := make([][]store.OutboxItem, callers), make([]error, callers)
		var wg sync.WaitGroup
		for i := range ins {
			wg.Go(func() { outs[i], errs[i] = b.s.EnqueueAll(ctx, ins[i]) })
		}
		wg.Wait()
		queued := map[string]store.OutboxItem{}
		for i := range ins {
			switch {
			case i == 7 || (i == 11 || i == 12) && errs[i] != nil:
				if !errors.Is(errs[i], store.ErrDuplicate) {
					t.Fatalf("caller %d: %v, want ErrDuplicate", i, errs[i])
				}
				continue
			case errs[i] != nil:
				t.Fatalf("caller %d: %v", i, errs[i])
			}
			if len(outs[i]) != len(ins[i]) {
				t.Fatalf("caller %d: %d rows for %d", i, len(outs[i]), len(ins[i]))
			}
			for j, o := range outs[i] {
				if o.JTI != ins[i][j].JTI || o.ID == 0 {
					t.Fatalf("caller %d row %d: %+v for %s", i, j, o, ins[i][j].JTI)
				}
				queued[o.JTI] = o
			}
		}
		if (errs[11] == nil) == (errs[12] == nil) {
			t.Fatalf("callers 11 and 12 sharing a jti: %v, %v; want exactly one refused", errs[11], errs[12])
		}
		rows := must[[]store.OutboxItem](t)(b.s.ListOutbox(ctx, store.OutboxFilter{Limit: 1000}))
		seqs := map[string][]bool{}
		for _, r := range rows {
			if r.JTI == "taken" {
				continue
			}
			o, ok := queued[r.JTI]
			if !ok || o.ID != r.ID || o.Seq != r.Seq || r.State != store.Queued {
				t.Fatalf("stored %+v, answered %+v (%v)", r, o, ok)
			}
			delete(queued, r.JTI)
			k := r.Destination + " " + r.CaseID
			for int64(len(seqs[k])) < r.Seq {
				seqs[k] = append(seqs[k], false)
			}
			if seqs[k][r.Seq-1] {
				t.Fatalf("%s: seq %d twice", k, r.Seq)
			}
			seqs[k][r.Seq-1] = true
		}
		if len(queued) != 0 {
			t.Fatalf("answered but not stored: %v", queued)
		}
		for k, s := range seqs {
			for i, ok := range s {
				// XA-RC:C0 to memberB starts at 2 ("taken" is seq 1).
				if !ok && !(k == memberB+" XA-RC:C0" && i == 0) {
					t.Fatalf("%s: seq %d missing", k, i+1)
				}
			}
		}
	})
}
