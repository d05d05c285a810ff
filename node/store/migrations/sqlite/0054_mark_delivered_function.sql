-- Numbered with PostgreSQL's 0054 (receipts recorded by a function whose
-- generic plan is kept): SQLite has no functions, and its statements cost
-- no round trip. Nothing to do.
SELECT 1;
