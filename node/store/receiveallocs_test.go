package store_test

import (
	"fmt"
	"testing"

	"github.com/familylinks/flx/node/store"
)

// TestReceiveAllAllocs bounds the allocations of storing a batch of 50
// envelopes on PostgreSQL (store.ReceiveAll, one transaction). The bound
// sits between the allocations with the receive times bound as text and
// as a binary timestamptz[] (pgTimes, sql.go): text made pgx fail a
// binary encoding first, formatting all 50 times into an error it threw
// away, then quote each for PostgreSQL to parse.
func TestReceiveAllAllocs(t *testing.T) {
	b := newBackend(t, store.Postgres)
	ctx := t.Context()
	const batch, runs = 50, 20
	batches := make([][]store.ReceiveEntry, runs+1) // AllocsPerRun runs once more, first
	for k := range batches {
		batches[k] = make([]store.ReceiveEntry, batch)
		for i := range batch {
			jti := fmt.Sprintf("jti-%03d-%03d", k, i)
			batches[k][i] = store.ReceiveEntry{Item: envelope(jti, fmt.Sprintf("XB-RC:%03d-%03d", k, i), "a"), Receipt: receipt(jti)}
		}
	}
	k := 0
	allocs := testing.AllocsPerRun(runs, func() {
		got, err := b.s.ReceiveAll(ctx, batches[k])
		k++
		if err != nil || len(got) != batch || got[batch-1].Duplicate {
			t.Fatalf("ReceiveAll = %d results, %v", len(got), err)
		}
	})
	t.Logf("%.0f allocations per batch of %d", allocs, batch)
	if allocs > 1100 { // 1185 with text, 1019 binary (pgx v5.13)
		t.Errorf("%.0f allocations per batch of %d envelopes stored, want at most 1100", allocs, batch)
	}
}

// TestCreateCasesAllocs is TestReceiveAllAllocs for the cases a batch
// applied on receipt creates (store.CreateCases).
func TestCreateCasesAllocs(t *testing.T) {
	b := newBackend(t, store.Postgres)
	ctx := t.Context()
	const batch, runs = 50, 20
	batches := make([][]store.NewCase, runs+1)
	for k := range batches {
		batches[k] = make([]store.NewCase, batch)
		for i := range batch {
			batches[k][i] = newCase(fmt.Sprintf("XB-RC:%03d-%03d", k, i))
		}
	}
	k := 0
	allocs := testing.AllocsPerRun(runs, func() {
		got, err := b.s.CreateCases(ctx, batches[k])
		k++
		if err != nil || len(got.Created) != batch {
			t.Fatalf("CreateCases = %+v, %v", got, err)
		}
	})
	t.Logf("%.0f allocations per batch of %d", allocs, batch)
	if allocs > 700 { // 783 with text, 615 binary (pgx v5.13)
		t.Errorf("%.0f allocations per batch of %d cases created, want at most 700", allocs, batch)
	}
}

// TestAppendAuditAllAllocs is TestReceiveAllAllocs for the audit rows of
// a batch applied on receipt (Tx.AppendAuditAll).
func TestAppendAuditAllAllocs(t *testing.T) {
	b := newBackend(t, store.Postgres)
	ctx := t.Context()
	const batch = 50
	es := make([]store.AuditEntry, batch)
	for i := range es {
		es[i] = store.AuditEntry{Actor: "peer:XA-RC", Action: "inbox.process", Object: fmt.Sprintf("inbox:%d", i), Details: []byte(`{"kind":"case.create"}`)}
	}
	allocs := testing.AllocsPerRun(20, func() {
		if err := b.s.Tx(ctx, func(tx store.Tx) error {
			_, err := tx.AppendAuditAll(ctx, es)
			return err
		}); err != nil {
			t.Fatal(err)
		}
	})
	t.Logf("%.0f allocations per batch of %d", allocs, batch)
	if allocs > 1070 { // 1154 with text, 987 binary (pgx v5.13)
		t.Errorf("%.0f allocations per batch of %d audit rows, want at most 1070", allocs, batch)
	}
}
