-- Every outbox row is inserted, claimed and marked delivered, and each of
-- those writes adds an entry to every index whose columns or predicate it
-- touches (the state changes, so none of them is a HOT update). Two
-- indexes no query needs go:
-- outbox_pending_case_idx (destination, case_id, seq) repeats the unique
-- key on the same columns, which the per-case order check of a claim uses
-- (its condition, with cancelled rows, does not imply the partial index's);
-- outbox_due_idx served claims across all destinations, and every claim
-- names its destination (outbox_dest_queued_idx, outbox_lease_idx).
DROP INDEX IF EXISTS outbox_pending_case_idx;
DROP INDEX IF EXISTS outbox_due_idx;
