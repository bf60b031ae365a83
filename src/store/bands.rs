//! The index of near-duplicate detection: LSH band hash or title hash → items, in memory.
//!
//! Band hashes are random, so a B-tree of them takes each insert on a different page: 16
//! rows per new item made SQLite rewrite hundreds of pages per commit, most of the cost of a
//! first import. The table `item_fingerprints` stores each item's keys in one row appended
//! in item order (cheap); this index is built from the rows of the window on first use and
//! kept up to date after each commit. Stale entries (items removed, or out of the window)
//! are harmless, since every candidate is checked in SQL, and go at the next rebuild.
//! Memory: 6 bytes per key, 17 keys per item of the window (20,000 items: 2 MB). Only news
//! has keys (`dedupe::fingerprint::is_news`), so a first import's old items add nothing.

use rusqlite::{Connection, params};

use super::StoreError;

/// Entries merged at once into the sorted main part.
const TAIL: usize = 16_384;

/// Key bits that pick a slice of the main part (`BandIndex::starts`: 256 KiB).
const PREFIX_BITS: u32 = 16;
const PREFIXES: usize = 1 << PREFIX_BITS;
// [`Packed`] holds the other 16 bits of a key.
const _: () = assert!(PREFIX_BITS == 16);

/// An entry of the main part: the low 16 bits of the key (the high ones are its slice's
/// prefix) and the item id, high half first, so that entries sort as `(key, id)` within a
/// slice. Six bytes instead of the eight of `key << 32 | id`: 95,000 items (a first import of
/// 5000 feeds) take 9.7 MB instead of 12.9.
type Packed = [u16; 3];
const _: () = assert!(std::mem::size_of::<Packed>() == 6);

fn pack(entry: u64) -> Packed {
    [(entry >> 32) as u16, (entry >> 16) as u16, entry as u16]
}

fn unpack(prefix: usize, [low, id_high, id_low]: Packed) -> u64 {
    (prefix as u64) << 48 | u64::from(low) << 32 | u64::from(id_high) << 16 | u64::from(id_low)
}

fn packed_id([_, id_high, id_low]: Packed) -> u32 {
    u32::from(id_high) << 16 | u32::from(id_low)
}

/// Key (band or title hash) → item ids: a main part in slices by key prefix, and a tail of
/// recent entries as `key << 32 | id`.
#[derive(Debug, Default)]
pub(super) struct BandIndex {
    /// Sorted by `(key, id)`, without the key prefixes: see [`Packed`].
    main: Vec<Packed>,
    /// Where the slice of each key prefix (the top [`PREFIX_BITS`]) starts in `main`, and the
    /// end: a lookup searches a handful of entries instead of the whole run (which outgrows
    /// the CPU's caches). Empty until the first merge.
    starts: Vec<u32>,
    /// Recent entries, sorted, merged into `main` when they reach [`TAIL`].
    tail: Vec<u64>,
    /// The window start the index was built for; `None`: not built yet.
    built_since: Option<i64>,
    /// Entries after the last build or clean-up: entries of items that left the window are
    /// dropped when the index has grown well beyond.
    kept_len: usize,
    /// The highest item id indexed. Ids grow in commit order, so a lookup that saw the index
    /// up to here has seen every item committed before it; see [`BandIndex::lookup_after`].
    indexed_through: i64,
}

impl BandIndex {
    /// Makes sure the index covers items first seen since `since`: built from the table when
    /// it was not (or for a later window start), and rid of the items that left the window
    /// when it has doubled since the last time.
    pub(super) fn ensure(&mut self, conn: &Connection, since: i64) -> Result<(), StoreError> {
        if self.built_since.is_none_or(|built| since < built) {
            return self.build(conn, since);
        }
        if self.len() > 2 * self.kept_len + 4 * TAIL {
            self.drop_before(conn, since)?;
        }
        Ok(())
    }

    /// Reads the index from the table, merging as it goes: at no point more than about two
    /// bytes per entry besides the index itself.
    fn build(&mut self, conn: &Connection, since: i64) -> Result<(), StoreError> {
        *self = BandIndex::default();
        let mut stmt = conn.prepare_cached(
            "SELECT item_id, keys FROM item_fingerprints WHERE first_seen_at >= ?1",
        )?;
        let mut rows = stmt.query(params![since])?;
        while let Some(row) = rows.next()? {
            let id: i64 = row.get(0)?;
            let blob: Vec<u8> = row.get(1)?;
            self.tail.extend(entries_of(id, &decode(&blob)));
            self.indexed_through = self.indexed_through.max(id);
            if self.tail.len() >= TAIL.max(self.main.len() / 4) {
                self.tail.sort_unstable();
                self.merge_tail();
            }
        }
        self.tail.sort_unstable();
        self.merge_tail();
        self.kept_len = self.len();
        self.built_since = Some(since);
        Ok(())
    }

