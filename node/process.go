package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/familylinks/flx/federation"
	"github.com/familylinks/flx/node/store"
	"github.com/familylinks/flx/schema"
)

// runInbox processes stored envelopes until ctx ends: at start (resuming
// after a restart), whenever Receive stores one, and every poll interval
// (rows stored by another process sharing the database).
func (n *Node) runInbox(ctx context.Context) {
	tick := time.NewTicker(n.o.Delivery.PollInterval)
	defer tick.Stop()
	for {
		if err := n.ProcessInbox(ctx); err != nil && ctx.Err() == nil {
			n.log.Error("inbox processing failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-n.kick:
		case <-tick.C:
		}
	}
}

// ProcessInbox processes every unprocessed inbox row once. Rows are
// applied in batches of up to processBatch, each batch in one transaction
// with MarkProcessed (one commit and one audit-chain lock per batch, not per
// row), so a row is applied exactly once even with several processes
// sharing a database: the loser of a race gets a conflict and rolls back.
// A batch that fails as a whole is applied again row by row, each in its
// own transaction, so one row that cannot be applied now holds back no
// other.
func (n *Node) ProcessInbox(ctx context.Context) error {
	n.procMu.Lock()
	defer n.procMu.Unlock()
	var after int64
	for {
		items, err := n.o.Store.ListUnprocessed(ctx, after, processBatch)
		if err != nil {
			return fmt.Errorf("node.ProcessInbox: %w", err)
		}
		if len(items) == 0 {
			return nil
		}
		for start := 0; start < len(items); start += processBatch {
			chunk := items[start:min(start+processBatch, len(items))]
			after = chunk[len(chunk)-1].ID
			if len(chunk) > 1 && n.processAll(ctx, chunk) == nil {
				n.metrics.processedBatch(len(chunk))
				continue
			}
			for _, it := range chunk {
				if err := n.processOne(ctx, it); err != nil {
					// Another replica processed it meanwhile (or created the same
					// case first), or it is to be retried on a later pass.
					if errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrDuplicate) {
						continue
					}
					return err
				}
				n.metrics.processedBatch(1)
			}
		}
	}
}

// processBatch is the most inbox rows applied in one transaction. A batch
// costs about ten statements and one commit whatever its size: under load
// the processor waits on those round trips, not on CPU, so a batch of 200
// applies four received requests of 50 at once.
const processBatch = 200

// processAll applies rows in one transaction: all or none. Their
// processed marks and audit rows are written together (batchTx). The
// transaction, like processOne's, is redoable (store.Redoable: its commit
// does not wait for the disk): a crash that loses it leaves its rows
// unprocessed with every effect they had, and they are processed again.
// Nothing it writes leaves the node before a durable commit after it (a
// claim of what it queued), which makes it durable too.
func (n *Node) processAll(ctx context.Context, items []store.InboxItem) error {
	ctx, err := n.compareQueries(ctx, items)
	if err != nil {
		return err
	}
	confirms := false
	err = n.o.Store.Tx(store.Redoable(ctx), func(tx store.Tx) error {
		var err error
		confirms, err = n.applyAll(ctx, tx, items, false, nil)
		return err
	})
	if err != nil {
		return err
	}
	n.afterApplied(ctx, items, confirms)
	return nil
}

