-- outbox_state_idx (destination, state) held an entry for every row ever
-- queued, and marking a row delivered added one more (a state change is
-- never a HOT update): one index write per envelope for rows no query
-- looks up by state. It now holds the rows not delivered only (queued, in
-- flight, dead, cancelled: what an operator lists by state), so recording
-- a receipt no longer writes to it and it stays the size of the pending
-- queue. ListOutbox names the predicate in its query (state <> 'delivered')
-- whenever its filter implies it, so both dialects use the index with the
-- filter's value bound as a parameter; delivered rows are listed by id.
DROP INDEX IF EXISTS outbox_state_idx;
CREATE INDEX outbox_state_idx ON outbox (destination, state) WHERE state <> 'delivered';
