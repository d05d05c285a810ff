-- Claiming due outbox rows (store.ClaimDue) in a function, as recording
-- receipts is since 0054: its plan is made once per connection and kept
-- (plan_cache_mode), and it is one that reaches the rows it claims by the
-- outbox's primary key however the outbox and its queue grow
-- (enable_seqscan off). The statement the node sent updated
-- "WHERE id IN (the rows chosen)", which the planner made a hash join of
-- the rows chosen with a sequential scan of the whole outbox whenever the
-- due rows it estimated (a tenth of them, the limit being unknown to a
-- generic plan) made probing each by its key look dearer than reading
-- every row: with a backlog (a peer that was away, a list imported) and
-- statistics that show it, every claim read every row of the outbox
-- (3,000 rows queued: 60 rows read per row claimed). The rows chosen now
-- reach the UPDATE as an array, probed by key.
--
-- What it does is what the statement did: the expired leases first (x),
-- then due queued rows up to what is left of the limit (d), each an
-- ordered walk of its partial index that stops at its limit, only the
-- head of each (destination, case) taken (a row cancelled while in
-- flight blocks until its lease ends), rows locked as they are read and
-- rows another claim holds skipped; it returns the rows claimed with their
-- envelopes (NULL once dropped). A NULL destination claims for every
-- destination.
--
-- A new function, used only by this release: a node of the previous
-- release still running against the migrated database (a rolling upgrade)
-- sends its own statement, on the same rows, as before.
CREATE FUNCTION flx_claim_due(worker TEXT, until TIMESTAMPTZ, at TIMESTAMPTZ, dest TEXT, want INT)
    RETURNS TABLE (id BIGINT, destination TEXT, case_id TEXT, case_version BIGINT, kind TEXT, jti TEXT,
        envelope BYTEA, seq BIGINT, state TEXT, attempts INT, next_attempt_at TIMESTAMPTZ,
        lease_until TIMESTAMPTZ, claimed_by TEXT, last_error TEXT, created_at TIMESTAMPTZ,
        updated_at TIMESTAMPTZ, delivered_at TIMESTAMPTZ, receipt BYTEA, discloses BOOLEAN,
        withdraws BOOLEAN, own_expires_at TIMESTAMPTZ)
    LANGUAGE plpgsql VOLATILE
    SET plan_cache_mode = force_generic_plan
    SET enable_seqscan = off
