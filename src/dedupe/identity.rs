//! Identity: normalised items → the same items with a stable [`ItemKey`] and canonical link,
//! duplicates inside one document removed. Key chain: guid → canonical link → hash of title and
//! content; a guid repeated inside the document falls back to guid + link.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use url::{Url, form_urlencoded};
use xxhash_rust::xxh3::Xxh3;

use crate::config::DEFAULT_TRACKING_PARAMS;
use crate::model::{ItemKey, NewItem};

/// Query parameters to leave out of links: names compared without regard to case, each exact
/// or, ending in `*`, a prefix (`utm_*`). Built from `[output] tracking_params` for the links
/// the outputs publish; canonical links always leave out [`DEFAULT_TRACKING_PARAMS`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrackingParams {
    /// Lower-cased names, `*` kept at the end of prefixes.
    names: Arc<[String]>,
}

impl TrackingParams {
    /// The parameters named by `names` (as `[output] tracking_params` has them).
    pub fn new<S: AsRef<str>>(names: &[S]) -> TrackingParams {
        TrackingParams {
            names: names
                .iter()
                .map(|n| n.as_ref().to_ascii_lowercase())
                .collect(),
        }
    }

    /// Whether no parameter is left out.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// Whether `name` (decoded) is one of these parameters.
    pub fn matches(&self, name: &str) -> bool {
        is_listed(&self.names, name)
    }

    /// `link` without these parameters in its query, every other byte as it was: the order,
    /// spelling and encoding of the parameters kept, and the fragment. A `?` left with
    /// nothing after it goes too. Names are judged decoded (`utm%5Fsource` is `utm_source`).
    /// Borrowed when nothing is removed.
    pub fn strip<'a>(&self, link: &'a str) -> Cow<'a, str> {
        if self.is_empty() {
            return Cow::Borrowed(link);
        }
        // The query runs from the first `?` to the fragment's `#`; a `?` after the `#` is the
        // fragment's.
        let (head, fragment) = link.split_at(link.find('#').unwrap_or(link.len()));
        let Some(q) = head.find('?') else {
            return Cow::Borrowed(link);
        };
        let (path, query) = (&head[..q], &head[q + 1..]);
        let is_tracking = |pair: &str| {
            form_urlencoded::parse(pair.as_bytes())
                .next()
                .is_some_and(|(name, _)| self.matches(&name))
        };
        if !query.split('&').any(is_tracking) {
            return Cow::Borrowed(link);
        }
        let mut out = String::with_capacity(link.len());
        out.push_str(path);
        for pair in query.split('&').filter(|p| !is_tracking(p)) {
            out.push(if out.len() == path.len() { '?' } else { '&' });
            out.push_str(pair);
        }
        out.push_str(fragment);
        Cow::Owned(out)
    }
}

/// Whether `name` is one of `names` (lower-case; exact, or a prefix ending in `*`).
fn is_listed<S: AsRef<str>>(names: &[S], name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    names.iter().any(|n| match n.as_ref().strip_suffix('*') {
        Some(prefix) => lower.starts_with(prefix),
        None => lower == n.as_ref(),
    })
}

fn is_tracking_param(name: &str) -> bool {
    is_listed(DEFAULT_TRACKING_PARAMS, name)
}

/// The canonical form of a link: scheme and host lower-cased, default port and fragment
/// dropped, tracking parameters removed (the order of the others is kept). `None` for
/// anything that is not an absolute http(s) URL.
pub fn canonical_link(link: &str) -> Option<String> {
    // Url::parse lower-cases scheme and host, drops default ports and normalises the path.
    let mut url = Url::parse(link.trim()).ok()?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return None;
    }
    url.set_fragment(None);
    if url.query().is_some() {
        let kept: Vec<(String, String)> = url
            .query_pairs()
            .filter(|(k, _)| !is_tracking_param(k))
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        if kept.is_empty() {
            url.set_query(None);
        } else {
            url.query_pairs_mut().clear().extend_pairs(kept);
        }
    }
    Some(url.into())
}

fn key(kind: &str, parts: &[&str]) -> ItemKey {
    let mut h = Xxh3::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update(&[0xFF]);
    }
    ItemKey(format!("{kind}:{:032x}", h.digest128()))
}

