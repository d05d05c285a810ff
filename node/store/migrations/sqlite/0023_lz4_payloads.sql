-- PostgreSQL only (column compression of envelopes and documents); SQLite
-- does not compress values. Kept so both stores have the same versions.
SELECT 1;
