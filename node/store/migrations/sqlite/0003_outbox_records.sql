-- What delivering a row records is decided by the node when it queues the
-- row, not by the store from the kind: whether it discloses the case to the
-- destination (disclosure log, case recipients) and whether it is the
-- withdrawal sent to it. Rows still to deliver get what the store recorded
-- for them until now; delivered rows are never recorded again.
ALTER TABLE outbox ADD COLUMN discloses INTEGER NOT NULL DEFAULT 0;
ALTER TABLE outbox ADD COLUMN withdraws INTEGER NOT NULL DEFAULT 0;
UPDATE outbox SET discloses = CASE WHEN case_id <> '' THEN 1 ELSE 0 END,
    withdraws = CASE WHEN kind = 'case.withdraw' THEN 1 ELSE 0 END
    WHERE state <> 'delivered';