// applyAll applies inbox rows in tx: all or none (the caller rolls back
// on an error). received: the rows were written processed by ReceiveAll
// in tx (ReceiveBatch), so only their processing errors are written.
// held, when not nil, are the cases of the rows held when tx read it
// (store.CaseStates), read again here otherwise. It reports whether a
// confirmation was queued.
func (n *Node) applyAll(ctx context.Context, tx store.Tx, items []store.InboxItem, received bool, held map[string]bool) (confirms bool, err error) {
	bt := &batchTx{Tx: tx, received: received}
	if err := bt.learnNew(ctx, items, held); err != nil {
		return false, err
	}
	for _, it := range items {
		if !bt.createsOnly(it) {
			// Anything else a row does may read the cases created
			// before it in the batch, or erase them: they are written
			// first, with their match-pending marks.
			if err := bt.flushCreates(ctx); err != nil {
				return false, err
			}
		}
		if federation.Kind(it.Kind) != federation.KindCaseCreate {
			// What else a row does may read the processed marks of the
			// rows before it (SupersedeVersions clears the envelopes of
			// processed ones): they are written first.
			if err := bt.flushMarks(ctx); err != nil {
				return false, err
			}
		}
		if bt.done[it.ID] {
			// Processed by a row before it: a relay.forward that an
			// erasure forwarded first (flushRelays).
			continue
		}
		if bt.erased[it.CaseID] {
			// Erased by a row before it: its envelope went too, as it
			// would had the row been read after that row's commit.
			it.Envelope = nil
		}
		c, err := n.processIn(ctx, bt, it)
		if err != nil {
			return false, err
		}
		confirms = confirms || c != nil
	}
	return confirms, bt.flush(ctx)
}

// afterApplied is what follows the commit of applied rows: the claims
// memo forgets them (see federation.Forget), metrics, matching, and the
// delivery of confirmations queued.
func (n *Node) afterApplied(ctx context.Context, items []store.InboxItem, confirms bool) {
	for _, it := range items {
		federation.Forget(it.Envelope) // its claims are not read again
		n.metrics.processed.WithLabelValues(it.Kind).Inc()
		n.matchReceived(ctx, it)
	}
	if confirms {
		n.deliverer.Kick()
	}
}

// processOne applies one inbox row. A permanent problem with the content
// (e.g. an update for an erased case) is recorded as the row's process
// error; a database failure rolls back and is retried later.
func (n *Node) processOne(ctx context.Context, it store.InboxItem) error {
	ctx, err := n.compareQueries(ctx, []store.InboxItem{it})
	if err != nil {
		return err
	}
	var confirm *confirmation
	err = n.o.Store.Tx(store.Redoable(ctx), func(tx store.Tx) error {
		c, err := n.processIn(ctx, tx, it)
		confirm = c
		return err
	})
	if err != nil {
		return err
	}
	federation.Forget(it.Envelope)
	n.metrics.processed.WithLabelValues(it.Kind).Inc()
	n.matchReceived(ctx, it)
	if confirm != nil {
		n.deliverer.Kick()
	}
	return nil
}

// processIn applies one inbox row in tx, marks it processed and audits it.
func (n *Node) processIn(ctx context.Context, tx store.Tx, it store.InboxItem) (*confirmation, error) {
	perr, c, err := n.apply(ctx, tx, it)
	if err != nil {
		return nil, err
	}
	msg := ""
	if perr != nil {
		msg = perr.Error()
	}
	if err := tx.MarkProcessed(ctx, it.ID, msg); err != nil {
		return nil, err
	}
	details := map[string]any{"kind": it.Kind, "inbox_id": it.ID}
	if msg != "" {
		details["process_error"] = msg
	}
	return c, n.audit(ctx, tx, it.Iss, "inbox.process", it.CaseID, details)
}

type confirmation struct{ to string }

