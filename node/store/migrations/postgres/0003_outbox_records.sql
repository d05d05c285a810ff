-- What delivering a row records is decided by the node when it queues the
-- row, not by the store from the kind: whether it discloses the case to the
-- destination (disclosure log, case recipients) and whether it is the
-- withdrawal sent to it. Rows still to deliver get what the store recorded
-- for them until now; delivered rows are never recorded again.
ALTER TABLE outbox ADD COLUMN discloses BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE outbox ADD COLUMN withdraws BOOLEAN NOT NULL DEFAULT FALSE;
UPDATE outbox SET discloses = (case_id <> ''), withdraws = (kind = 'case.withdraw') WHERE state <> 'delivered';
