package store

import (
	"encoding/json"
	"time"
)

// Case is a tracing case as stored: its index fields and the current
// document. The document is opaque bytes (the node validates it).
type Case struct {
	ID        string
	Origin    string // member that owns the case
	Type      string
	Status    string
	Version   int64
	Document  []byte // nil when erased, or when a listing left it out
	CreatedAt time.Time
	UpdatedAt time.Time
	// ErasedAt is set on a tombstone: the personal data is gone.
	ErasedAt    time.Time
	EraseReason string
}

// Erased reports whether the case is a tombstone.
func (c Case) Erased() bool { return !c.ErasedAt.IsZero() }

// CaseHead is a case as GetCaseHeads reads it: Document nil, and the
// SHA-256 of the document held (zero when there is none: a tombstone).
type CaseHead struct {
	Case
	DocumentSHA256 [32]byte
}

// NeverHeld reports whether the case is the tombstone of a withdrawal of a
// case this node never held (Erasure.Origin): no type, no version, no
// document ever. It is there only to discard a late create or update of
// the case (PurgeTombstones).
func (c Case) NeverHeld() bool { return c.Erased() && c.Type == "" }

// NewCase is the input of CreateCase.
type NewCase struct {
	ID       string
	Origin   string
	Type     string
	Status   string
	Version  int64 // first version; 1 when zero (a received case keeps the origin's number)
	Document []byte
	At       time.Time // created_at; store clock when zero
	// SearchKeys are the search index entries of the document (see
	// SearchCases); none when nil. Each is 1 to 200 bytes of a-z, 0-9, '_'
	// and '-' (one term of the full-text index): others are ErrInvalid.
	SearchKeys []string
}

// CaseUpdate is the input of UpdateCase.
type CaseUpdate struct {
	ID              string
	ExpectedVersion int64 // the version the caller read
	Version         int64 // new version; ExpectedVersion+1 when zero; must be greater
	Type            string
	Status          string
	Document        []byte
	At              time.Time
	// SearchKeys replace the case's search index entries (none when nil).
	SearchKeys []string
	// Source is what made this version when not a caseworker's edit, e.g.
	// "inbox:<jti>" of the response that moved the status; kept with the
	// version.
	Source string
}

// CaseVersion is one stored version of a case.
type CaseVersion struct {
	CaseID    string
	Version   int64
	Status    string
	Document  []byte // nil once erased or superseded at a receiver
	CreatedAt time.Time
	// SHA256 is the hex SHA-256 of the document, kept when a superseded
	// version's document was dropped (SupersedeVersions).
	SHA256 string
	Source string // see CaseUpdate.Source; "" for an edit
}

// Supersession describes a SupersedeVersions.
type Supersession struct {
	// Below: versions lower than this one lose their document.
	Below int64
	// InboxBefore and InboxKinds: processed inbox rows of the case with a
	// lower id and one of these kinds lose their envelope.
	InboxBefore int64
	InboxKinds  []string
}

// SupersessionResult counts what SupersedeVersions dropped.
type SupersessionResult struct {
	Versions       int64
	InboxEnvelopes int64
}

// CaseFilter selects cases for ListCases. Empty fields match everything.
type CaseFilter struct {
	Status       string
	Type         string
	Origin       string
	UpdatedSince time.Time // updated_at >= UpdatedSince
	// IncludeErased also returns tombstones of cases held here; never
	// those of cases never held (Case.NeverHeld), which are no case of
	// this node.
	IncludeErased bool
	// IncludeDocuments fills Case.Document (off: listings stay small).
	IncludeDocuments bool
	// Cursor continues a previous page (CasePage.Next).
	Cursor string
	// Limit defaults to 100 and is capped at 1000.
	Limit int
}

// CasePage is one page of ListCases. Next is empty on the last page.
type CasePage struct {
	Cases []Case
	Next  string
}

// Erasure describes an EraseCase.
type Erasure struct {
	Reason string    // e.g. consent_withdrawn, retention_expired, erasure_request
	At     time.Time // erased_at; store clock when zero
	// KeepPendingKinds lists outbox kinds whose undelivered rows keep
	// their envelope and stay queued (typically "case.withdraw", which
	// carries no personal data and must still reach the recipients).
	KeepPendingKinds []string
	// Origin, when set, is the origin of the case, on whose withdrawal a
	// receiver erases it. With no case row here, a tombstone is written
	// for the case (no document: type empty, status closed_withdrawn,
	// version 1), so that a case.create or case.update of it processed
	// later finds it erased and is not stored: it may have been sent before
	// the withdrawal and be stored or processed after it. The tombstone and
	// a case's creation conflict on the case id, so they cannot both
	// happen: ErrConflict if the case was created meanwhile (erase again).
	Origin string
}

