-- A receiver keeps no superseded version of a case: once a newer version is
-- applied, the documents of the earlier ones are dropped and only their
-- SHA-256 stays (FLX-COR-003), so that what a correction removed is gone.
ALTER TABLE case_versions ADD COLUMN document_sha256 TEXT;