// apply does what the envelope asks. perr is a permanent processing error
// kept on the row; err aborts the transaction.
func (n *Node) apply(ctx context.Context, tx store.Tx, it store.InboxItem) (perr error, c *confirmation, err error) {
	if it.Envelope == nil {
		return errors.New("envelope was erased before processing"), nil, nil
	}
	// The envelope was verified on receipt; here only its stored claims
	// and body are read, as receipt parsed them when they are at hand.
	a, ok := n.admitted.take(it.SHA256)
	claims := a.claims
	if !ok {
		if claims, err = federation.ClaimsOf(it.Envelope); err != nil {
			return fmt.Errorf("stored envelope unreadable: %w", err), nil, nil
		}
	}
	switch federation.Kind(it.Kind) {
	case federation.KindCaseCreate, federation.KindCaseUpdate:
		perr := n.applyCase(ctx, tx, it, claims, a.c)
		var dbf dbFailure
		if errors.As(perr, &dbf) {
			return nil, nil, dbf.error
		}
		return perr, nil, nil
	case federation.KindCaseResponse:
		// Kept in the inbox and shown in the case's thread; on a case of
		// ours it may move the status (status.go).
		perr := n.applyResponse(ctx, tx, it, claims)
		var dbf dbFailure
		if errors.As(perr, &dbf) {
			return nil, nil, dbf.error
		}
		return perr, nil, nil
	case federation.KindMessageDeliver:
		// Kept in the inbox; its attached media (verified on receipt) is
		// linked to the case.
		return nil, nil, n.linkReceivedMedia(ctx, tx, it, claims)
	case federation.KindCaseWithdraw:
		return n.applyWithdraw(ctx, tx, it, claims)
	case federation.KindRelayForward:
		perr, kick, err := n.applyRelay(ctx, tx, it)
		if kick {
			return perr, &confirmation{to: it.Iss}, err
		}
		return perr, nil, err
	case federation.KindStatsReport:
		return n.applyStatsReport(ctx, tx, it, claims)
	case federation.KindAuditHead:
		return n.applyAuditHead(ctx, tx, it, claims)
	case federation.KindMatchQuery:
		return n.answerQuery(ctx, tx, it, claims)
	case federation.KindMatchAnswer:
		// Kept in the inbox and listed as candidates (remote ones); a
		// caseworker follows one up through the normal, policy-checked
		// exchange.
		return n.applyMatchAnswer(ctx, tx, it, claims)
	}
	return fmt.Errorf("unsupported kind %s", it.Kind), nil, nil
}

func (n *Node) applyCase(ctx context.Context, tx store.Tx, it store.InboxItem, p federation.Claims, c *schema.Case) error {
	// Validated on receipt (checkEnvelope, for every path into the inbox):
	// decoded there (c) or here, never validated twice.
	var err error
	if c == nil {
		if c, err = n.decodeReceivedCase(p.Body); err != nil {
			return fmt.Errorf("case body: %w", err)
		}
	}
	var cur store.Case
	if bt, ok := tx.(*batchTx); ok && bt.isNew(c.CaseID) {
		err = fmt.Errorf("node: %q is not held: %w", c.CaseID, store.ErrNotFound)
	} else {
		cur, err = tx.GetCase(ctx, c.CaseID)
	}
	switch {
	case errors.Is(err, store.ErrNotFound):
		_, err = tx.CreateCase(ctx, store.NewCase{
			ID: c.CaseID, Origin: it.Iss, Type: string(c.Type), Status: string(c.Status),
			Version: int64(c.Version), Document: p.Body, SearchKeys: n.receivedKeys(p.Body, c),
		})
		if err == nil {
			err = n.markMatchPending(ctx, tx, store.PendingMatch{CaseID: c.CaseID, Version: int64(c.Version)})
		}
		return dbOrNil(err)
	case err != nil:
		return dbErr(err)
	case cur.Erased():
		return n.discardCase(ctx, tx, it, cur)
	case cur.Origin != it.Iss:
		return fmt.Errorf("case belongs to %s", cur.Origin)
	case int64(c.Version) <= cur.Version:
		return fmt.Errorf("stale version %d (holding %d); not applied", c.Version, cur.Version)
	}
	if _, err = tx.UpdateCase(ctx, store.CaseUpdate{
		ID: c.CaseID, ExpectedVersion: cur.Version, Version: int64(c.Version),
		Type: string(c.Type), Status: string(c.Status), Document: p.Body, SearchKeys: n.receivedKeys(p.Body, c),
	}); err != nil {
		return dbErr(err)
	}
	if err := n.markMatchPending(ctx, tx, store.PendingMatch{CaseID: c.CaseID, Version: int64(c.Version)}); err != nil {
		return dbErr(err)
	}
	// What the new version no longer carries must not stay here in an older
	// one (FLX-COR-003): superseded documents and the envelopes that brought
	// them go, their hashes stay.
	_, err = tx.SupersedeVersions(ctx, c.CaseID, store.Supersession{
		Below: int64(c.Version), InboxBefore: it.ID,
		InboxKinds: []string{string(federation.KindCaseCreate), string(federation.KindCaseUpdate)},
	})
	return dbOrNil(err)
}

