-- Claims walk these in order and stop at the limit, however long the queue:
-- due rows of one destination by next_attempt_at, and expired leases.
CREATE INDEX IF NOT EXISTS outbox_dest_queued_idx ON outbox (destination, next_attempt_at, id) WHERE state = 'queued';
CREATE INDEX IF NOT EXISTS outbox_lease_idx ON outbox (lease_until, id) WHERE state = 'in_flight';
