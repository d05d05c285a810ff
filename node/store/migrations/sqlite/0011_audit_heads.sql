-- Audit heads witnessed for other members (conformance/SPEC.md §20): each
-- audit.head envelope received, so that a member's audit log cut short or
-- rewritten after a head was witnessed no longer matches it.
CREATE TABLE audit_heads (
    member      TEXT NOT NULL,
    jti         TEXT NOT NULL,
    count       INTEGER NOT NULL,
    head        TEXT NOT NULL,
    signed_at   TEXT NOT NULL,
    received_at TEXT NOT NULL,
    envelope    BLOB NOT NULL,
    PRIMARY KEY (member, jti)
);
CREATE INDEX audit_heads_latest_idx ON audit_heads (member, count DESC, signed_at DESC);
