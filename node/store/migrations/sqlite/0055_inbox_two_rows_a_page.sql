-- PostgreSQL only (how an inbox row is laid out in its pages); SQLite
-- keeps its rows as they are. Kept so both stores have the same versions.
SELECT 1;
