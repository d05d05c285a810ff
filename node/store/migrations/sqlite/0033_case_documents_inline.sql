-- PostgreSQL only (how case documents are stored, and a foreign key
-- checked per row that could not fail); SQLite keeps its values inline and
-- keeps the key. Kept so both stores have the same versions.
SELECT 1;
