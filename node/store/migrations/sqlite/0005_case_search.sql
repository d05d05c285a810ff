-- Case search and case provenance.
--
-- case_versions.source says what made a version when it was not a
-- caseworker's edit: "inbox:<jti>" for a status moved by a received
-- response. NULL for every version written before.
ALTER TABLE case_versions ADD COLUMN source TEXT;

-- The search index: one row per (case, key). Keys are computed by the node
-- from the current document (name keys across scripts, place and free-text
-- words, birth dates and years) and replaced on every write of the case;
-- erasure deletes them. A B-tree on (key, case_id) serves both the
-- equality groups of a name query and the ranges of birth years (keys of
-- one fixed-width form sort in year order), which a GIN index on a text[]
-- column could not (SQLite: a WITHOUT ROWID table is that B-tree).
CREATE TABLE case_search (
    key     TEXT NOT NULL,
    case_id TEXT NOT NULL REFERENCES cases (case_id),
    PRIMARY KEY (key, case_id)
) WITHOUT ROWID;
-- Erasure deletes by case; a search checks a candidate's keys with one seek.
CREATE INDEX case_search_case_idx ON case_search (case_id, key);

-- Which version of the key rules the index was built with (one row); a node
-- whose rules differ rebuilds the index.
CREATE TABLE case_search_meta (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    key_version INTEGER NOT NULL
);

-- Search results sorted by creation.
CREATE INDEX cases_created_idx ON cases (created_at, case_id);
