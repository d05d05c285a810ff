-- Part 1: the full-text search index. Part 2 (at the end): idempotency keys.
--
-- The search index moves onto the case row: the case's keys (computed by
-- the node from its current document: name keys across scripts, place and
-- free-text words, birth dates and years) as a tsvector of exact lexemes
-- (array_to_tsvector: no parser, no stemming, no stop words) under a GIN
-- index. A query of key groups is one tsquery ('a' | 'b') & ('c' | ...),
-- which GIN answers by intersecting its posting lists; a case walked in
-- sort order is checked against its own row, without a probe per key.
-- Built in (no extension needed). Written with every write of the case,
-- NULL once it is erased.
ALTER TABLE cases ADD COLUMN search_keys tsvector;
UPDATE cases c SET search_keys = k.v
    FROM (SELECT case_id, array_to_tsvector(array_agg(key)) AS v FROM case_search GROUP BY case_id) k
    WHERE k.case_id = c.case_id AND c.erased_at IS NULL;
CREATE INDEX cases_search_keys_idx ON cases USING gin (search_keys);
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
    response     BYTEA,
    created_at   TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (scope, key)
);
CREATE INDEX idempotency_keys_created_idx ON idempotency_keys (created_at);
