package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/familylinks/flx/node/store"
)

// TestIdempotencyKeys: the first request under a key runs, a second one
// finds it running, then its answer; keys are per scope; an abandoned key
// runs again; an expired record is replaced.
func TestIdempotencyKeys(t *testing.T) {
	withAllStores(t, func(t *testing.T, b *backend) {
		ctx := context.Background()
		t0 := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
		req := store.IdempotentRequest{Scope: "ida", Key: "k1", RequestHash: "h1", At: t0, ExpiredBefore: t0.Add(-24 * time.Hour)}
		begin := func(r store.IdempotentRequest) (store.IdempotentRecord, bool) {
			t.Helper()
			rec, fresh, err := b.s.BeginIdempotent(ctx, r)
			if err != nil {
				t.Fatal(err)
			}
			return rec, fresh
		}
		if _, fresh := begin(req); !fresh {
			t.Fatal("first request not fresh")
		}
		if rec, fresh := begin(req); fresh || rec.Status != 0 || rec.RequestHash != "h1" {
			t.Fatalf("while running: fresh %v, %+v", fresh, rec)
		}
		other := req
		other.Scope = "omar"
		if _, fresh := begin(other); !fresh {
			t.Fatal("a key of another scope is not fresh")
		}
		ans := store.IdempotentAnswer{Status: 201, Headers: `{"Location":"/x"}`, Body: []byte(`{"id":1}`)}
		mustErr(t, b.s.FinishIdempotent(ctx, "ida", "k1", ans), nil)
		mustErr(t, b.s.FinishIdempotent(ctx, "ida", "k1", ans), store.ErrNotFound)
		rec, fresh := begin(req)
		if fresh || rec.Status != 201 || rec.Headers != ans.Headers || string(rec.Body) != `{"id":1}` {
			t.Fatalf("after finish: fresh %v, %+v", fresh, rec)
		}
		mustErr(t, b.s.AbandonIdempotent(ctx, "omar", "k1"), nil)
		if _, fresh := begin(other); !fresh {
			t.Fatal("abandoned key not fresh again")
		}
		mustErr(t, b.s.AbandonIdempotent(ctx, "ida", "k1"), nil) // a finished record stays
		if rec, _ := begin(req); rec.Status != 201 {
			t.Fatalf("finished record abandoned: %+v", rec)
		}
		later := req
		later.RequestHash, later.At, later.ExpiredBefore = "h2", t0.Add(25*time.Hour), t0.Add(time.Hour)
		if _, fresh := begin(later); !fresh {
			t.Fatal("expired record not replaced")
		}
		_, _, err := b.s.BeginIdempotent(ctx, store.IdempotentRequest{Scope: "ida"})
		mustErr(t, err, store.ErrInvalid)
	})
}
