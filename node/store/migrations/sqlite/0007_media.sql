-- Media of recorded video and voice messages (conformance/SPEC.md §18).
--
-- case_media links a case to the blobs of its messages: 'attached' rows are
-- recordings a caseworker uploaded here (with the chunk hash list that the
-- message's signed media_ref commits to), 'received' rows are media that
-- arrived from a peer with a message.deliver. Erasing a case marks its rows
-- erased; a blob is deleted when no row that is not erased names it.
CREATE TABLE case_media (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    case_id       TEXT NOT NULL,
    sha256        TEXT NOT NULL,
    media_type    TEXT NOT NULL,
    size_bytes    INTEGER NOT NULL CHECK (size_bytes >= 0),
    chunk_bytes   INTEGER NOT NULL,
    chunks_sha256 TEXT NOT NULL,
    chunk_hashes  BLOB,
    direction     TEXT NOT NULL,
    peer          TEXT NOT NULL,
    message_id    TEXT NOT NULL,
    added_by      TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    erased_at     TEXT
);
CREATE UNIQUE INDEX case_media_key ON case_media (case_id, sha256, direction, peer, message_id);
CREATE INDEX case_media_sha256_idx ON case_media (sha256);

-- The blob store shared by PostgreSQL replicas; the embedded node keeps its
-- blobs on disk under data_dir. Created here too, unused, so that both
-- dialects hold one schema.
CREATE TABLE media_blobs (
    sha256     TEXT PRIMARY KEY,
    size       INTEGER NOT NULL CHECK (size >= 0),
    created_at TEXT NOT NULL
);
CREATE TABLE media_uploads (
    id         TEXT PRIMARY KEY,
    owner      TEXT NOT NULL,
    sha256     TEXT NOT NULL,
    size       INTEGER NOT NULL CHECK (size >= 0),
    meta       BLOB NOT NULL,
    off        INTEGER NOT NULL DEFAULT 0 CHECK (off >= 0 AND off <= size),
    hash_state BLOB NOT NULL,
    complete   INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX media_uploads_owner ON media_uploads (owner);
CREATE INDEX media_uploads_sha256 ON media_uploads (sha256);
CREATE TABLE media_parts (
    owner TEXT NOT NULL,
    off   INTEGER NOT NULL CHECK (off >= 0),
    data  BLOB NOT NULL,
    PRIMARY KEY (owner, off)
);
