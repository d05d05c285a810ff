-- Media of recorded video and voice messages (conformance/SPEC.md §18).
--
-- case_media links a case to the blobs of its messages: 'attached' rows are
-- recordings a caseworker uploaded here (with the chunk hash list that the
-- message's signed media_ref commits to), 'received' rows are media that
-- arrived from a peer with a message.deliver. Erasing a case marks its rows
-- erased; a blob is deleted when no row that is not erased names it.
CREATE TABLE case_media (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    case_id       TEXT NOT NULL,
    sha256        TEXT NOT NULL,
    media_type    TEXT NOT NULL,
    size_bytes    BIGINT NOT NULL CHECK (size_bytes >= 0),
    chunk_bytes   BIGINT NOT NULL,
    chunks_sha256 TEXT NOT NULL,
    chunk_hashes  BYTEA,             -- attached: the hash list; NULL when received or erased
    direction     TEXT NOT NULL,     -- attached | received
    peer          TEXT NOT NULL,     -- received: the sending member; attached: ''
    message_id    TEXT NOT NULL,     -- received: the message's id; attached: ''
    added_by      TEXT NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL,
    erased_at     TIMESTAMPTZ
);
CREATE UNIQUE INDEX case_media_key ON case_media (case_id, sha256, direction, peer, message_id);
CREATE INDEX case_media_sha256_idx ON case_media (sha256);

-- The blob store shared by replicas (node/media Postgres): blobs named by
-- their SHA-256, uploads with their offset and running hash state, and the
-- bytes in parts labelled 'b:<sha256>' (a blob's) or 'u:<upload id>' (an
-- upload's). The embedded SQLite node keeps its blobs on disk under
-- data_dir instead; the tables exist there too, unused, so that both
-- dialects hold one schema.
CREATE TABLE media_blobs (
    sha256     TEXT PRIMARY KEY CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    size       BIGINT NOT NULL CHECK (size >= 0),
    created_at TIMESTAMPTZ NOT NULL
);
CREATE TABLE media_uploads (
    id         TEXT PRIMARY KEY CHECK (id ~ '^[0-9a-f]{64}$'),
    owner      TEXT NOT NULL,
    sha256     TEXT NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    size       BIGINT NOT NULL CHECK (size >= 0),
    meta       BYTEA NOT NULL,
    off        BIGINT NOT NULL DEFAULT 0 CHECK (off >= 0 AND off <= size),
    hash_state BYTEA NOT NULL,
    complete   BOOLEAN NOT NULL DEFAULT false,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX media_uploads_owner ON media_uploads (owner);
CREATE INDEX media_uploads_sha256 ON media_uploads (sha256);
CREATE TABLE media_parts (
    owner TEXT NOT NULL,
    off   BIGINT NOT NULL CHECK (off >= 0),
    data  BYTEA NOT NULL,
    PRIMARY KEY (owner, off)
);
-- Media is compressed already: no TOAST compression.
ALTER TABLE media_parts ALTER COLUMN data SET STORAGE EXTERNAL;
