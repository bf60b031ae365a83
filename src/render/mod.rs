//! Rendering: stored items → the merged feed as RSS 2.0, Atom 1.0 or JSON Feed 1.1, and the
//! HTML news page. Every format carries the same entries: sanitised HTML that starts with
//! "N min read", the source feed, and the estimate in machine-readable form.

pub mod atom;
pub mod html;
pub mod json;
pub mod page;
pub mod rss;
pub mod sanitized;

use std::borrow::Cow;

use chrono::{DateTime, Utc};
use url::Url;
use xxhash_rust::xxh3::Xxh3;

use crate::config::Placement;
use crate::html::escape;
use crate::model::{Enclosure, FeedFailure, FullTextOutcome, NewItem, ReadingTime, StoredItem};
use crate::normalize::{MAX_URL_BYTES, is_web_url};
use crate::redact;
use sanitized::SanitizedCache;

/// The XML namespace of feedmerge's own elements.
pub const NAMESPACE: &str = "urn:feedmerge:ns:1";
/// Prefix bound to [`NAMESPACE`] in the output.
pub const PREFIX: &str = "feedmerge";

/// The feed formats served.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// RSS 2.0, `/feed.xml`.
    Rss,
    /// Atom 1.0, `/feed.atom`.
    Atom,
    /// JSON Feed 1.1, `/feed.json`.
    Json,
}

impl Format {
    /// Every format.
    pub const ALL: [Format; 3] = [Format::Rss, Format::Atom, Format::Json];

    /// The file extension of the default output (`feed.xml`, `feed.atom`, `feed.json`).
    pub fn extension(self) -> &'static str {
        match self {
            Format::Rss => "xml",
            Format::Atom => "atom",
            Format::Json => "json",
        }
    }

    /// The `Content-Type` it is served with.
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Rss => "application/rss+xml; charset=utf-8",
            Format::Atom => "application/atom+xml; charset=utf-8",
            Format::Json => "application/feed+json; charset=utf-8",
        }
    }

    /// Reads `rss`, `atom` or `json`.
    pub fn from_name(name: &str) -> Option<Format> {
        match name {
            "rss" => Some(Format::Rss),
            "atom" => Some(Format::Atom),
            "json" => Some(Format::Json),
            _ => None,
        }
    }
}

/// What the merged feed says about itself.
#[derive(Debug, Clone)]
pub struct Channel {
    /// Title.
    pub title: String,
    /// Description (RSS `<description>`, Atom `<subtitle>`).
    pub description: String,
    /// Public base URL of the server: the home page link, and the base of the self links.
    pub base_url: Url,
    /// The path of this output without extension (`feed` for `/feed.xml`).
    pub path: String,
    /// Where people see "N min read".
    pub placement: Placement,
    /// The WebSub hub this output announces (`[websub] hub`), if any.
    pub hub: Option<Url>,
}

impl Channel {
    /// The absolute URL of this output in `format`.
    pub fn self_url(&self, format: Format) -> String {
        let path = format!(
            "{}.{}",
            self.path.trim_start_matches('/'),
            format.extension()
        );
        self.base_url
            .join(&path)
            .map_or_else(|_| self.base_url.to_string(), |u| u.to_string())
    }
}

/// "N min read", as shown to people.
pub fn reading_label(minutes: u32) -> String {
    format!("{minutes} min read")
}

/// One entry of the merged feed, as every format needs it.
#[derive(Debug, Clone)]
pub struct Entry<'a> {
    /// Stable, unique across feeds.
    pub id: String,
    /// Plain text.
    pub title: String,
    /// The article.
    pub link: Option<Cow<'a, str>>,
    /// Sanitised HTML, starting with the "N min read" paragraph.
    pub html: String,
    /// Plain-text teaser.
    pub summary: Cow<'a, str>,
    /// The date shown.
    pub date: DateTime<Utc>,
    /// When the stored item last changed.
    pub updated: DateTime<Utc>,
    /// Author names.
    pub author: Option<&'a str>,
    /// Category terms.
    pub categories: &'a [String],
    /// Media attachment.
    pub enclosure: Option<&'a Enclosure>,
    /// Lead image.
    pub image: Option<&'a str>,
    /// The feed it came from, redacted (see [`crate::redact`]): its URL may carry a token.
    pub source_url: Cow<'a, str>,
    /// That feed's title (its URL, redacted, when it has none).
    pub source_title: Cow<'a, str>,
    /// Other feeds with the same story, with links to their copies.
    pub also_in: Vec<AlsoInLink<'a>>,
    /// The estimate; `None` for health items.
    pub reading: Option<ReadingTime>,
}

