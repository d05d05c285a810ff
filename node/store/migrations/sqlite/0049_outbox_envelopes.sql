-- The envelope of an outbox row and its jti go in a table of their own,
-- written once when the row is queued (PostgreSQL: migration 0049 there,
-- for its reasons); the outbox row it leaves is a few hundred bytes, which
-- each claim and delivery rewrites. An envelope dropped (an erasure, a
-- relay's delivered chain) is NULL here, its jti kept. The outbox keeps
-- its own unique jti, which SQLite cannot drop without rebuilding the
-- table (and which an update that leaves the jti alone does not write).
CREATE TABLE outbox_envelopes (
    id       INTEGER PRIMARY KEY, -- outbox.id
    jti      TEXT NOT NULL UNIQUE, -- outbox.jti
    envelope BLOB                  -- NULL once dropped
);
INSERT INTO outbox_envelopes (id, jti, envelope) SELECT id, jti, envelope FROM outbox;
ALTER TABLE outbox DROP COLUMN envelope;
