-- Candidate matches between persons of two cases (node/match): the two
-- persons, the score in millionths, the explanation (JSON, ids and
-- weights, no names), and the caseworker's decision. A candidate is only a
-- candidate: nothing is disclosed because of it. Erasing a case deletes
-- every row naming it.
CREATE TABLE match_candidates (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    a_case      TEXT NOT NULL,
    a_person    TEXT NOT NULL,
    b_case      TEXT NOT NULL,
    b_person    TEXT NOT NULL,
    score_ppm   INTEGER NOT NULL,
    explanation TEXT NOT NULL,
    state       TEXT NOT NULL DEFAULT 'open',
    created_at  TIMESTAMPTZ NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL,
    decided_by  TEXT,
    decided_at  TIMESTAMPTZ,
    UNIQUE (a_case, a_person, b_case, b_person)
);
CREATE INDEX match_candidates_b_idx ON match_candidates (b_case);
CREATE INDEX match_candidates_state_idx ON match_candidates (state, id);
