-- Delivery backoff per destination, kept across restarts: a node that
-- restarts keeps resting a dead peer until next_attempt_at instead of
-- hammering it, and the operator sees why (last_error: a short reason
-- label, never personal data). A healthy destination has no row.
CREATE TABLE peer_backoff (
    destination     TEXT PRIMARY KEY,
    failures        INTEGER NOT NULL,
    next_attempt_at TEXT NOT NULL,
    last_error      TEXT,
    updated_at      TEXT NOT NULL
);
