package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Errors returned (wrapped) by every implementation; test with errors.Is.
var (
	// ErrNotFound: no such case, inbox row, outbox row, receipt, recipient
	// or manifest.
	ErrNotFound = errors.New("store: not found")
	// ErrConflict: the row is not in the state or version the caller
	// expected (optimistic concurrency on a case, an outbox row claimed by
	// someone else, an inbox row already processed, a manifest version that
	// is lower than or differs from the one held).
	ErrConflict = errors.New("store: conflict")
	// ErrDuplicate: the key already exists (case id, outbox jti, manifest
	// version with the same bytes).
	ErrDuplicate = errors.New("store: duplicate")
	// ErrReplay: an envelope jti was already received with other bytes. The
	// error is a *ReplayError.
	ErrReplay = errors.New("store: replay: jti already received with different content")
	// ErrErased: the case (or the payload asked for) was erased.
	ErrErased = errors.New("store: erased")
	// ErrInvalid: the caller passed something the store cannot keep (empty
	// key, bad JSON where JSON is required, bad DSN).
	ErrInvalid = errors.New("store: invalid argument")
	// ErrBusy: SQLite's single writer stayed busy for longer than the
	// writer wait (30s). A Store write called from inside Store.Tx (instead
	// of through the Tx) ends here rather than hanging.
	ErrBusy = errors.New("store: database busy")
)

// ReplayError reports a jti seen before with a different envelope hash.
// errors.Is(err, ErrReplay) is true for it.
type ReplayError struct {
	JTI    string
	Stored string // sha256 hex of the envelope received first
	Got    string // sha256 hex of this envelope
}

func (e *ReplayError) Error() string {
	return fmt.Sprintf("store: replay: jti %q already received with sha256 %s, got %s", e.JTI, e.Stored, e.Got)
}

// Is makes errors.Is(err, ErrReplay) hold.
func (e *ReplayError) Is(target error) bool { return target == ErrReplay }

// Dialect names the database behind a Store.
type Dialect string

const (
	Postgres Dialect = "postgres"
	SQLite   Dialect = "sqlite"
)

// Store is the node's storage. Every method runs in its own transaction
// except Tx, which runs several in one. Implementations are safe for
// concurrent use; a PostgreSQL database may also be shared by several
// processes (node replicas).
type Store interface {
	Queries

	// Tx runs fn in one transaction: committed if fn returns nil, rolled
	// back if it returns an error or panics. Use only the Tx inside fn and
	// not after it returns: a Store write from inside fn waits for fn's own
	// transaction (SQLite: ErrBusy after 30s; PostgreSQL: a lock wait on the
	// same rows). Keep transactions short, and append audit last: on
	// PostgreSQL AppendAudit holds the audit-chain lock until commit.
	Tx(ctx context.Context, fn func(tx Tx) error) error

	// Dialect reports which database this is.
	Dialect() Dialect
	// Ping checks the database answers (health checks).
	Ping(ctx context.Context) error
	// Close releases the connections.
	Close() error
}

// Tx is the set of operations available inside Store.Tx.
type Tx interface {
	Queries
}

