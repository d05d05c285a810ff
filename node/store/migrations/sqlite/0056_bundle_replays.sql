-- Replay records of imported carried bundles (conformance/SPEC.md
-- FLX-BDL-005); see the PostgreSQL migration of the same number.
CREATE TABLE bundle_replays (
    iss        TEXT NOT NULL,
    jti        TEXT NOT NULL,
    sha256     TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    PRIMARY KEY (iss, jti)
);
CREATE INDEX bundle_replays_expires_at ON bundle_replays (expires_at);