// discardCase drops a case.create or case.update of a case erased here
// (withdrawn, or never held and withdrawn: the tombstone applyWithdraw
// leaves). It may have been sent before the withdrawal and stored or
// processed after it; its personal data must not stay: the envelope goes
// (its sha256 stays, so a replay is still a duplicate), nothing is stored,
// and the discard is audited. The confirmation of the withdrawal stays
// true.
func (n *Node) discardCase(ctx context.Context, tx store.Tx, it store.InboxItem, cur store.Case) error {
	if err := tx.DropInboxEnvelope(ctx, it.ID); err != nil {
		return dbErr(err)
	}
	if err := n.audit(ctx, tx, it.Iss, "case.discard", it.CaseID, map[string]any{
		"kind": it.Kind, "inbox_id": it.ID, "reason": "case erased here", "erase_reason": cur.EraseReason,
	}); err != nil {
		return dbErr(err)
	}
	return errors.New("case was erased here; the envelope is discarded, not applied")
}

// dbFailure marks database failures so the transaction rolls back instead
// of recording a processing error.
type dbFailure struct{ error }

func dbErr(err error) error { return dbFailure{err} }

func dbOrNil(err error) error {
	if err == nil {
		return nil
	}
	return dbFailure{err}
}

func (n *Node) applyWithdraw(ctx context.Context, tx store.Tx, it store.InboxItem, p federation.Claims) (error, *confirmation, error) {
	w, err := schema.ParseWithdrawal(p.Body)
	if err != nil {
		return fmt.Errorf("withdrawal body: %w", err), nil, nil
	}
	now := n.o.Now()
	if w.IsConfirmation() {
		// A recipient confirms it erased our case. Never confirmed back.
		err := tx.ConfirmWithdrawal(ctx, w.CaseID, it.Iss, now)
		if errors.Is(err, store.ErrNotFound) {
			// When the withdrawal was the first thing delivered to that
			// member, its confirmation can overtake the recording of our
			// receipt (which creates the recipient): retry it later.
			underway, lerr := withdrawalUnderway(ctx, tx, w.CaseID, it.Iss)
			if lerr != nil {
				return nil, nil, lerr
			}
			if underway {
				return nil, nil, fmt.Errorf("node: confirmation from %s came before our withdrawal's receipt was recorded: %w", it.Iss, store.ErrConflict)
			}
			return fmt.Errorf("confirmation from %s, which never received the case", it.Iss), nil, nil
		}
		return nil, nil, err
	}
	if !w.ShouldErase() {
		return nil, nil, nil
	}
	if err := n.flushRelays(ctx, tx, w.CaseID); err != nil {
		return nil, nil, err
	}
	// A case not held gets a tombstone (Origin): a create of it sent before
	// the withdrawal may still be stored or processed after it.
	res, err := tx.EraseCase(ctx, w.CaseID, store.Erasure{Reason: string(w.Reason), At: now, KeepPendingKinds: keepOnErasure, Origin: it.Iss})
	if err != nil {
		return nil, nil, err
	}
	if err := n.eraseCaseMedia(ctx, tx, it.Iss, w.CaseID); err != nil {
		return nil, nil, err
	}
	// As a relay, the recordings of the case it carries for others go too
	// (FLX-MED-019), and so do the origin's chains of the case it can no
	// longer forward (eraseCarried).
	if err := n.eraseCarried(ctx, tx, w.CaseID, it.Iss, w.WholeCase()); err != nil {
		return nil, nil, err
	}
	if err := n.audit(ctx, tx, it.Iss, "case.erase", w.CaseID, map[string]any{
		"reason": w.Reason, "case_found": res.CaseFound, "tombstoned": res.Tombstoned, "versions": res.Versions,
		"inbox_envelopes": res.InboxEnvelopes, "outbox_cancelled": res.OutboxCancelled,
	}); err != nil {
		return nil, nil, err
	}
	conf := schema.Withdrawal{
		Schema: "flx/v1/withdrawal", CaseID: w.CaseID, Reason: w.Reason, WithdrawnAt: w.WithdrawnAt,
		PersonIDs: w.PersonIDs, Confirms: p.JTI, ErasedAt: schema.DateTime(now.UTC().Format(time.RFC3339)),
	}
	body, err := json.Marshal(conf)
	if err != nil {
		return nil, nil, err
	}
	if _, err := n.enqueue(ctx, tx, it.Iss, federation.KindCaseWithdraw, w.CaseID, 0, body); err != nil {
		return nil, nil, err
	}
	return nil, &confirmation{to: it.Iss}, nil
}

