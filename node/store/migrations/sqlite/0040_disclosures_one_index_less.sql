-- PostgreSQL only (the unique index on disclosures.outbox_id dropped);
-- SQLite keeps it, as dropping a constraint rebuilds the table. Kept so
-- both stores have the same versions.
SELECT 1;
