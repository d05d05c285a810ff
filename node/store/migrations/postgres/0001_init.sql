-- FLX store schema v1 (PostgreSQL). Times are TIMESTAMPTZ written by the
-- store at microsecond precision in UTC. Payloads (documents, envelopes,
-- receipts, manifests) are opaque BYTEA: the store keeps bytes exactly.

CREATE TABLE cases (
    case_id      TEXT PRIMARY KEY,
    origin       TEXT NOT NULL,
    type         TEXT NOT NULL,
    status       TEXT NOT NULL,
    version      BIGINT NOT NULL CHECK (version >= 1),
    document     BYTEA,              -- NULL once erased
    created_at   TIMESTAMPTZ NOT NULL,
    updated_at   TIMESTAMPTZ NOT NULL,
    erased_at    TIMESTAMPTZ,        -- tombstone
    erase_reason TEXT
);
CREATE INDEX cases_updated_idx ON cases (updated_at, case_id);
CREATE INDEX cases_status_idx ON cases (status, updated_at, case_id);
CREATE INDEX cases_origin_idx ON cases (origin, updated_at, case_id);

CREATE TABLE case_versions (
    case_id    TEXT NOT NULL REFERENCES cases (case_id),
    version    BIGINT NOT NULL,
    status     TEXT NOT NULL,
    document   BYTEA,                -- NULL once erased
    created_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (case_id, version)
);

CREATE TABLE inbox (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    jti           TEXT NOT NULL UNIQUE, -- durable replay guard
    iss           TEXT NOT NULL,
    aud           TEXT NOT NULL,
    kind          TEXT NOT NULL,
    case_id       TEXT NOT NULL,
    sha256        TEXT NOT NULL,        -- hex, of the envelope bytes
    envelope      BYTEA,                -- NULL once the case is erased
    received_at   TIMESTAMPTZ NOT NULL,
    processed_at  TIMESTAMPTZ,
    process_error TEXT
);
CREATE INDEX inbox_unprocessed_idx ON inbox (id) WHERE processed_at IS NULL;
CREATE INDEX inbox_case_idx ON inbox (case_id);

CREATE TABLE receipts (
    jti        TEXT PRIMARY KEY REFERENCES inbox (jti),
    status     TEXT NOT NULL,
    receipt    BYTEA NOT NULL,
    created_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE outbox (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    destination     TEXT NOT NULL,
    case_id         TEXT NOT NULL,
    case_version    BIGINT,
    kind            TEXT NOT NULL,
    jti             TEXT NOT NULL UNIQUE,
    envelope        BYTEA,           -- NULL once the case is erased
    seq             BIGINT NOT NULL, -- order within (destination, case_id)
    state           TEXT NOT NULL CHECK (state IN ('queued', 'in_flight', 'delivered', 'dead', 'cancelled')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMPTZ NOT NULL,
    lease_until     TIMESTAMPTZ,
    claimed_by      TEXT,
    last_error      TEXT,
    created_at      TIMESTAMPTZ NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL,
    delivered_at    TIMESTAMPTZ,
    receipt         BYTEA,
    UNIQUE (destination, case_id, seq)
);
CREATE INDEX outbox_due_idx ON outbox (next_attempt_at, id) WHERE state IN ('queued', 'in_flight');
-- The per-case ordering check looks only at rows still to deliver.
CREATE INDEX outbox_pending_case_idx ON outbox (destination, case_id, seq) WHERE state NOT IN ('delivered', 'cancelled');
CREATE INDEX outbox_state_idx ON outbox (destination, state);
CREATE INDEX outbox_case_idx ON outbox (case_id);

-- Next seq per (destination, case_id). The upsert's row lock makes
-- concurrent enqueuers for one case commit in seq order.
CREATE TABLE outbox_sequences (
    destination TEXT NOT NULL,
    case_id     TEXT NOT NULL,
    last_seq    BIGINT NOT NULL,
    PRIMARY KEY (destination, case_id)
);

-- Disclosure log: one row per delivered outbox row (who received what when).
CREATE TABLE disclosures (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    case_id      TEXT NOT NULL,
    member       TEXT NOT NULL,
    kind         TEXT NOT NULL,
    case_version BIGINT,
    outbox_id    BIGINT NOT NULL UNIQUE REFERENCES outbox (id),
    jti          TEXT NOT NULL,
    delivered_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX disclosures_case_idx ON disclosures (case_id, member);

-- Every member that received a case, and the withdrawal state there.
CREATE TABLE case_recipients (
    case_id                 TEXT NOT NULL,
    member                  TEXT NOT NULL,
    first_delivered_at      TIMESTAMPTZ NOT NULL,
    last_delivered_at       TIMESTAMPTZ NOT NULL,
    last_version            BIGINT,
    withdrawal_sent_at      TIMESTAMPTZ,
    withdrawal_confirmed_at TIMESTAMPTZ,
    PRIMARY KEY (case_id, member)
);

CREATE TABLE policy_decisions (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    case_id     TEXT NOT NULL,
    destination TEXT NOT NULL,
    effect      TEXT NOT NULL,
    decision    TEXT NOT NULL,   -- JSON text, kept byte for byte
    created_at  TIMESTAMPTZ NOT NULL
);
CREATE INDEX policy_decisions_case_idx ON policy_decisions (case_id, id);

-- Tamper-evident audit log: hash = sha256(prev_hash || canonical row).
-- details is TEXT (not JSONB) so the hashed bytes come back unchanged.
CREATE TABLE audit_log (
    seq       BIGINT PRIMARY KEY,
    at        TIMESTAMPTZ NOT NULL,
    actor     TEXT NOT NULL,
    action    TEXT NOT NULL,
    object    TEXT NOT NULL,
    details   TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash      TEXT NOT NULL
);
CREATE INDEX audit_log_object_idx ON audit_log (object, seq);

-- Append-only at the database level too (defence in depth; the hash chain
-- is what detects an owner who disables these).
CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only';
END
$$;
CREATE TRIGGER audit_log_no_update BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();

CREATE TABLE manifests (
    version    BIGINT PRIMARY KEY,
    raw        BYTEA NOT NULL,
    sha256     TEXT NOT NULL,
    fetched_at TIMESTAMPTZ NOT NULL
);