    /// Drops the entries of items first seen before `since`, in place (a rebuild would hold
    /// two copies of the index at once). Row ids grow with first sight, so these are the
    /// entries below the smallest id of the window.
    fn drop_before(&mut self, conn: &Connection, since: i64) -> Result<(), StoreError> {
        let first: Option<i64> = conn
            .prepare_cached("SELECT MIN(item_id) FROM item_fingerprints WHERE first_seen_at >= ?1")?
            .query_row(params![since], |r| r.get(0))?;
        let first = first.map_or(u32::MAX, |id| u32::try_from(id).unwrap_or(u32::MAX));
        if !self.starts.is_empty() {
            let mut kept = 0;
            let mut read = 0;
            for prefix in 0..PREFIXES {
                let end = self.starts[prefix + 1] as usize;
                self.starts[prefix] = kept as u32;
                for at in read..end {
                    let entry = self.main[at];
                    if packed_id(entry) >= first {
                        self.main[kept] = entry;
                        kept += 1;
                    }
                }
                read = end;
            }
            self.starts[PREFIXES] = kept as u32;
            self.main.truncate(kept);
            self.main.shrink_to_fit();
        }
        self.tail.retain(|&e| e as u32 >= first);
        self.kept_len = self.len();
        self.built_since = Some(since);
        Ok(())
    }

    /// Adds committed items' keys. Ignored before the first build, which reads them from
    /// the table.
    pub(super) fn add(&mut self, items: &[(i64, Vec<u32>)]) {
        if self.built_since.is_none() {
            return;
        }
        let mut new: Vec<u64> = items
            .iter()
            .flat_map(|(id, bands)| entries_of(*id, bands))
            .collect();
        if let Some(last) = items.iter().map(|(id, _)| *id).max() {
            self.indexed_through = self.indexed_through.max(last);
        }
        new.sort_unstable();
        merge_into(&mut self.tail, &new);
        if self.tail.len() >= TAIL {
            self.merge_tail();
        }
    }

    /// Merges the sorted tail into `main`, in place from the back (no second copy of the main
    /// part, which is most of the index), and moves the slices' starts.
    fn merge_tail(&mut self) {
        if self.starts.is_empty() {
            self.starts = vec![0; PREFIXES + 1];
        }
        let (starts, tail) = (&self.starts, &self.tail);
        // The prefix of main[at]: the last slice starting at or before it.
        let mut prefix = PREFIXES - 1;
        let key = |at: usize, entry: Packed| {
            while starts[prefix] as usize > at {
                prefix -= 1;
            }
            unpack(prefix, entry)
        };
        merge_back(&mut self.main, tail, key, pack);
        // Each slice now starts later by the tail entries of the slices before it.
        let mut before = 0;
        for (prefix, start) in self.starts.iter_mut().enumerate() {
            while before < tail.len() && ((tail[before] >> 48) as usize) < prefix {
                before += 1;
            }
            // Four billion entries would take 24 GiB: positions fit in u32.
            *start += before as u32;
        }
        self.tail.clear();
    }

    /// The item ids sharing a key with `keys`, newest (highest id) first, at most `limit`.
    pub(super) fn lookup(&self, keys: &[u32], limit: usize) -> Vec<i64> {
        let mut ids: Vec<i64> = Vec::new();
        for &key in keys {
            let prefix = (key >> (32 - PREFIX_BITS)) as usize;
            let slice = match self.starts.get(prefix..prefix + 2) {
                Some(&[start, end]) => &self.main[start as usize..end as usize],
                _ => &[],
            };
            let low = key as u16;
            let start = slice.partition_point(|e| e[0] < low);
            let same = slice[start..].iter().take_while(|e| e[0] == low);
            ids.extend(same.map(|&e| i64::from(packed_id(e))));
            let key = u64::from(key);
            let start = self.tail.partition_point(|&e| e >> 32 < key);
            let same = self.tail[start..].iter().take_while(|&&e| e >> 32 == key);
            ids.extend(same.map(|&e| i64::from(e as u32)));
        }
        ids.sort_unstable_by(|a, b| b.cmp(a));
        ids.dedup();
        ids.truncate(limit);
        ids
    }

