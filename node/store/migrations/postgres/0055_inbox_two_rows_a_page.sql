-- A received envelope (a compact JWS of 3-4 KB) and its receipt made an
-- inbox row of about 4.5 KB, kept whole in its row since 0035: one row per
-- 8 KB page. Each envelope received extended the table by a page (a write
-- of a zeroed page and the relation extension lock, "Lock:extend" in
-- pg_stat_activity under load), left half of every page empty, and so
-- filled shared_buffers with twice the dirty pages the rows need: 20,000
-- envelopes were 160 MB of inbox, more than the default 128 MB of shared
-- buffers, and backends wrote dirty pages out themselves. A row over half
-- a page (toast_tuple_target 4080: two rows and their line pointers fit in
-- 8,168 bytes) now has its envelope compressed inline with lz4, which
-- takes a base64url JWS from about 3.7 KB to 2.8 KB at a few microseconds:
-- two rows per page, half the pages and extensions, about 1 KB less WAL
-- per envelope. Every column is MAIN, so that no value goes out of line to
-- make a row fit the target: with the small text columns EXTENDED
-- (jti, sha256, ...) and the receipt EXTENDED, PostgreSQL would move those
-- to the TOAST table (a chunk row and an index entry each) before
-- compressing the envelope. A MAIN value still goes out of line when its
-- row would not fit in a page (about 8 KB), as in 0035. Rows written from
-- now on follow this (those already stored stay as they are; all read back
-- alike). A server built without lz4 keeps the rows as they were: pglz
-- would cost more CPU than the pages save.
DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_settings WHERE name = 'default_toast_compression' AND 'lz4' = ANY (enumvals)) THEN
    EXECUTE 'ALTER TABLE inbox
      ALTER COLUMN envelope SET STORAGE MAIN, ALTER COLUMN envelope SET COMPRESSION lz4,
      ALTER COLUMN receipt SET STORAGE MAIN, ALTER COLUMN receipt SET COMPRESSION lz4,
      ALTER COLUMN jti SET STORAGE MAIN, ALTER COLUMN iss SET STORAGE MAIN, ALTER COLUMN aud SET STORAGE MAIN,
      ALTER COLUMN kind SET STORAGE MAIN, ALTER COLUMN case_id SET STORAGE MAIN, ALTER COLUMN sha256 SET STORAGE MAIN,
      ALTER COLUMN process_error SET STORAGE MAIN, ALTER COLUMN receipt_status SET STORAGE MAIN';
    EXECUTE 'ALTER TABLE inbox SET (toast_tuple_target = 4080)';
  END IF;
END
$$;
