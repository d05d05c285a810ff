package store_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/familylinks/flx/node/store"
)

// TestEnqueueAllConcurrent: callers queueing at the same time (grouped
// into shared statements on PostgreSQL) each get their own rows and
// answer: every row once, seqs per (destination, case) without gaps or
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

// TestEnqueueGroupShares: on PostgreSQL, callers that wait behind a
// statement under way share the next one (one transaction: one xmin);
// when one of them is refused, the others' rows are still queued and the
// refused caller gets the error it gets alone; a caller that gave up
// while waiting gets its context's error and queues nothing.
func TestEnqueueGroupShares(t *testing.T) {
	b := newBackend(t, store.Postgres)
	ctx := t.Context()
	enqueue(t, b.s, queue(memberB, "XA-RC:G0", "case.create", "taken"))
	run := func(t *testing.T, ins [][]store.NewOutboxItem, ctxs []context.Context) ([][]store.OutboxItem, []error) {
		t.Helper()
		release, waiting := store.HoldEnqueueGroup(b.s)
		outs, errs := make([][]store.OutboxItem, len(ins)), make([]error, len(ins))
		var wg sync.WaitGroup
		for i := range ins {
			c := ctx
			if ctxs != nil && ctxs[i] != nil {
				c = ctxs[i]
			}
			wg.Go(func() { outs[i], errs[i] = b.s.EnqueueAll(c, ins[i]) })
		}
		for deadline := time.Now().Add(5 * time.Second); waiting() < len(ins); time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%d of %d callers waiting", waiting(), len(ins))
			}
		}
		release()
		wg.Wait()
		return outs, errs
	}
	xmins := func(t *testing.T, jtis ...string) int {
		t.Helper()
		var n int
		if err := b.raw.GetContext(ctx, &n, `SELECT COUNT(DISTINCT xmin::text) FROM outbox WHERE jti = ANY($1)`, jtis); err != nil {
			t.Fatal(err)
		}
		return n
	}

	t.Run("shared", func(t *testing.T) {
		var ins [][]store.NewOutboxItem
		var jtis []string
		for i := range 6 {
			in := []store.NewOutboxItem{queue(memberB, "XA-RC:G1", "case.update", fmt.Sprintf("s-%d", i))}
			if i%2 == 0 {
				in = append(in, queue(memberC, fmt.Sprintf("XA-RC:G%d", i), "case.update", fmt.Sprintf("s-%d-b", i)))
			}
			ins = append(ins, in)
			for _, it := range in {
				jtis = append(jtis, it.JTI)
			}
		}
		outs, errs := run(t, ins, nil)
		for i := range ins {
			if errs[i] != nil || len(outs[i]) != len(ins[i]) || outs[i][0].JTI != ins[i][0].JTI {
				t.Fatalf("caller %d: %v, %+v", i, errs[i], outs[i])
			}
		}
		if n := xmins(t, jtis...); n != 1 {
			t.Fatalf("%d callers' rows in %d transactions, want 1", len(ins), n)
		}
	})

	t.Run("one refused", func(t *testing.T) {
		ins := [][]store.NewOutboxItem{
			{queue(memberB, "XA-RC:R1", "case.update", "r-0")},
			{queue(memberB, "XA-RC:R1", "case.update", "r-1"), queue(memberB, "XA-RC:R1", "case.update", "taken")},
			{queue(memberB, "XA-RC:R1", "case.update", "r-2")},
			{queue(memberC, "XA-RC:R1", "case.update", "r-3")},
		}
		outs, errs := run(t, ins, nil)
		if !errors.Is(errs[1], store.ErrDuplicate) {
			t.Fatalf("caller with a queued jti: %v, want ErrDuplicate", errs[1])
		}
		for _, i := range []int{0, 2, 3} {
			if errs[i] != nil || len(outs[i]) != 1 {
				t.Fatalf("caller %d: %v, %+v", i, errs[i], outs[i])
			}
			got := must[store.OutboxItem](t)(b.s.GetOutbox(ctx, outs[i][0].ID))
			if got.JTI != ins[i][0].JTI || got.Seq != outs[i][0].Seq {
				t.Fatalf("caller %d: stored %+v, answered %+v", i, got, outs[i][0])
			}
		}
		if rows := must[[]store.OutboxItem](t)(b.s.ListOutbox(ctx, store.OutboxFilter{CaseID: "XA-RC:R1", Limit: 10})); len(rows) != 3 {
			t.Fatalf("%d rows of XA-RC:R1, want 3 (nothing of the refused caller)", len(rows))
		}
	})

	t.Run("gave up", func(t *testing.T) {
		gone, cancel := context.WithCancel(ctx)
		ins := [][]store.NewOutboxItem{
			{queue(memberB, "XA-RC:G3", "case.update", "g-0")},
			{queue(memberB, "XA-RC:G3", "case.update", "g-1")},
			{queue(memberB, "XA-RC:G3", "case.update", "g-2")},
		}
		release, waiting := store.HoldEnqueueGroup(b.s)
		outs, errs := make([][]store.OutboxItem, len(ins)), make([]error, len(ins))
		var wg sync.WaitGroup
		for i := range ins {
			c := ctx
			if i == 1 {
				c = gone
			}
			wg.Go(func() { outs[i], errs[i] = b.s.EnqueueAll(c, ins[i]) })
		}
		for deadline := time.Now().Add(5 * time.Second); waiting() < len(ins); time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%d of %d callers waiting", waiting(), len(ins))
			}
		}
		cancel()
		release()
		wg.Wait()
		if !errors.Is(errs[1], context.Canceled) {
			t.Fatalf("caller that gave up: %v, want context.Canceled", errs[1])
		}
		if errs[0] != nil || errs[2] != nil {
			t.Fatalf("the others: %v, %v", errs[0], errs[2])
		}
		var n int
		if err := b.raw.GetContext(ctx, &n, `SELECT COUNT(*) FROM outbox WHERE jti = 'g-1'`); err != nil || n != 0 {
			t.Fatalf("rows of the caller that gave up: %d (%v), want 0", n, err)
		}
	})
}
