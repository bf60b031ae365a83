-- What the news page shows of an item beyond the feeds' fields (items.rs `Details`, JSON):
-- its lead image's size, caption, credit and other sizes, and its authors' links, avatars
-- and roles. NULL when the feed gave none, and for items stored before it was kept (read as
-- "no details"; a changed item, or the next poll of one that has details, writes them).
ALTER TABLE items ADD COLUMN details TEXT;
-- The icon the feed declares for its source (RSS <image>, Atom <icon>/<logo>, JSON Feed
-- favicon/icon), as published; fetching it is apart.
ALTER TABLE feeds ADD COLUMN icon_url TEXT;
