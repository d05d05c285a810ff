package main

import (
	"context"
	"testing"
	"time"

	"github.com/familylinks/flx/federation"
	"github.com/familylinks/flx/node/store"
)

// stagesStore serves latencyStages its reads: the delivered outbox rows
// (XA-RC) or the inbox rows (XB-RC), one page.
type stagesStore struct {
	store.Store
	outbox []store.OutboxItem
	inbox  []store.InboxItem
}

func (s stagesStore) ListOutbox(_ context.Context, f store.OutboxFilter) ([]store.OutboxItem, error) {
	if f.AfterID > 0 {
		return nil, nil
	}
	return s.outbox, nil
}

func (s stagesStore) ListInbox(_ context.Context, f store.InboxFilter) ([]store.InboxItem, error) {
	if f.AfterID > 0 {
		return nil, nil
	}
	return s.inbox, nil
}

// TestLatencyStagesProcessedAtCommit: XB-RC stamps processed_at with
// received_at, before the transaction that stores and processes an
// envelope; when the node tells when that transaction committed, the end
// to end figure (due -> processed) counts to the commit, not to the stamp.
func TestLatencyStagesProcessedAtCommit(t *testing.T) {
	due := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	forwarded := due.Add(10 * time.Millisecond)
	received := due.Add(20 * time.Millisecond)
	committed := due.Add(45 * time.Millisecond)
	delivered := due.Add(60 * time.Millisecond)
	key := federation.ReplayKey("XA-RC", "j1")
	xa := stagesStore{outbox: []store.OutboxItem{{ID: 1, JTI: "j1", State: store.Delivered, CreatedAt: forwarded, DeliveredAt: delivered}}}
	xb := stagesStore{inbox: []store.InboxItem{{ID: 1, JTI: key, ReceivedAt: received, ProcessedAt: received}}}
	queued := map[string]queuedAt{"j1": {committed: forwarded, due: due}}

	fine := newStageTimes(1)
	fine.attempted("j1", forwarded, forwarded.Add(time.Millisecond), committed.Add(5*time.Millisecond))
	fine.stored(key, committed)
	st, err := latencyStages(t.Context(), xa, xb, queued, fine)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := pct(st.endToEnd, 1), committed.Sub(due); got != want {
		t.Errorf("due -> processed %s, want %s (to XB-RC's commit)", got, want)
	}
	if got, want := pct(st.process, 1), committed.Sub(received); got != want {
		t.Errorf("received -> processed %s, want %s", got, want)
	}

	// Without the nodes' word (flx serve children: --kill), processed_at.
	st, err = latencyStages(t.Context(), xa, xb, queued, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := pct(st.endToEnd, 1), received.Sub(due); got != want {
		t.Errorf("without the stage hook: due -> processed %s, want %s (processed_at)", got, want)
	}
}