// Queries is every data operation, on a Store or inside a Tx.
//
// Times in arguments default to the store's clock when zero and are kept at
// microsecond precision in UTC. A zero time in a result means "not set"
// (NULL).
type Queries interface {
	// CreateCase stores a new case and its first version (NewCase.Version,
	// default 1). ErrDuplicate if the id exists (erased or not).
	CreateCase(ctx context.Context, c NewCase) (Case, error)
	// UpdateCase stores a new version if the case is at u.ExpectedVersion:
	// ErrConflict if it is not, ErrErased if it was erased, ErrNotFound if
	// it does not exist.
	UpdateCase(ctx context.Context, u CaseUpdate) (Case, error)
	// GetCase returns the case with its current document (nil once erased;
	// the tombstone stays).
	GetCase(ctx context.Context, caseID string) (Case, error)
	// GetCaseVersion returns one stored version.
	GetCaseVersion(ctx context.Context, caseID string, version int64) (CaseVersion, error)
	// ListCaseVersions returns every version, oldest first.
	ListCaseVersions(ctx context.Context, caseID string) ([]CaseVersion, error)
	// ListCases pages through cases ordered by (updated_at, case_id).
	ListCases(ctx context.Context, f CaseFilter) (CasePage, error)
	// EraseCase drops the personal data of a case: its document and those of
	// all versions, the envelopes of inbox rows and outbox rows for it;
	// undelivered outbox rows are cancelled unless their kind is in
	// e.KeepPendingKinds (e.g. the case.withdraw to send). The case row
	// stays as a tombstone with erased_at and the reason. Erasing again is
	// harmless. A case id with no case row still gets its inbox/outbox
	// payloads erased; the result says whether a case row was found.
	EraseCase(ctx context.Context, caseID string, e Erasure) (ErasureResult, error)

	// Receive records a received envelope and the receipt answered for it,
	// in one transaction. If the jti is already there with the same sha256
	// it writes nothing and returns Duplicate with the stored receipt; with
	// another sha256 it returns a *ReplayError (ErrReplay). It is the
	// durable replay guard. The store computes the sha256 of item.Envelope;
	// a non-empty item.SHA256 must match it.
	Receive(ctx context.Context, item InboxItem, receipt Receipt) (ReceiveResult, error)
	// GetInbox and GetInboxByJTI return one inbox row with its envelope.
	GetInbox(ctx context.Context, id int64) (InboxItem, error)
	GetInboxByJTI(ctx context.Context, jti string) (InboxItem, error)
	// GetReceipt returns the receipt answered for a received jti.
	GetReceipt(ctx context.Context, jti string) (Receipt, error)
	// ListInbox pages through inbox rows by ascending id.
	ListInbox(ctx context.Context, f InboxFilter) ([]InboxItem, error)
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

	// Enqueue adds an envelope for a destination. Rows for the same
	// (destination, case) are delivered in Enqueue commit order.
	// ErrDuplicate if the jti is already queued.
	Enqueue(ctx context.Context, item NewOutboxItem) (OutboxItem, error)
	// ClaimDue atomically moves up to r.Limit due rows to in_flight with a
	// lease (r.Now + r.Lease) for r.Worker and returns them with their
	// envelopes. Due means queued with next_attempt_at <= now, or in_flight
	// with an expired lease (a crashed worker's rows come back). A row is
	// never returned while an earlier row for the same destination and case
	// is not delivered (or cancelled). Each claim increments Attempts.
	ClaimDue(ctx context.Context, r ClaimRequest) ([]OutboxItem, error)
	// MarkDelivered records the peer's receipt, logs the disclosure and the
	// recipient (and, for WithdrawKind, the withdrawal as sent).
	// Delivering an already delivered row is a no-op.
	MarkDelivered(ctx context.Context, id int64, receipt []byte) error
	// MarkFailed puts a row claimed at attempt back to queued until
	// nextAttemptAt. ErrConflict if the row is no longer in flight at that
	// attempt (delivered, or reclaimed after its lease expired). attempt 0
	// skips the attempt check.
	MarkFailed(ctx context.Context, id int64, attempt int, reason string, nextAttemptAt time.Time) error
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
	ReplaceEnvelope(ctx context.Context, id int64, attempt int, jti string, envelope []byte) error
	// GetOutbox returns one outbox row with its envelope.
	GetOutbox(ctx context.Context, id int64) (OutboxItem, error)
	// ListOutbox pages through outbox rows by ascending id.
	ListOutbox(ctx context.Context, f OutboxFilter) ([]OutboxItem, error)
	// OutboxStats returns counts per destination and state and the oldest
	// undelivered row, for metrics and the operator view.
	OutboxStats(ctx context.Context) ([]DestinationStats, error)
	// DueDestinations lists, sorted, the destinations with a row ClaimDue
	// could take at now (queued and due, or in flight with an expired
	// lease). It reads only the claim indexes, so it stays cheap however
	// many rows were delivered: the deliverer polls it.
	DueDestinations(ctx context.Context, now time.Time) ([]string, error)

	// ListDisclosures returns who received which version of a case when.
	ListDisclosures(ctx context.Context, caseID string) ([]Disclosure, error)
	// ListRecipients returns every member that received a case.
	ListRecipients(ctx context.Context, caseID string) ([]Recipient, error)
	// ConfirmWithdrawal records a recipient's confirmation that it erased
	// the case. ErrNotFound if that member never received it.
	ConfirmWithdrawal(ctx context.Context, caseID, member string, at time.Time) error
	// ListPendingWithdrawals returns recipients whose withdrawal was sent
	// but not confirmed, oldest first.
	ListPendingWithdrawals(ctx context.Context, limit int) ([]Recipient, error)

	// RecordDecision stores a policy decision (JSON, kept as given).
	RecordDecision(ctx context.Context, d Decision) (Decision, error)
	// ListDecisions returns the decisions for a case, oldest first.
	ListDecisions(ctx context.Context, caseID string) ([]Decision, error)

	// AppendAudit appends to the hash-chained audit log. Appends are
	// serialized (also across processes sharing a PostgreSQL database).
	// Details must be JSON without personal data; it is stored compacted.
	AppendAudit(ctx context.Context, e AuditEntry) (AuditRecord, error)
	// ListAudit pages through the audit log by ascending seq.
	ListAudit(ctx context.Context, f AuditFilter) ([]AuditRecord, error)
	// VerifyAudit recomputes the chain and reports the first row that was
	// edited, deleted or reordered. The error is for I/O only.
	VerifyAudit(ctx context.Context) (AuditVerification, error)

	// SaveManifest keeps a fetched federation manifest. ErrDuplicate if
	// that version is held with the same bytes; ErrConflict if it is held
	// with other bytes or a higher version is held.
	SaveManifest(ctx context.Context, m Manifest) error
	// LatestManifest returns the highest version held; ErrNotFound if none.
	LatestManifest(ctx context.Context) (Manifest, error)
	// ListManifests returns up to limit manifests, newest first, without
	// their raw bytes.
	ListManifests(ctx context.Context, limit int) ([]Manifest, error)
}

