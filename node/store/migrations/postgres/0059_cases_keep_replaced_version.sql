-- A case's current document is written once, in cases: its row in
-- case_versions holds none and reads the case's (the node's UpdateCase
-- moves it into that row before the case takes the next version). This
-- trigger makes the same move whoever changes a case's version: a node of
-- the previous release still running against this database during a
-- rolling upgrade writes the new version without moving the old one's
-- document, which would otherwise be lost. It fires only when the version
-- changes (an update; an erasure leaves the version as it is), and finds
-- nothing to do when the node has moved the document already.
CREATE FUNCTION flx_keep_replaced_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE case_versions SET document = OLD.document
     WHERE case_id = OLD.case_id AND version = OLD.version
       AND document IS NULL AND document_sha256 IS NULL;
    RETURN NEW;
END
$$;

CREATE TRIGGER cases_keep_replaced_version BEFORE UPDATE OF version ON cases FOR EACH ROW
    WHEN (NEW.version IS DISTINCT FROM OLD.version AND OLD.document IS NOT NULL AND OLD.erased_at IS NULL)
    EXECUTE FUNCTION flx_keep_replaced_version();
