//! Item rows: saving a poll's items (insert new, update changed) and reading the merged feed.

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};

use std::sync::{Arc, Mutex};

use super::bands::{self, BandIndex, Uncommitted};
use super::{Store, StoreError, from_secs, json_list, lock};
use crate::model::{
    AlsoIn, Author, Cursor, Enclosure, FeedId, FullTextOutcome, ImageSource, ItemKey, LeadImage,
    NewItem, ReadingTime, StoredItem, TextSource,
};
use crate::model::{Evidence, Fingerprint, Verdict};

/// Separates categories in the `categories` column (a control character no title contains).
const CATEGORY_SEPARATOR: char = '\u{1F}';

/// The rows of the merged feed, newest first: items of active feeds that the selection's
/// SQL filters accept, each story once. Parameters: ?1 limit, ?2/?3 cursor, ?4 feed URLs
/// (JSON), ?5/?6 reading-minute bounds; NULL switches a filter off. It walks items_by_date
/// newest first and stops after the limit; each NOT EXISTS is one index probe.
const MERGED_ROWS: &str = "
                 FROM items i JOIN feeds f ON f.id = i.feed_id
                 WHERE f.active = 1
                   AND (?2 IS NULL OR (i.sort_at, i.id) < (?2, ?3))
                   AND (?4 IS NULL OR f.url IN (SELECT value FROM json_each(?4)))
                   AND (?5 IS NULL OR i.reading_minutes >= ?5)
                   AND (?6 IS NULL OR i.reading_minutes <= ?6)
                   -- A near-duplicate is shown as the story it copies, while that one is shown.
                   AND (i.story_of IS NULL OR NOT EXISTS (
                        SELECT 1 FROM items p JOIN feeds pf ON pf.id = p.feed_id
                        WHERE p.id = i.story_of AND pf.active = 1))
                   AND (i.canonical_link IS NULL OR NOT EXISTS (
                        SELECT 1 FROM items j JOIN feeds g ON g.id = j.feed_id
                        WHERE j.canonical_link = i.canonical_link AND g.active = 1
                          AND (j.first_seen_at, j.id) < (i.first_seen_at, i.id)))
                 ORDER BY i.sort_at DESC, i.id DESC
                 LIMIT ?1";

/// The merged items' query: [`MERGED_ROWS`] with each row's columns, its copies in other
/// feeds ("Also in") and its source's icon.
fn merged_sql() -> String {
    format!(
        "SELECT i.item_key, i.guid, i.link, i.canonical_link, i.title, i.author, i.categories,
            i.content_html, i.content_base, i.published_at, i.first_seen_at, i.sort_at,
            i.changed_at, i.enclosure_url, i.enclosure_type, i.enclosure_length,
            i.reading_minutes, i.reading_words, i.reading_cjk, i.reading_images,
            i.reading_source, i.content_hash, f.url, COALESCE(f.config_title, f.title, f.url),
            i.image_url, i.summary, i.id, i.full_text_html, i.details, f.icon_url,
            f.site_link,
            -- The other feeds with the story, each with its first copy's link (the
            -- bare column takes the row of MIN), in the order they had it.
            (SELECT json_group_array(json_array(name, link, first)) FROM (
                SELECT COALESCE(g.config_title, g.title, g.url) AS name, j.link AS link,
                    MIN(j.id) AS first
                FROM items j JOIN feeds g ON g.id = j.feed_id
                WHERE g.active = 1 AND j.feed_id != i.feed_id
                  AND j.id IN (SELECT id FROM items WHERE story_of = i.id
                               UNION SELECT id FROM items WHERE canonical_link = i.canonical_link)
                GROUP BY g.id)),
            -- The name of the source's icon as served, once there is one.
            (SELECT hash FROM icons WHERE site = f.icon_site)
         {MERGED_ROWS}"
    )
}

/// Refreshes a removed item's identity by key: one primary-key lookup. ?1 feed, ?2 key, ?3 now.
const REMOVED_BY_KEY: &str =
    "UPDATE removed_items SET seen_at = ?3 WHERE feed_id = ?1 AND item_key = ?2";

/// Refreshes a removed item's identity by canonical link: one lookup in `removed_by_link`.
/// ?1 feed, ?2 canonical link, ?3 now. The index is named, and its condition repeated: left
/// to itself, the planner of the bundled SQLite prefers the primary key's `feed_id` prefix and
/// walks every removed item of the feed (with `INDEXED BY`, a plan without the index is an
/// error, not a slow poll).
const REMOVED_BY_LINK: &str = "UPDATE removed_items INDEXED BY removed_by_link SET seen_at = ?3
     WHERE feed_id = ?1 AND canonical_link = ?2 AND canonical_link IS NOT NULL";

/// Which items [`Store::merged_items`] returns.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// At most this many.
    pub limit: usize,
    /// Only items after this one in the merged order (older), for paging.
    pub before: Option<Cursor>,
    /// Only items of these feeds (configured URLs).
    pub feeds: Option<Vec<String>>,
    /// Only items that take at least this many minutes to read.
    pub min_minutes: Option<u32>,
    /// Only items that take at most this many minutes to read.
    pub max_minutes: Option<u32>,
    /// Only items whose title or visible text matches (markup removed, entities decoded).
    pub include: Option<regex::Regex>,
    /// No items whose title or visible text matches.
    pub exclude: Option<regex::Regex>,
}

/// How many rows a text filter may look at for one selection, so that a filter that matches
/// nothing costs a bounded scan, not the whole history.
pub const MAX_FILTER_SCAN: usize = 20_000;

/// The parameters of [`MERGED_ROWS`] for a selection.
struct SqlParams {
    limit: i64,
    before_sort_at: Option<i64>,
    before_id: Option<i64>,
    feeds: Option<String>,
    min_minutes: Option<u32>,
    max_minutes: Option<u32>,
}

