-- What a caseworker sent, by the document's own id (a message_id or
-- response_id, which belongs to this member): the same document submitted
-- twice to the same member is one send, answered with the first result.
CREATE TABLE sent_documents (
    doc_id      TEXT NOT NULL,
    destination TEXT NOT NULL,
    kind        TEXT NOT NULL,
    case_id     TEXT NOT NULL,
    sha256      TEXT NOT NULL,
    decision_id INTEGER NOT NULL,
    outbox_id   INTEGER NOT NULL,
    jti         TEXT NOT NULL,
    state       TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    PRIMARY KEY (doc_id, destination, kind)
);
CREATE INDEX sent_documents_case ON sent_documents (case_id);
