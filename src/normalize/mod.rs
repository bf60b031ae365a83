//! Normalising: a parsed [`Feed`](feed_rs::model::Feed) → one [`NewItem`] per entry, with plain-text titles, absolute
//! links, plausible dates, the fullest content, its reading time, its near-duplicate
//! fingerprint (taken in the same pass over the words, with `dedupe`'s `Shingler`, for news
//! only: see [`normalize_news`]) and whether it wants its article page ([`teaser`]). Identity
//! is left to `dedupe`.
//!
//! Every field stored is capped here, since a publisher controls its length and the merged
//! outputs copy some fields into every item (the feed's title into each `<source>`):
//!
//! | field | cap | over the cap |
//! |---|---|---|
//! | item and feed title | [`MAX_TITLE_CHARS`] characters | cut at a character boundary, "…" added |
//! | author names | [`MAX_AUTHOR_CHARS`] characters | cut, "…" added |
//! | categories | [`MAX_CATEGORIES`] per item, [`MAX_CATEGORY_CHARS`] characters each | the first distinct ones in document order are kept, each cut |
//! | links, enclosure, image, site link, content base | [`MAX_URL_BYTES`] | dropped (a cut URL is a wrong URL); a dropped base falls back to the feed's URL |
//! | enclosure MIME type | [`MAX_MIME_BYTES`] | `application/octet-stream` |
//! | enclosures | one per item | the first usable one (`media:content`, then `rel="enclosure"`) |
//! | guid | [`MAX_GUID_BYTES`] | replaced by a hash of it, so identity is kept |
//! | content HTML | [`MAX_CONTENT_BYTES`] | cut before the tag it would split; the reading time and fingerprint come from the whole text |
//! | summary | [`text::MAX_SUMMARY_CHARS`] characters | cut at a word, "…" added; a caption of the lead image that opens the text is left out |
//! | lead image sizes, caption, credit; authors | see [`details`] | |

pub mod details;
pub mod reading_time;
pub mod teaser;
pub mod text;

use std::borrow::Cow;

use chrono::{DateTime, TimeZone, Utc};
use feed_rs::model::{Entry, FeedType, Text};
use url::Url;
use xxhash_rust::xxh3::Xxh3;

use crate::config::ReadingTimeConfig;
use crate::dedupe::fingerprint::{Shingler, is_news};
use crate::html;
use crate::model::{Enclosure, FeedMeta, HubLinks, ItemKey, NewItem, TextSource};
use crate::parse::Parsed;
use crate::parse::fallbacks::Fallback;
use crate::words::for_each_word;

/// Dates this far ahead of the clock are still believed (publishers' clocks drift).
pub const FUTURE_TOLERANCE: chrono::Duration = chrono::Duration::minutes(10);

/// The earliest plausible publication date: anything older is a placeholder (0, 1970, 1980).
pub fn earliest_plausible_date() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(1995, 1, 1, 0, 0, 0)
        .single()
        .expect("a valid fixed date")
}

/// Normalises every entry of `parsed`, fetched from `feed_url`, at time `now`, each with its
/// near-duplicate fingerprint. The entries' content is moved into the items, not copied.
pub fn normalize(
    parsed: Parsed,
    feed_url: &Url,
    now: DateTime<Utc>,
    rt: &ReadingTimeConfig,
) -> (FeedMeta, Vec<NewItem>) {
    normalize_news(parsed, feed_url, now, rt, Some(DateTime::<Utc>::MIN_UTC))
}

/// [`normalize`], with a near-duplicate fingerprint for news only: the items that
/// [`is_news`] since `news_since` (`None`: no item). The others skip the fingerprint's
/// hashing; the reading time still counts every word.
pub fn normalize_news(
    parsed: Parsed,
    feed_url: &Url,
    now: DateTime<Utc>,
    rt: &ReadingTimeConfig,
    news_since: Option<DateTime<Utc>>,
) -> (FeedMeta, Vec<NewItem>) {
    let feed = &parsed.feed;
    let plain_titles = matches!(feed.feed_type, FeedType::Atom | FeedType::JSON);
    let meta = FeedMeta {
        title: feed
            .title
            .as_ref()
            .map(|t| cut_chars(title_text(t, plain_titles), MAX_TITLE_CHARS))
            .filter(|t| !t.is_empty()),
        site_link: feed
            .links
            .iter()
            .find(|l| l.rel.as_deref().is_none_or(|r| r == "alternate"))
            .and_then(|l| absolute(&l.href, feed_url)),
        icon: details::icon(feed, feed_url),
        repairs: parsed.repairs,
        hub_links: Box::new(hub_links(&feed.links, feed_url)),
    };
    let Parsed {
        feed,
        entry_bases,
        fallbacks,
        ..
    } = parsed;
    let items = feed
        .entries
        .into_iter()
        .enumerate()
        .map(|(i, e)| {
            let base = entry_bases
                .as_ref()
                .and_then(|b| b.get(i))
                .filter(|b| is_web_url(b) && b.as_str().len() <= MAX_URL_BYTES)
                .unwrap_or(feed_url);
            let fallback = fallbacks.as_ref().and_then(|f| f.get(i));
            normalize_entry(e, fallback, base, plain_titles, now, rt, news_since)
        })
        .collect();
    (meta, items)
}

