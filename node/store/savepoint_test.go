package store_test

import (
	"errors"
	"testing"

	"github.com/familylinks/flx/node/store"
)

// TestReceiveProcessedInSavepoint: rows written processed by ReceiveAll
// inside a savepoint stay processed (a processing error written to one
// with a Received mark) when it is released; when fn fails, even after a
// statement the database refused (which aborts a PostgreSQL transaction),
// the savepoint's writes are gone and the transaction goes on: the rows
// stored again after it are unprocessed and UnprocessedCases names their
// cases.
func TestReceiveProcessedInSavepoint(t *testing.T) {
	tests := []struct {
		name    string
		fail    func(tx store.Tx) error // nil: fn succeeds
		applied bool
	}{
		{name: "released", applied: true},
		{name: "fn fails", fail: func(store.Tx) error { return errors.New("apply failed") }},
		{name: "statement refused", fail: func(tx store.Tx) error {
			_, err := tx.CasesHeld(t.Context(), []string{"nul\x00"})
			return errors.Join(err, errors.New("refused"))
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			withAllStores(t, func(t *testing.T, b *backend) {
				ctx := t.Context()
				es := []store.ReceiveEntry{
					{Item: envelope("jti-1", "XB-RC:0001", "a"), Receipt: receipt("jti-1"), Processed: true},
					{Item: envelope("jti-2", "XB-RC:0002", "a"), Receipt: receipt("jti-2"), Processed: true},
				}
				var ids []int64
				err := b.s.Tx(ctx, func(tx store.Tx) error {
					undone, err := tx.Savepoint(ctx, func() error {
						got, err := tx.ReceiveAll(ctx, es)
						if err != nil {
							return err
						}
						if tc.fail != nil {
							return tc.fail(tx)
						}
						return tx.MarkProcessedAll(ctx, []store.ProcessedMark{{ID: got[0].ID, Received: true}, {ID: got[1].ID, Error: "stale", Received: true}})
					})
					if err != nil || (undone == nil) != (tc.fail == nil) {
						t.Fatalf("Savepoint = %v, %v", undone, err)
					}
					if undone == nil {
						return nil
					}
					for i := range es {
						es[i].Processed = false
					}
					got, err := tx.ReceiveAll(ctx, es)
					if err != nil {
						return err
					}
					for _, r := range got {
						if r.Duplicate || r.Replay != nil {
							t.Fatalf("stored again: %+v", r)
						}
						ids = append(ids, r.ID)
					}
					return nil
				})
				if err != nil {
					t.Fatal(err)
				}
				rows := must[[]store.InboxItem](t)(b.s.ListInbox(ctx, store.InboxFilter{Limit: 10}))
				if len(rows) != 2 {
					t.Fatalf("%d rows", len(rows))
				}
				for i, r := range rows {
					wantErr := ""
					if tc.applied && i == 1 {
						wantErr = "stale"
					}
					if r.ProcessedAt.IsZero() == tc.applied || r.ProcessError != wantErr {
						t.Fatalf("row %d: processed at %v, error %q", i, r.ProcessedAt, r.ProcessError)
					}
				}
				waiting := must[map[string]bool](t)(b.s.UnprocessedCases(ctx, []string{"XB-RC:0001", "XB-RC:0002", "XB-RC:0003"}))
				if len(waiting) != 2 && !tc.applied || len(waiting) != 0 && tc.applied {
					t.Fatalf("UnprocessedCases = %v", waiting)
				}
			})
		})
	}
}
