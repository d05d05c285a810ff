package main

import (
	"bytes"
	"context"
	"strings"
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

// TestLatencyStagesForwardSteps: at a --rate, the steps of the
// Node.Forward that queued an envelope (node.StageHook.Forwarded) split
// due -> forward returned, and are printed under it; the tail has them.
func TestLatencyStagesForwardSteps(t *testing.T) {
	due := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(ms int) time.Time { return due.Add(time.Duration(ms) * time.Millisecond) }
	key := federation.ReplayKey("XA-RC", "j1")
	xa := stagesStore{outbox: []store.OutboxItem{{ID: 1, JTI: "j1", State: store.Delivered, CreatedAt: at(40), DeliveredAt: at(90)}}}
	xb := stagesStore{inbox: []store.InboxItem{{ID: 1, JTI: key, ReceivedAt: at(50), ProcessedAt: at(50)}}}
	queued := map[string]queuedAt{"j1": {committed: at(40), due: due}}
	fine := newStageTimes(1)
	fine.forwarded("j1", at(1), at(4), at(10), at(15), at(40))
	fine.attempted("j1", at(40), at(42), at(80))
	fine.stored(key, at(70))
	st, err := latencyStages(t.Context(), xa, xb, queued, fine)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		d    []time.Duration
		want time.Duration
	}{{"the call", st.fwdCall, time.Millisecond}, {"read", st.fwdRead, 3 * time.Millisecond}, {"slot", st.fwdSlot, 6 * time.Millisecond},
		{"judged", st.fwdJudge, 5 * time.Millisecond}, {"transaction", st.fwdCommit, 25 * time.Millisecond}} {
		if got := pct(c.d, 1); got != c.want {
			t.Errorf("%s: %s, want %s", c.name, got, c.want)
		}
	}
	var out bytes.Buffer
	st.print(&out, true)
	for _, want := range []string{"  a slot to be judged (forwardSlots)", "  the group's transaction (commitSendTx)"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("printed stages lack %q:\n%s", want, out.String())
		}
	}
	tl := tailOf(st.traces, 0.99)
	found := false
	for _, r := range tl.rows {
		found = found || (r.name == "  judged: policy, signature" && r.tail == 5*time.Millisecond)
	}
	if !found {
		t.Errorf("the tail lacks the forward's judging: %+v", tl.rows)
	}
}
