-- Numbered with PostgreSQL's 0057 (range keys inserted by the statement
-- that inserts the case, rather than by a statement trigger): SQLite keeps
-- its triggers on case_search_docs. Nothing to do.
SELECT 1;
