-- The envelope of an outbox row goes in a table of its own, written once
-- when the row is queued (PostgreSQL: migration 0049 there, for its
-- reasons); the outbox row it leaves is a few hundred bytes, which each
-- claim and delivery rewrites. An envelope dropped (an erasure, a relay's
-- delivered chain) is its row deleted.
CREATE TABLE outbox_envelopes (
    id       INTEGER PRIMARY KEY, -- outbox.id
    envelope BLOB NOT NULL
);
INSERT INTO outbox_envelopes (id, envelope) SELECT id, envelope FROM outbox WHERE envelope IS NOT NULL;
ALTER TABLE outbox DROP COLUMN envelope;
