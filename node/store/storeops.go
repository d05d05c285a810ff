package store

import (
	"context"
	"errors"
	"time"
)

// The Store methods: reads go to the pool, each write runs in its own
// transaction (on SQLite, under the single writer).

var (
	_ Store = (*sqlStore)(nil)
	_ Tx    = (*queries)(nil)
)

type none struct{}

func (s *sqlStore) CreateCase(ctx context.Context, c NewCase) (Case, error) {
	return write(ctx, s, func(q *queries) (Case, error) { return q.CreateCase(ctx, c) })
}

func (s *sqlStore) UpdateCase(ctx context.Context, u CaseUpdate) (Case, error) {
	return write(ctx, s, func(q *queries) (Case, error) { return q.UpdateCase(ctx, u) })
}

func (s *sqlStore) SupersedeVersions(ctx context.Context, caseID string, sp Supersession) (SupersessionResult, error) {
	return write(ctx, s, func(q *queries) (SupersessionResult, error) { return q.SupersedeVersions(ctx, caseID, sp) })
}

func (s *sqlStore) LockCase(ctx context.Context, caseID string) (Case, error) {
	return write(ctx, s, func(q *queries) (Case, error) { return q.LockCase(ctx, caseID) })
}

func (s *sqlStore) GetCase(ctx context.Context, caseID string) (Case, error) {
	return s.read().GetCase(ctx, caseID)
}

func (s *sqlStore) GetCaseVersion(ctx context.Context, caseID string, version int64) (CaseVersion, error) {
	return s.read().GetCaseVersion(ctx, caseID, version)
}

func (s *sqlStore) ListCaseVersions(ctx context.Context, caseID string) ([]CaseVersion, error) {
	return s.read().ListCaseVersions(ctx, caseID)
}

func (s *sqlStore) ListCases(ctx context.Context, f CaseFilter) (CasePage, error) {
	return s.read().ListCases(ctx, f)
}

func (s *sqlStore) EraseCase(ctx context.Context, caseID string, e Erasure) (ErasureResult, error) {
	return write(ctx, s, func(q *queries) (ErasureResult, error) { return q.EraseCase(ctx, caseID, e) })
}

func (s *sqlStore) PurgeTombstones(ctx context.Context, before time.Time) (int64, error) {
	return write(ctx, s, func(q *queries) (int64, error) { return q.PurgeTombstones(ctx, before) })
}

func (s *sqlStore) Receive(ctx context.Context, item InboxItem, receipt Receipt) (ReceiveResult, error) {
	return write(ctx, s, func(q *queries) (ReceiveResult, error) { return q.Receive(ctx, item, receipt) })
}

func (s *sqlStore) ReceiveAll(ctx context.Context, es []ReceiveEntry) ([]ReceiveResult, error) {
	return write(ctx, s, func(q *queries) ([]ReceiveResult, error) { return q.ReceiveAll(ctx, es) })
}

func (s *sqlStore) RememberBundle(ctx context.Context, r BundleRecord) (bool, error) {
	return write(ctx, s, func(q *queries) (bool, error) { return q.RememberBundle(ctx, r) })
}

func (s *sqlStore) PurgeBundles(ctx context.Context, before time.Time) (int64, error) {
	return write(ctx, s, func(q *queries) (int64, error) { return q.PurgeBundles(ctx, before) })
}

func (s *sqlStore) GetInbox(ctx context.Context, id int64) (InboxItem, error) {
	return s.read().GetInbox(ctx, id)
}

func (s *sqlStore) GetInboxByJTI(ctx context.Context, jti string) (InboxItem, error) {
	return s.read().GetInboxByJTI(ctx, jti)
}

func (s *sqlStore) GetReceipt(ctx context.Context, jti string) (Receipt, error) {
	return s.read().GetReceipt(ctx, jti)
}

func (s *sqlStore) ListInbox(ctx context.Context, f InboxFilter) ([]InboxItem, error) {
	return s.read().ListInbox(ctx, f)
}

func (s *sqlStore) ListUnprocessed(ctx context.Context, afterID int64, limit int) ([]InboxItem, error) {
	return s.read().ListUnprocessed(ctx, afterID, limit)
}

func (s *sqlStore) MarkProcessed(ctx context.Context, id int64, processErr string) error {
	_, err := write(ctx, s, func(q *queries) (none, error) { return none{}, q.MarkProcessed(ctx, id, processErr) })
	return err
}