impl SqlParams {
    fn as_params(&self) -> [&dyn rusqlite::ToSql; 6] {
        [
            &self.limit,
            &self.before_sort_at,
            &self.before_id,
            &self.feeds,
            &self.min_minutes,
            &self.max_minutes,
        ]
    }
}

impl Selection {
    /// The SQL filters' parameters, with `limit` rows at most.
    fn sql_params(&self, limit: usize) -> SqlParams {
        SqlParams {
            limit: limit as i64,
            before_sort_at: self.before.map(|c| c.sort_at),
            before_id: self.before.map(|c| c.id),
            feeds: self.feeds.as_ref().map(|f| json_list(f)),
            min_minutes: self.min_minutes,
            max_minutes: self.max_minutes,
        }
    }

    /// The newest `limit` items, unfiltered.
    pub fn newest(limit: usize) -> Self {
        Selection {
            limit,
            ..Selection::default()
        }
    }
}

/// What saving one poll changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SaveCounts {
    /// Items stored for the first time.
    pub new: usize,
    /// Items seen before whose content changed.
    pub updated: usize,
    /// Consecutive errors of the feed after this poll (0 after a success).
    pub error_count: u32,
    /// The feed started or stopped failing with this poll.
    pub failing_changed: bool,
}

/// Inserts new items and updates changed ones. An item is the one already stored with the same
/// key, else the one with the same canonical link in this feed (a publisher that changed its
/// guids must not duplicate its items).
pub(super) fn save(
    tx: &Connection,
    feed: FeedId,
    items: &[NewItem],
    now: i64,
    written: &mut Uncommitted,
    near: Option<(&NearCheck, &Mutex<BandIndex>)>,
) -> Result<SaveCounts, StoreError> {
    let mut by_key = tx.prepare_cached(
        "SELECT id, item_key, content_hash FROM items WHERE feed_id = ?1 AND item_key = ?2",
    )?;
    let mut by_link =
        tx.prepare_cached("SELECT id, item_key, content_hash FROM items WHERE feed_id = ?1 AND canonical_link = ?2 LIMIT 1")?;
    let mut insert = tx.prepare_cached(
        "INSERT INTO items (feed_id, item_key, guid, link, canonical_link, title, author, categories,
            content_html, content_base, published_at, first_seen_at, sort_at, changed_at,
            enclosure_url, enclosure_type, enclosure_length, reading_minutes, reading_words,
            reading_cjk, reading_images, reading_source, content_hash, image_url, summary,
            full_text_status, full_text_html, details, story_of, similarity, merge_evidence)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, COALESCE(?11, ?12), ?12,
            ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25, ?26, ?27, ?28, ?29)",
    )?;
    let mut update = tx.prepare_cached(
        "UPDATE items SET item_key = ?2, guid = ?3, link = ?4, canonical_link = ?5, title = ?6,
            author = ?7, categories = ?8, content_html = ?9, content_base = ?10, published_at = ?11,
            sort_at = COALESCE(?11, first_seen_at), changed_at = ?12, enclosure_url = ?13,
            enclosure_type = ?14, enclosure_length = ?15, content_hash = ?21,
            image_url = ?22, summary = ?23, details = ?26,
            -- An estimate from the article page outlives changes to the feed's summary: it is
            -- replaced only by a new attempt (?24 set).
            reading_minutes = CASE WHEN ?24 IS NULL AND full_text_status = 'ok' THEN reading_minutes ELSE ?16 END,
            reading_words = CASE WHEN ?24 IS NULL AND full_text_status = 'ok' THEN reading_words ELSE ?17 END,
            reading_cjk = CASE WHEN ?24 IS NULL AND full_text_status = 'ok' THEN reading_cjk ELSE ?18 END,
            reading_images = CASE WHEN ?24 IS NULL AND full_text_status = 'ok' THEN reading_images ELSE ?19 END,
            reading_source = CASE WHEN ?24 IS NULL AND full_text_status = 'ok' THEN reading_source ELSE ?20 END,
            full_text_html = CASE WHEN ?24 IS NULL THEN full_text_html ELSE ?25 END,
            full_text_status = COALESCE(?24, full_text_status)
         WHERE id = ?1",
    )?;

    let mut removed_by_key = tx.prepare_cached(REMOVED_BY_KEY)?;
    let mut removed_by_link = tx.prepare_cached(REMOVED_BY_LINK)?;
    // Most feeds have none: their new items skip the lookup.
    let any_removed: bool = tx
        .prepare_cached("SELECT EXISTS (SELECT 1 FROM removed_items WHERE feed_id = ?1)")?
        .query_row([feed.0], |r| r.get(0))?;
    let mut fingerprint = tx.prepare_cached(
        "INSERT INTO item_fingerprints (item_id, first_seen_at, keys) VALUES (?1, ?2, ?3)",
    )?;

    let mut counts = SaveCounts::default();
    for item in items {
        let row = |r: &rusqlite::Row<'_>| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, i64>(2)?,
            ))
        };
        let mut existing = by_key
            .query_row(params![feed.0, item.key.0], row)
            .optional()?;
        if existing.is_none() {
            if let Some(link) = &item.canonical_link {
                existing = by_link.query_row(params![feed.0, link], row).optional()?;
            }
        }
        let enc = item.enclosure.as_ref();
        let rt = &item.reading_time;
        let categories = item.categories.join(&CATEGORY_SEPARATOR.to_string());
        let published = item.date.map(|d| d.timestamp());
        let details = Details::of(item).to_json();
        let (full_status, full_html) = match &item.full_text {
            None => (None, None),
            Some(FullTextOutcome::Extracted(html)) => (Some("ok"), html.as_deref()),
            Some(FullTextOutcome::Failed(_)) => (Some("failed"), None),
        };
        let values = params![
            item.key.0,
            item.guid,
            item.link,
            item.canonical_link,
            item.title,
            item.author,
            categories,
            item.content_html,
            item.content_base,
            published,
            now,
            enc.map(|e| &e.url),
            enc.map(|e| &e.mime_type),
            enc.map(|e| e.length as i64),
            rt.minutes,
            rt.words,
            rt.cjk_chars,
            rt.images,
            rt.source.as_str(),
            item.content_hash,
            item.image.as_ref().map(|i| &i.url),
            item.summary,
            full_status,
            full_html,
            details,
        ];
        match existing {
            // Removed by retention and still listed by the feed: it stays removed.
            None if any_removed && {
                // Both lookups, not one statement with `OR`: SQLite answers that `OR` with a
                // walk over all of the feed's removed items, once per listed item.
                let by_key = removed_by_key.execute(params![feed.0, item.key.0, now])?;
                let by_link = match &item.canonical_link {
                    Some(link) => removed_by_link.execute(params![feed.0, link, now])?,
                    None => 0,
                };
                by_key + by_link > 0
            } => {}
            None => {
                let keys = item.fingerprint.as_ref().map(|fp| {
                    let mut keys = fp.bands.clone();
                    keys.push(fp.title_key);
                    keys
                });
                // A copy found by the poll's own lookup copies an item committed before that
                // lookup, earlier than any found here.
                let copy_of = match (item.near_duplicate_of, near, &keys) {
                    (Some(found), _, _) => Some(found),
                    (None, Some((check, index)), Some(keys)) => {
                        committed_since(tx, feed, item, keys, check, index, written)?
                    }
                    _ => None,
                };
                let story_of = copy_of.map(|(id, _)| id);
                let similarity = copy_of.map(|(_, v)| v.similarity);
                let evidence = copy_of.map(|(_, v)| v.evidence);
                let mut all: Vec<&dyn rusqlite::ToSql> = vec![&feed.0];
                all.extend_from_slice(values);
                all.extend_from_slice(params![story_of, similarity, evidence]);
                insert.execute(&all[..])?;
                if let Some(keys) = keys {
                    let id = tx.last_insert_rowid();
                    fingerprint.execute(params![id, now, bands::encode(&keys)])?;
                    written.push(id, keys);
                }
                counts.new += 1;
            }
            Some((id, key, hash))
                if hash != item.content_hash || key != item.key.0 || item.full_text.is_some() =>
            {
                let mut all: Vec<&dyn rusqlite::ToSql> = vec![&id];
                all.extend_from_slice(values);
                update.execute(&all[..])?;
                if hash != item.content_hash {
                    counts.updated += 1;
                }
            }
            Some(_) => {}
        }
    }
    // Identities of removed items matter only while the feed lists them: those this
    // document did not list (their seen_at was not refreshed above) are forgotten.
    if any_removed {
        tx.prepare_cached("DELETE FROM removed_items WHERE feed_id = ?1 AND seen_at < ?2")?
            .execute(params![feed.0, now])?;
    }
    Ok(counts)
}