/// `scope` is the base URL in scope at the entry: its `xml:base`, else the feed URL.
/// `plain_titles`: the format defines titles as plain text unless marked HTML (Atom, JSON).
/// `fallback`: what the document offers for a missing title or link. `news_since`: see
/// [`normalize_news`].
fn normalize_entry(
    mut e: Entry,
    fallback: Option<&Fallback>,
    scope: &Url,
    plain_titles: bool,
    now: DateTime<Utc>,
    rt: &ReadingTimeConfig,
    news_since: Option<DateTime<Utc>>,
) -> NewItem {
    // The content element may set its own xml:base. Only an http(s) base is taken: a
    // `javascript:` base would turn every relative link into script.
    let base: Cow<'_, Url> = e
        .base
        .as_deref()
        .and_then(|b| scope.join(b).ok())
        .filter(|b| is_web_url(b) && b.as_str().len() <= MAX_URL_BYTES)
        .map_or(Cow::Borrowed(scope), Cow::Owned);
    let link = e
        .links
        .iter()
        .find(|l| {
            l.rel
                .as_deref()
                .is_none_or(|r| r.trim().eq_ignore_ascii_case("alternate"))
        })
        .and_then(|l| absolute(&l.href, &base))
        .or_else(|| absolute(fallback?.link.as_deref()?, &base));

    // The body is moved out of the entry: nothing below reads the entry's content or summary.
    let content = e
        .content
        .as_mut()
        .filter(|c| c.body.as_deref().is_some_and(|b| !b.trim().is_empty()))
        .and_then(|c| {
            let m = &c.content_type;
            let plain = is_plain_text(m.ty().as_str(), m.subty().as_str(), m.suffix().is_some());
            Some((c.body.take()?, plain))
        });
    let mut summary = || {
        e.summary
            .as_mut()
            .filter(|s| !s.content.trim().is_empty())
            .map(|s| (std::mem::take(&mut s.content), text_is_plain(s)))
    };
    let (mut content_html, source) = match content {
        Some((body, plain)) => (as_html(body, plain), TextSource::Content),
        None => match summary() {
            Some((body, plain)) => (as_html(body, plain), TextSource::Summary),
            None => (String::new(), TextSource::None),
        },
    };

    let visible = text::visible(&content_html);
    // The estimate and the fingerprint come from the whole text; what is kept to show is cut.
    cut_html(&mut content_html, MAX_CONTENT_BYTES);
    let earliest = earliest_plausible_date();
    let date = e
        .published
        .or(e.updated)
        .filter(|d| *d >= earliest && *d <= now + FUTURE_TOLERANCE);
    // One pass over the words for the reading time and the near-duplicate fingerprint; for
    // the reading time alone, most words are only counted.
    let mut shingler = news_since
        .is_some_and(|since| is_news(date, now, since))
        .then(Shingler::default);
    let counted = match &mut shingler {
        Some(shingler) => {
            let mut counted = reading_time::WordCount::default();
            for_each_word(&visible.text, |w, ascii| {
                counted.add(w, ascii);
                shingler.add(w, ascii);
            });
            counted
        }
        None => reading_time::WordCount::of(&visible.text),
    };
    let reading_time = reading_time::from_counts(counted, visible.images, source, rt);

    let mut title = e
        .title
        .as_ref()
        .map(|t| title_text(t, plain_titles))
        .unwrap_or_default();
    if title.is_empty() {
        // An RSS `dc:title` is written like an RSS title (HTML).
        title = fallback
            .and_then(|f| f.title.as_deref())
            .map(text::plain_title)
            .unwrap_or_default();
    }
    if title.is_empty() {
        title = e
            .media
            .iter()
            .find_map(|m| m.title.as_ref())
            .map(|t| title_text(t, true))
            .unwrap_or_default();
    }
    if title.is_empty() {
        title = first_words(&visible.text, 12);
    }
    // A title is a line, not an article.
    let title = cut_chars(title, MAX_TITLE_CHARS);
    let people = details::authors(&e, fallback, &base);
    // Without authors of the entry's own, the byline names its episode's (`itunes:author`).
    let author = authors(&e).or_else(|| {
        let names: Vec<&str> = people.iter().map(|a| a.name.as_str()).collect();
        (!names.is_empty()).then(|| cut_chars(names.join(", "), MAX_AUTHOR_CHARS))
    });
    let categories = categories(&e);

    let enclosure = enclosure(&e, &base);
    let first_image = visible.first_image.as_ref();
    let image = details::lead_image(
        &e,
        fallback.and_then(|f| f.image.as_deref()),
        enclosure.as_ref(),
        first_image,
        &visible.text,
        &title,
        &base,
    );
    // A caption or credit of the lead image that opens the text is shown under the image,
    // not as the start of the summary.
    let text = details::without_leading_caption(&visible.text, first_image, image.as_ref());
    let summary = text::summary(text, SUMMARY_WORDS);

    // The guid is moved when it is kept as written.
    let guid = if e.id.len() <= MAX_GUID_BYTES && e.id.trim().len() == e.id.len() {
        std::mem::take(&mut e.id)
    } else {
        guid(e.id.trim())
    };
    let mut item = NewItem {
        key: ItemKey(String::new()),
        guid,
        link,
        canonical_link: None,
        title,
        author,
        authors: people,
        categories,
        content_html,
        content_base: Some(base.as_str().to_owned()),
        date,
        enclosure,
        image,
        summary,
        reading_time,
        content_hash: 0,
        full_text: None,
        wants_full_text: false,
        fingerprint: None,
        near_duplicate_of: None,
    };
    item.content_hash = content_hash(&item);
    item.wants_full_text = teaser::wanted(&item, &visible.text, rt);
    item.fingerprint = shingler.map(|s| s.finish(&item.title));
    item
}

