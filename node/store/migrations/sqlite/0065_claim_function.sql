-- Numbered with PostgreSQL's 0065 (claims by a function whose generic plan
-- probes the outbox by key): SQLite has no functions, and its claims walk
-- the indexes they name (store.ClaimDue). Nothing to do.
SELECT 1;
