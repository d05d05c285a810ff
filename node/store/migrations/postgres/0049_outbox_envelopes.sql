-- The envelope of an outbox row (a compact JWS of 2-3 KB) and its jti go
-- in a table of their own, written once when the row is queued (and again
-- only when an attempt re-signs the envelope). In the outbox row it
-- was over the TOAST threshold: two chunk rows and two index entries in
-- the TOAST table per envelope queued, and every later update of the row
-- (claim, delivery: neither is a HOT update) took heap_update's path for
-- rows with values out of line, which writes a lock record besides the
-- update. Here it stays in its row (toast_tuple_target: only a row that
-- would not fit in a page goes out of line, uncompressed: EXTERNAL), and
-- the outbox row it leaves is a few hundred bytes. The unique index on
-- the jti moves here too: the outbox's own took an entry at each of the
-- row's updates, none of which changes the jti (outbox.jti stays, read
-- with the row). An envelope dropped (an erasure, a relay's delivered
-- chain) is NULL here, its jti kept. Every row queued before this
-- migration has its row here. No foreign key: rows are written only with
-- their outbox row (a key check would lock the outbox row just queued: a
-- record more).
CREATE TABLE outbox_envelopes (
    id       BIGINT PRIMARY KEY, -- outbox.id
    jti      TEXT NOT NULL UNIQUE, -- outbox.jti
    envelope BYTEA                 -- NULL once dropped
) WITH (toast_tuple_target = 8160);
ALTER TABLE outbox_envelopes ALTER COLUMN envelope SET STORAGE EXTERNAL;
INSERT INTO outbox_envelopes (id, jti, envelope) SELECT id, jti, envelope FROM outbox;
-- Its TOAST chunks are freed (by the next vacuum) only once no row
-- version refers to them: a dropped column's values would stay.
UPDATE outbox SET envelope = NULL WHERE envelope IS NOT NULL;
ALTER TABLE outbox DROP COLUMN envelope;
ALTER TABLE outbox DROP CONSTRAINT IF EXISTS outbox_jti_key;
-- Half of each new page of the outbox is left free: a claim or delivery
-- writes a new version of the row (not a HOT update: the state is in
-- partial indexes' predicates), which then goes in the same page, without
-- the lock record and the page of its own that a row moved to another
-- page costs; the page's dead versions are pruned when it fills.
ALTER TABLE outbox SET (fillfactor = 50);
