-- The coordinator's part (conformance/SPEC.md §14-§17). Statistics reports
-- received by a coordinator: one row per member, period and revision; the
-- aggregates read the highest revision of each (member, period). A report
-- holds counts only, never personal data (node/stats).
CREATE TABLE stats_reports (
    member      TEXT NOT NULL,
    period      TEXT NOT NULL,
    revision    INTEGER NOT NULL,
    country     TEXT NOT NULL,
    document    BYTEA NOT NULL,
    jti         TEXT NOT NULL,
    received_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (member, period, revision)
);
CREATE INDEX stats_reports_period_idx ON stats_reports (period, member);