// withdrawalUnderway reports whether a case.withdraw of caseID to member is
// queued or in flight (sent, its receipt not yet recorded).
func withdrawalUnderway(ctx context.Context, q store.Queries, caseID, member string) (bool, error) {
	rows, err := q.ListOutbox(ctx, store.OutboxFilter{CaseID: caseID, Destination: member, Limit: 1000})
	if err != nil {
		return false, err
	}
	for _, r := range rows {
		if r.Kind == string(federation.KindCaseWithdraw) && (r.State == store.Queued || r.State == store.InFlight) {
			return true, nil
		}
	}
	return false, nil
}

// batchTx is the transaction of a batch of inbox rows: the cases its
// case.create rows create, their processed marks, match-pending marks and
// audit rows are kept and written in a few set-based statements
// (CreateCases, MarkProcessedAll, MarkMatchPending, AppendAuditAll: the
// audit chain is extended, and its lock taken, once per batch), in the
// order they were made. The cases kept are written before any row that may
// read them (createsOnly); reading the audit log through it writes what
// was kept first.
type batchTx struct {
	store.Tx
	// creates: the new cases kept, written by flushCreates.
	creates []store.NewCase
	marks   []store.ProcessedMark
	audits  []store.AuditEntry
	// pending: the match-pending marks, one per case (the highest version:
	// what MarkMatchPending keeps of several), in the order first made.
	pending   []store.PendingMatch
	pendingAt map[string]int
	// erased: the cases a row of the batch erased (EraseCase erases the
	// envelopes of every inbox row of the case, those of the batch read
	// before included).
	erased map[string]bool
	// fresh: the cases of the batch's case.create rows that were not held
	// when it began, and that no row of it has touched since; applyCase
	// creates them without reading them first.
	fresh map[string]bool
	// done: the rows marked processed in the batch.
	done map[int64]bool
	// received: the rows were written processed in this transaction
	// (ReceiveBatch): their marks write only processing errors.
	received bool
}

