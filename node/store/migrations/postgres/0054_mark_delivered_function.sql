-- Recording receipts (store.MarkDeliveredAll) in a function whose plan is
-- made once per connection and kept (plan_cache_mode), and is one that
-- reads the outbox by id however the outbox grows (enable_seqscan off: a
-- plan kept from a young outbox otherwise read the whole table, twice per
-- call). The statement was sent so that it was planned at every call, ~0.3
-- ms of the sender's database CPU per batch of receipts, about as much as
-- its execution: at 300 envelopes/s a twelfth of that CPU. What it does is
-- what the statement did: the rows not yet delivered take their receipt,
-- a relay.forward row's envelope is dropped (a relay keeps what it
-- carries for others only while it carries it), the disclosures are
-- inserted in the order of the receipts and the recipients upserted in key
-- order, and nothing is written if one of the ids has no row (the result:
-- how many have none). Every table is reached through "= ANY(ids)" on its
-- primary key or by the upsert's key, never by a join that could become
-- a scan.
CREATE FUNCTION flx_mark_delivered(ids BIGINT[], receipts BYTEA[], at TIMESTAMPTZ)
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
        UPDATE outbox_envelopes e SET envelope = NULL
        WHERE e.id = ANY(ids) AND e.id IN (SELECT d.id FROM d WHERE d.kind = 'relay.forward')
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
