-- A received envelope's receipt is kept on its inbox row rather than in a
-- table of its own. The two were one-to-one (receipts.jti was the inbox
-- row's jti, written in the same statement, and created_at its
-- received_at), so a receive wrote two heap rows, two unique-index
-- entries on jti and a foreign-key check per envelope: 40-50% of the
-- receiving statement's database CPU, measured. The receipt is small
-- (a signed JSON object, no personal data) and stays on the row when the
-- envelope of an erased case goes, as it did. It rides along when the row
-- is marked processed (a new row version): that update writes ~0.5 KB
-- more WAL per envelope, more after a checkpoint (full pages).
ALTER TABLE inbox ADD COLUMN receipt_status TEXT, ADD COLUMN receipt BYTEA;
UPDATE inbox i SET receipt_status = r.status, receipt = r.receipt FROM receipts r WHERE r.jti = i.jti;
DROP TABLE receipts;
