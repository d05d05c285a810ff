-- Erasure must leave no personal data in the full-text index. FTS5 deletes
-- a row by writing delete markers, leaving its terms (name keys, places) in
-- the older segments until a merge happens to drop them: an erased case's
-- keys stayed readable in case_fts_data. With secure-delete (SQLite 3.42)
-- a delete removes the row's entries from the segments that hold them. The
-- rebuild re-indexes from case_search_docs, so terms of cases erased
-- before this migration go too.
INSERT INTO case_fts (case_fts, rank) VALUES ('secure-delete', 1);
INSERT INTO case_fts (case_fts) VALUES ('rebuild');
