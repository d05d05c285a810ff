-- Audit heads witnessed for other members (conformance/SPEC.md §20): each
-- audit.head envelope received, so that a member's audit log cut short or
-- rewritten after a head was witnessed no longer matches it.
CREATE TABLE audit_heads (
    member      TEXT NOT NULL,
    jti         TEXT NOT NULL,
    count       BIGINT NOT NULL,
    head        TEXT NOT NULL,
    signed_at   TIMESTAMPTZ NOT NULL,
    received_at TIMESTAMPTZ NOT NULL,
    envelope    BYTEA NOT NULL,
    PRIMARY KEY (member, jti)
);
CREATE INDEX audit_heads_latest_idx ON audit_heads (member, count DESC, signed_at DESC);