/// Finishes a new item's near-duplicate lookup when its poll is written: the items indexed
/// after the poll looked ([`NearCheck::indexed_through`]), committed by other polls since or
/// written earlier in this transaction, that share a key with it are its remaining
/// candidates. The first (in commit order) that `check` judges the same story is the one it
/// copies, as in an import that wrote one poll after the other. Usually there are none, and
/// this costs the index searches only.
fn committed_since(
    tx: &Connection,
    feed: FeedId,
    item: &NewItem,
    keys: &[u32],
    check: &NearCheck,
    index: &Mutex<BandIndex>,
    written: &Uncommitted,
) -> Result<Option<(i64, Verdict)>, StoreError> {
    let mut ids = {
        let index = lock(index);
        // Nothing committed since the poll looked: nothing to search.
        if index.indexed_through() > check.indexed_through {
            index.lookup_after(keys, check.indexed_through)
        } else {
            Vec::new()
        }
    };
    ids.extend(written.lookup(keys));
    if ids.is_empty() {
        return Ok(None);
    }
    ids.sort_unstable();
    ids.dedup();
    ids.truncate(MAX_LATE_CANDIDATES);
    let mut stmt = tx.prepare_cached(LATE_CANDIDATES)?;
    let mut rows = stmt.query(params![
        json_list(&ids),
        feed.0,
        check.since,
        item.canonical_link
    ])?;
    while let Some(row) = rows.next()? {
        let candidate = NearCandidate {
            id: row.get(0)?,
            title: row.get(1)?,
            link: row.get(2)?,
        };
        let html: String = row.get(3)?;
        if let Some(verdict) = (check.judge)(item, &candidate, &html) {
            return Ok(Some((candidate.id, verdict)));
        }
    }
    Ok(None)
}

/// The candidates among ?1 (JSON list of ids) for [`committed_since`], with their HTML: as
/// [`NEAR_CANDIDATES`] (other active feeds than ?2, first seen at ?3 or later, not copies,
/// not of the same canonical link ?4).
const LATE_CANDIDATES: &str = "
    SELECT i.id, i.title, i.link, i.content_html FROM items i JOIN feeds f ON f.id = i.feed_id
    WHERE i.id IN (SELECT value FROM json_each(?1))
      AND i.feed_id != ?2 AND f.active = 1 AND i.first_seen_at >= ?3 AND i.story_of IS NULL
      AND (?4 IS NULL OR i.canonical_link IS NOT ?4)
    ORDER BY i.id";

/// Most candidates [`committed_since`] reads per new item: the items committed while a poll
/// was under way that share a key with one of its items are a handful; a key shared by
/// hundreds (boilerplate) says little.
const MAX_LATE_CANDIDATES: usize = 64;

