-- PostgreSQL only (when a received envelope is moved out of its inbox
-- row); SQLite keeps its values inline. Kept so both stores have the same
-- versions.
SELECT 1;
