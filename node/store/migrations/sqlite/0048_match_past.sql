-- How many candidates each person of a case has past the bound of its
-- list (node/match MaxCandidates), as the case's last matching found:
-- a row only for a person whose list is truncated, so that a caseworker
-- can be told the list is not all there is (more tied candidates than
-- shown). Replaced by each matching of the case; erased with it.
CREATE TABLE match_past (
    case_id   TEXT NOT NULL,
    person_id TEXT NOT NULL,
    past      INTEGER NOT NULL,
    PRIMARY KEY (case_id, person_id)
);
