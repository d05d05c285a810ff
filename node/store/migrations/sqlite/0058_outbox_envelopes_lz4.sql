-- Numbered with PostgreSQL's 0058 (outbox envelopes compressed in their
-- rows; receipts recorded without reading the envelopes they keep): SQLite
-- has neither TOAST compression nor the function. Nothing to do.
SELECT 1;
