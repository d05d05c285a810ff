-- The exp of a row's envelope when it is this node's own envelope as
-- signed (not a relay.forward around it, not a receipt), written when the
-- row is queued or re-signed: before each attempt the sender compares it
-- with the clock instead of parsing the envelope (a batch of 50 claimed
-- rows was 50 parses of each envelope's JWS and claims). NULL for every
-- other row and for rows queued before this migration: those are parsed,
-- as before.
ALTER TABLE outbox ADD COLUMN own_expires_at TIMESTAMPTZ;

-- A row's life is three writes (queued, in flight, delivered), each a
-- non-HOT update that adds an entry to every index whose predicate the new
-- row version meets. outbox_state_idx (destination, state) WHERE state <>
-- 'delivered' took two of them per row (queued, in flight) for listings an
-- operator makes, and the queued and in-flight rows already have their own
-- partial indexes (outbox_dest_queued_idx, outbox_lease_idx). It now holds
-- the rows that stopped (dead, cancelled) only: rows a normal delivery
-- never writes to it. ListOutbox names each predicate in its query.
DROP INDEX IF EXISTS outbox_state_idx;
CREATE INDEX outbox_stopped_idx ON outbox (destination, state) WHERE state IN ('dead', 'cancelled');

-- A disclosure is written only by the statement that marks its outbox row
-- delivered, for the rows that statement moved to delivered, and outbox
-- rows are never deleted. The foreign key to the row (checked per row by
-- a SELECT ... FOR KEY SHARE that also locked the row just updated: a
-- trigger call and a WAL record per envelope) could not fail, and goes.
-- (SQLite keeps it: dropping it there rebuilds the table.)
ALTER TABLE disclosures DROP CONSTRAINT IF EXISTS disclosures_outbox_id_fkey;