// learnNew finds, in one query (none when held, the cases held, was read
// already), which cases of the batch's case.create rows are not held yet.
func (b *batchTx) learnNew(ctx context.Context, items []store.InboxItem, held map[string]bool) error {
	var ids []string
	for _, it := range items {
		if federation.Kind(it.Kind) == federation.KindCaseCreate && it.CaseID != "" {
			ids = append(ids, it.CaseID)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	if held == nil {
		var err error
		if held, err = b.CasesHeld(ctx, ids); err != nil {
			return err
		}
	}
	b.fresh = make(map[string]bool, len(ids))
	for _, id := range ids {
		if !held[id] {
			b.fresh[id] = true
		}
	}
	return nil
}

// isNew reports whether caseID is known not to be held, once: a second
// row of the batch for the same case reads it.
func (b *batchTx) isNew(caseID string) bool {
	if !b.fresh[caseID] {
		return false
	}
	delete(b.fresh, caseID)
	return true
}

// createsOnly reports whether applying it writes nothing but a new case
// (kept), marks and audit rows, and reads nothing: a case.create or
// case.update of a case the batch knows is not held yet (applyCase creates
// it without reading it).
func (b *batchTx) createsOnly(it store.InboxItem) bool {
	k := federation.Kind(it.Kind)
	return (k == federation.KindCaseCreate || k == federation.KindCaseUpdate) && it.CaseID != "" && b.fresh[it.CaseID]
}

// CreateCase keeps a new case of the batch; flushCreates writes it. Only
// cases known not to be held come here from applyCase: a case created
// meanwhile by another process makes flushCreates fail, and the batch is
// applied again row by row.
func (b *batchTx) CreateCase(_ context.Context, c store.NewCase) (store.Case, error) {
	b.creates = append(b.creates, c)
	return store.Case{ID: c.ID, Origin: c.Origin, Type: c.Type, Status: c.Status, Version: c.Version, Document: c.Document}, nil
}

// flushCreates writes the cases kept, with their first versions and search
// keys, and the match-pending marks kept (an erasure later in the batch
// deletes them), in one statement on PostgreSQL.
func (b *batchTx) flushCreates(ctx context.Context) error {
	if len(b.creates) > 0 {
		// The marks go with the cases, in one statement.
		res, err := b.Tx.CreateCasesMarked(ctx, b.creates, b.pending)
		b.creates, b.pending, b.pendingAt = nil, nil, nil
		if err != nil {
			return err
		}
		if len(res.Existing) > 0 {
			return fmt.Errorf("node: case %q was created meanwhile: %w", res.Existing[0], store.ErrDuplicate)
		}
	}
	if len(b.pending) > 0 {
		if err := b.Tx.MarkMatchPending(ctx, b.pending); err != nil {
			return err
		}
		b.pending, b.pendingAt = nil, nil
	}
	return nil
}

func (b *batchTx) EraseCase(ctx context.Context, caseID string, e store.Erasure) (store.ErasureResult, error) {
	if b.erased == nil {
		b.erased = map[string]bool{}
	}
	b.erased[caseID] = true
	// A case not held gets a tombstone: a create of it later in the batch
	// reads it, rather than being kept as new.
	delete(b.fresh, caseID)
	return b.Tx.EraseCase(ctx, caseID, e)
}

func (b *batchTx) MarkProcessed(_ context.Context, id int64, processErr string) error {
	if b.done == nil {
		b.done = map[int64]bool{}
	}
	b.done[id] = true
	b.marks = append(b.marks, store.ProcessedMark{ID: id, Error: processErr, Received: b.received})
	return nil
}

func (b *batchTx) MarkMatchPending(_ context.Context, ps []store.PendingMatch) error {
	if b.pendingAt == nil {
		b.pendingAt = map[string]int{}
	}
	for _, p := range ps {
		if i, ok := b.pendingAt[p.CaseID]; ok {
			b.pending[i].Version = max(b.pending[i].Version, p.Version)
			continue
		}
		b.pendingAt[p.CaseID] = len(b.pending)
		b.pending = append(b.pending, p)
	}
	return nil
}

func (b *batchTx) AppendAudit(_ context.Context, e store.AuditEntry) (store.AuditRecord, error) {
	b.audits = append(b.audits, e)
	return store.AuditRecord{}, nil
}

func (b *batchTx) ListAudit(ctx context.Context, f store.AuditFilter) ([]store.AuditRecord, error) {
	if err := b.flush(ctx); err != nil {
		return nil, err
	}
	return b.Tx.ListAudit(ctx, f)
}

func (b *batchTx) VerifyAudit(ctx context.Context) (store.AuditVerification, error) {
	if err := b.flush(ctx); err != nil {
		return store.AuditVerification{}, err
	}
	return b.Tx.VerifyAudit(ctx)
}

func (b *batchTx) flushMarks(ctx context.Context) error {
	if len(b.marks) == 0 {
		return nil
	}
	err := b.Tx.MarkProcessedAll(ctx, b.marks)
	b.marks = nil
	return err
}

// flush writes what was kept: the cases, the marks, then the audit rows.
func (b *batchTx) flush(ctx context.Context) error {
	if err := b.flushCreates(ctx); err != nil {
		return err
	}
	if err := b.flushMarks(ctx); err != nil {
		return err
	}
	if len(b.audits) == 0 {
		return nil
	}
	_, err := b.Tx.AppendAuditAll(ctx, b.audits)
	b.audits = nil
	return err
}
