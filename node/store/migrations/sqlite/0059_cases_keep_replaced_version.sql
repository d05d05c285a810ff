-- A case's current document is written once, in cases: its row in
-- case_versions holds none and reads the case's (the node's UpdateCase
-- moves it into that row before the case takes the next version). This
-- trigger makes the same move whoever changes a case's version (as
-- PostgreSQL's 0059, where a node of the previous release may share the
-- database during a rolling upgrade). It fires only when the version
-- changes (an erasure leaves the version as it is).
CREATE TRIGGER cases_keep_replaced_version BEFORE UPDATE OF version ON cases
WHEN new.version IS NOT old.version AND old.document IS NOT NULL AND old.erased_at IS NULL
BEGIN
    UPDATE case_versions SET document = old.document
     WHERE case_id = old.case_id AND version = old.version
       AND document IS NULL AND document_sha256 IS NULL;
END;