func (s *sqlStore) Enqueue(ctx context.Context, item NewOutboxItem) (OutboxItem, error) {
	if s.dialect == Postgres {
		// One statement there (enqueuePG): atomic without BEGIN and COMMIT.
		return (&queries{s: s, x: s.db}).Enqueue(ctx, item)
	}
	return write(ctx, s, func(q *queries) (OutboxItem, error) { return q.Enqueue(ctx, item) })
}

func (s *sqlStore) ClaimDue(ctx context.Context, r ClaimRequest) ([]OutboxItem, error) {
	if s.dialect == Postgres {
		// One statement there (claimPG): atomic without BEGIN and COMMIT.
		items, err := (&queries{s: s, x: s.db}).ClaimDue(ctx, r)
		s.claimedRows(len(items))
		return items, err
	}
	return write(ctx, s, func(q *queries) ([]OutboxItem, error) { return q.ClaimDue(ctx, r) })
}

// MarkDeliveredAll and MarkDelivered commit without waiting for the WAL
// flush (Redoable): a record of receipts lost in a crash leaves its rows in
// flight, sent again after their lease and answered duplicate by jti.
func (s *sqlStore) MarkDeliveredAll(ctx context.Context, ds []DeliveredRow) error {
	if uniq := firstReceipts(ds); s.dialect == Postgres && len(uniq) <= deliverChunk {
		// One statement there (markDeliveredPG), atomic by itself and
		// redoable through set_config: one round trip, not four (BEGIN,
		// SET LOCAL, the statement, COMMIT).
		if len(uniq) == 0 {
			return nil
		}
		return (&queries{s: s, x: s.db}).markDeliveredPG(ctx, uniq, s.now(time.Time{}), true)
	}
	ctx = Redoable(ctx)
	_, err := write(ctx, s, func(q *queries) (none, error) { return none{}, q.MarkDeliveredAll(ctx, ds) })
	return err
}

func (s *sqlStore) SavePeerBackoff(ctx context.Context, b PeerBackoff) error {
	_, err := write(ctx, s, func(q *queries) (none, error) { return none{}, q.SavePeerBackoff(ctx, b) })
	return err
}

func (s *sqlStore) RetryDestination(ctx context.Context, destination string) (int64, error) {
	return write(ctx, s, func(q *queries) (int64, error) { return q.RetryDestination(ctx, destination) })
}

func (s *sqlStore) ListPeerBackoff(ctx context.Context) ([]PeerBackoff, error) {
	return s.read().ListPeerBackoff(ctx)
}

func (s *sqlStore) MarkDelivered(ctx context.Context, id int64, receipt []byte) error {
	if s.dialect == Postgres {
		// The one statement of MarkDeliveredAll: one round trip, not
		// seven (BEGIN, SET LOCAL, a read, three writes, COMMIT).
		return s.MarkDeliveredAll(ctx, []DeliveredRow{{ID: id, Receipt: receipt}})
	}
	ctx = Redoable(ctx)
	_, err := write(ctx, s, func(q *queries) (none, error) { return none{}, q.MarkDelivered(ctx, id, receipt) })
	return err
}

func (s *sqlStore) MarkFailed(ctx context.Context, id int64, attempt int, reason string, next time.Time) error {
	_, err := write(ctx, s, func(q *queries) (none, error) {
		return none{}, q.MarkFailed(ctx, id, attempt, reason, next)
	})
	return s.answeredCancelled(ctx, id, attempt, err)
}

func (s *sqlStore) Unclaim(ctx context.Context, id int64, attempt int) error {
	_, err := write(ctx, s, func(q *queries) (none, error) { return none{}, q.Unclaim(ctx, id, attempt) })
	return s.answeredCancelled(ctx, id, attempt, err)
}

func (s *sqlStore) MarkDead(ctx context.Context, id int64, attempt int, reason string) error {
	_, err := write(ctx, s, func(q *queries) (none, error) { return none{}, q.MarkDead(ctx, id, attempt, reason) })
	return s.answeredCancelled(ctx, id, attempt, err)
}

// answeredCancelled handles the conflict of an attempt's result with a row
// an erasure cancelled meanwhile: the row's lease ends (releaseCancelled),
// in a transaction of its own, and the conflict is still returned.
func (s *sqlStore) answeredCancelled(ctx context.Context, id int64, attempt int, err error) error {
	if !errors.Is(err, ErrConflict) {
		return err
	}
	if _, rerr := write(ctx, s, func(q *queries) (none, error) { return none{}, q.releaseCancelled(ctx, id, attempt) }); rerr != nil {
		return rerr
	}
	return err
}

