package store

import (
	"context"
	"time"
)

// The store's operations, grouped by role. Each consumer asks for the
// roles it needs, not the whole Store (after Dendrite's
// federationapi/storage/tables): delivery takes the outbox it claims from,
// node/trust the manifests, the local API a read-only View. Every role is
// implemented by the Store (each call its own transaction) and by the Tx
// inside Store.Tx.
//
// Times in arguments default to the store's clock when zero and are kept at
// microsecond precision in UTC. A zero time in a result means "not set"
// (NULL).
//
// Adding an operation:
//  1. declare it in the role of its consumer below (a read in the role's
//     XxxReader, so that View has it; a new consumer may get a new role, then
//     added to Queries, and its reader to View);
//  2. implement it once on *queries (queries_*.go or the role's file): it
//     then runs inside a Tx;
//  3. add its Store form to storeops.go (reads on the pool, writes in their
//     own transaction); for a read, forward it in readOnly (view.go): the
//     compiler insists, since readOnly must implement View;
//  4. test it in the store suite, which runs on SQLite and PostgreSQL.
//
// Keep rules of the domain (what a kind means, who may see what) in package
// node: the store keeps bytes and facts the node decided.

// Queries is every data operation, on a Store or inside a Tx.
type Queries interface {
	Cases
	CaseSearch
	CaseImport
	Inbox
	Outbox
	Disclosures
	Decisions
	Audit
	Manifests
	Media
	Coordination
	Matches
	Tokens
	Witness
	Idempotency
}

// View is every read and nothing else: what the HTTP layer gets (see
// ReadOnly). Changes go through the node's operations.
type View interface {
	CaseReader
	CaseSearchReader
	InboxReader
	OutboxReader
	DisclosureReader
	DecisionReader
	AuditReader
	ManifestReader
	MediaReader
	CoordinationReader
	TokenReader
	WitnessReader
	MatchReader
}

// CaseReader reads tracing cases.
type CaseReader interface {
	// GetCase returns the case with its current document (nil once erased;
	// the tombstone stays).
	GetCase(ctx context.Context, caseID string) (Case, error)
	// GetCaseVersion returns one stored version.
	GetCaseVersion(ctx context.Context, caseID string, version int64) (CaseVersion, error)
	// ListCaseVersions returns every version, oldest first.
	ListCaseVersions(ctx context.Context, caseID string) ([]CaseVersion, error)
	// ListCases pages through cases ordered by (updated_at, case_id).
	ListCases(ctx context.Context, f CaseFilter) (CasePage, error)
}

