-- Article pages are fetched apart from the polls: an item that wants its page is stored with
-- full_text_status = 'pending' and taken from here, a feed's newest first, through an index
-- that holds only those items (none at all for feeds that carry their whole content).
-- full_text_attempts counts the tries that may be repeated: a host that asked to come back
-- later (429, 503), a round whose time ran out.
ALTER TABLE items ADD COLUMN full_text_attempts INTEGER NOT NULL DEFAULT 0;
CREATE INDEX items_pending_articles ON items (feed_id, sort_at DESC, id DESC)
    WHERE full_text_status = 'pending';
