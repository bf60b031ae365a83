-- WebSub: the hub each feed announces and our subscription there. One row per feed that
-- announced a hub; it goes with the feed row. Self-contained: no other table changes.
CREATE TABLE websub (
    feed_id      INTEGER PRIMARY KEY REFERENCES feeds(id) ON DELETE CASCADE,
    hub          TEXT    NOT NULL,            -- the hub the feed announces
    topic        TEXT    NOT NULL,            -- its rel="self", else the feed's URL
    state        TEXT    NOT NULL,            -- websub.rs `SubState` names
    token        TEXT    UNIQUE,              -- the callback path's random part
    secret       TEXT,                        -- the HMAC key the hub signs pushes with
    expires_at   INTEGER,                     -- unix seconds: the end of the lease granted
    renew_at     INTEGER,                     -- unix seconds: when to ask again
    failures     INTEGER NOT NULL DEFAULT 0,  -- failed or denied requests in a row
    last_error   TEXT,
    updated_at   INTEGER NOT NULL
) STRICT;
