-- The configured feeds counted by state (`feedmerge status`, /metrics, and the service's
-- STATUS= line every 30 seconds) from a small covering index instead of a scan of every
-- feed's row: at 100,000 feeds the rows take 33 MB, this index about 2 MB, and the scan held
-- the reader connection (and a first rendering waiting for it) for as long as it took to
-- read them from the disk. `active` is not its first column: queries that ask for the active
-- feeds' rows (the merged feed's) must not start from it, and do not.
CREATE INDEX feeds_by_result ON feeds (last_result, active, repairs);
