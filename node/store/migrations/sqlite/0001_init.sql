-- FLX store schema v1 (SQLite). Times are TEXT in one fixed-width UTC form
-- (2006-01-02T15:04:05.000000Z) written by the store, so text comparison is
-- time order. Payloads are opaque BLOBs: the store keeps bytes exactly.

CREATE TABLE cases (
    case_id      TEXT PRIMARY KEY,
    origin       TEXT NOT NULL,
    type         TEXT NOT NULL,
    status       TEXT NOT NULL,
    version      INTEGER NOT NULL CHECK (version >= 1),
    document     BLOB,
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL,
    erased_at    TEXT,
    erase_reason TEXT
);
CREATE INDEX cases_updated_idx ON cases (updated_at, case_id);
CREATE INDEX cases_status_idx ON cases (status, updated_at, case_id);
CREATE INDEX cases_origin_idx ON cases (origin, updated_at, case_id);

CREATE TABLE case_versions (
    case_id    TEXT NOT NULL REFERENCES cases (case_id),
    version    INTEGER NOT NULL,
    status     TEXT NOT NULL,
    document   BLOB,
    created_at TEXT NOT NULL,
    PRIMARY KEY (case_id, version)
);

CREATE TABLE inbox (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    jti           TEXT NOT NULL UNIQUE,
    iss           TEXT NOT NULL,
    aud           TEXT NOT NULL,
    kind          TEXT NOT NULL,
    case_id       TEXT NOT NULL,
    sha256        TEXT NOT NULL,
    envelope      BLOB,
    received_at   TEXT NOT NULL,
    processed_at  TEXT,
    process_error TEXT
);
CREATE INDEX inbox_unprocessed_idx ON inbox (id) WHERE processed_at IS NULL;
CREATE INDEX inbox_case_idx ON inbox (case_id);

CREATE TABLE receipts (
    jti        TEXT PRIMARY KEY REFERENCES inbox (jti),
    status     TEXT NOT NULL,
    receipt    BLOB NOT NULL,
    created_at TEXT NOT NULL
);

CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    destination     TEXT NOT NULL,
    case_id         TEXT NOT NULL,
    case_version    INTEGER,
    kind            TEXT NOT NULL,
    jti             TEXT NOT NULL UNIQUE,
    envelope        BLOB,
    seq             INTEGER NOT NULL,
    state           TEXT NOT NULL CHECK (state IN ('queued', 'in_flight', 'delivered', 'dead', 'cancelled')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,
    lease_until     TEXT,
    claimed_by      TEXT,
    last_error      TEXT,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    delivered_at    TEXT,
    receipt         BLOB,
    UNIQUE (destination, case_id, seq)
);
CREATE INDEX outbox_due_idx ON outbox (next_attempt_at, id) WHERE state IN ('queued', 'in_flight');
-- The per-case ordering check looks only at rows still to deliver.
CREATE INDEX outbox_pending_case_idx ON outbox (destination, case_id, seq) WHERE state NOT IN ('delivered', 'cancelled');
CREATE INDEX outbox_state_idx ON outbox (destination, state);
CREATE INDEX outbox_case_idx ON outbox (case_id);

CREATE TABLE outbox_sequences (
    destination TEXT NOT NULL,
    case_id     TEXT NOT NULL,
    last_seq    INTEGER NOT NULL,
    PRIMARY KEY (destination, case_id)
);

CREATE TABLE disclosures (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    case_id      TEXT NOT NULL,
    member       TEXT NOT NULL,
    kind         TEXT NOT NULL,
    case_version INTEGER,
    outbox_id    INTEGER NOT NULL UNIQUE REFERENCES outbox (id),
    jti          TEXT NOT NULL,
    delivered_at TEXT NOT NULL
);
CREATE INDEX disclosures_case_idx ON disclosures (case_id, member);

CREATE TABLE case_recipients (
    case_id                 TEXT NOT NULL,
    member                  TEXT NOT NULL,
    first_delivered_at      TEXT NOT NULL,
    last_delivered_at       TEXT NOT NULL,
    last_version            INTEGER,
    withdrawal_sent_at      TEXT,
    withdrawal_confirmed_at TEXT,
    PRIMARY KEY (case_id, member)
);

CREATE TABLE policy_decisions (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    case_id     TEXT NOT NULL,
    destination TEXT NOT NULL,
    effect      TEXT NOT NULL,
    decision    TEXT NOT NULL,
    created_at  TEXT NOT NULL
);
CREATE INDEX policy_decisions_case_idx ON policy_decisions (case_id, id);

CREATE TABLE audit_log (
    seq       INTEGER PRIMARY KEY,
    at        TEXT NOT NULL,
    actor     TEXT NOT NULL,
    action    TEXT NOT NULL,
    object    TEXT NOT NULL,
    details   TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash      TEXT NOT NULL
);
CREATE INDEX audit_log_object_idx ON audit_log (object, seq);

CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;

CREATE TABLE manifests (
    version    INTEGER PRIMARY KEY,
    raw        BLOB NOT NULL,
    sha256     TEXT NOT NULL,
    fetched_at TEXT NOT NULL
);
