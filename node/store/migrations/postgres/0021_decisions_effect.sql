-- The review queue finds the cases with a decision held for review
-- (ListReviewCases) without scanning every decision.
CREATE INDEX policy_decisions_effect_idx ON policy_decisions (effect, case_id);
