-- Personal local API tokens (issue 9): a token belongs to a person, has a
-- role and an expiry, and can be revoked while the node runs. Only the
-- SHA-256 of the secret is kept; the secret is shown once, at creation.
CREATE TABLE person_tokens (
    id          TEXT PRIMARY KEY,
    person      TEXT NOT NULL,
    role        TEXT NOT NULL,
    sha256      TEXT NOT NULL UNIQUE,
    created_by  TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    expires_at  TIMESTAMPTZ NOT NULL,
    revoked_at  TIMESTAMPTZ,
    revoked_by  TEXT
);
CREATE INDEX person_tokens_person_idx ON person_tokens (person);
