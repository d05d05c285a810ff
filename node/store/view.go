package store

import "context"

// ReadOnly returns a View of s that can only read: it forwards the reads
// and holds nothing else, so a caller cannot reach a write even by a type
// assertion. The node gives it to the HTTP layer.
func ReadOnly(s View) View { return readOnly{s} }

type readOnly struct{ s View }

var _ View = readOnly{}

func (r readOnly) GetCase(ctx context.Context, caseID string) (Case, error) {
	return r.s.GetCase(ctx, caseID)
}

func (r readOnly) GetCaseVersion(ctx context.Context, caseID string, version int64) (CaseVersion, error) {
	return r.s.GetCaseVersion(ctx, caseID, version)
}

func (r readOnly) ListCaseVersions(ctx context.Context, caseID string) ([]CaseVersion, error) {
	return r.s.ListCaseVersions(ctx, caseID)
}

func (r readOnly) ListCases(ctx context.Context, f CaseFilter) (CasePage, error) {
	return r.s.ListCases(ctx, f)
}

func (r readOnly) GetInbox(ctx context.Context, id int64) (InboxItem, error) {
	return r.s.GetInbox(ctx, id)
}

func (r readOnly) GetInboxByJTI(ctx context.Context, jti string) (InboxItem, error) {
	return r.s.GetInboxByJTI(ctx, jti)
}

func (r readOnly) GetReceipt(ctx context.Context, jti string) (Receipt, error) {
	return r.s.GetReceipt(ctx, jti)
}

func (r readOnly) ListInbox(ctx context.Context, f InboxFilter) ([]InboxItem, error) {
	return r.s.ListInbox(ctx, f)
}

func (r readOnly) GetOutbox(ctx context.Context, id int64) (OutboxItem, error) {
	return r.s.GetOutbox(ctx, id)
}

func (r readOnly) ListOutbox(ctx context.Context, f OutboxFilter) ([]OutboxItem, error) {
	return r.s.ListOutbox(ctx, f)
}

func (r readOnly) OutboxStats(ctx context.Context) ([]DestinationStats, error) {
	return r.s.OutboxStats(ctx)
}

func (r readOnly) ListPeerBackoff(ctx context.Context) ([]PeerBackoff, error) {
	return r.s.ListPeerBackoff(ctx)
}

func (r readOnly) ListDisclosures(ctx context.Context, caseID string) ([]Disclosure, error) {
	return r.s.ListDisclosures(ctx, caseID)
}

func (r readOnly) ListRecipients(ctx context.Context, caseID string) ([]Recipient, error) {
	return r.s.ListRecipients(ctx, caseID)
}

func (r readOnly) ListPendingWithdrawals(ctx context.Context, limit int) ([]Recipient, error) {
	return r.s.ListPendingWithdrawals(ctx, limit)
}

func (r readOnly) ListDecisions(ctx context.Context, caseID string) ([]Decision, error) {
	return r.s.ListDecisions(ctx, caseID)
}

func (r readOnly) ListAudit(ctx context.Context, f AuditFilter) ([]AuditRecord, error) {
	return r.s.ListAudit(ctx, f)
}

func (r readOnly) VerifyAudit(ctx context.Context) (AuditVerification, error) {
	return r.s.VerifyAudit(ctx)
}

func (r readOnly) LatestManifest(ctx context.Context) (Manifest, error) {
	return r.s.LatestManifest(ctx)
}

func (r readOnly) ListManifests(ctx context.Context, limit int) ([]Manifest, error) {
	return r.s.ListManifests(ctx, limit)
}
