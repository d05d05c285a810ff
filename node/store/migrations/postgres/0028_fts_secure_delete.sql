-- Numbered with SQLite's 0028 (the full-text index's secure-delete): on
-- PostgreSQL erasure sets the case's search_keys to NULL, which leaves no
-- term in a live row. Nothing to do.
SELECT 1;
