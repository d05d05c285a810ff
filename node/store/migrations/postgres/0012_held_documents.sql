-- A response or message the data-protection policy held for review, kept
-- until an operator approves it (it is then judged again and queued) or
-- rejects it, or the case is erased. The document is NULL once resolved
-- or erased: only its hash is kept.
CREATE TABLE held_documents (
    decision_id BIGINT PRIMARY KEY,
    case_id     TEXT NOT NULL,
    destination TEXT NOT NULL,
    kind        TEXT NOT NULL,
    doc_id      TEXT NOT NULL,
    sha256      TEXT NOT NULL,
    document    BYTEA,
    state       TEXT NOT NULL,   -- held | sent | rejected | denied | erased
    created_at  TIMESTAMPTZ NOT NULL,
    resolved_at TIMESTAMPTZ
);
CREATE INDEX held_documents_case ON held_documents (case_id);
CREATE INDEX held_documents_state ON held_documents (state, decision_id);
