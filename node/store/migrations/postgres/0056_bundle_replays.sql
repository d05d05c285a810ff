-- Replay records of imported carried bundles (conformance/SPEC.md
-- FLX-BDL-005): a bundle's exporter (iss) and jti with the SHA-256 of its
-- signed plaintext (the decrypted JWS), kept until the bundle's exp + SKEW,
-- when the node's retention sweep deletes them (a bundle is refused as
-- expired from then on). The same (iss, jti) with another digest is a
-- replay, refused whole before any envelope of it is stored. Ids and a
-- digest only: no personal data.
CREATE TABLE bundle_replays (
    iss        TEXT NOT NULL,
    jti        TEXT NOT NULL,
    sha256     TEXT NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (iss, jti)
);
CREATE INDEX bundle_replays_expires_at ON bundle_replays (expires_at);