/// A title as plain text. Atom `type="text"` and JSON Feed titles are plain text already
/// (`&lt;div&gt;` in them means a literal "<div>"); RSS titles, and Atom `type="html"`, are
/// treated as HTML, which is how publishers use them.
fn title_text(t: &Text, plain_by_spec: bool) -> String {
    if plain_by_spec && text_is_plain(t) {
        text::collapse_whitespace(&t.content)
    } else {
        text::plain_title(&t.content)
    }
}

/// Whether a media type of type `ty`, subtype `subty` and a suffix or not has the essence
/// (no parameters) `text/plain`, compared as written, case included: what comparing the
/// essence's string says, without building it.
fn is_plain_text(ty: &str, subty: &str, suffix: bool) -> bool {
    ty == "text" && subty == "plain" && !suffix
}

/// Whether `t` is plain text ([`is_plain_text`]).
pub(crate) fn text_is_plain(t: &Text) -> bool {
    let m = &t.content_type;
    is_plain_text(m.ty().as_str(), m.subty().as_str(), m.suffix().is_some())
}

/// `value` when it has the shape of a MIME type (`type/subtype`) and at most
/// [`MAX_MIME_BYTES`], else `application/octet-stream`.
fn mime_type(value: Option<&str>) -> String {
    let shaped = |v: &&str| {
        let essence = v.split(';').next().unwrap_or("").trim();
        essence.split_once('/').is_some_and(|(t, s)| {
            let token =
                |x: &str| !x.is_empty() && x.chars().all(|c| c.is_ascii_graphic() && c != '/');
            token(t) && token(s)
        })
    };
    value
        .map(str::trim)
        .filter(|v| v.len() <= MAX_MIME_BYTES)
        .filter(shaped)
        .map_or_else(|| "application/octet-stream".to_owned(), str::to_owned)
}

/// The longest title kept (an item's or a feed's), in characters.
pub const MAX_TITLE_CHARS: usize = 300;

/// The longest author line kept (all names, comma separated), in characters.
pub const MAX_AUTHOR_CHARS: usize = 200;