// Cases keeps tracing cases and their versions.
type Cases interface {
	CaseReader
	// CasesHeld returns which of caseIDs have a case row here (erased
	// ones included), in one query: a batch learns which of its cases are
	// new without reading each.
	CasesHeld(ctx context.Context, caseIDs []string) (map[string]bool, error)
	// GetCases is GetCase for several cases, in one query: the cases
	// held, by id (an id not held is absent; erased ones are there as
	// tombstones).
	GetCases(ctx context.Context, caseIDs []string) (map[string]Case, error)
	// GetCaseHeads is GetCases without the documents, each with the
	// SHA-256 of its document instead: a reader that holds a document
	// already (decoded) learns whether it is the one stored without
	// reading it again.
	GetCaseHeads(ctx context.Context, caseIDs []string) (map[string]CaseHead, error)
	// CreateCase stores a new case and its first version (NewCase.Version,
	// default 1). ErrDuplicate if the id exists (erased or not).
	CreateCase(ctx context.Context, c NewCase) (Case, error)
	// UpdateCase stores a new version if the case is at u.ExpectedVersion:
	// ErrConflict if it is not, ErrErased if it was erased, ErrNotFound if
	// it does not exist.
	UpdateCase(ctx context.Context, u CaseUpdate) (Case, error)
	// SupersedeVersions drops what a receiver must not keep once a newer
	// version of a case is applied: the documents of older versions (their
	// SHA-256 stays) and the envelopes of processed inbox rows that carried
	// them (their sha256 stays, so replay detection holds).
	SupersedeVersions(ctx context.Context, caseID string, s Supersession) (SupersessionResult, error)
	// LockCase returns the case (its tombstone once erased) and, inside a
	// Tx, holds it until commit: everything that queues about a case and
	// its withdrawal take this lock first, so that they are serialised per
	// case (a forward that read the case before a withdrawal cannot queue
	// after it). Row lock on PostgreSQL; SQLite's single writer already
	// serialises write transactions. ErrNotFound if there is no case row.
	LockCase(ctx context.Context, caseID string) (Case, error)
	// LockCaseHeads is LockCase for several cases, in case-id order, each
	// without its document (Document nil); a case id with no case row is
	// absent from the map.
	LockCaseHeads(ctx context.Context, caseIDs []string) (map[string]Case, error)
	// GetCasesQueued reads, for each (case, destination) of keys, the
	// case and whether the outbox holds a row of kind about it for the
	// destination that is not cancelled, in one read: out[i] for keys[i],
	// its Case zero (ID "") when there is no case row.
	GetCasesQueued(ctx context.Context, keys []CaseDest, kind string) ([]CaseQueued, error)
	// EraseCase drops the personal data of a case: its document and those of
	// all versions, the envelopes of inbox rows and outbox rows for it;
	// undelivered outbox rows are cancelled unless their kind is in
	// e.KeepPendingKinds (e.g. the case.withdraw to send). The case row
	// stays as a tombstone with erased_at and the reason; candidate matches
	// naming the case are deleted. Erasing again is
	// harmless. A case id with no case row still gets its inbox/outbox
	// payloads erased, and a tombstone when e.Origin is set; the result
	// says whether a case row was found.
	EraseCase(ctx context.Context, caseID string, e Erasure) (ErasureResult, error)
	// PurgeTombstones deletes the tombstones of cases never held here
	// (Case.NeverHeld) erased before before, except those of a case with
	// an inbox row not yet processed (a late create the tombstone must
	// still discard), and returns how many went. Tombstones of cases held
	// here stay: they are the case's record.
	PurgeTombstones(ctx context.Context, before time.Time) (int64, error)
}

// InboxReader reads received envelopes and their receipts.
type InboxReader interface {
	// GetInbox and GetInboxByJTI return one inbox row with its envelope.
	GetInbox(ctx context.Context, id int64) (InboxItem, error)
	GetInboxByJTI(ctx context.Context, jti string) (InboxItem, error)
	// GetReceipt returns the receipt answered for a received jti.
	GetReceipt(ctx context.Context, jti string) (Receipt, error)
	// ListInbox pages through inbox rows by ascending id.
	ListInbox(ctx context.Context, f InboxFilter) ([]InboxItem, error)
}

// Inbox keeps received envelopes: the durable replay guard and the queue of
// the inbox processor.
type Inbox interface {
	InboxReader
	// Receive records a received envelope and the receipt answered for it,
	// in one transaction. If the jti is already there with the same sha256
	// it writes nothing and returns Duplicate with the stored receipt; with
	// another sha256 it returns a *ReplayError (ErrReplay). It is the
	// durable replay guard. The store computes the sha256 of item.Envelope;
	// a non-empty item.SHA256 must match it.
	Receive(ctx context.Context, item InboxItem, receipt Receipt) (ReceiveResult, error)
	// ReceiveAll is Receive for each entry, in one transaction and a few
	// set-based statements (a batch): result i is entry i's, a replay
	// reported in its Replay rather than as the error, which is for the
	// whole call (then nothing was written).
	ReceiveAll(ctx context.Context, es []ReceiveEntry) ([]ReceiveResult, error)
	// ListUnprocessed returns rows not yet processed with id > afterID, in
	// id order, with envelopes: the processor resumes from it after a
	// restart. A row whose case was erased before it was processed has a
	// nil Envelope; mark it processed with an error.
	ListUnprocessed(ctx context.Context, afterID int64, limit int) ([]InboxItem, error)
	// MarkProcessed records that an inbox row was processed, with the
	// permanent error if processing failed (empty = success). ErrConflict
	// if it was already processed: in a Tx with the case change this makes
	// processing exactly-once even with several processors.
	MarkProcessed(ctx context.Context, id int64, processErr string) error
	// MarkProcessedAll is MarkProcessed for several rows (a batch applied
	// in one transaction), set-based: all are marked, or ErrNotFound /
	// ErrConflict (also for a row named twice) and the caller rolls back.
	MarkProcessedAll(ctx context.Context, ms []ProcessedMark) error
	// UnprocessedCases returns which of caseIDs have an inbox row not yet
	// processed: a received envelope of such a case is not applied before
	// it (node.ReceiveBatch keeps the per-case order).
	UnprocessedCases(ctx context.Context, caseIDs []string) (map[string]bool, error)
	// CaseStates is UnprocessedCases and CasesHeld in one query: what a
	// received batch reads of its cases before it is stored and applied
	// (node.ReceiveBatch), one round trip rather than two.
	CaseStates(ctx context.Context, caseIDs []string) (CaseStates, error)
	// RememberBundle records an imported carried bundle's replay record
	// (FLX-BDL-005): its exporter and jti with the SHA-256 of its signed
	// plaintext, kept until PurgeBundles removes it. When the (Iss, JTI) is
	// already recorded it writes nothing and returns dup true for the same
	// sha256 (the bundle again, or another copy of it), or a *ReplayError
	// (ErrReplay) for another.
	RememberBundle(ctx context.Context, r BundleRecord) (dup bool, err error)
	// PurgeBundles deletes the bundle replay records whose ExpiresAt is
	// before before and returns how many went.
	PurgeBundles(ctx context.Context, before time.Time) (int64, error)
}

