-- Two changes to what the sending side writes and reads per envelope.
--
-- 1. A queued envelope (a base64url compact JWS of 2-3 KB) is compressed
-- in its row with lz4, as the inbox's since 0055: kept whole and
-- uncompressed since 0049 (toast_tuple_target 8160), two rows of about
-- 2.9 KB filled an 8 KB page, and compressed (about 2.2 KB) three do: a
-- third fewer pages and relation extensions, and about 0.6 KB less WAL per
-- envelope queued, for a few microseconds of lz4 (decompressing it for the
-- claim costs about one). Every column is MAIN, so that no value goes out
-- of line to make a row fit the target (the jti, EXTENDED, would otherwise
-- go to the TOAST table first: a chunk row and an index entry); a MAIN
-- value still goes out of line only when its row would not fit in a page.
-- Rows written from now on follow this; those already stored stay as they
-- are, and both read back alike. A server built without lz4 keeps the
-- rows as they were (pglz would cost more CPU than the pages save).
--
-- 2. flx_mark_delivered (0054) drops the envelopes of the relay.forward
-- rows it records, and only reads those: its statement probed
-- outbox_envelopes' primary key for every id it was given and then kept
-- the envelopes of all but the relay's rows, so every receipt recorded
-- read an envelope's row for nothing. The relay's rows are now reached
-- from the rows the UPDATE returned; everything else is as in 0054.
--
-- Both are changes of the catalog only (no row is rewritten): safe on a
-- populated database, and a node of the previous release still running
-- against it (a rolling upgrade) reads and writes the same rows and calls
-- the same function with the same result.
DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_settings WHERE name = 'default_toast_compression' AND 'lz4' = ANY (enumvals)) THEN
    EXECUTE 'ALTER TABLE outbox_envelopes
      ALTER COLUMN envelope SET STORAGE MAIN, ALTER COLUMN envelope SET COMPRESSION lz4,
      ALTER COLUMN jti SET STORAGE MAIN';
    EXECUTE 'ALTER TABLE outbox_envelopes SET (toast_tuple_target = 2032)';
  END IF;
END
$$;

CREATE OR REPLACE FUNCTION flx_mark_delivered(ids BIGINT[], receipts BYTEA[], at TIMESTAMPTZ)
    RETURNS BIGINT LANGUAGE plpgsql VOLATILE
    SET plan_cache_mode = force_generic_plan
    SET enable_seqscan = off
AS $$
DECLARE
    missing BIGINT;
BEGIN
    WITH r AS (
        SELECT * FROM unnest(ids, receipts) WITH ORDINALITY AS r(id, receipt, pos)
    ), m AS (
        SELECT (SELECT COUNT(*) FROM r) - (SELECT COUNT(*) FROM outbox o WHERE o.id = ANY(ids)) AS n
    ), d AS (
        UPDATE outbox o SET state = 'delivered', delivered_at = at, receipt = r.receipt,
            lease_until = NULL, updated_at = at
        FROM r WHERE o.id = ANY(ids) AND o.id = r.id AND o.state <> 'delivered' AND (SELECT n FROM m) = 0
        RETURNING o.id, o.destination, o.case_id, o.case_version, o.kind, o.jti, o.discloses, o.withdraws, r.pos
    ), gone AS (
        -- LIMIT ALL keeps the subquery from being pulled up into a join
        -- the planner could turn around (a walk of outbox_envelopes).
        UPDATE outbox_envelopes e SET envelope = NULL
        FROM (SELECT d.id FROM d WHERE d.kind = 'relay.forward' LIMIT ALL) g WHERE e.id = g.id
    ), disc AS (
        INSERT INTO disclosures (case_id, member, kind, case_version, outbox_id, jti, delivered_at)
        SELECT d.case_id, d.destination, d.kind, d.case_version, d.id, d.jti, at FROM d WHERE d.discloses ORDER BY d.pos
    ), rec AS (
        INSERT INTO case_recipients (case_id, member, first_delivered_at, last_delivered_at, last_version, withdrawal_sent_at)
        SELECT d.case_id, d.destination, at, at, MAX(d.case_version), CASE WHEN bool_or(d.withdraws) THEN at END
        FROM d WHERE d.discloses GROUP BY d.case_id, d.destination ORDER BY d.case_id, d.destination
        ON CONFLICT (case_id, member) DO UPDATE SET
            last_delivered_at = excluded.last_delivered_at,
            last_version = CASE WHEN COALESCE(excluded.last_version, 0) > COALESCE(case_recipients.last_version, 0)
                THEN excluded.last_version ELSE case_recipients.last_version END,
            withdrawal_sent_at = COALESCE(excluded.withdrawal_sent_at, case_recipients.withdrawal_sent_at)
    )
    SELECT m.n INTO missing FROM m;
    RETURN missing;
END
$$;
