-- Candidate matches answered by another member to a cross-border match
-- query (conformance/SPEC.md §20): remote is the member that answered;
-- b_case is then that member and b_person the random handle it gave (no
-- case id, no name crosses the border). NULL: a candidate between two
-- cases this node holds. Matching a case again never drops a remote
-- candidate; erasing the sought person's case deletes it.
ALTER TABLE match_candidates ADD COLUMN remote TEXT;
