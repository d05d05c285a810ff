-- A case document (JSON, a few KB) compressed with lz4 still came out
-- above the TOAST threshold (2 KB), so each one was moved out of line: a
-- row and an index entry in the TOAST table of cases and again in that of
-- case_versions for every case received, a quarter of the server's CPU
-- in a received case's INSERT. Stored MAIN, a document is compressed and
-- kept in its row, and goes out of line only when the row would not fit
-- in a page (about 8 KB). The case's search keys (a tsvector of about
-- 1 KB) go MAIN too, compressed with lz4 where the server has it: left
-- EXTENDED, they would be the first value compressed (pglz) and moved out
-- of line in the documents' place. Values written from now on follow this
-- (those already stored stay as they are; all read back alike).
ALTER TABLE cases ALTER COLUMN document SET STORAGE MAIN;
ALTER TABLE case_versions ALTER COLUMN document SET STORAGE MAIN;
ALTER TABLE cases ALTER COLUMN search_keys SET STORAGE MAIN;
DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_settings WHERE name = 'default_toast_compression' AND 'lz4' = ANY (enumvals)) THEN
    EXECUTE 'ALTER TABLE cases ALTER COLUMN search_keys SET COMPRESSION lz4';
  END IF;
END
$$;

-- A version is written only in the statement or transaction that creates
-- or updates its case (CreateCase, CreateCases, UpdateCase), and the only
-- cases ever deleted are tombstones (type ''), which never have versions.
-- The foreign key from case_versions to cases (checked per row by a
-- SELECT ... FOR KEY SHARE on the case just written: a trigger call and a
-- WAL record per case received) could not fail, and goes. (SQLite keeps
-- it: dropping it there rebuilds the table.)
ALTER TABLE case_versions DROP CONSTRAINT IF EXISTS case_versions_case_id_fkey;
