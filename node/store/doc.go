// Package store is the FLX node's durable state: tracing cases and their
// versions, the inbox of received envelopes with their receipts (the
// durable replay guard), the outbox of envelopes to deliver, the disclosure
// and withdrawal log, policy decisions, the tamper-evident audit log and the
// federation manifest history.
//
// Its operations are grouped in role interfaces, one per consumer (Cases,
// Inbox, Outbox, Disclosures, Decisions, Audit, Manifests, each with its
// reader; roles.go says how to add one): a consumer takes the roles it
// needs, and the HTTP layer a read-only View (ReadOnly). The Store is their
// union with transactions; it has two implementations over sqlx: PostgreSQL (pgx's
// database/sql driver, for production and for several node replicas sharing
// one database; lib/pq only creates and drops databases) and
// SQLite (modernc.org/sqlite, pure Go, the embedded default). Open picks one
// from the DSN scheme and applies the embedded per-dialect migrations. SQL is
// written once with ? placeholders and Rebind; only DDL and the outbox claim
// (FOR UPDATE SKIP LOCKED) differ by dialect. Store.Tx runs several writes in
// one transaction (store envelope + inbox row + receipt + apply case;
// create case + decision + enqueue + audit).
//
// PostgreSQL is reached through pgx (stdlib mode) rather than lib/pq,
// measured with flx bench exchange on the same machine, back to back: 4.5
// ms against 6.6 ms of CPU per exchanged envelope in total, PostgreSQL's
// share 2.1 ms against 3.6 ms. lib/pq sends every statement with arguments
// as an unnamed prepare plus an execute (two round trips, parsed and
// planned each time) and hex-encodes every bytea; pgx caches prepared
// statements per connection and sends bytea in binary.
//
// On PostgreSQL the batch writes of the hot path (EnqueueAll, ClaimDue,
// MarkDeliveredAll, ReceiveAll, CreateCases, MarkProcessedAll,
// AppendAuditAll, the match-pending marks, GetCases, CasesHeld,
// CaseStates, and a group of forwards' LockCaseHeads, ListCasesOutbox and
// RecordDecisions) bind their rows as arrays (unnest, = ANY) and chain dependent writes in
// data-modifying CTEs: one statement text whatever the batch size, so the
// cached prepared statement is parsed and planned once per connection (a
// VALUES list or IN list of n rows is a new statement for every new n),
// and one round trip per operation (CaseStates and CreateCasesMarked are
// two operations in one, for a received batch; an audit append is one
// statement, flx_audit_append, with the chain's lock: the lock is held for
// it and the commit only). SQLite keeps the multi-row forms.
// Reads of a set of keys whose plan must not become a scan of a young
// table (LockCaseHeads, ListCasesOutbox) probe each key in a LATERAL
// subquery.
//
// The store keeps bytes and strings: documents, envelopes, receipts and
// manifests are opaque to it and come back byte for byte, and it applies no
// rule of the domain (what a kind means, what counts as a disclosure): the
// node decides and the store records what it was told. So it
// must never import federation, policy, schema or conformance, nor the
// node's HTTP packages (the federation and local APIs); the node imports
// it, never the other way round.
package store
