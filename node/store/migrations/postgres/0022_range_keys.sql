-- Range searches (a birth-year range, an age range: by_YYYY keys) without
-- walking every case. The range keys of each case not erased are copied
-- from its search_keys into a B-tree (key, case_id): a range is one index
-- range scan, and a case walked in sort order is checked with one probe of
-- (case_id). Statement triggers on cases keep the copy in step with every
-- write, set-based for a multi-row INSERT (an import batch); erasure sets
-- search_keys to NULL, which empties the case's rows.
CREATE TABLE case_range_keys (
    key     TEXT COLLATE "C" NOT NULL,
    case_id TEXT NOT NULL,
    PRIMARY KEY (key, case_id)
);
CREATE INDEX case_range_keys_case_idx ON case_range_keys (case_id, key);
INSERT INTO case_range_keys (key, case_id)
    SELECT u.lexeme, c.case_id FROM cases c, unnest(c.search_keys) u
    WHERE c.search_keys IS NOT NULL AND u.lexeme LIKE 'by\_%';
CREATE FUNCTION case_range_keys_sync() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN -- only the rows whose keys changed (not a status or a lease)
        DELETE FROM case_range_keys r USING old_rows o JOIN new_rows n ON n.case_id = o.case_id
            WHERE r.case_id = o.case_id AND n.search_keys IS DISTINCT FROM o.search_keys;
        INSERT INTO case_range_keys (key, case_id)
            SELECT u.lexeme, n.case_id FROM new_rows n JOIN old_rows o ON o.case_id = n.case_id, unnest(n.search_keys) u
            WHERE n.search_keys IS DISTINCT FROM o.search_keys AND u.lexeme LIKE 'by\_%';
        RETURN NULL;
    END IF;
    INSERT INTO case_range_keys (key, case_id)
        SELECT u.lexeme, n.case_id FROM new_rows n, unnest(n.search_keys) u
        WHERE n.search_keys IS NOT NULL AND u.lexeme LIKE 'by\_%';
    RETURN NULL;
END
$$;
CREATE TRIGGER cases_range_keys_ai AFTER INSERT ON cases REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION case_range_keys_sync();
CREATE TRIGGER cases_range_keys_au AFTER UPDATE ON cases REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION case_range_keys_sync();