// ErasureResult counts what EraseCase touched.
type ErasureResult struct {
	CaseFound       bool
	Tombstoned      bool  // no case row was here: a tombstone was written (Erasure.Origin)
	Versions        int64 // case versions whose document was dropped
	InboxEnvelopes  int64 // inbox rows whose envelope was dropped
	OutboxEnvelopes int64 // outbox rows whose envelope was dropped
	OutboxCancelled int64 // of those, undelivered rows now cancelled
	Matches         int64 // candidate matches naming the case, deleted
	HeldDocuments   int64 // responses and messages held for review, dropped
}

// InboxItem is a received envelope.
type InboxItem struct {
	ID           int64
	JTI          string
	Iss          string
	Aud          string
	Kind         string
	CaseID       string
	SHA256       string // lowercase hex of Envelope
	Envelope     []byte // nil once the case was erased, or when a listing left it out
	ReceivedAt   time.Time
	ProcessedAt  time.Time
	ProcessError string
}

// Receipt is the signed receipt answered for a received envelope.
type Receipt struct {
	JTI       string // filled by Receive from the inbox item
	Status    string // accepted | duplicate
	Raw       []byte
	CreatedAt time.Time
}

// ReceiveResult is the outcome of Receive.
type ReceiveResult struct {
	ID int64 // inbox row id (new or existing)
	// Duplicate: the same envelope was received before; nothing was
	// written and ExistingReceipt is the receipt stored then.
	Duplicate       bool
	ExistingReceipt []byte
	// Replay (ReceiveAll only): the jti was received before with other
	// bytes; nothing was written for this envelope.
	Replay *ReplayError
}

// ReceiveEntry is one envelope of ReceiveAll and the receipt answered for
// it.
type ReceiveEntry struct {
	Item    InboxItem
	Receipt Receipt
	// Processed writes the row as already processed (at its received_at,
	// without error): the caller applies it in the same transaction
	// (node.ReceiveBatch), so no UPDATE marks it afterwards. A
	// processing error found then is written with a ProcessedMark whose
	// Received is set.
	Processed bool
}

// InboxFilter selects inbox rows for ListInbox.
type InboxFilter struct {
	Iss    string
	Kind   string
	CaseID string
	// State: "" (all), "unprocessed", "processed" (without error),
	// "failed" (processed with error).
	State           string
	AfterID         int64
	Limit           int // default 100, max 1000
	IncludeEnvelope bool
}

// OutboxState is the delivery state of an outbox row.
type OutboxState string

const (
	Queued    OutboxState = "queued"
	InFlight  OutboxState = "in_flight"
	Delivered OutboxState = "delivered"
	Dead      OutboxState = "dead"      // gave up; an operator may Requeue
	Cancelled OutboxState = "cancelled" // the case was erased before delivery
)

// DefaultLease is how long a claimed row stays in flight before another
// worker may claim it again. A delivery attempt (HTTP timeout included) must
// finish well within it.
const DefaultLease = 2 * time.Minute

// OutboxItem is an envelope queued for a destination.
type OutboxItem struct {
	ID            int64
	Destination   string
	CaseID        string
	CaseVersion   int64 // 0 when not a case version
	Kind          string
	JTI           string
	Envelope      []byte // nil once erased, or when a listing left it out
	Seq           int64  // order within (Destination, CaseID)
	State         OutboxState
	Attempts      int
	NextAttemptAt time.Time
	LeaseUntil    time.Time
	ClaimedBy     string
	LastError     string
	CreatedAt     time.Time
	UpdatedAt     time.Time
	DeliveredAt   time.Time
	Receipt       []byte
	Discloses     bool // see NewOutboxItem
	Withdraws     bool
	OwnExpiresAt  time.Time // see NewOutboxItem; zero when not known
}