/// Another feed with the same story, as every format shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AlsoInLink<'a> {
    /// The feed's title (its URL, redacted, when it has none).
    pub feed_title: Cow<'a, str>,
    /// The link to the copy there, when it may be published (see [`published_link`]).
    pub url: Option<Cow<'a, str>>,
}

/// The other feeds that carry `item`'s story, each linked to its copy.
pub fn also_in(item: &StoredItem) -> Vec<AlsoInLink<'_>> {
    item.also_in
        .iter()
        .map(|a| AlsoInLink {
            feed_title: redact::name(&a.feed_title),
            url: a.link.as_deref().and_then(published_link),
        })
        .collect()
}

/// `link` as it may be published as a link: an absolute http(s) URL with a host, of at most
/// [`MAX_URL_BYTES`], the rule every item's link passed when it was stored. Applied again
/// where a stored link becomes an `href` of feedmerge's own markup, since the database may
/// hold rows from before a rule or from another writer.
pub fn published_link(link: &str) -> Option<Cow<'_, str>> {
    if link.len() > MAX_URL_BYTES {
        return None;
    }
    let url = Url::parse(link).ok()?;
    if !is_web_url(&url) || url.host().is_none() {
        return None;
    }
    Some(if url.as_str() == link {
        Cow::Borrowed(link)
    } else {
        Cow::Owned(url.into())
    })
}

/// The "Also in" paragraph that ends an item's description: each feed named and linked to
/// its copy (named only, when the copy has no link that may be published).
fn also_in_html(also_in: &[AlsoInLink<'_>]) -> String {
    let names: Vec<String> = also_in
        .iter()
        .map(|a| match &a.url {
            Some(url) => format!("<a href=\"{}\">{}</a>", escape(url), escape(&a.feed_title)),
            None => escape(&a.feed_title),
        })
        .collect();
    format!("<p>Also in: {}</p>", names.join(", "))
}

/// The story of `item` as sanitised HTML: the extracted article when the feeds carry it
/// (`include_full_text`), else the content the feed had; from `sanitized`, or made with
/// `sanitizer` (built on first use) and kept there.
pub fn story(
    item: &NewItem,
    sanitized: &SanitizedCache,
    sanitizer: &mut Option<html::Sanitizer>,
) -> std::sync::Arc<str> {
    let (content, base) = match &item.full_text {
        Some(FullTextOutcome::Extracted(Some(article))) => (article, item.link.as_deref()),
        _ => (&item.content_html, item.content_base.as_deref()),
    };
    sanitized.clean(sanitizer, content, base)
}

/// The entries of the merged feed, newest first: `items`, and one health item per feed in
/// `failing`, each at its date.
pub fn entries<'a>(
    items: &'a [StoredItem],
    failing: &'a [FeedFailure],
    placement: Placement,
) -> Vec<Entry<'a>> {
    // Only this rendering shares it: a content repeated in two items is sanitised once.
    entries_cached(items, failing, placement, &SanitizedCache::new(usize::MAX))
}

