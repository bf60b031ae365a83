//! Sanitised HTML kept across renderings: an item's content + base URL → its sanitised HTML,
//! made once and shared by every output, query variant and format, so that a rendering costs
//! the same however many variants are asked for.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use xxhash_rust::xxh3::Xxh3;

use super::html::Sanitizer;

/// Default budget of a [`SanitizedCache`]: room for the sanitised HTML of thousands of typical
/// items, far more than the outputs show at once.
pub const SANITIZED_BUDGET: usize = 16 << 20;

/// Bytes counted per kept item on top of its HTML: the key, the shared string's header and
/// the map's slot.
const ENTRY_OVERHEAD: usize = 64;

/// Sanitised HTML by the hash of what was sanitised (content and base URL), within a byte
/// budget.
///
/// Keyed by content, not by item id: a changed item misses, identical contents share one
/// entry, and no stored field has to be trusted to say when the content changed. Entries
/// live in two generations: a new store version ([`SanitizedCache::begin`]) starts a new one
/// and drops the one before the last, so what no rendering has used across a whole change of
/// the data goes away instead of filling the budget over days.
#[derive(Debug)]
pub struct SanitizedCache {
    budget: usize,
    inner: Mutex<Generations>,
    sanitised: AtomicU64,
}

#[derive(Debug, Default)]
struct Generations {
    version: u64,
    current: HashMap<u128, Arc<str>>,
    previous: HashMap<u128, Arc<str>>,
    bytes: usize,
}

fn charge(html: &str) -> usize {
    html.len() + ENTRY_OVERHEAD
}

impl Default for SanitizedCache {
    fn default() -> Self {
        SanitizedCache::new(SANITIZED_BUDGET)
    }
}

impl SanitizedCache {
    /// An empty cache that keeps at most `budget` bytes.
    pub fn new(budget: usize) -> Self {
        SanitizedCache {
            budget,
            inner: Mutex::new(Generations::default()),
            sanitised: AtomicU64::new(0),
        }
    }

    /// How many contents were sanitised (not found in the cache) since it was made.
    pub fn sanitised(&self) -> u64 {
        self.sanitised.load(Ordering::Relaxed)
    }

    /// Bytes kept now.
    pub fn bytes(&self) -> usize {
        self.lock().bytes
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Generations> {
        // A poisoned lock only means a rendering panicked between two map operations, which
        // leave the maps whole.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Starts a rendering of store version `version`: the first for a newer version retires
    /// the oldest generation.
    pub fn begin(&self, version: u64) {
        let mut g = self.lock();
        if version > g.version {
            g.version = version;
            let retired = std::mem::take(&mut g.previous);
            g.bytes -= retired.values().map(|h| charge(h)).sum::<usize>();
            g.previous = std::mem::take(&mut g.current);
        }
    }

    /// The sanitised form of `html` with relative URLs resolved against `base`: from the
    /// cache, or made with `sanitizer` (built on first use) and kept if the budget allows.
    pub fn clean(
        &self,
        sanitizer: &mut Option<Sanitizer>,
        html: &str,
        base: Option<&str>,
    ) -> Arc<str> {
        if html.is_empty() {
            return Arc::from("");
        }
        let key = key(html, base);
        {
            let mut g = self.lock();
            if let Some(found) = g.current.get(&key) {
                return found.clone();
            }
            if let Some(found) = g.previous.remove(&key) {
                g.current.insert(key, found.clone());
                return found;
            }
        }
        let clean: Arc<str> = Arc::from(
            sanitizer
                .get_or_insert_with(Sanitizer::default)
                .clean(html, base),
        );
        self.sanitised.fetch_add(1, Ordering::Relaxed);
        let mut g = self.lock();
        let cost = charge(&clean);
        if g.bytes + cost > self.budget {
            // The oldest generation goes first; if the current one alone fills the budget,
            // the rest of this rendering is sanitised as it comes, not kept.
            let retired = std::mem::take(&mut g.previous);
            g.bytes -= retired.values().map(|h| charge(h)).sum::<usize>();
        }
        if g.bytes + cost <= self.budget && !g.current.contains_key(&key) {
            g.bytes += cost;
            g.current.insert(key, clean.clone());
        }
        clean
    }
}

/// What a sanitised form depends on: the HTML and the base, kept apart by a byte no UTF-8
/// text has.
fn key(html: &str, base: Option<&str>) -> u128 {
    let mut h = Xxh3::new();
    h.update(html.as_bytes());
    h.update(&[0xFF]);
    h.update(base.unwrap_or("").as_bytes());
    h.digest128()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_content_is_sanitised_once_per_base() {
        let cache = SanitizedCache::default();
        let mut s = None;
        cache.begin(1);
        let html = r#"<p onclick="x()">a <a href="b">b</a></p>"#;
        let one = cache.clean(&mut s, html, Some("https://example.org/"));
        let two = cache.clean(&mut s, html, Some("https://example.org/"));
        assert!(Arc::ptr_eq(&one, &two));
        assert!(one.contains(r#"href="https://example.org/b""#) && !one.contains("onclick"));
        assert_eq!(cache.sanitised(), 1);
        let other_base = cache.clean(&mut s, html, Some("https://example.net/"));
        assert!(other_base.contains("example.net"));
        assert_eq!(cache.sanitised(), 2);
    }

    #[test]
    fn unused_generations_go_and_the_budget_holds() {
        let cache = SanitizedCache::new(4 * (ENTRY_OVERHEAD + 8));
        let mut s = None;
        cache.begin(1);
        cache.clean(&mut s, "<b>old</b>", None);
        cache.clean(&mut s, "<b>kept</b>", None);
        cache.begin(2);
        cache.clean(&mut s, "<b>kept</b>", None);
        assert_eq!(cache.sanitised(), 2, "found in the previous generation");
        cache.begin(3);
        // "old" was not used while version 2 was current: it is gone.
        cache.clean(&mut s, "<b>old</b>", None);
        assert_eq!(cache.sanitised(), 3);
        cache.clean(&mut s, "<b>kept</b>", None);
        assert_eq!(cache.sanitised(), 3);
        for i in 0..100 {
            cache.clean(&mut s, &format!("<i>{i}</i>"), None);
            assert!(cache.bytes() <= 4 * (ENTRY_OVERHEAD + 8));
        }
    }
}
