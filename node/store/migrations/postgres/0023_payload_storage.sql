-- Envelopes and case documents (2-3 KB each) are over the TOAST threshold,
-- so PostgreSQL tried to compress every one it stored with pglz, the first
-- PostgreSQL function in a CPU profile of the exchange. Envelopes are
-- compact JWS (base64url): pglz gave up on them after spending the CPU, and
-- they went out of line uncompressed anyway. They are now stored out of
-- line without a compression attempt (EXTERNAL): an update of an outbox or
-- inbox row (claim, delivery, processed mark) copies a pointer, never the
-- bytes. Case documents are JSON and do compress: lz4, at a fraction of
-- pglz's CPU. Values written from now on follow this (those already stored
-- stay as they are; all read back alike). A server built without lz4 (or
-- older than PostgreSQL 14, which has no per-column compression) keeps
-- pglz for documents: the migration must not stop a node from starting.
ALTER TABLE outbox ALTER COLUMN envelope SET STORAGE EXTERNAL;
ALTER TABLE inbox ALTER COLUMN envelope SET STORAGE EXTERNAL;
DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_settings WHERE name = 'default_toast_compression' AND 'lz4' = ANY (enumvals)) THEN
    EXECUTE 'ALTER TABLE cases ALTER COLUMN document SET COMPRESSION lz4';
    EXECUTE 'ALTER TABLE case_versions ALTER COLUMN document SET COMPRESSION lz4';
  END IF;
END
$$;
