-- Appending to the audit chain in one statement (store.AppendAudit,
-- AppendAuditAll): the chain's advisory lock, the read of its head, the
-- hashes and the INSERT, so that the lock is held from this statement to
-- the commit that follows it, one round trip, rather than across three
-- (the lock, the head, the INSERT, each a round trip of its own before the
-- commit). Every writer of the chain waited those round trips of the one
-- holding it: under load, the longest serial wait of receiving.
--
-- The rows' hashes are those of store.auditHash: sha256 over the previous
-- hash's bytes, then the version tag, seq, at, actor, action, object and
-- details, each as an 8-byte big-endian length and the bytes. The caller
-- sends each row's part after seq (tails: at .. details, encoded so) and
-- this function adds the tag and seq, which only the chain's head
-- decides. A VOLATILE function's statements each take a new snapshot, so
-- the head is read after the lock is held, as the statement after the lock
-- read it before. async sets synchronous_commit off for the transaction
-- with the lock, as store.queries.lock does (the caller waits for the
-- flush outside the lock).
CREATE FUNCTION flx_audit_append(lock_key BIGINT, async BOOLEAN, ats TIMESTAMPTZ[], actors TEXT[],
        actions TEXT[], objects TEXT[], details TEXT[], tails BYTEA[])
    RETURNS TABLE (r_seq BIGINT, r_prev TEXT, r_hash TEXT) LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    s BIGINT;
    h TEXT;
    n INTEGER := coalesce(array_length(ats, 1), 0);
    seqs BIGINT[] := '{}';
    prevs TEXT[] := '{}';
    hashes TEXT[] := '{}';
BEGIN
    PERFORM pg_advisory_xact_lock(lock_key);
    IF async THEN
        PERFORM set_config('synchronous_commit', 'off', true);
    END IF;
    SELECT a.seq, a.hash INTO s, h FROM audit_log a ORDER BY a.seq DESC LIMIT 1;
    IF NOT FOUND THEN
        s := 0;
        h := repeat('0', 64);
    END IF;
    FOR i IN 1..n LOOP
        s := s + 1;
        seqs[i] := s;
        prevs[i] := h;
        h := encode(sha256(decode(h, 'hex') || '\x000000000000000c'::bytea || convert_to('flx-audit-v1', 'UTF8')
            || int8send(octet_length(s::text)::bigint) || convert_to(s::text, 'UTF8') || tails[i]), 'hex');
        hashes[i] := h;
    END LOOP;
    INSERT INTO audit_log (seq, at, actor, action, object, details, prev_hash, hash)
        SELECT * FROM unnest(seqs, ats, actors, actions, objects, details, prevs, hashes);
    RETURN QUERY SELECT * FROM unnest(seqs, prevs, hashes);
END
$$;
