-- What decided each near-duplicate merge (fingerprint.rs `Evidence` names, comma separated:
-- title, body, slug); NULL for merges made before it was recorded.
ALTER TABLE items ADD COLUMN merge_evidence TEXT;
