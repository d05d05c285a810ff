-- Range searches (a birth-year range, an age range: by_YYYY keys) without
-- walking every case. The range keys of each case not erased are copied
-- from case_search_docs into a B-tree (key, case_id): a range is one index
-- range scan, and a case walked in sort order is checked with one probe of
-- (case_id). Triggers on case_search_docs keep the copy in step with every
-- write; erasure deletes the case's row there, which empties its rows here.
CREATE TABLE case_range_keys (
    key     TEXT NOT NULL,
    case_id TEXT NOT NULL,
    PRIMARY KEY (key, case_id)
);
CREATE INDEX case_range_keys_case_idx ON case_range_keys (case_id, key);
INSERT INTO case_range_keys (key, case_id)
    SELECT j.value, d.case_id FROM case_search_docs d, json_each(d.keys) j
    WHERE j.value LIKE 'by\_%' ESCAPE '\';
CREATE TRIGGER case_range_keys_ai AFTER INSERT ON case_search_docs BEGIN
    INSERT OR IGNORE INTO case_range_keys (key, case_id)
        SELECT j.value, new.case_id FROM json_each(new.keys) j WHERE j.value LIKE 'by\_%' ESCAPE '\';
END;
CREATE TRIGGER case_range_keys_ad AFTER DELETE ON case_search_docs BEGIN
    DELETE FROM case_range_keys WHERE case_id = old.case_id;
END;
CREATE TRIGGER case_range_keys_au AFTER UPDATE ON case_search_docs BEGIN
    DELETE FROM case_range_keys WHERE case_id = old.case_id;
    INSERT OR IGNORE INTO case_range_keys (key, case_id)
        SELECT j.value, new.case_id FROM json_each(new.keys) j WHERE j.value LIKE 'by\_%' ESCAPE '\';
END;