// NewOutboxItem is the input of Enqueue.
type NewOutboxItem struct {
	Destination string
	CaseID      string
	CaseVersion int64
	Kind        string
	JTI         string
	Envelope    []byte
	NotBefore   time.Time // first attempt; now when zero
	At          time.Time // created_at; store clock when zero
	// What MarkDelivered records, as the caller decides (the store does not
	// interpret kinds): Discloses logs a disclosure of the case to the
	// destination and makes it one of the case's recipients; Withdraws
	// records the case's withdrawal as sent to it (ListPendingWithdrawals).
	Discloses bool
	Withdraws bool
	// OwnExpiresAt is the exp of Envelope when it is the node's own
	// envelope as signed (not a relay.forward, not a receipt), so that a
	// sender can tell it needs no re-signing without parsing it. Zero when
	// it is not (or not known): the envelope is then parsed.
	OwnExpiresAt time.Time
}

// ClaimRequest is the input of ClaimDue.
type ClaimRequest struct {
	Worker      string        // recorded as claimed_by
	Now         time.Time     // store clock when zero
	Limit       int           // default 10, max 1000
	Destination string        // only this destination when set
	Lease       time.Duration // DefaultLease when zero
}

// OutboxFilter selects outbox rows for ListOutbox.
type OutboxFilter struct {
	Destination string
	State       OutboxState
	// Pending lists queued and in-flight rows in one read (State must be
	// empty): a row moving between the two while the caller reads state
	// by state could be missed by both reads.
	Pending         bool
	CaseID          string
	AfterID         int64
	Limit           int // default 100, max 1000
	IncludeEnvelope bool
}

// DestinationStats is the outbox of one destination at a glance.
type DestinationStats struct {
	Destination string
	Queued      int64
	InFlight    int64
	Delivered   int64
	Dead        int64
	Cancelled   int64
	// OldestPending is the created_at of the oldest queued or in-flight
	// row (zero when none): its age is the delivery lag.
	OldestPending time.Time
}

// Disclosure records that a member received something about a case.
type Disclosure struct {
	ID          int64
	CaseID      string
	Member      string
	Kind        string
	CaseVersion int64
	OutboxID    int64
	JTI         string
	DeliveredAt time.Time
}

// Recipient is a member that received a case, with the withdrawal state.
type Recipient struct {
	CaseID                string
	Member                string
	FirstDeliveredAt      time.Time
	LastDeliveredAt       time.Time
	LastVersion           int64
	WithdrawalSentAt      time.Time
	WithdrawalConfirmedAt time.Time
}

// Decision is a stored policy decision.
type Decision struct {
	ID          int64
	CaseID      string
	Destination string
	Effect      string          // allow | allow_with_redactions | deny
	Decision    json.RawMessage // the full decision, kept as given
	CreatedAt   time.Time
}

// AuditEntry is the input of AppendAudit. It must hold no personal data.
type AuditEntry struct {
	Actor   string // who: user, token name, member id, "system"
	Action  string // what: case.create, outbox.requeue, ...
	Object  string // on what: a case id, outbox id, ...
	Details json.RawMessage
	At      time.Time
}

// AuditRecord is a row of the audit log.
type AuditRecord struct {
	Seq      int64
	At       time.Time
	Actor    string
	Action   string
	Object   string
	Details  json.RawMessage
	PrevHash string // hex
	Hash     string // hex sha256(prev_hash || canonical row)
}

// AuditFilter selects audit rows for ListAudit.
type AuditFilter struct {
	Actor    string
	Action   string
	Object   string
	AfterSeq int64
	Limit    int // default 100, max 1000
}

// AuditVerification is the result of VerifyAudit.
type AuditVerification struct {
	Rows int64 // rows checked
	// FirstBadSeq is the seq at which the chain breaks (0: intact). For a
	// deleted row it is the seq that is missing.
	FirstBadSeq int64
	Problem     string // what is wrong at FirstBadSeq
	Head        string // hash of the last row (anchor it elsewhere to detect truncation)
}

// OK reports an intact chain.
func (v AuditVerification) OK() bool { return v.FirstBadSeq == 0 }

// Manifest is a federation manifest as fetched.
type Manifest struct {
	Version   int64
	Raw       []byte // nil in ListManifests
	SHA256    string // hex; computed by the store when empty
	FetchedAt time.Time
}

// PeerBackoff is the delivery backoff of one destination that failed
// (node/delivery rests it until NextAttemptAt), kept across restarts.
type PeerBackoff struct {
	Destination   string
	Failures      int       // consecutive failed rounds
	NextAttemptAt time.Time // nothing is sent before
	LastError     string    // short reason label (e.g. "unreachable", "http_503")
	UpdatedAt     time.Time
}

// DeliveredRow is one row of MarkDeliveredAll: the outbox row and the
// peer's receipt for it.
type DeliveredRow struct {
	ID      int64
	Receipt []byte
}