AS $$
#variable_conflict use_column
BEGIN
    IF dest IS NULL THEN
        RETURN QUERY WITH x AS (
            UPDATE outbox u SET state = 'in_flight', claimed_by = worker, lease_until = until,
                attempts = u.attempts + 1, updated_at = at
            WHERE u.id = ANY (ARRAY(
                SELECT o.id FROM outbox o
                WHERE o.state = 'in_flight' AND o.lease_until <= at
                    AND (o.seq = 1 OR (SELECT 1 FROM outbox p WHERE p.destination = o.destination AND p.case_id = o.case_id
                        AND p.seq < o.seq AND (p.state NOT IN ('delivered', 'cancelled')
                            OR (p.state = 'cancelled' AND p.lease_until > at)) LIMIT 1) IS NULL)
                ORDER BY o.lease_until, o.id LIMIT want FOR UPDATE OF o SKIP LOCKED))
            RETURNING u.id, u.destination, u.case_id, u.case_version, u.kind, u.jti,
                (SELECT e.envelope FROM outbox_envelopes e WHERE e.id = u.id), u.seq, u.state, u.attempts,
                u.next_attempt_at, u.lease_until, u.claimed_by, u.last_error, u.created_at, u.updated_at,
                u.delivered_at, u.receipt, u.discloses, u.withdraws, u.own_expires_at
        ), d AS (
            UPDATE outbox u SET state = 'in_flight', claimed_by = worker, lease_until = until,
                attempts = u.attempts + 1, updated_at = at
            WHERE u.id = ANY (ARRAY(
                SELECT o.id FROM outbox o
                WHERE o.state = 'queued' AND o.next_attempt_at <= at
                    AND (o.seq = 1 OR (SELECT 1 FROM outbox p WHERE p.destination = o.destination AND p.case_id = o.case_id
                        AND p.seq < o.seq AND (p.state NOT IN ('delivered', 'cancelled')
                            OR (p.state = 'cancelled' AND p.lease_until > at)) LIMIT 1) IS NULL)
                ORDER BY o.next_attempt_at, o.id LIMIT want - (SELECT COUNT(*) FROM x) FOR UPDATE OF o SKIP LOCKED))
            RETURNING u.id, u.destination, u.case_id, u.case_version, u.kind, u.jti,
                (SELECT e.envelope FROM outbox_envelopes e WHERE e.id = u.id), u.seq, u.state, u.attempts,
                u.next_attempt_at, u.lease_until, u.claimed_by, u.last_error, u.created_at, u.updated_at,
                u.delivered_at, u.receipt, u.discloses, u.withdraws, u.own_expires_at
        )
        SELECT * FROM x UNION ALL SELECT * FROM d;
    ELSE
        RETURN QUERY WITH x AS (
            UPDATE outbox u SET state = 'in_flight', claimed_by = worker, lease_until = until,
                attempts = u.attempts + 1, updated_at = at
            WHERE u.id = ANY (ARRAY(
                SELECT o.id FROM outbox o
                WHERE o.state = 'in_flight' AND o.lease_until <= at AND o.destination = dest
                    AND (o.seq = 1 OR (SELECT 1 FROM outbox p WHERE p.destination = o.destination AND p.case_id = o.case_id
                        AND p.seq < o.seq AND (p.state NOT IN ('delivered', 'cancelled')
                            OR (p.state = 'cancelled' AND p.lease_until > at)) LIMIT 1) IS NULL)
                ORDER BY o.lease_until, o.id LIMIT want FOR UPDATE OF o SKIP LOCKED))
            RETURNING u.id, u.destination, u.case_id, u.case_version, u.kind, u.jti,
                (SELECT e.envelope FROM outbox_envelopes e WHERE e.id = u.id), u.seq, u.state, u.attempts,
                u.next_attempt_at, u.lease_until, u.claimed_by, u.last_error, u.created_at, u.updated_at,
                u.delivered_at, u.receipt, u.discloses, u.withdraws, u.own_expires_at
        ), d AS (
            UPDATE outbox u SET state = 'in_flight', claimed_by = worker, lease_until = until,
                attempts = u.attempts + 1, updated_at = at
            WHERE u.id = ANY (ARRAY(
                SELECT o.id FROM outbox o
                WHERE o.state = 'queued' AND o.next_attempt_at <= at AND o.destination = dest
                    AND (o.seq = 1 OR (SELECT 1 FROM outbox p WHERE p.destination = o.destination AND p.case_id = o.case_id
                        AND p.seq < o.seq AND (p.state NOT IN ('delivered', 'cancelled')
                            OR (p.state = 'cancelled' AND p.lease_until > at)) LIMIT 1) IS NULL)
                ORDER BY o.next_attempt_at, o.id LIMIT want - (SELECT COUNT(*) FROM x) FOR UPDATE OF o SKIP LOCKED))
            RETURNING u.id, u.destination, u.case_id, u.case_version, u.kind, u.jti,
                (SELECT e.envelope FROM outbox_envelopes e WHERE e.id = u.id), u.seq, u.state, u.attempts,
                u.next_attempt_at, u.lease_until, u.claimed_by, u.last_error, u.created_at, u.updated_at,
                u.delivered_at, u.receipt, u.discloses, u.withdraws, u.own_expires_at
        )
        SELECT * FROM x UNION ALL SELECT * FROM d;
    END IF;
END
$$;
