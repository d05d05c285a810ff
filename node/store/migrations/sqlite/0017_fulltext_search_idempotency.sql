-- Part 1: the full-text search index. Part 2 (at the end): idempotency keys.
--
-- The search index becomes an FTS5 full-text index of the case's keys
-- (computed by the node from its current document: name keys across
-- scripts, place and free-text words, birth dates and years), each key
-- one token (ASCII tokenizer, '_' and '-' inside tokens). A query of key
-- groups is one MATCH ("a" OR "b") AND ("c" OR ...).
--
-- case_search_docs holds the keys of each case not erased, as a JSON
-- array (ranges of keys are checked on it with json_each), under a stable
-- INTEGER PRIMARY KEY that is the FTS row id (the rowid of cases is not
-- stable: VACUUM may renumber it). The FTS table reads its content from
-- case_search_docs and the triggers keep it in step with every insert,
-- update and delete (erasure deletes the row).
CREATE TABLE case_search_docs (
    id      INTEGER PRIMARY KEY,
    case_id TEXT NOT NULL UNIQUE REFERENCES cases (case_id),
    keys    TEXT NOT NULL
);
CREATE VIRTUAL TABLE case_fts USING fts5(keys, content='case_search_docs', content_rowid='id',
    tokenize="ascii tokenchars '_-'");
CREATE TRIGGER case_search_docs_ai AFTER INSERT ON case_search_docs BEGIN
    INSERT INTO case_fts (rowid, keys) VALUES (new.id, new.keys);
END;
CREATE TRIGGER case_search_docs_ad AFTER DELETE ON case_search_docs BEGIN
    INSERT INTO case_fts (case_fts, rowid, keys) VALUES ('delete', old.id, old.keys);
END;
CREATE TRIGGER case_search_docs_au AFTER UPDATE ON case_search_docs BEGIN
    INSERT INTO case_fts (case_fts, rowid, keys) VALUES ('delete', old.id, old.keys);
    INSERT INTO case_fts (rowid, keys) VALUES (new.id, new.keys);
END;
INSERT INTO case_search_docs (case_id, keys)
    SELECT s.case_id, json_group_array(s.key) FROM case_search s JOIN cases c ON c.case_id = s.case_id
    WHERE c.erased_at IS NULL GROUP BY s.case_id;
DROP TABLE case_search;

-- Idempotency-Key on local API POSTs: the first answer to a key, per
-- caller (scope: the token's person or name). request_hash is the SHA-256
-- of the method, path, query and body; status is NULL while the first
-- request runs. Kept 24 hours; rows older are deleted as new keys come.
CREATE TABLE idempotency_keys (
    scope        TEXT NOT NULL,
    key          TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    status       INTEGER,
    headers      TEXT,
    response     BLOB,
    created_at   TEXT NOT NULL,
    PRIMARY KEY (scope, key)
);
CREATE INDEX idempotency_keys_created_idx ON idempotency_keys (created_at);
