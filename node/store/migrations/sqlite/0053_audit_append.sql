-- Numbered with PostgreSQL's 0053 (the audit chain appended in one
-- statement, by a function): SQLite has one writer, which excludes every
-- other appender without a lock, and no functions. Nothing to do.
SELECT 1;