/// [`entries`], with the sanitised HTML taken from `sanitized` and kept there for the next
/// rendering.
pub fn entries_cached<'a>(
    items: &'a [StoredItem],
    failing: &'a [FeedFailure],
    placement: Placement,
    sanitized: &SanitizedCache,
) -> Vec<Entry<'a>> {
    let in_description = matches!(placement, Placement::Description | Placement::Both);
    let in_title = matches!(placement, Placement::Title | Placement::Both);
    // Built on the first content the cache does not have.
    let mut sanitizer = None;
    let mut all: Vec<Entry<'a>> = items
        .iter()
        .map(|s| {
            let it = &s.item;
            let label = reading_label(it.reading_time.minutes);
            let mut html = if in_description {
                format!("<p>{label}</p>")
            } else {
                String::new()
            };
            html.push_str(&story(it, sanitized, &mut sanitizer));
            let also_in = also_in(s);
            if !also_in.is_empty() {
                html.push_str(&also_in_html(&also_in));
            }
            let title = if in_title && !it.title.is_empty() {
                format!("{} ({label})", it.title)
            } else {
                it.title.clone()
            };
            Entry {
                id: output_guid(&s.feed_url, &it.key.0),
                title,
                link: it.link.as_deref().map(Cow::Borrowed),
                html,
                summary: Cow::Borrowed(&it.summary),
                date: s.date,
                updated: s.changed_at.max(s.date),
                author: it.author.as_deref(),
                categories: &it.categories,
                enclosure: it.enclosure.as_ref(),
                image: it.image.as_ref().map(|i| i.url.as_str()),
                source_url: redact::url_text(&s.feed_url),
                source_title: redact::name(&s.feed_title),
                also_in,
                reading: Some(it.reading_time),
            }
        })
        .chain(failing.iter().map(health_entry))
        .collect();
    // Stable: items of one date keep the store's order.
    all.sort_by_key(|e| std::cmp::Reverse(e.date));
    all
}

/// An entry that says a feed is failing, so that a subscriber sees it in the reader. Its id
/// is stable for one run of failures; a later outage is a new entry. What it shows of the
/// feed is redacted: the URL may carry a token, and so may an error stored before errors were
/// redacted.
fn health_entry(f: &FeedFailure) -> Entry<'_> {
    let since = f.since.format("%Y-%m-%d %H:%M UTC");
    let url = redact::url_text(&f.feed_url);
    let title = redact::name(&f.feed_title);
    let error = redact::text(&f.error);
    let html = format!(
        "<p>feedmerge has not been able to update <a href=\"{url}\">{title}</a> since {since}.</p><p>Last error: {error}</p>",
        url = escape(&url),
        title = escape(&title),
        error = escape(&error),
    );
    Entry {
        // The full URL, as for items: two feeds that differ only in a secret stay apart.
        id: output_guid(&f.feed_url, &format!("health:{}", f.since.timestamp())),
        title: format!("Feed {title} has failed since {since}"),
        link: Some(url.clone()),
        html,
        summary: error,
        date: f.since,
        updated: f.since,
        author: None,
        categories: &[],
        enclosure: None,
        image: None,
        source_url: url,
        source_title: title,
        also_in: Vec::new(),
        reading: None,
    }
}

/// Renders the merged feed in `format`.
pub fn render(
    format: Format,
    channel: &Channel,
    items: &[StoredItem],
    failing: &[FeedFailure],
    now: DateTime<Utc>,
) -> String {
    render_cached(
        format,
        channel,
        items,
        failing,
        now,
        &SanitizedCache::new(usize::MAX),
    )
}

/// [`render`], with the sanitised HTML taken from `sanitized` and kept there.
pub fn render_cached(
    format: Format,
    channel: &Channel,
    items: &[StoredItem],
    failing: &[FeedFailure],
    now: DateTime<Utc>,
    sanitized: &SanitizedCache,
) -> String {
    let entries = entries_cached(items, failing, channel.placement, sanitized);
    let updated = items.iter().map(|i| i.changed_at).max().unwrap_or(now);
    match format {
        Format::Rss => rss::render(channel, &entries, updated),
        Format::Atom => atom::render(channel, &entries, updated),
        Format::Json => json::render(channel, &entries),
    }
}

/// The merged feed's id for an item: unique across feeds (two feeds may both use guid "1"),
/// stable across polls and restarts.
pub fn output_guid(feed_url: &str, key: &str) -> String {
    let mut h = Xxh3::new();
    h.update(feed_url.as_bytes());
    h.update(&[0xFF]);
    h.update(key.as_bytes());
    format!("urn:feedmerge:{:032x}", h.digest128())
}

/// Removes what XML 1.0 cannot carry: control characters other than tab, newline and carriage
/// return, and the non-characters U+FFFE and U+FFFF.
pub fn xml_text(s: &str) -> String {
    s.chars()
        .filter(|&c| !matches!(c, '\u{0}'..='\u{8}' | '\u{B}' | '\u{C}' | '\u{E}'..='\u{1F}' | '\u{FFFE}' | '\u{FFFF}'))
        .collect()
}

