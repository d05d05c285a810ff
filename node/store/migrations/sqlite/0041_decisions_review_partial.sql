-- Every forward, response and message records a policy decision, and each
-- index on policy_decisions takes an entry then. policy_decisions_effect_idx
-- (effect, case_id) served one query, the review queue (ListReviewCases:
-- effect = 'needs_review'), yet took an entry for every decision, most of
-- them allow or deny. A partial index holds only the held ones: one index
-- entry (and its WAL) less per decision that is not held for review.
DROP INDEX IF EXISTS policy_decisions_effect_idx;
CREATE INDEX policy_decisions_review_idx ON policy_decisions (case_id) WHERE effect = 'needs_review';
