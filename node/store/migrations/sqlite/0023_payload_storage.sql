-- PostgreSQL only (how envelopes and documents are stored); SQLite
-- does not compress values. Kept so both stores have the same versions.
SELECT 1;
