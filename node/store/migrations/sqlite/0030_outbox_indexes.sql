-- Every outbox row is inserted, claimed and marked delivered, and each of
-- those writes adds an entry to every index whose columns or predicate it
-- touches (a state change is never a HOT update). Fewer index writes:
--
-- outbox_state_idx (destination, state) held an entry for every row ever
-- queued, one more each time a row was marked delivered, for rows no query
-- looks up by state. It now holds the rows not delivered only (queued, in
-- flight, dead, cancelled: what an operator lists by state), so recording
-- a receipt no longer writes to it and it stays the size of the pending
-- queue. ListOutbox names the predicate in its query (state <> 'delivered')
-- whenever its filter implies it, so both dialects use the index with the
-- filter's value bound as a parameter; delivered rows are listed by id.
--
-- outbox_case_idx (case_id) and the unique key (destination, case_id, seq)
-- were two indexes over the same rows: one unique index on (case_id,
-- destination, seq) serves both, the lookups of a case's rows (erasure,
-- listing) by its first column and the per-case order check of a claim by
-- all three, and keeps seq unique per (destination, case).
-- SQLite cannot drop a table's UNIQUE constraint without rebuilding the
-- table: its (destination, case_id, seq) index stays there, so this
-- dialect keeps one index more than PostgreSQL.
DROP INDEX IF EXISTS outbox_state_idx;
CREATE INDEX outbox_state_idx ON outbox (destination, state) WHERE state <> 'delivered';
CREATE UNIQUE INDEX outbox_case_seq_key ON outbox (case_id, destination, seq);
DROP INDEX IF EXISTS outbox_case_idx;
