-- Envelopes and case documents (2-3 KB each) are over the TOAST threshold,
-- so PostgreSQL tried to compress every one it stored with pglz, the first
-- PostgreSQL function in a CPU profile of the exchange. Envelopes are
-- compact JWS (base64url): pglz gave up on them after spending the CPU, and
-- they went out of line uncompressed anyway. They are now stored out of
-- line without a compression attempt (EXTERNAL): an update of an outbox or
-- inbox row (claim, delivery, processed mark) copies a pointer, never the
-- bytes. Case documents are JSON and do compress: lz4, at a fraction of
-- pglz's CPU. Values written from now on follow this (those already stored
-- stay as they are; all read back alike).
ALTER TABLE outbox ALTER COLUMN envelope SET STORAGE EXTERNAL;
ALTER TABLE inbox ALTER COLUMN envelope SET STORAGE EXTERNAL;
ALTER TABLE cases ALTER COLUMN document SET COMPRESSION lz4;
ALTER TABLE case_versions ALTER COLUMN document SET COMPRESSION lz4;
