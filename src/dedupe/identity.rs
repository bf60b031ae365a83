//! Identity: normalised items → the same items with a stable [`ItemKey`] and canonical link,
//! duplicates inside one document removed. Key chain: guid → canonical link → hash of title and
//! content; a guid repeated inside the document falls back to guid + link.

use std::collections::{HashMap, HashSet};

use url::Url;
use xxhash_rust::xxh3::Xxh3;

use crate::model::{ItemKey, NewItem};

/// Query parameters that only track where a click came from; they never change the page.
const TRACKING_PARAMS: &[&str] = &[
    "fbclid",
    "gclid",
    "dclid",
    "gbraid",
    "wbraid",
    "msclkid",
    "yclid",
    "twclid",
    "igshid",
    "mc_cid",
    "mc_eid",
    "_hsenc",
    "_hsmi",
    "mkt_tok",
    "oly_anon_id",
    "oly_enc_id",
    "vero_id",
    "rb_clickid",
    "s_cid",
    "ref_src",
    "__s",
];

fn is_tracking_param(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    lower.starts_with("utm_") || TRACKING_PARAMS.contains(&lower.as_str())
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