// CaseStates is what CaseStates tells of each case asked about.
type CaseStates struct {
	// Unprocessed: the cases with an inbox row not yet processed.
	Unprocessed map[string]bool
	// Held: the cases with a case row here (erased ones included).
	Held map[string]bool
}

// OutboxReader reads the outbox.
type OutboxReader interface {
	// GetOutbox returns one outbox row with its envelope.
	GetOutbox(ctx context.Context, id int64) (OutboxItem, error)
	// ListOutbox pages through outbox rows by ascending id.
	ListOutbox(ctx context.Context, f OutboxFilter) ([]OutboxItem, error)
	// OutboxStats returns counts per destination and state and the oldest
	// undelivered row, for metrics and the operator view.
	OutboxStats(ctx context.Context) ([]DestinationStats, error)
	// ListPeerBackoff returns the destinations that rest after failures,
	// by destination.
	ListPeerBackoff(ctx context.Context) ([]PeerBackoff, error)
}

// Outbox keeps envelopes to deliver: queued by the node, claimed and
// recorded by node/delivery.
type Outbox interface {
	OutboxReader
	// Enqueue adds an envelope for a destination. Rows for the same
	// (destination, case) are delivered in Enqueue commit order.
	// ErrDuplicate if the jti is already queued.
	Enqueue(ctx context.Context, item NewOutboxItem) (OutboxItem, error)
	// ListCasesOutbox lists the outbox rows of kinds (every kind if none)
	// of each (case, destination) of keys, without their envelopes, by id:
	// one read for a group of sends.
	ListCasesOutbox(ctx context.Context, keys []CaseDest, kinds []string) ([]OutboxItem, error)
	// EnqueueAll is Enqueue for several envelopes in a few set-based
	// statements (a list queued at once); rows of one (destination, case)
	// are delivered in the order given. ErrDuplicate if a jti is already
	// queued or named twice: all are queued or none.
	EnqueueAll(ctx context.Context, items []NewOutboxItem) ([]OutboxItem, error)
	// DueDestinations lists, sorted, the destinations with a row ClaimDue
	// could take at now (queued and due, or in flight with an expired
	// lease). It reads only the claim indexes, so it stays cheap however
	// many rows were delivered: the deliverer polls it.
	DueDestinations(ctx context.Context, now time.Time) ([]string, error)
	// ClaimDue atomically moves up to r.Limit due rows to in_flight with a
	// lease (r.Now + r.Lease) for r.Worker and returns them with their
	// envelopes. Due means queued with next_attempt_at <= now, or in_flight
	// with an expired lease (a crashed worker's rows come back). A row is
	// never returned while an earlier row for the same destination and case
	// is not delivered (or cancelled). Each claim increments Attempts.
	ClaimDue(ctx context.Context, r ClaimRequest) ([]OutboxItem, error)
	// MarkDelivered records the peer's receipt and what the row was queued
	// to record (NewOutboxItem.Discloses: the disclosure and the recipient;
	// Withdraws: the withdrawal as sent). Delivering an already delivered
	// row is a no-op.
	MarkDelivered(ctx context.Context, id int64, receipt []byte) error
	// MarkDeliveredAll is MarkDelivered for several rows in one
	// transaction (a batch answered by a peer): all are recorded or none.
	MarkDeliveredAll(ctx context.Context, ds []DeliveredRow) error
	// SavePeerBackoff records a destination's backoff (node/delivery, after
	// each change); Failures 0 clears it (the destination is healthy).
	SavePeerBackoff(ctx context.Context, b PeerBackoff) error
	// RetryDestination makes every queued row to destination due now (the
	// operator's "retry now") and returns how many it moved.
	RetryDestination(ctx context.Context, destination string) (int64, error)
	// MarkFailed puts a row claimed at attempt back to queued until
	// nextAttemptAt. ErrConflict if the row is no longer in flight at that
	// attempt (delivered, or reclaimed after its lease expired). attempt 0
	// skips the attempt check.
	MarkFailed(ctx context.Context, id int64, attempt int, reason string, nextAttemptAt time.Time) error
	// Unclaim puts a row claimed at attempt (>= 1) and never sent back in
	// the queue as it was before that claim: its Attempts one less, its
	// NextAttemptAt and LastError untouched (a claim does not change them),
	// so a claim that sent nothing costs no attempt, no backoff and no step
	// towards the dead letter. ErrConflict as MarkFailed (and a row an
	// erasure cancelled meanwhile has its lease ended, as there);
	// ErrInvalid for attempt < 1.
	Unclaim(ctx context.Context, id int64, attempt int) error
	// MarkDead stops retrying a row (dead letter). Same attempt rule as
	// MarkFailed; a queued row can be killed with attempt 0.
	MarkDead(ctx context.Context, id int64, attempt int, reason string) error
	// Requeue puts a dead row back in the queue, due now, with attempts
	// reset. ErrConflict unless dead; ErrErased if its envelope was erased.
	Requeue(ctx context.Context, id int64) error
	// ReplaceEnvelope swaps the envelope and jti of a row in flight at
	// attempt for a re-signed one (an envelope about to expire: the same
	// claims with a new jti, iat and exp). Destination, case, kind and seq
	// stay, so per-case order holds. ErrConflict unless the row is in flight
	// at that attempt with its envelope (delivered, reclaimed after its
	// lease, cancelled or erased meanwhile); ErrDuplicate if another row has
	// that jti; ErrInvalid for attempt < 1 or an empty jti or envelope.
	// The row's OwnExpiresAt becomes zero: the envelope is parsed again.
	ReplaceEnvelope(ctx context.Context, id int64, attempt int, jti string, envelope []byte) error
	// ReplaceOwnEnvelope is ReplaceEnvelope for the node's own envelope as
	// signed, whose exp (expiresAt, required) the row keeps as its
	// OwnExpiresAt.
	ReplaceOwnEnvelope(ctx context.Context, id int64, attempt int, jti string, envelope []byte, expiresAt time.Time) error
}