/// The estimate's attributes, in the names of the feedmerge namespace.
pub fn reading_attrs(rt: &ReadingTime) -> [(&'static str, String); 5] {
    [
        ("minutes", rt.minutes.to_string()),
        ("words", rt.words.to_string()),
        ("cjkChars", rt.cjk_chars.to_string()),
        ("images", rt.images.to_string()),
        ("source", rt.source.as_str().to_owned()),
    ]
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::model::{Cursor, ItemKey, NewItem, TextSource};

    /// A stored item for renderer tests.
    pub fn stored(title: &str, content: &str) -> StoredItem {
        let t = Utc::now();
        StoredItem {
            item: NewItem {
                key: ItemKey("g:1".into()),
                guid: "1".into(),
                link: Some("https://example.org/a".into()),
                canonical_link: Some("https://example.org/a".into()),
                title: title.into(),
                author: Some("Ann".into()),
                authors: Vec::new(),
                categories: vec!["x".into()],
                content_html: content.into(),
                content_base: Some("https://example.org/".into()),
                date: Some(t),
                enclosure: None,
                image: None,
                summary: String::new(),
                reading_time: ReadingTime {
                    minutes: 2,
                    words: 313,
                    cjk_chars: 0,
                    images: 0,
                    source: TextSource::Content,
                },
                content_hash: 0,
                full_text: None,
                wants_full_text: false,
                fingerprint: None,
                near_duplicate_of: None,
            },
            cursor: Cursor {
                sort_at: t.timestamp(),
                id: 1,
            },
            also_in: Vec::new(),
            feed_url: "https://example.org/feed.xml".into(),
            feed_icon: None,
            feed_site: None,
            source_icon: None,
            feed_title: "Example".into(),
            first_seen: t,
            date: t,
            changed_at: t,
        }
    }

    /// The channel of renderer tests.
    pub fn channel() -> Channel {
        Channel {
            title: "Merged".into(),
            description: "d".into(),
            base_url: Url::parse("http://127.0.0.1:8080/").unwrap(),
            path: "feed".into(),
            placement: Placement::Description,
            hub: None,
        }
    }

    #[test]
    fn self_urls_follow_the_base_and_path() {
        let mut c = channel();
        assert_eq!(c.self_url(Format::Atom), "http://127.0.0.1:8080/feed.atom");
        c.base_url = Url::parse("https://news.example.org/merged/").unwrap();
        c.path = "/rust".into();
        assert_eq!(
            c.self_url(Format::Json),
            "https://news.example.org/merged/rust.json"
        );
    }

    #[test]
    fn placement_decides_where_people_see_the_estimate() {
        let items = [stored("Hello", "<p>x</p>")];
        let title = entries(&items, &[], Placement::Title);
        assert_eq!(title[0].title, "Hello (2 min read)");
        assert_eq!(title[0].html, "<p>x</p>");
        let both = entries(&items, &[], Placement::Both);
        assert_eq!(both[0].title, "Hello (2 min read)");
        assert!(both[0].html.starts_with("<p>2 min read</p>"));
        let none = entries(&items, &[], Placement::None);
        assert_eq!(
            (none[0].title.as_str(), none[0].html.as_str()),
            ("Hello", "<p>x</p>")
        );
        assert!(
            none[0].reading.is_some(),
            "the machine-readable estimate stays"
        );
    }

    #[test]
    fn entries_are_newest_first_with_health_entries_by_date() {
        let mut old = stored("Old", "");
        old.date = Utc::now() - chrono::Duration::days(2);
        let items = [stored("New", "<p>x</p>"), old];
        let failing = [FeedFailure {
            feed_url: "https://example.org/broken".into(),
            feed_title: "Broken".into(),
            since: Utc::now() - chrono::Duration::days(1),
            error: "e".into(),
        }];
        let e = entries(&items, &failing, Placement::Description);
        let titles: Vec<&str> = e.iter().map(|e| e.title.as_str()).collect();
        assert!(titles[0] == "New" && titles[2] == "Old", "{titles:?}");
        assert!(titles[1].starts_with("Feed Broken has failed since"));
        assert!(e[0].html.starts_with("<p>2 min read</p><p>x</p>"));
    }

    #[test]
    fn also_in_links_each_copy_that_has_a_web_link() {
        use crate::model::AlsoIn;
        let other = |title: &str, link: Option<&str>| AlsoIn {
            feed_title: title.into(),
            link: link.map(Into::into),
        };
        let mut item = stored("Hello", "<p>x</p>");
        item.also_in = vec![
            other("City <News>", Some("https://city.example/copy?a=1&b=\"2\"")),
            other("Script", Some("javascript:alert(1)")),
            other("Relative", Some("/news/copy")),
            other("Mail", Some("mailto:desk@city.example")),
            other("No link", None),
        ];
        let e = entries(std::slice::from_ref(&item), &[], Placement::Description);
        assert!(
            e[0].html.ends_with(
                "<p>Also in: <a href=\"https://city.example/copy?a=1&amp;b=%222%22\">City &lt;News&gt;</a>, \
                 Script, Relative, Mail, No link</p>"
            ),
            "{}",
            e[0].html
        );
        let now = Utc::now();
        let json: serde_json::Value =
            serde_json::from_str(&render(Format::Json, &channel(), &[item.clone()], &[], now))
                .unwrap();
        let also_in = &json["items"][0]["_feedmerge"]["also_in"];
        assert_eq!(also_in[0]["feed_title"], "City <News>");
        assert_eq!(also_in[0]["url"], "https://city.example/copy?a=1&b=%222%22");
        assert_eq!(also_in[1]["feed_title"], "Script");
        assert!(also_in[1].get("url").is_none(), "{also_in}");
        assert_eq!(also_in.as_array().unwrap().len(), 5);
        for format in [Format::Rss, Format::Atom] {
            let out = render(format, &channel(), &[item.clone()], &[], now);
            assert!(out.contains("https://city.example/copy"), "{out}");
            assert!(
                !out.contains("javascript:") && !out.contains("mailto:"),
                "{out}"
            );
        }
        let page = page::render(
            &page::Page::new(&channel(), &[item]),
            now,
            &SanitizedCache::default(),
        );
        let start = page
            .find("<p class=\"also-in\">")
            .expect("shown on the page");
        let shown = &page[start..start + page[start..].find("</p>").unwrap()];
        assert!(
            shown.contains(">City &lt;News&gt;</a>, Script, Relative, Mail, No link"),
            "{shown}"
        );
        assert_eq!(shown.matches("<a href=").count(), 1, "{shown}");
        assert!(shown.contains("city.example"), "{shown}");
    }

    #[test]
    fn feed_urls_are_shown_without_their_secrets() {
        let full = "http://user:pw@127.0.0.1:1/feed?apikey=SECRET&tag=x";
        let mut item = stored("Hello", "<p>x</p>");
        item.feed_url = full.into();
        // A feed without a title of its own is named by its URL.
        item.feed_title = full.into();
        item.also_in = vec![crate::model::AlsoIn {
            feed_title: full.replace("tag=x", "tag=y"),
            link: None,
        }];
        let mut linkless = item.clone();
        linkless.item.link = None;
        let failing = [FeedFailure {
            feed_url: full.into(),
            feed_title: full.into(),
            since: Utc::now(),
            error: format!("unexpected status 500 from {full}"),
        }];
        let items = [item, linkless];
        let now = Utc::now();
        for format in Format::ALL {
            let out = render(format, &channel(), &items, &failing, now);
            assert!(!out.contains("SECRET") && !out.contains("pw"), "{out}");
            assert!(out.contains("tag=x") && out.contains("tag=y"), "{out}");
        }
        let page = page::render(
            &page::Page::new(&channel(), &items),
            now,
            &SanitizedCache::default(),
        );
        assert!(!page.contains("SECRET") && !page.contains("pw"), "{page}");
        // Ids still come from the full URL: they stay what they were.
        let e = entries(&items, &failing, Placement::Description);
        assert!(e.iter().any(|e| e.id == output_guid(full, "g:1")));
        let health = e.iter().find(|e| e.reading.is_none()).unwrap();
        assert_eq!(
            health.id,
            output_guid(full, &format!("health:{}", failing[0].since.timestamp()))
        );
        assert_eq!(
            health.link.as_deref(),
            Some("http://127.0.0.1:1/feed?apikey=REDACTED&tag=x")
        );
    }
}