/// Categories kept per item: the first distinct ones, in document order.
pub const MAX_CATEGORIES: usize = 32;

/// The longest category kept, in characters.
pub const MAX_CATEGORY_CHARS: usize = 100;

/// The longest URL kept, in bytes: the sitemaps protocol's limit, and long past what real
/// article, image and media links need.
pub const MAX_URL_BYTES: usize = 2048;

/// The longest MIME type kept, in bytes (RFC 6838 allows 127 for the type and for the subtype).
pub const MAX_MIME_BYTES: usize = 255;

/// The longest guid kept as written, in bytes; a longer one is replaced by its hash.
pub const MAX_GUID_BYTES: usize = 512;

/// The most content HTML kept per item, in bytes: several times the longest articles feeds
/// carry (a 10,000-word article is about 100 KB of HTML).
pub const MAX_CONTENT_BYTES: usize = 256 * 1024;

/// `s` cut after `max` characters, with "…" when cut.
pub(crate) fn cut_chars(mut s: String, max: usize) -> String {
    if let Some((cut, _)) = s.char_indices().nth(max) {
        s.truncate(cut);
        s.push('…');
    }
    s
}

/// `html` cut to at most `max` bytes, at a character boundary and before a tag the cut would
/// split (the sanitiser would drop the half tag anyway; this keeps the text before it).
pub fn cut_html(html: &mut String, max: usize) {
    if html.len() <= max {
        return;
    }
    let mut end = max;
    while !html.is_char_boundary(end) {
        end -= 1;
    }
    let kept = &html.as_bytes()[..end];
    if let Some(open) = memchr::memrchr(b'<', kept) {
        if memchr::memchr(b'>', &kept[open..]).is_none() {
            end = open;
        }
    }
    html.truncate(end);
}

/// The entry's author names, comma separated, whitespace collapsed, at most
/// [`MAX_AUTHOR_CHARS`] characters. Names are read only until the line is that long.
fn authors(e: &Entry) -> Option<String> {
    let mut line = String::new();
    let names = e
        .authors
        .iter()
        .filter_map(|p| p.name.as_deref().map(str::trim))
        .filter(|n| !n.is_empty());
    for name in names {
        if !line.is_empty() {
            line.push_str(", ");
        }
        // Enough of each name for the cut below, whatever its whitespace.
        let mut end = name.len().min(MAX_AUTHOR_CHARS * 8);
        while !name.is_char_boundary(end) {
            end -= 1;
        }
        line.push_str(&name[..end]);
        if line.len() > MAX_AUTHOR_CHARS * 4 {
            break;
        }
    }
    let line = text::collapse_whitespace(&line);
    (!line.is_empty()).then(|| cut_chars(line, MAX_AUTHOR_CHARS))
}

/// The entry's first [`MAX_CATEGORIES`] distinct categories (label, else term), whitespace
/// collapsed, each at most [`MAX_CATEGORY_CHARS`] characters. One hash lookup per category,
/// and the rest of a long list is not read.
fn categories(e: &Entry) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::new();
    for c in &e.categories {
        if out.len() == MAX_CATEGORIES {
            break;
        }
        let raw = c.label.as_deref().unwrap_or(&c.term);
        // Enough of it for the cut, whatever its whitespace.
        let mut end = raw.len().min(MAX_CATEGORY_CHARS * 8);
        while !raw.is_char_boundary(end) {
            end -= 1;
        }
        let name = cut_chars(text::collapse_whitespace(&raw[..end]), MAX_CATEGORY_CHARS);
        if !name.is_empty() && seen.insert(name.clone()) {
            out.push(name);
        }
    }
    out
}

/// The guid as written, or, past [`MAX_GUID_BYTES`], a hash of it: as stable and as distinct,
/// and bounded.
fn guid(id: &str) -> String {
    if id.len() <= MAX_GUID_BYTES {
        return id.to_owned();
    }
    format!(
        "urn:feedmerge:guid:{:032x}",
        xxhash_rust::xxh3::xxh3_128(id.as_bytes())
    )
}

/// Words in an item's plain-text summary (the news page's teaser).
pub const SUMMARY_WORDS: usize = 50;

/// Whether `url` is http or https.
pub fn is_web_url(url: &Url) -> bool {
    matches!(url.scheme(), "http" | "https")
}