// DisclosureReader reads who received what about a case.
type DisclosureReader interface {
	// ListDisclosures returns who received which version of a case when.
	ListDisclosures(ctx context.Context, caseID string) ([]Disclosure, error)
	// ListRecipients returns every member that received a case.
	ListRecipients(ctx context.Context, caseID string) ([]Recipient, error)
	// ListPendingWithdrawals returns recipients whose withdrawal was sent
	// but not confirmed, oldest first.
	ListPendingWithdrawals(ctx context.Context, limit int) ([]Recipient, error)
}

// Disclosures keeps the disclosure log and the withdrawal state of each
// recipient (written by MarkDelivered and ConfirmWithdrawal).
type Disclosures interface {
	DisclosureReader
	// ConfirmWithdrawal records a recipient's confirmation that it erased
	// the case. ErrNotFound if that member never received it.
	ConfirmWithdrawal(ctx context.Context, caseID, member string, at time.Time) error
}

// DecisionReader reads policy decisions.
type DecisionReader interface {
	// ListDecisions returns the decisions for a case, oldest first.
	ListDecisions(ctx context.Context, caseID string) ([]Decision, error)
	// ListHeldDocuments returns the responses and messages waiting for
	// review (state HeldWaiting), oldest first, without their documents.
	ListHeldDocuments(ctx context.Context, limit int) ([]HeldDocument, error)
	// ListReviewCases returns the cases, not erased, that have a decision
	// with effect needs_review (held then, perhaps decided since).
	ListReviewCases(ctx context.Context, limit int) ([]string, error)
}