    /// The highest item id indexed: what a lookup made now has seen (see
    /// [`BandIndex::lookup_after`]).
    pub(super) fn indexed_through(&self) -> i64 {
        self.indexed_through
    }

    /// The ids above `after` that share a key with `keys`, oldest first: the items indexed
    /// since a lookup that saw the index up to `after`. Few (the polls committed meanwhile),
    /// and found by the same searches as [`BandIndex::lookup`].
    pub(super) fn lookup_after(&self, keys: &[u32], after: i64) -> Vec<i64> {
        let mut ids: Vec<i64> = Vec::new();
        let mut take = |id: u32| {
            if i64::from(id) > after {
                ids.push(i64::from(id));
            }
        };
        for &key in keys {
            let prefix = (key >> (32 - PREFIX_BITS)) as usize;
            let slice = match self.starts.get(prefix..prefix + 2) {
                Some(&[start, end]) => &self.main[start as usize..end as usize],
                _ => &[],
            };
            let low = key as u16;
            let start = slice.partition_point(|e| e[0] < low);
            for &e in slice[start..].iter().take_while(|e| e[0] == low) {
                take(packed_id(e));
            }
            let key = u64::from(key);
            let start = self.tail.partition_point(|&e| e >> 32 < key);
            for &e in self.tail[start..].iter().take_while(|&&e| e >> 32 == key) {
                take(e as u32);
            }
        }
        ids.sort_unstable();
        ids.dedup();
        ids
    }

    fn len(&self) -> usize {
        self.main.len() + self.tail.len()
    }
}

/// The keys of the items written in the transaction under way: not in the index until it
/// commits, and candidates for the polls written after them in the same transaction.
#[derive(Debug, Default)]
pub(super) struct Uncommitted {
    /// Item id and keys, in the order written; added to the index after the commit.
    pub(super) items: Vec<(i64, Vec<u32>)>,
    /// The first item of each key. A key is almost always new: no list per key (17 keys
    /// per item are written, in the one stage that cannot run twice at once).
    first: std::collections::HashMap<u32, i64, std::hash::BuildHasherDefault<KeyHasher>>,
    /// The later items of keys seen before (copies within the transaction).
    again: Vec<(u32, i64)>,
}

impl Uncommitted {
    /// Records a written item's keys.
    pub(super) fn push(&mut self, id: i64, keys: Vec<u32>) {
        for &k in &keys {
            match self.first.entry(k) {
                std::collections::hash_map::Entry::Vacant(v) => {
                    v.insert(id);
                }
                std::collections::hash_map::Entry::Occupied(_) => self.again.push((k, id)),
            }
        }
        self.items.push((id, keys));
    }

    /// The ids written so far that share a key with `keys`.
    pub(super) fn lookup<'a>(&'a self, keys: &'a [u32]) -> impl Iterator<Item = i64> + 'a {
        let first = keys.iter().filter_map(|k| self.first.get(k).copied());
        let again = self
            .again
            .iter()
            .filter(|(k, _)| keys.contains(k))
            .map(|&(_, id)| id);
        first.chain(again)
    }
}

/// Hashes a key, which is a hash already, with one multiplication: SipHash, the default,
/// cost more than the rest of a lookup.
#[derive(Debug, Default)]
struct KeyHasher(u64);

