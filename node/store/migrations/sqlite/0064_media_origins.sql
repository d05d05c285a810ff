-- What a caseworker uploaded and what the node attached in its place: the
-- node attaches media only as its copy cleaned of metadata (node/mediaclean),
-- stored under the copy's own sha256. A message whose media reference names
-- the sha256 of the uploaded file (what a client computed before the upload)
-- is resolved through this table to the cleaned copy attached to the same
-- case, so its bytes travel instead of the reference going out alone.
-- Two uploads that clean to the same bytes are two rows naming one copy.
-- The rows go with the case's media when it is erased (EraseCaseMedia): a
-- file's sha256 identifies it.
CREATE TABLE case_media_origins (
    case_id         TEXT NOT NULL,
    declared_sha256 TEXT NOT NULL,
    sha256          TEXT NOT NULL,
    PRIMARY KEY (case_id, declared_sha256)
);