/// Gives every item its canonical link and key, and drops later items that repeat an earlier
/// one's key or canonical link (a feed that lists the same article twice shows it once).
pub fn identify(mut items: Vec<NewItem>) -> Vec<NewItem> {
    let mut guid_count: HashMap<String, usize> = HashMap::new();
    for item in &items {
        if !item.guid.is_empty() {
            *guid_count.entry(item.guid.clone()).or_default() += 1;
        }
    }
    for item in &mut items {
        item.canonical_link = item.link.as_deref().and_then(canonical_link);
        let link = item.canonical_link.as_deref();
        item.key = match (item.guid.as_str(), link) {
            ("", Some(link)) => key("l", &[link]),
            ("", None) => key("h", &[&item.title, &item.content_html]),
            (guid, Some(link)) if guid_count[guid] > 1 => key("gl", &[guid, link]),
            (guid, _) => key("g", &[guid]),
        };
    }
    let mut keys = HashSet::new();
    let mut links = HashSet::new();
    items.retain(|item| {
        let new_link = item
            .canonical_link
            .as_ref()
            .is_none_or(|l| links.insert(l.clone()));
        keys.insert(item.key.clone()) && new_link
    });
    items
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(guid: &str, link: Option<&str>, title: &str) -> NewItem {
        NewItem {
            guid: guid.into(),
            link: link.map(Into::into),
            title: title.into(),
            ..NewItem::default()
        }
    }

    #[test]
    fn canonical_links() {
        let c = |s| canonical_link(s);
        assert_eq!(
            c("HTTPS://Example.ORG:443/a/b?utm_source=x&id=3&UTM_Medium=y#top").as_deref(),
            Some("https://example.org/a/b?id=3")
        );
        assert_eq!(
            c("http://example.org:80/x?fbclid=1&gclid=2").as_deref(),
            Some("http://example.org/x")
        );
        assert_eq!(
            c("http://example.org:8080/x").as_deref(),
            Some("http://example.org:8080/x")
        );
        assert_eq!(
            c("https://example.org/a?b=1&mc_cid=2&mc_eid=3&c=4").as_deref(),
            Some("https://example.org/a?b=1&c=4")
        );
        assert_eq!(c("mailto:a@example.org"), None);
        assert_eq!(c("/relative"), None);
        let once = c("https://example.org/%7Efoo?q=a+b&utm_x=1").unwrap();
        assert_eq!(c(&once).as_deref(), Some(once.as_str()), "idempotent");
    }

    #[test]
    fn tracking_params_leave_the_rest_of_a_link_as_published() {
        let t = TrackingParams::new(crate::config::DEFAULT_TRACKING_PARAMS);
        let strip = |link: &'static str| t.strip(link).into_owned();
        assert_eq!(
            strip("https://a.example/p?utm_source=x&id=3"),
            "https://a.example/p?id=3"
        );
        // Order, spelling and encoding of the others kept, and the fragment.
        assert_eq!(
            strip("https://a.example/p?z=1&fbclid=9&q=a+b%7E&UTM_Medium=m&a=2#utm_x=1"),
            "https://a.example/p?z=1&q=a+b%7E&a=2#utm_x=1"
        );
        assert_eq!(
            strip("https://a.example/p?utm_source=x&gclid=2#top"),
            "https://a.example/p#top"
        );
        // Names are judged decoded.
        assert_eq!(
            strip("https://a.example/p?utm%5Fsource=x&f%62clid=1&k=v"),
            "https://a.example/p?k=v"
        );
        // `utm_*` is a prefix of names with the underscore, not of every `utm…` name.
        assert_eq!(
            strip("https://a.example/p?utm=1&utmost=2&utm_=3"),
            "https://a.example/p?utm=1&utmost=2"
        );
        // A `?` inside the fragment is not a query; a link without one is borrowed as is.
        let fragment_only = "https://a.example/p#x?utm_source=1";
        assert!(matches!(t.strip(fragment_only), Cow::Borrowed(l) if l == fragment_only));
        let clean = "https://a.example/p?id=3&mc=1";
        assert!(matches!(t.strip(clean), Cow::Borrowed(l) if l == clean));
        // Exact names are exact; the configured list is the only one.
        let own = TrackingParams::new(&["ref", "x_*"]);
        assert_eq!(
            own.strip("https://a.example/?ref=1&referrer=2&x_a=3&utm_source=4"),
            "https://a.example/?referrer=2&utm_source=4"
        );
        let none = TrackingParams::new::<&str>(&[]);
        let tracked = "https://a.example/?utm_source=1";
        assert!(matches!(none.strip(tracked), Cow::Borrowed(l) if l == tracked));
    }

    #[test]
    fn key_chain_and_repeated_guids() {
        let items = identify(vec![
            item("same", Some("https://example.org/a"), "A"),
            item("same", Some("https://example.org/b"), "B"),
            item("", Some("https://example.org/c?utm_source=x"), "C"),
            item("", None, "D"),
            item("unique", None, "E"),
        ]);
        assert_eq!(items.len(), 5);
        let kinds: Vec<&str> = items
            .iter()
            .map(|i| i.key.0.split(':').next().unwrap())
            .collect();
        assert_eq!(kinds, ["gl", "gl", "l", "h", "g"]);
        assert_ne!(items[0].key, items[1].key);
        assert_eq!(
            items[2].canonical_link.as_deref(),
            Some("https://example.org/c")
        );
    }

    #[test]
    fn keys_are_stable() {
        let a = identify(vec![item("x", None, "t"), item("", None, "no ids")]);
        let b = identify(vec![item("x", None, "t"), item("", None, "no ids")]);
        assert_eq!(a, b);
    }

    #[test]
    fn repeats_in_one_document_are_dropped() {
        let items = identify(vec![
            item("1", Some("https://example.org/a"), "first"),
            item("1", Some("https://example.org/a"), "again"),
            item(
                "2",
                Some("https://example.org/a#frag"),
                "same link, new guid",
            ),
        ]);
        assert_eq!(items.len(), 1);
        assert_eq!(items[0].title, "first");
    }
}
