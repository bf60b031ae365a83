-- Feeds known to the store. A feed removed from the config is kept (inactive) with its items,
-- so that adding it back loses nothing.
CREATE TABLE feeds (
    id              INTEGER PRIMARY KEY,
    url             TEXT    NOT NULL UNIQUE,  -- as configured
    config_title    TEXT,                     -- [[feeds]] title override
    title           TEXT,                     -- the feed's own title
    site_link       TEXT,
    active          INTEGER NOT NULL DEFAULT 1,
    etag            TEXT,
    last_modified   TEXT,
    last_polled_at  INTEGER,                  -- unix seconds
    last_success_at INTEGER,
    last_status     INTEGER,                  -- HTTP status of the last answer
    last_error      TEXT,
    error_count     INTEGER NOT NULL DEFAULT 0,
    failing_since   INTEGER,                  -- first failure of the current run of errors
    last_result     TEXT,                     -- ok | not_modified | failed | gone
    next_poll_at    INTEGER,                  -- NULL: not scheduled (gone)
    next_poll_reason TEXT,                    -- what decided next_poll_at (schedule.rs)
    moved_to        TEXT,                     -- where a permanent redirect (301/308) leads
    hint_ttl        INTEGER,                  -- seconds, from <ttl>
    hint_period     INTEGER,                  -- seconds, from sy:updatePeriod / updateFrequency
    skip_hours      INTEGER NOT NULL DEFAULT 0, -- bit h: hour h (UTC) skipped
    skip_days       INTEGER NOT NULL DEFAULT 0, -- bit d: weekday d (0 = Monday) skipped
    created_at      INTEGER NOT NULL
) STRICT;

CREATE TABLE items (
    -- Small columns first, the article HTML last: SQLite reads a row's columns in order, so
    -- queries on dates, keys and links (the merged selection, retention, dedupe) stay on the
    -- row's first page and never follow the HTML into overflow pages.
    id               INTEGER PRIMARY KEY,
    feed_id          INTEGER NOT NULL REFERENCES feeds (id) ON DELETE CASCADE,
    item_key         TEXT    NOT NULL,        -- identity inside the feed (dedupe.rs)
    canonical_link   TEXT,                    -- identity across feeds
    published_at     INTEGER,                 -- the item's own plausible date
    first_seen_at    INTEGER NOT NULL,
    sort_at          INTEGER NOT NULL,        -- published_at, else first_seen_at
    changed_at       INTEGER NOT NULL,
    story_of         INTEGER REFERENCES items (id) ON DELETE SET NULL, -- the item this one copies
    similarity       REAL,                    -- how similar it is to story_of
    reading_minutes  INTEGER NOT NULL,
    reading_words    INTEGER NOT NULL,
    reading_cjk      INTEGER NOT NULL,
    reading_images   INTEGER NOT NULL,
    reading_source   TEXT    NOT NULL,
    content_hash     INTEGER NOT NULL,
    full_text_status TEXT,                    -- article page fetched: ok | failed; NULL: not tried
    guid             TEXT    NOT NULL,        -- the feed's own guid, '' when it had none
    link             TEXT,
    title            TEXT    NOT NULL,
    author           TEXT,
    categories       TEXT    NOT NULL,        -- separated by U+001F
    enclosure_url    TEXT,
    enclosure_type   TEXT,
    enclosure_length INTEGER,
    image_url        TEXT,                    -- the lead image
    content_base     TEXT,
    summary          TEXT    NOT NULL,        -- the first words of the text, plain
    content_html     TEXT    NOT NULL,        -- as published; sanitised when rendered
    full_text_html   TEXT,                    -- the extracted article, when the feed carries it
    UNIQUE (feed_id, item_key)
) STRICT;

-- Each index is written at a random place for every new item, so there are few: a feed's
-- item by link is found through items_by_story (a link is shared by few items).
CREATE INDEX items_by_story ON items (canonical_link, first_seen_at, id) WHERE canonical_link IS NOT NULL;
-- first_seen_at too: retention's age test (both dates old) reads the index, not the rows.
CREATE INDEX items_by_date ON items (sort_at DESC, id DESC, first_seen_at);
CREATE INDEX items_by_story_of ON items (story_of) WHERE story_of IS NOT NULL;

-- Near-duplicate fingerprints: an item's MinHash band hashes (LSH) and its title's hash, as
-- little-endian u32s. Rows are appended in item order; the key -> item index is built from
-- them in memory (bands.rs).
CREATE TABLE item_fingerprints (
    item_id       INTEGER PRIMARY KEY REFERENCES items (id) ON DELETE CASCADE,
    first_seen_at INTEGER NOT NULL,
    keys          BLOB    NOT NULL
) STRICT;

-- Identities of items removed by retention, so that a feed that still lists them does not
-- bring them back as new. Forgotten once the feed has stopped listing them for a while.
CREATE TABLE removed_items (
    feed_id        INTEGER NOT NULL REFERENCES feeds (id) ON DELETE CASCADE,
    item_key       TEXT    NOT NULL,
    canonical_link TEXT,
    seen_at        INTEGER NOT NULL,          -- the last poll whose document still listed it
    PRIMARY KEY (feed_id, item_key)
) STRICT, WITHOUT ROWID;

CREATE INDEX removed_by_link ON removed_items (feed_id, canonical_link) WHERE canonical_link IS NOT NULL;
