-- Source icons, fetched once per site (the feed's declared icon, else one its home page
-- names, else /favicon.ico) and served by feedmerge at /icons/HASH. One row per site: its
-- origin (scheme://host:port, the key), the icon's bytes, sniffed media type and content
-- hash (NULL while there is none), the validators of where it came from, and when it was
-- fetched, checked and is checked next; failures counts checks in a row that found no icon,
-- which back off.
CREATE TABLE icons (
    site TEXT PRIMARY KEY,
    source_url TEXT,
    hash TEXT,
    content_type TEXT,
    data BLOB,
    etag TEXT,
    last_modified TEXT,
    fetched_at INTEGER,
    checked_at INTEGER NOT NULL,
    next_check_at INTEGER NOT NULL,
    failures INTEGER NOT NULL DEFAULT 0,
    last_error TEXT
);
CREATE INDEX icons_by_hash ON icons (hash) WHERE hash IS NOT NULL;
-- The site whose icon a feed shows (its site link's origin, else its own URL's).
ALTER TABLE feeds ADD COLUMN icon_site TEXT;