/// Judges a new item against a candidate, given the candidate's HTML.
pub type JudgeCopy = dyn Fn(&NewItem, &NearCandidate, &str) -> Option<Verdict> + Send + Sync;

/// What the writer needs to finish a poll's near-duplicate lookup (see `committed_since`).
/// The lookup ran before the poll was queued for writing; the polls committed meanwhile are
/// judged when it is written, so that whether two copies merge does not depend on which
/// poll looked first.
#[derive(Clone)]
pub struct NearCheck {
    /// The highest item id the index held when the poll looked
    /// ([`NearLookup::indexed_through`]).
    pub indexed_through: i64,
    /// Items first seen before this (unix seconds) are out of the window.
    pub since: i64,
    /// The judgement of the poll's lookup.
    pub judge: Arc<JudgeCopy>,
}

impl std::fmt::Debug for NearCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NearCheck")
            .field("indexed_through", &self.indexed_through)
            .field("since", &self.since)
            .finish_non_exhaustive()
    }
}

/// Stored as [`Evidence::names`].
impl rusqlite::ToSql for Evidence {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        Ok(rusqlite::types::ToSqlOutput::Owned(
            rusqlite::types::Value::Text(self.names()),
        ))
    }
}

impl rusqlite::types::FromSql for Evidence {
    fn column_result(value: rusqlite::types::ValueRef<'_>) -> rusqlite::types::FromSqlResult<Self> {
        Ok(Evidence::from_names(value.as_str()?))
    }
}

/// The "also in" column of the merged rows (`[[name, link, first id], ...]`) in the order the
/// feeds had the story.
fn also_in(json: Option<&str>) -> Vec<AlsoIn> {
    let mut rows: Vec<(String, Option<String>, i64)> = json
        .and_then(|j| serde_json::from_str(j).ok())
        .unwrap_or_default();
    rows.sort_by_key(|(_, _, first)| *first);
    rows.into_iter()
        .map(|(feed_title, link, _)| AlsoIn { feed_title, link })
        .collect()
}

/// A stored item another feed's new item may be a copy of.
#[derive(Debug, Clone)]
pub struct NearCandidate {
    /// Row id.
    pub id: i64,
    /// Title.
    pub title: String,
    /// Link.
    pub link: Option<String>,
}

/// An item of a poll, looked up by [`Store::near_candidates`].
#[derive(Debug, Clone)]
pub struct NearProbe {
    /// Its key in its feed: an item stored already is not looked up.
    pub key: String,
    /// Its canonical link: items with the same link are one story already, not candidates.
    pub canonical_link: Option<String>,
    /// Its title, for the caller's filter.
    pub title: String,
    /// Its fingerprint: candidates share a band or the title key.
    pub fingerprint: Fingerprint,
}

/// What [`Store::near_candidates`] found.
#[derive(Debug, Default)]
pub struct NearLookup {
    /// Per probe, the candidates the filter kept, in commit order.
    pub candidates: Vec<Vec<NearCandidate>>,
    /// The published HTML of each of them, by id.
    pub contents: std::collections::HashMap<i64, String>,
    /// The highest item id in the index when it was searched: items above it were not
    /// candidates (see [`NearCheck`]).
    pub indexed_through: i64,
}

/// A near-duplicate that was joined to another feed's story.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Merge {
    /// When the copy was first seen.
    pub at: DateTime<Utc>,
    /// How similar the texts are (1.0 for short items joined by title and link).
    pub similarity: f64,
    /// The copy: title and feed.
    pub copy_title: String,
    /// The copy's feed.
    pub copy_feed: String,
    /// The story it joined: title and feed.
    pub story_title: String,
    /// The story's feed.
    pub story_feed: String,
    /// What decided the merge; `None` for merges made before it was recorded.
    pub evidence: Option<Evidence>,
}

/// Most candidates compared per new item.
const MAX_NEAR_CANDIDATES: usize = 20;

/// The items among ?1 (JSON list of ids) that another feed's new item may copy: of active
/// feeds other than ?2, first seen at ?3 or later, not copies themselves, without the new
/// item's canonical link ?4 (with it, they are one story already: judging them would only
/// cost); in commit order (row ids grow with each commit), which is what an import one poll
/// at a time sees first.
/// No `LIMIT ?`: a bound LIMIT beside `json_each` makes SQLite prepare the statement again at
/// every execution (it offers the limit to the table-valued function), which cost more than
/// the lookup. The caller takes the first [`MAX_NEAR_CANDIDATES`].
const NEAR_CANDIDATES: &str = "
    SELECT i.id, i.title, i.link FROM items i JOIN feeds f ON f.id = i.feed_id
    WHERE i.id IN (SELECT value FROM json_each(?1))
      AND i.feed_id != ?2 AND f.active = 1 AND i.first_seen_at >= ?3 AND i.story_of IS NULL
      AND (?4 IS NULL OR i.canonical_link IS NOT ?4)
    ORDER BY i.id";

