-- Cases whose candidates are not yet computed (node/match): a row is
-- written in the transaction that writes the case (created, updated,
-- imported, received) and deleted once matching recorded the candidates
-- of that version or a later one, so that a case committed just before a
-- crash is matched when the node starts again, not at its next change.
-- Case ids and versions only; erasing the case deletes its row.
CREATE TABLE match_pending (
    case_id TEXT PRIMARY KEY,
    version BIGINT NOT NULL
);
