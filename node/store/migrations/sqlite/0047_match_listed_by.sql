-- Which side's matching lists a candidate: a_listed when the last
-- matching of a_case listed the pair, b_listed likewise for b_case. Each
-- person's list is bounded (node/match MaxCandidates), and a pair within
-- one side's bound may be past the other's (one family seeking "Ahmed
-- Ali", born 1980, and 30 detainees of that name: each detainee lists the
-- family, the family lists 20 of them). An open candidate goes when
-- neither side lists it; before, matching one side again deleted what the
-- other side listed. Rows held already are taken as listed by both.
ALTER TABLE match_candidates ADD COLUMN a_listed INTEGER NOT NULL DEFAULT 1;
ALTER TABLE match_candidates ADD COLUMN b_listed INTEGER NOT NULL DEFAULT 1;