/// Resolves `href` against `base`; only http(s) links of at most [`MAX_URL_BYTES`] are kept.
/// The first `rel="hub"` and `rel="self"` among a feed's links (Atom `<link>`, RSS
/// `<atom:link>`), absolute, http or https.
fn hub_links(links: &[feed_rs::model::Link], base: &Url) -> HubLinks {
    let find = |rel: &str| {
        links
            .iter()
            .filter(|l| {
                l.rel
                    .as_deref()
                    .is_some_and(|r| r.eq_ignore_ascii_case(rel))
            })
            .find_map(|l| absolute(&l.href, base))
            .and_then(|u| Url::parse(&u).ok())
    };
    HubLinks {
        hub: find("hub"),
        topic: find("self"),
    }
}

pub(crate) fn absolute(href: &str, base: &Url) -> Option<String> {
    let href = href.trim();
    // Not even parsed: only dot segments (`a/../`) could resolve it to a short URL, and no
    // real link is written so.
    if href.len() > MAX_URL_BYTES * 3 {
        return None;
    }
    let url = base.join(href).ok()?;
    (matches!(url.scheme(), "http" | "https") && url.as_str().len() <= MAX_URL_BYTES)
        .then(|| url.into())
}

/// Plain text (`plain`) becomes escaped HTML paragraphs; HTML (and XHTML) is kept as
/// published.
fn as_html(body: String, plain: bool) -> String {
    if !plain {
        return body;
    }
    body.split("\n\n")
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|p| format!("<p>{}</p>", html::escape(p)))
        .collect()
}

fn first_words(text: &str, n: usize) -> String {
    let words: Vec<&str> = text.split_whitespace().take(n + 1).collect();
    if words.len() > n {
        format!("{}…", words[..n].join(" "))
    } else {
        words.join(" ")
    }
}

fn enclosure(e: &Entry, base: &Url) -> Option<Enclosure> {
    let from_media = e.media.iter().flat_map(|m| &m.content).find_map(|c| {
        Some(Enclosure {
            url: absolute(c.url.as_ref()?.as_str(), base)?,
            mime_type: mime_type(c.content_type.as_ref().map(|m| m.to_string()).as_deref()),
            length: c.size.unwrap_or(0),
        })
    });
    from_media.or_else(|| {
        e.links
            .iter()
            .filter(|l| l.rel.as_deref() == Some("enclosure"))
            .find_map(|l| {
                Some(Enclosure {
                    url: absolute(&l.href, base)?,
                    mime_type: mime_type(l.media_type.as_deref()),
                    length: l.length.unwrap_or(0),
                })
            })
    })
}

/// One field of [`content_hash`]: its bytes, then 0xFF, which never occurs in UTF-8, so that
/// fields cannot run into each other.
fn field(h: &mut Xxh3, s: &str) {
    h.update(s.as_bytes());
    h.update(&[0xFF]);
}