// Open connects to the database named by dsn, applies pending migrations
// and returns the Store:
//
//	postgres://user@host:5432/db?sslmode=verify-full   (or postgresql://)
//	sqlite:/var/lib/flx/flx.db      (or sqlite:///abs, sqlite:rel.db; the path is literal)
//	file:/var/lib/flx/flx.db?...    (SQLite URI, for URI parameters)
//
// On SQLite the store itself sets WAL, busy_timeout, foreign_keys,
// synchronous=FULL, secure_delete and BEGIN IMMEDIATE. A PostgreSQL DSN must
// set sslmode explicitly (lib/pq's default may change).
func Open(ctx context.Context, dsn string, opts ...Option) (Store, error) {
	o := options{clock: time.Now}
	for _, opt := range opts {
		opt(&o)
	}
	switch {
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		return openPostgres(ctx, dsn, o)
	case strings.HasPrefix(dsn, "sqlite:"), strings.HasPrefix(dsn, "file:"):
		return openSQLite(ctx, dsn, o)
	default:
		return nil, fmt.Errorf("store.Open: DSN must start with postgres://, sqlite: or file: : %w", ErrInvalid)
	}
}

// Option configures Open.
type Option func(*options)

type options struct {
	clock        func() time.Time
	maxOpenConns int
}

// WithClock sets the clock used for timestamps the caller leaves zero.
func WithClock(now func() time.Time) Option {
	return func(o *options) { o.clock = now }
}

// WithMaxOpenConns caps the connection pool (PostgreSQL default 10; SQLite
// default 4: one writer at a time, readers alongside in WAL mode).
func WithMaxOpenConns(n int) Option {
	return func(o *options) { o.maxOpenConns = n }
}