// Decisions keeps the policy decisions taken on what was (or was not) sent.
type Decisions interface {
	DecisionReader
	// RecordDecision stores a policy decision (JSON, kept as given).
	RecordDecision(ctx context.Context, d Decision) (Decision, error)
	// RecordDecisions stores several decisions in the order given (their
	// ids ascending in that order), as RecordDecision one by one would.
	RecordDecisions(ctx context.Context, ds []Decision) ([]Decision, error)
	// RecordSentDocument records a message or response sent by its own id
	// (ErrDuplicate if (doc id, destination, kind) is recorded).
	RecordSentDocument(ctx context.Context, d SentDocument) error
	// SentDocument finds what RecordSentDocument recorded (ErrNotFound).
	SentDocument(ctx context.Context, docID, destination, kind string) (SentDocument, error)
	// UpdateSentDocument rewrites the decision, outbox row, jti and state
	// of a recorded document (an approved review); ErrNotFound.
	UpdateSentDocument(ctx context.Context, d SentDocument) error
	// DeleteSentDocument forgets a recorded document (a rejected review:
	// it may be submitted again).
	DeleteSentDocument(ctx context.Context, docID, destination, kind string) error
	// RecordHeldDocument keeps a response or message held for review by
	// its decision, in the transaction that records the decision.
	RecordHeldDocument(ctx context.Context, h HeldDocument) error
	// HeldDocument finds a held document by its decision (ErrNotFound).
	HeldDocument(ctx context.Context, decisionID int64) (HeldDocument, error)
	// ResolveHeldDocument ends the wait (HeldSent, HeldRejected,
	// HeldDenied, or HeldAgain: the caller keeps the document under a new
	// decision) and drops the document's bytes, keeping its hash.
	// ErrConflict if it is no longer held, ErrNotFound.
	ResolveHeldDocument(ctx context.Context, decisionID int64, state string, at time.Time) error
}

// AuditReader reads and checks the audit log.
type AuditReader interface {
	// ListAudit pages through the audit log by ascending seq.
	ListAudit(ctx context.Context, f AuditFilter) ([]AuditRecord, error)
	// VerifyAudit recomputes the chain and reports the first row that was
	// edited, deleted or reordered. The error is for I/O only.
	VerifyAudit(ctx context.Context) (AuditVerification, error)
}

// Audit keeps the hash-chained audit log.
type Audit interface {
	AuditReader
	// AppendAudit appends to the hash-chained audit log. Appends are
	// serialized (also across processes sharing a PostgreSQL database).
	// Details must be JSON without personal data; it is stored compacted.
	AppendAudit(ctx context.Context, e AuditEntry) (AuditRecord, error)
	// AppendAuditAll appends entries in order as AppendAudit would one by
	// one, with one lock and one read of the chain's head (a batch).
	AppendAuditAll(ctx context.Context, es []AuditEntry) ([]AuditRecord, error)
}

// ManifestReader reads the federation manifests held.
type ManifestReader interface {
	// LatestManifest returns the highest version held; ErrNotFound if none.
	LatestManifest(ctx context.Context) (Manifest, error)
	// ListManifests returns up to limit manifests, newest first, without
	// their raw bytes.
	ListManifests(ctx context.Context, limit int) ([]Manifest, error)
}

// Manifests keeps the federation manifests fetched (the last good one
// survives restarts).
type Manifests interface {
	ManifestReader
	// SaveManifest keeps a fetched federation manifest. ErrDuplicate if
	// that version is held with the same bytes; ErrConflict if it is held
	// with other bytes or a higher version is held.
	SaveManifest(ctx context.Context, m Manifest) error
}