impl std::hash::Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }

    fn write_u32(&mut self, k: u32) {
        // The high bits pick the group in the table: spread the key over all of them.
        self.0 = u64::from(k).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

/// Keys as stored: little-endian `u32`s.
pub(super) fn encode(keys: &[u32]) -> Vec<u8> {
    keys.iter().flat_map(|b| b.to_le_bytes()).collect()
}

fn decode(blob: &[u8]) -> Vec<u32> {
    blob.chunks_exact(4)
        .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

/// Index entries of one item. Row ids beyond `u32` (four billion items stored) are not
/// indexed; such an item is still found by its title.
fn entries_of(id: i64, bands: &[u32]) -> impl Iterator<Item = u64> + '_ {
    let id = u32::try_from(id).ok();
    bands
        .iter()
        .filter_map(move |&b| id.map(|id| u64::from(b) << 32 | u64::from(id)))
}

/// Merges the sorted run `b` into the sorted run `a`.
fn merge_into(a: &mut Vec<u64>, b: &[u64]) {
    merge_back(a, b, |_, e| e, |e| e);
}

/// Merges the sorted run `b` into the sorted run `a`, in place from the back: no second copy
/// of `a` (the main part is most of the index). `key(at, entry)` is the `key << 32 | id` of
/// `a[at]`, asked for with `at` falling; `from_b` turns an entry of `b` into one of `a`.
fn merge_back<A: Copy + Default>(
    a: &mut Vec<A>,
    b: &[u64],
    mut key: impl FnMut(usize, A) -> u64,
    from_b: impl Fn(u64) -> A,
) {
    let (mut i, mut j) = (a.len(), b.len());
    a.reserve_exact(j);
    a.resize(i + j, A::default());
    while j > 0 {
        let k = i + j - 1;
        if i > 0 && key(i - 1, a[i - 1]) > b[j - 1] {
            a[k] = a[i - 1];
            i -= 1;
        } else {
            a[k] = from_b(b[j - 1]);
            j -= 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn built() -> BandIndex {
        BandIndex {
            built_since: Some(0),
            ..BandIndex::default()
        }
    }

    #[test]
    fn finds_items_by_any_band_newest_first() {
        let mut index = built();
        index.add(&[(1, vec![10, 20]), (2, vec![20, 30]), (3, vec![40])]);
        assert_eq!(index.lookup(&[20], 10), [2, 1]);
        assert_eq!(index.lookup(&[10, 30, 99], 10), [2, 1]);
        assert_eq!(index.lookup(&[20], 1), [2]);
        assert!(index.lookup(&[u32::MAX], 10).is_empty());
    }

    #[test]
    fn written_items_are_found_by_their_keys_before_the_commit() {
        let mut written = Uncommitted::default();
        written.push(7, vec![1, 2]);
        written.push(8, vec![2, 3]);
        let mut ids: Vec<i64> = written.lookup(&[2, 9]).collect();
        ids.sort_unstable();
        assert_eq!(ids, [7, 8]);
        assert_eq!(written.lookup(&[3]).collect::<Vec<_>>(), [8]);
        assert_eq!(written.items.len(), 2);
    }

    #[test]
    fn the_tail_merges_without_losing_entries() {
        let mut index = built();
        for id in 1..=(TAIL as i64) {
            index.add(&[(id, vec![(id % 7) as u32, u32::MAX])]);
        }
        assert!(index.tail.len() < TAIL, "merged into the main run");
        assert_eq!(index.lookup(&[u32::MAX], usize::MAX).len(), TAIL);
        let sevens = index.lookup(&[0], usize::MAX);
        assert_eq!(sevens.len(), TAIL / 7);
        assert!(sevens.iter().all(|id| id % 7 == 0));
    }

    /// Keys from a pool in which groups of keys share their top 16 bits (a slice of the main
    /// part), and ids on both sides of 65,536 (the two halves of a packed id).
    fn sample() -> (Vec<u32>, Vec<(i64, Vec<u32>)>) {
        let mut rng = fastrand::Rng::with_seed(7);
        let prefixes: Vec<u32> = (0..300).map(|_| rng.u32(..) & 0xFFFF_0000).collect();
        let mut pool: Vec<u32> = (0..4000)
            .map(|_| prefixes[rng.usize(..prefixes.len())] | rng.u32(..0x1_0000))
            .collect();
        pool.extend([0, 1, 0xFFFF, 0x1_0000, u32::MAX]);
        let items = (60_000..60_000 + TAIL as i64 * 3 / 2)
            .map(|id| (id, (0..3).map(|_| pool[rng.usize(..pool.len())]).collect()))
            .collect();
        (pool, items)
    }

    fn assert_agrees(index: &BandIndex, pool: &[u32], items: &[(i64, Vec<u32>)]) {
        for &key in pool
            .iter()
            .step_by(7)
            .chain(&[0, 1, 0xFFFF, 0x1_0000, 12_345, u32::MAX])
        {
            let mut expected: Vec<i64> = items
                .iter()
                .filter(|(_, keys)| keys.contains(&key))
                .map(|(id, _)| *id)
                .rev()
                .collect();
            expected.dedup();
            assert_eq!(index.lookup(&[key], usize::MAX), expected, "key {key:#x}");
            // Only the items indexed after a point, oldest first, in the main part and the
            // tail alike.
            let after = items[items.len() * 2 / 3].0;
            let mut since: Vec<i64> = expected.into_iter().filter(|&id| id > after).collect();
            since.reverse();
            assert_eq!(index.lookup_after(&[key], after), since, "key {key:#x}");
        }
        assert_eq!(
            index.indexed_through(),
            items.iter().map(|(id, _)| *id).max().unwrap()
        );
    }

    /// An empty database for fingerprints without their items.
    fn fingerprint_table() -> Connection {
        let mut conn = Connection::open_in_memory().unwrap();
        super::super::migrations::migrate(&mut conn).unwrap();
        conn.pragma_update(None, "foreign_keys", "OFF").unwrap();
        conn
    }

    fn insert(conn: &Connection, items: &[(i64, Vec<u32>)], seen: impl Fn(i64) -> i64) {
        for (id, keys) in items {
            conn.execute(
                "INSERT INTO item_fingerprints (item_id, first_seen_at, keys) VALUES (?1, ?2, ?3)",
                params![id, seen(*id), encode(keys)],
            )
            .unwrap();
        }
    }

    #[test]
    fn lookups_agree_with_a_scan_of_every_entry() {
        let (pool, items) = sample();
        let mut index = built();
        for chunk in items.chunks(100) {
            index.add(chunk);
        }
        assert!(!index.main.is_empty() && !index.tail.is_empty());
        assert_agrees(&index, &pool, &items);
    }

    #[test]
    fn an_index_read_from_the_table_or_cleaned_up_agrees_with_a_scan() {
        let (pool, items) = sample();
        let half = items[items.len() / 2].0;
        let conn = fingerprint_table();
        insert(&conn, &items, |id| if id < half { 100 } else { 200 });
        let mut index = BandIndex::default();
        index.ensure(&conn, 0).unwrap();
        assert_agrees(&index, &pool, &items);

        index.drop_before(&conn, 150).unwrap();
        let recent = &items[items.len() / 2..];
        assert_agrees(&index, &pool, recent);
        assert_eq!(
            index.len(),
            3 * recent.len(),
            "only the recent items' entries are left"
        );
        let mut rebuilt = BandIndex::default();
        rebuilt.ensure(&conn, 150).unwrap();
        assert_agrees(&rebuilt, &pool, recent);
    }

    #[test]
    fn items_that_left_the_window_are_dropped_once_the_index_doubles() {
        let conn = fingerprint_table();
        let store = |items: std::ops::RangeInclusive<i64>, seen: i64, index: &mut BandIndex| {
            let rows: Vec<(i64, Vec<u32>)> =
                items.map(|id| (id, vec![id as u32 % 100, 7])).collect();
            insert(&conn, &rows, |_| seen);
            index.add(&rows);
        };
        let mut index = BandIndex::default();
        store(1..=10, 100, &mut index);
        index.ensure(&conn, 0).unwrap();
        assert_eq!(
            index.lookup(&[7], usize::MAX).len(),
            10,
            "built from the table"
        );
        let n = 4 * TAIL as i64;
        store(11..=10 + n, 200, &mut index);
        // Items 1–10 left the window; the index has more than doubled: they go.
        index.ensure(&conn, 150).unwrap();
        let sevens = index.lookup(&[7], usize::MAX);
        assert_eq!(sevens.len(), n as usize);
        assert!(sevens.iter().all(|&id| id > 10));
        assert_eq!(index.lookup(&[5], usize::MAX).last(), Some(&105));
        // A window reaching back further is read from the table again.
        index.ensure(&conn, 0).unwrap();
        assert_eq!(index.lookup(&[5], usize::MAX).last(), Some(&5));
    }

    #[test]
    fn runs_merge_in_place_sorted() {
        let mut a = vec![1, 4, 4, 9];
        merge_into(&mut a, &[0, 4, 5, 10]);
        assert_eq!(a, [0, 1, 4, 4, 4, 5, 9, 10]);
        let mut empty = Vec::new();
        merge_into(&mut empty, &[2, 3]);
        assert_eq!(empty, [2, 3]);
        merge_into(&mut empty, &[]);
        assert_eq!(empty, [2, 3]);
    }

    #[test]
    fn nothing_is_added_before_the_first_build() {
        let mut index = BandIndex::default();
        index.add(&[(1, vec![10])]);
        assert!(index.lookup(&[10], 10).is_empty());
    }
}