/// A hash of everything the merged feed shows of an item: equal hashes mean "unchanged".
fn content_hash(item: &NewItem) -> i64 {
    let mut h = Xxh3::new();
    field(&mut h, &item.title);
    field(&mut h, item.link.as_deref().unwrap_or(""));
    field(&mut h, item.author.as_deref().unwrap_or(""));
    // The categories joined by U+001F, without building the joined string.
    for (i, c) in item.categories.iter().enumerate() {
        if i > 0 {
            h.update(b"\x1F");
        }
        h.update(c.as_bytes());
    }
    h.update(&[0xFF]);
    field(&mut h, &item.content_html);
    field(
        &mut h,
        &item
            .date
            .map(|d| d.timestamp().to_string())
            .unwrap_or_default(),
    );
    if let Some(enc) = &item.enclosure {
        field(&mut h, &enc.url);
        field(&mut h, &enc.mime_type);
        field(&mut h, &enc.length.to_string());
    }
    // Only what an item has: an item without these hashes as it did before they were kept.
    if let Some(image) = &item.image {
        let number = |n: Option<u32>| n.map(|n| n.to_string()).unwrap_or_default();
        if image != &crate::model::LeadImage::new(image.url.clone()) {
            field(&mut h, &image.url);
            field(&mut h, &number(image.width));
            field(&mut h, &number(image.height));
            field(&mut h, image.caption.as_deref().unwrap_or(""));
            field(&mut h, image.credit.as_deref().unwrap_or(""));
            for s in &image.sources {
                field(&mut h, &s.url);
                field(&mut h, &s.width.to_string());
            }
        }
    }
    for a in &item.authors {
        if a.url.is_some() || a.avatar.is_some() || a.about.is_some() {
            field(&mut h, &a.name);
            field(&mut h, a.url.as_deref().unwrap_or(""));
            field(&mut h, a.avatar.as_deref().unwrap_or(""));
            field(&mut h, a.about.as_deref().unwrap_or(""));
        }
    }
    // Stored as SQLite INTEGER: the bits matter, not the sign.
    h.digest() as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn items(xml: &str) -> Vec<NewItem> {
        let url = Url::parse("https://example.org/feed.xml").unwrap();
        let feed = crate::parse::parse(xml.as_bytes(), None, &url).unwrap();
        let now = Utc.with_ymd_and_hms(2025, 6, 1, 0, 0, 0).unwrap();
        normalize(feed, &url, now, &ReadingTimeConfig::default()).1
    }

    #[test]
    fn only_news_gets_a_fingerprint_and_every_item_its_words_counted() {
        let url = Url::parse("https://example.org/feed.xml").unwrap();
        let body = "word ".repeat(300);
        let xml = format!(
            r#"<rss version="2.0"><channel><title>t</title>
          <item><guid>old</guid><pubDate>Mon, 26 May 2025 23:59:00 GMT</pubDate><description>{body}</description></item>
          <item><guid>new</guid><pubDate>Tue, 27 May 2025 00:00:00 GMT</pubDate><description>{body}</description></item>
          <item><guid>undated</guid><description>{body}</description></item>
          <item><guid>future</guid><pubDate>Thu, 01 Jan 2099 00:00:00 GMT</pubDate><description>{body}</description></item>
          </channel></rss>"#
        );
        let feed = || crate::parse::parse(xml.as_bytes(), None, &url).unwrap();
        let now = Utc.with_ymd_and_hms(2025, 6, 1, 0, 0, 0).unwrap();
        let since = Utc.with_ymd_and_hms(2025, 5, 27, 0, 0, 0).unwrap();
        let rt = ReadingTimeConfig::default();
        let news = |since| normalize_news(feed(), &url, now, &rt, since).1;
        let fingerprinted = |items: Vec<NewItem>| -> Vec<bool> {
            assert!(items.iter().all(|i| i.reading_time.words == 300));
            items.iter().map(|i| i.fingerprint.is_some()).collect()
        };
        // An undated item, or one dated in the future, is dated when first seen: news.
        assert_eq!(fingerprinted(news(Some(since))), [false, true, true, true]);
        assert_eq!(fingerprinted(news(None)), [false; 4]);
        assert_eq!(
            fingerprinted(normalize(feed(), &url, now, &rt).1),
            [true; 4]
        );
    }

    #[test]
    fn dates_outside_the_plausible_range_are_dropped() {
        let xml = r#"<rss version="2.0"><channel><title>t</title>
          <item><guid>a</guid><pubDate>Tue, 05 Mar 2024 09:03:00 +0100</pubDate></item>
          <item><guid>b</guid><pubDate>Thu, 01 Jan 2099 00:00:00 GMT</pubDate></item>
          <item><guid>c</guid><pubDate>Tue, 01 Jan 1980 00:00:00 GMT</pubDate></item>
          <item><guid>d</guid></item></channel></rss>"#;
        let dates: Vec<_> = items(xml)
            .iter()
            .map(|i| i.date.map(|d| d.to_rfc3339()))
            .collect();
        assert_eq!(
            dates,
            [
                Some("2024-03-05T08:03:00+00:00".to_owned()),
                None,
                None,
                None
            ]
        );
    }

    #[test]
    fn plain_text_content_is_escaped_and_titles_fall_back_to_text() {
        let json = r#"{"version":"https://jsonfeed.org/version/1.1","title":"j","items":[
            {"id":"1","content_text":"a <b> & c\n\nsecond paragraph"}]}"#;
        let url = Url::parse("https://example.org/feed.json").unwrap();
        let feed = crate::parse::parse(json.as_bytes(), None, &url).unwrap();
        let (_, items) = normalize(feed, &url, Utc::now(), &ReadingTimeConfig::default());
        assert_eq!(
            items[0].content_html,
            "<p>a &lt;b&gt; &amp; c</p><p>second paragraph</p>"
        );
        assert_eq!(items[0].title, "a <b> & c second paragraph");
    }

    #[test]
    fn long_titles_are_cut_at_a_character_boundary() {
        let long = "é".repeat(1000);
        let xml = format!(
            r#"<rss version="2.0"><channel><item><guid>a</guid><title>{long}</title></item></channel></rss>"#
        );
        let title = &items(&xml)[0].title;
        assert_eq!(title.chars().count(), MAX_TITLE_CHARS + 1);
        assert!(title.ends_with("é…"));
    }

    #[test]
    fn every_field_is_capped() {
        let long_url = format!("https://example.org/{}", "a".repeat(MAX_URL_BYTES));
        let categories: String = (0..1000)
            .map(|n| format!("<category>c{} {}</category>", n % 500, "x".repeat(200)))
            .collect();
        let mime = format!("audio/{}", "x".repeat(300));
        let content = format!("&lt;p&gt;{}&lt;/p&gt;", "word ".repeat(100_000));
        let xml = format!(
            r#"<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/"><channel><title>{title}</title><link>{long_url}</link>
            <item><guid>{guid}</guid><title>t</title><link>{long_url}</link><dc:creator>{author}</dc:creator>{categories}
            <enclosure url="{long_url}" type="audio/mpeg" length="1"/><enclosure url="https://example.org/a.mp3" type="{mime}" length="2"/>
            <description>{content}</description></item></channel></rss>"#,
            title = "T".repeat(100_000),
            guid = "g".repeat(10_000),
            author = "Ann ".repeat(100_000),
            mime = mime,
            content = content,
        );
        let url = Url::parse("https://example.org/feed.xml").unwrap();
        let parsed = crate::parse::parse(xml.as_bytes(), None, &url).unwrap();
        let (meta, items) = normalize(parsed, &url, Utc::now(), &ReadingTimeConfig::default());
        assert_eq!(meta.title.unwrap().chars().count(), MAX_TITLE_CHARS + 1);
        assert_eq!(
            meta.site_link, None,
            "an over-long link is dropped, not cut"
        );
        let it = &items[0];
        assert_eq!(it.link, None);
        assert!(it.guid.len() <= MAX_GUID_BYTES && it.guid.starts_with("urn:feedmerge:guid:"));
        assert_eq!(
            it.author.as_ref().unwrap().chars().count(),
            MAX_AUTHOR_CHARS + 1
        );
        assert_eq!(it.categories.len(), MAX_CATEGORIES);
        assert!(
            it.categories
                .iter()
                .all(|c| c.chars().count() <= MAX_CATEGORY_CHARS + 1)
        );
        assert_eq!(
            it.categories[1],
            cut_chars(format!("c1 {}", "x".repeat(200)), MAX_CATEGORY_CHARS)
        );
        let enc = it.enclosure.as_ref().unwrap();
        assert_eq!(
            (enc.url.as_str(), enc.mime_type.as_str()),
            ("https://example.org/a.mp3", "application/octet-stream")
        );
        assert!(it.content_html.len() <= MAX_CONTENT_BYTES);
        assert!(it.content_html.starts_with("<p>word word"));
        assert_eq!(
            it.reading_time.words, 100_000,
            "estimated from the whole text"
        );
    }

    #[test]
    fn a_long_guid_keeps_its_identity() {
        assert_eq!(guid("abc"), "abc");
        let a = "a".repeat(MAX_GUID_BYTES + 1);
        let b = format!("{}b", "a".repeat(MAX_GUID_BYTES));
        assert_ne!(guid(&a), guid(&b));
        assert_eq!(guid(&a), guid(&a.clone()));
    }

    #[test]
    fn html_is_cut_before_a_split_tag() {
        let mut html = "<p>abc</p><a href=\"x\">é</a>".to_owned();
        cut_html(&mut html, 14);
        assert_eq!(html, "<p>abc</p>");
        let mut html = "<p>éé".to_owned();
        cut_html(&mut html, 6);
        assert_eq!(html, "<p>é");
    }

    #[test]
    fn changed_content_changes_the_hash() {
        let a = items(
            r#"<rss version="2.0"><channel><item><guid>a</guid><description>one</description></item></channel></rss>"#,
        );
        let b = items(
            r#"<rss version="2.0"><channel><item><guid>a</guid><description>two</description></item></channel></rss>"#,
        );
        let a2 = items(
            r#"<rss version="2.0"><channel><item><guid>a</guid><description>one</description></item></channel></rss>"#,
        );
        assert_ne!(a[0].content_hash, b[0].content_hash);
        assert_eq!(a[0].content_hash, a2[0].content_hash);
    }
}