func (s *sqlStore) Requeue(ctx context.Context, id int64) error {
	_, err := write(ctx, s, func(q *queries) (none, error) { return none{}, q.Requeue(ctx, id) })
	return err
}

func (s *sqlStore) ReplaceEnvelope(ctx context.Context, id int64, attempt int, jti string, envelope []byte) error {
	_, err := write(ctx, s, func(q *queries) (none, error) {
		return none{}, q.ReplaceEnvelope(ctx, id, attempt, jti, envelope)
	})
	return err
}

func (s *sqlStore) ReplaceOwnEnvelope(ctx context.Context, id int64, attempt int, jti string, envelope []byte, expiresAt time.Time) error {
	_, err := write(ctx, s, func(q *queries) (none, error) {
		return none{}, q.ReplaceOwnEnvelope(ctx, id, attempt, jti, envelope, expiresAt)
	})
	return err
}

func (s *sqlStore) GetOutbox(ctx context.Context, id int64) (OutboxItem, error) {
	return s.read().GetOutbox(ctx, id)
}

func (s *sqlStore) ListOutbox(ctx context.Context, f OutboxFilter) ([]OutboxItem, error) {
	return s.read().ListOutbox(ctx, f)
}

func (s *sqlStore) DueDestinations(ctx context.Context, now time.Time) ([]string, error) {
	return s.read().DueDestinations(ctx, now)
}

func (s *sqlStore) OutboxStats(ctx context.Context) ([]DestinationStats, error) {
	return s.read().OutboxStats(ctx)
}

func (s *sqlStore) ListDisclosures(ctx context.Context, caseID string) ([]Disclosure, error) {
	return s.read().ListDisclosures(ctx, caseID)
}

func (s *sqlStore) ListRecipients(ctx context.Context, caseID string) ([]Recipient, error) {
	return s.read().ListRecipients(ctx, caseID)
}

func (s *sqlStore) ConfirmWithdrawal(ctx context.Context, caseID, member string, at time.Time) error {
	_, err := write(ctx, s, func(q *queries) (none, error) {
		return none{}, q.ConfirmWithdrawal(ctx, caseID, member, at)
	})
	return err
}

func (s *sqlStore) ListPendingWithdrawals(ctx context.Context, limit int) ([]Recipient, error) {
	return s.read().ListPendingWithdrawals(ctx, limit)
}

func (s *sqlStore) RecordDecision(ctx context.Context, d Decision) (Decision, error) {
	return write(ctx, s, func(q *queries) (Decision, error) { return q.RecordDecision(ctx, d) })
}

func (s *sqlStore) ListDecisions(ctx context.Context, caseID string) ([]Decision, error) {
	return s.read().ListDecisions(ctx, caseID)
}

func (s *sqlStore) AppendAudit(ctx context.Context, e AuditEntry) (AuditRecord, error) {
	return write(ctx, s, func(q *queries) (AuditRecord, error) { return q.AppendAudit(ctx, e) })
}

func (s *sqlStore) ListAudit(ctx context.Context, f AuditFilter) ([]AuditRecord, error) {
	return s.read().ListAudit(ctx, f)
}

func (s *sqlStore) VerifyAudit(ctx context.Context) (AuditVerification, error) {
	return s.read().VerifyAudit(ctx)
}

func (s *sqlStore) SaveManifest(ctx context.Context, m Manifest) error {
	_, err := write(ctx, s, func(q *queries) (none, error) { return none{}, q.SaveManifest(ctx, m) })
	return err
}

func (s *sqlStore) LatestManifest(ctx context.Context) (Manifest, error) {
	return s.read().LatestManifest(ctx)
}

func (s *sqlStore) ListManifests(ctx context.Context, limit int) ([]Manifest, error) {
	return s.read().ListManifests(ctx, limit)
}

func (s *sqlStore) UnprocessedCases(ctx context.Context, caseIDs []string) (map[string]bool, error) {
	return s.read().UnprocessedCases(ctx, caseIDs)
}

func (s *sqlStore) CaseStates(ctx context.Context, caseIDs []string) (CaseStates, error) {
	return s.read().CaseStates(ctx, caseIDs)
}
