-- A received envelope's receipt is kept on its inbox row rather than in a
-- table of its own (see the PostgreSQL migration of the same number): the
-- two were one-to-one, written together, the receipt's created_at the
-- row's received_at.
ALTER TABLE inbox ADD COLUMN receipt_status TEXT;
ALTER TABLE inbox ADD COLUMN receipt BLOB;
UPDATE inbox SET receipt_status = (SELECT r.status FROM receipts r WHERE r.jti = inbox.jti),
    receipt = (SELECT r.receipt FROM receipts r WHERE r.jti = inbox.jti)
    WHERE jti IN (SELECT jti FROM receipts);
DROP TABLE receipts;