impl Store {
    /// The most recent `limit` near-duplicate merges, newest first.
    ///
    /// # Errors
    /// SQLite errors.
    pub async fn recent_merges(&self, limit: usize) -> Result<Vec<Merge>, StoreError> {
        self.read(move |conn| {
            let mut stmt = conn.prepare(
                "SELECT i.first_seen_at, i.similarity, i.title, COALESCE(f.config_title, f.title, f.url),
                        p.title, COALESCE(pf.config_title, pf.title, pf.url), i.merge_evidence
                 FROM items i JOIN feeds f ON f.id = i.feed_id
                 JOIN items p ON p.id = i.story_of JOIN feeds pf ON pf.id = p.feed_id
                 ORDER BY i.first_seen_at DESC, i.id DESC LIMIT ?1",
            )?;
            let rows = stmt.query_map([limit as i64], |r| {
                Ok(Merge {
                    at: from_secs(r.get(0)?),
                    similarity: r.get::<_, Option<f64>>(1)?.unwrap_or(1.0),
                    copy_title: r.get(2)?,
                    copy_feed: r.get(3)?,
                    story_title: r.get(4)?,
                    story_feed: r.get(5)?,
                    evidence: r.get(6)?,
                })
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await
    }

    /// For each probe not stored yet for `feed`, the items of other active feeds first
    /// seen after `since` that share a key of its fingerprint (a band or the title), are not
    /// copies themselves, and pass `keep(probe title, candidate title)`; with the HTML of
    /// those. One read for the whole poll: a thread hand-off each for the new keys, the
    /// candidates and their text cost more than the queries.
    ///
    /// # Errors
    /// SQLite errors.
    pub async fn near_candidates(
        &self,
        feed: FeedId,
        since: i64,
        probes: Vec<NearProbe>,
        keep: impl Fn(&str, &str) -> bool + Send + 'static,
    ) -> Result<NearLookup, StoreError> {
        let index = self.bands.clone();
        self.read(move |conn| {
            let new: std::collections::HashSet<String> = {
                let keys = json_list(&probes.iter().map(|p| &p.key).collect::<Vec<_>>());
                let mut stmt = conn.prepare_cached(
                    "SELECT value FROM json_each(?2)
                     WHERE value NOT IN (SELECT item_key FROM items WHERE feed_id = ?1)",
                )?;
                let rows = stmt.query_map(params![feed.0, keys], |r| r.get::<_, String>(0))?;
                rows.collect::<Result<_, _>>()?
            };
            let mut found = NearLookup {
                indexed_through: lock(&index).indexed_through(),
                ..NearLookup::default()
            };
            if new.is_empty() {
                found.candidates.resize_with(probes.len(), Vec::new);
                return Ok(found);
            }
            // Bounded per kind: a band or a title shared by hundreds of items (boilerplate
            // text, "Daily briefing") says little.
            let ids: Vec<Vec<i64>> = {
                let mut index = lock(&index);
                index.ensure(conn, since)?;
                // Under the same lock as the searches: what they saw.
                found.indexed_through = index.indexed_through();
                probes
                    .iter()
                    .map(|p| {
                        if !new.contains(&p.key) {
                            return Vec::new();
                        }
                        let mut ids = index.lookup(&p.fingerprint.bands, 64);
                        ids.extend(index.lookup(&[p.fingerprint.title_key], 64));
                        ids
                    })
                    .collect()
            };
            let mut stmt = conn.prepare_cached(NEAR_CANDIDATES)?;
            for (probe, ids) in probes.iter().zip(ids) {
                let mut kept = Vec::new();
                if !ids.is_empty() {
                    let link = &probe.canonical_link;
                    let rows = stmt.query_map(params![json_list(&ids), feed.0, since, link], |r| {
                        Ok(NearCandidate {
                            id: r.get(0)?,
                            title: r.get(1)?,
                            link: r.get(2)?,
                        })
                    })?;
                    for c in rows.take(MAX_NEAR_CANDIDATES) {
                        let c = c?;
                        if keep(&probe.title, &c.title) {
                            kept.push(c);
                        }
                    }
                }
                found.candidates.push(kept);
            }
            let wanted: Vec<i64> = found.candidates.iter().flatten().map(|c| c.id).collect();
            if !wanted.is_empty() {
                let mut stmt = conn.prepare_cached(
                    "SELECT id, content_html FROM items WHERE id IN (SELECT value FROM json_each(?1))",
                )?;
                let rows = stmt.query_map([json_list(&wanted)], |r| Ok((r.get(0)?, r.get(1)?)))?;
                found.contents = rows.collect::<Result<_, _>>()?;
            }
            Ok(found)
        })
        .await
    }

    /// The row ids [`Store::merged_items`] would return, without reading the items (retention
    /// uses it to keep what outputs show).
    ///
    /// # Errors
    /// SQLite errors.
    pub async fn shown_ids(&self, sel: Selection) -> Result<Vec<i64>, StoreError> {
        if sel.include.is_some() || sel.exclude.is_some() {
            // Text filters need the text: take the long way.
            return Ok(self
                .merged_items(sel)
                .await?
                .iter()
                .map(|s| s.cursor.id)
                .collect());
        }
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(&format!("SELECT i.id {MERGED_ROWS}"))?;
            let rows = stmt.query_map(sel.sql_params(sel.limit).as_params(), |r| {
                r.get::<_, i64>(0)
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await
    }

    /// The merged feed: the newest items of active feeds that `sel` accepts, each story once.
    /// Items of different feeds with the same canonical link are one story, shown from the
    /// feed that had it first.
    ///
    /// # Errors
    /// SQLite errors.
    pub async fn merged_items(&self, sel: Selection) -> Result<Vec<StoredItem>, StoreError> {
        self.read(move |conn| {
            // Walks items_by_date newest first and stops after `limit` rows; the NOT EXISTS probe
            // is one lookup in items_by_story per candidate. NULL parameters switch a filter off.
            let mut stmt = conn.prepare_cached(&merged_sql())?;
            // Text filters run here, on rows SQLite has already narrowed down; the SQL limit
            // then bounds the scan instead of the result.
            let text_filter = sel.include.is_some() || sel.exclude.is_some();
            let sql_limit = if text_filter {
                MAX_FILTER_SCAN.max(sel.limit)
            } else {
                sel.limit
            };
            let sql = sel.sql_params(sql_limit);
            let rows = stmt.query_map(sql.as_params(), |r| {
                let categories: String = r.get(6)?;
                let enclosure = match r.get::<_, Option<String>>(13)? {
                    Some(url) => Some(Enclosure {
                        url,
                        mime_type: r.get::<_, Option<String>>(14)?.unwrap_or_default(),
                        length: r.get::<_, Option<i64>>(15)?.unwrap_or(0).max(0) as u64,
                    }),
                    None => None,
                };
                let details = Details::from_json(r.get::<_, Option<String>>(28)?.as_deref());
                let date: Option<i64> = r.get(9)?;
                let sort_at: i64 = r.get(11)?;
                Ok(StoredItem {
                    item: NewItem {
                        key: ItemKey(r.get(0)?),
                        guid: r.get(1)?,
                        link: r.get(2)?,
                        canonical_link: r.get(3)?,
                        title: r.get(4)?,
                        author: r.get(5)?,
                        authors: details.authors,
                        categories: categories
                            .split(CATEGORY_SEPARATOR)
                            .filter(|c| !c.is_empty())
                            .map(str::to_owned)
                            .collect(),
                        content_html: r.get(7)?,
                        content_base: r.get(8)?,
                        date: date.map(from_secs),
                        enclosure,
                        image: r.get::<_, Option<String>>(24)?.map(|url| LeadImage {
                            url,
                            width: details.width,
                            height: details.height,
                            caption: details.caption,
                            credit: details.credit,
                            sources: details.sources,
                        }),
                        summary: r.get(25)?,
                        reading_time: ReadingTime {
                            minutes: r.get(16)?,
                            words: r.get(17)?,
                            cjk_chars: r.get(18)?,
                            images: r.get(19)?,
                            source: TextSource::from_name(&r.get::<_, String>(20)?),
                        },
                        content_hash: r.get(21)?,
                        full_text: r
                            .get::<_, Option<String>>(27)?
                            .map(|html| FullTextOutcome::Extracted(Some(html))),
                        wants_full_text: false,
                        fingerprint: None,
                        near_duplicate_of: None,
                    },
                    also_in: also_in(r.get::<_, Option<String>>(31)?.as_deref()),
                    cursor: Cursor {
                        sort_at,
                        id: r.get(26)?,
                    },
                    first_seen: from_secs(r.get(10)?),
                    date: from_secs(sort_at),
                    changed_at: from_secs(r.get(12)?),
                    feed_url: r.get(22)?,
                    feed_title: r.get(23)?,
                    feed_icon: r.get(29)?,
                    feed_site: r.get(30)?,
                    source_icon: r.get(32)?,
                })
            })?;
            let wanted = |s: &StoredItem| passes(&sel, &s.item.title, &s.item.content_html);
            let mut out = Vec::with_capacity(sel.limit.min(1024));
            for row in rows {
                let row = row?;
                if wanted(&row) {
                    out.push(row);
                    if out.len() == sel.limit {
                        break;
                    }
                }
            }
            drop(stmt);
            // These reads are rare (a rendering, or retention with text filters): the pages
            // they read need not stay in the reader's cache (up to 2 MB) until the next.
            conn.execute_batch("PRAGMA shrink_memory")?;
            Ok(out)
        })
        .await
    }

    /// Items stored for the feed at `feed`, all of them (for tests and diagnostics).
    ///
    /// # Errors
    /// SQLite errors.
    pub async fn item_count(&self, feed: FeedId) -> Result<usize, StoreError> {
        self.read(move |conn| {
            let n: i64 = conn.query_row(
                "SELECT COUNT(*) FROM items WHERE feed_id = ?1",
                [feed.0],
                |r| r.get(0),
            )?;
            Ok(n as usize)
        })
        .await
    }
}

/// An item's details beyond the feeds' fields, stored as JSON in `items.details`: its lead
/// image's size, caption, credit and other sizes (the URL is `image_url`), and its authors.
/// Read in the merged selection, 30 to 50 rows a rendering: one small JSON value a row.
#[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
#[serde(default)]
struct Details {
    #[serde(skip_serializing_if = "Option::is_none")]
    width: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    height: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    caption: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    credit: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    sources: Vec<ImageSource>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    authors: Vec<Author>,
}

impl Details {
    fn of(item: &NewItem) -> Details {
        let image = item.image.clone().unwrap_or_default();
        Details {
            width: image.width,
            height: image.height,
            caption: image.caption,
            credit: image.credit,
            sources: image.sources,
            authors: item.authors.clone(),
        }
    }

    /// The stored form; `None` when there is nothing to store.
    fn to_json(&self) -> Option<String> {
        let empty = self.width.is_none()
            && self.height.is_none()
            && self.caption.is_none()
            && self.credit.is_none()
            && self.sources.is_empty()
            && self.authors.is_empty();
        // Plain strings and numbers always serialise.
        (!empty).then(|| serde_json::to_string(self).unwrap_or_default())
    }

    /// Reads [`Details::to_json`]'s form. NULL (an item stored before details were kept, or
    /// one without) and anything unreadable are "no details", never an error: they only
    /// decorate the card.
    fn from_json(json: Option<&str>) -> Details {
        json.and_then(|j| serde_json::from_str(j).ok())
            .unwrap_or_default()
    }
}

/// Whether an item passes `sel`'s `include` and `exclude`, judged on what readers read: its
/// title and the visible text of its content (entities decoded, markup removed), never the
/// URLs or attributes inside the markup. The visible text is made only when the title did
/// not decide.
fn passes(sel: &Selection, title: &str, content_html: &str) -> bool {
    if sel.include.is_none() && sel.exclude.is_none() {
        return true;
    }
    let text = std::cell::OnceCell::new();
    let matches = |re: &regex::Regex| {
        re.is_match(title)
            || re.is_match(text.get_or_init(|| crate::normalize::text::visible(content_html).text))
    };
    sel.include.as_ref().is_none_or(matches) && !sel.exclude.as_ref().is_some_and(matches)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Filters matched the stored HTML: `exclude = "(?i)podcast"` dropped an item that only
    /// linked to a /podcast/ URL, `include = "AT&T"` matched nothing (stored `AT&amp;T`), and
    /// `Spon<b></b>sored` escaped `exclude = "(?i)sponsored"`.
    #[test]
    fn filters_judge_the_text_readers_read() {
        let with = |include: Option<&str>, exclude: Option<&str>| Selection {
            include: include.map(|r| regex::Regex::new(r).unwrap()),
            exclude: exclude.map(|r| regex::Regex::new(r).unwrap()),
            ..Selection::default()
        };
        let podcast = with(None, Some("(?i)podcast"));
        assert!(passes(
            &podcast,
            "Council news",
            r#"<p>Listen to <a href="https://x.example/podcast/12">our show</a>.</p>"#
        ));
        assert!(!passes(
            &podcast,
            "Council news",
            "<p>Our podcast is out.</p>"
        ));
        assert!(!passes(&podcast, "The podcast", "<p>Text</p>"));
        assert!(passes(
            &with(Some("AT&T"), None),
            "Phones",
            "<p>AT&amp;T cuts prices.</p>"
        ));
        assert!(!passes(
            &with(None, Some("(?i)sponsored")),
            "Offer",
            "<p>Spon<b></b>sored content</p>"
        ));
        assert!(passes(&with(None, None), "", ""));
    }

    /// The merged feed's query reads what it shows, not what is stored: the newest 100 of
    /// 30,000 items (1,500 feeds) take as many steps as the newest 100 of 2,000 (100 feeds),
    /// some with a copy in another feed.
    #[test]
    fn the_merged_query_costs_what_it_shows_not_what_is_stored() {
        let steps = |feeds: i64| -> i32 {
            let dir = tempfile::tempdir().unwrap();
            let mut conn = Connection::open(dir.path().join("items.db")).unwrap();
            super::super::migrations::migrate(&mut conn).unwrap();
            let tx = conn.transaction().unwrap();
            for f in 1..=feeds {
                tx.execute(
                    "INSERT INTO feeds (id, url, active, created_at) VALUES (?1, ?2, 1, 0)",
                    params![f, format!("http://127.0.0.1/{f}")],
                )
                .unwrap();
                let items: Vec<NewItem> = (0..20)
                    .map(|n| NewItem {
                        key: ItemKey(format!("g:{n}")),
                        title: format!("Story {f}.{n}"),
                        // Each feed's first story is in the next feed too.
                        canonical_link: Some(match n {
                            0 => format!("http://127.0.0.1/story/{}", f / 2),
                            n => format!("http://127.0.0.1/{f}/{n}"),
                        }),
                        date: Some(from_secs(f * 20 + n)),
                        ..NewItem::default()
                    })
                    .collect();
                save(
                    &tx,
                    FeedId(f),
                    &items,
                    10,
                    &mut Uncommitted::default(),
                    None,
                )
                .unwrap();
            }
            tx.commit().unwrap();
            let mut stmt = conn.prepare(&merged_sql()).unwrap();
            let sql = Selection::newest(100).sql_params(100);
            let rows = stmt.query_map(sql.as_params(), |_| Ok(())).unwrap().count();
            assert_eq!(rows, 100);
            stmt.get_status(rusqlite::StatementStatus::VmStep)
        };
        let (small, large) = (steps(100), steps(1_500));
        assert!(
            f64::from(large) <= f64::from(small) * 1.2,
            "{large} VM steps for 30,000 items, {small} for 2,000"
        );
    }

    /// A feed that still lists thousands of items retention removed: each listed item costs
    /// two index lookups, not a walk over every removed item of the feed (a feed listing 20,000
    /// such items held the writer 14 s).
    #[test]
    fn removed_items_are_looked_up_not_walked() {
        const REMOVED: usize = 20_000;
        const LISTED: usize = 200;
        let dir = tempfile::tempdir().unwrap();
        let mut conn = Connection::open(dir.path().join("items.db")).unwrap();
        super::super::migrations::migrate(&mut conn).unwrap();
        conn.execute(
            "INSERT INTO feeds (id, url, created_at) VALUES (1, 'http://127.0.0.1/feed', 0)",
            [],
        )
        .unwrap();
        let tx = conn.transaction().unwrap();
        {
            let mut remember = tx
                .prepare(
                    "INSERT INTO removed_items (feed_id, item_key, canonical_link, seen_at)
                     VALUES (1, ?1, ?2, 0)",
                )
                .unwrap();
            for n in 0..REMOVED {
                remember
                    .execute(params![format!("g:{n}"), format!("http://127.0.0.1/{n}")])
                    .unwrap();
            }
        }
        // Half of the listed items were removed (one by key, one by link, alternately), half
        // are new.
        let items: Vec<NewItem> = (0..LISTED)
            .map(|n| {
                let (key, link) = match n % 4 {
                    0 => (format!("g:{n}"), format!("http://127.0.0.1/other/{n}")),
                    1 => (format!("l:{n}"), format!("http://127.0.0.1/{n}")),
                    _ => (format!("new:{n}"), format!("http://127.0.0.1/new/{n}")),
                };
                NewItem {
                    key: ItemKey(key),
                    canonical_link: Some(link),
                    ..NewItem::default()
                }
            })
            .collect();
        let counts = save(
            &tx,
            FeedId(1),
            &items,
            10,
            &mut Uncommitted::default(),
            None,
        )
        .unwrap();
        assert_eq!(counts.new, LISTED / 2, "removed items stay removed");
        let steps: i32 = [REMOVED_BY_KEY, REMOVED_BY_LINK]
            .iter()
            .map(|sql| {
                let stmt = tx.prepare_cached(sql).unwrap();
                stmt.get_status(rusqlite::StatementStatus::VmStep)
            })
            .sum();
        // An index lookup is a few dozen VM steps; a walk over the feed's removed items is
        // several per row (millions here).
        let per_item = steps as usize / LISTED;
        assert!(
            per_item < 200,
            "{per_item} VM steps per listed item with {REMOVED} removed"
        );
        let kept: i64 = tx
            .query_row(
                "SELECT COUNT(*) FROM removed_items WHERE seen_at = 10",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(kept as usize, LISTED / 2, "the listed ones are remembered");
    }

    /// The news page's details of an item (its lead image's size, caption, credit and other
    /// sizes, its authors) and its feed's icon and site are stored and read back with it.
    #[tokio::test]
    async fn details_are_read_back_with_the_item() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("t.db")).unwrap();
        let url = url::Url::parse("http://127.0.0.1:9/feed.xml").unwrap();
        let feed = store
            .sync_feeds(&[crate::model::Subscription::new(url)])
            .await
            .unwrap()[0]
            .id;
        let image = LeadImage {
            url: "http://127.0.0.1:9/big.jpg".into(),
            width: Some(1200),
            height: Some(630),
            caption: Some("The new bridge at dawn".into()),
            credit: Some("Ann Lee".into()),
            sources: vec![
                ImageSource {
                    url: "http://127.0.0.1:9/small.jpg".into(),
                    width: 600,
                },
                ImageSource {
                    url: "http://127.0.0.1:9/big.jpg".into(),
                    width: 1200,
                },
            ],
        };
        let authors = vec![
            Author {
                name: "Ann Lee".into(),
                url: Some("http://127.0.0.1:9/ann".into()),
                avatar: Some("http://127.0.0.1:9/ann.jpg".into()),
                about: Some("Transport reporter".into()),
            },
            Author {
                name: "Bo".into(),
                ..Author::default()
            },
        ];
        let with_details = NewItem {
            key: ItemKey("a".into()),
            title: "A bridge".into(),
            image: Some(image.clone()),
            authors: authors.clone(),
            ..NewItem::default()
        };
        let bare = NewItem {
            key: ItemKey("b".into()),
            title: "Nothing more".into(),
            image: Some(LeadImage::new("http://127.0.0.1:9/b.jpg")),
            ..NewItem::default()
        };
        let mut poll = super::super::PollRecord::fetched_now(vec![with_details, bare]);
        if let super::super::PollResult::Fetched { meta, .. } = &mut poll.result {
            meta.icon = Some("http://127.0.0.1:9/icon.png".into());
            meta.site_link = Some("http://127.0.0.1:9/".into());
        }
        store.record_poll(feed, poll).await.unwrap();
        let read = store.merged_items(Selection::newest(10)).await.unwrap();
        let by_key = |k: &str| read.iter().find(|s| s.item.key.0 == k).unwrap();
        let a = by_key("a");
        assert_eq!(a.item.image.as_ref(), Some(&image));
        assert_eq!(a.item.authors, authors);
        assert_eq!(a.feed_icon.as_deref(), Some("http://127.0.0.1:9/icon.png"));
        assert_eq!(a.feed_site.as_deref(), Some("http://127.0.0.1:9/"));
        let b = by_key("b");
        assert_eq!(
            b.item.image,
            Some(LeadImage::new("http://127.0.0.1:9/b.jpg"))
        );
        assert!(b.item.authors.is_empty());
    }

    /// An item stored before details were kept (schema 4) reads as one without details.
    #[tokio::test]
    async fn items_stored_before_details_read_as_none() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.db");
        {
            let conn = Connection::open(&path).unwrap();
            for sql in [
                include_str!("migrations/001_init.sql"),
                include_str!("migrations/002_article_queue.sql"),
                include_str!("migrations/003_feed_repairs.sql"),
                include_str!("migrations/004_merge_evidence.sql"),
            ] {
                conn.execute_batch(sql).unwrap();
            }
            conn.pragma_update(None, "user_version", 4).unwrap();
            conn.execute_batch(
                "INSERT INTO feeds (id, url, title, created_at)
                     VALUES (1, 'http://127.0.0.1:9/feed.xml', 'Old', 0);
                 INSERT INTO items (feed_id, item_key, first_seen_at, sort_at, changed_at,
                     reading_minutes, reading_words, reading_cjk, reading_images,
                     reading_source, content_hash, guid, title, author, categories,
                     image_url, summary, content_html)
                 VALUES (1, 'g:old', 100, 100, 100, 1, 10, 0, 0, 'summary', 7, 'old',
                     'Old story', 'Ann', '', 'http://127.0.0.1:9/old.jpg', 'words', '<p>words</p>');",
            )
            .unwrap();
        }
        let store = Store::open(&path).unwrap();
        let read = store.merged_items(Selection::newest(10)).await.unwrap();
        assert_eq!(read.len(), 1);
        let old = &read[0];
        assert_eq!(
            old.item.image,
            Some(LeadImage::new("http://127.0.0.1:9/old.jpg"))
        );
        assert!(old.item.authors.is_empty());
        assert_eq!(old.item.author.as_deref(), Some("Ann"));
        assert_eq!(
            (old.feed_icon.as_deref(), old.feed_site.as_deref()),
            (None, None)
        );
    }

    #[test]
    fn near_candidates_statement_is_prepared_once() {
        let mut conn = Connection::open_in_memory().unwrap();
        super::super::migrations::migrate(&mut conn).unwrap();
        let mut stmt = conn.prepare(NEAR_CANDIDATES).unwrap();
        for n in 1..=3_i64 {
            let mut rows = stmt
                .query(params![json_list(&[n]), n, n, "http://127.0.0.1/a"])
                .unwrap();
            assert!(rows.next().unwrap().is_none());
        }
        assert_eq!(stmt.get_status(rusqlite::StatementStatus::RePrepare), 0);
    }
}
