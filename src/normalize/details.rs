//! What the news page shows of an item beyond the feeds' fields: its lead image at its own
//! size, with caption, credit and the other sizes the feed offers (`srcset`); its authors
//! with their links and avatars; and the icon a feed declares for its source.
//!
//! From what feed-rs keeps: `media:content` and `media:thumbnail` (with `width`/`height`),
//! `media:description`, `media:title`, `media:credit`, iTunes `itunes:image` and
//! `itunes:author` (which feed-rs reads as media), an image enclosure, the first `<img>` of
//! the content (its `width`, `height`, `srcset`, `title`, `alt`, and the `<figcaption>` of
//! the `<figure>` it is in), Atom and RSS authors and `dc:creator`.
//!
//! | field | cap | over the cap |
//! |---|---|---|
//! | media elements looked at per item | [`MAX_IMAGE_CANDIDATES`] | the rest are not read |
//! | other sizes of the lead image | [`MAX_IMAGE_SOURCES`] | the widest are kept |
//! | caption | [`MAX_CAPTION_CHARS`] characters | cut, "…" added |
//! | credit, author name | [`MAX_NAME_CHARS`] characters | cut, "…" added |
//! | authors | [`MAX_AUTHORS`] per item | the first distinct names are kept |
//! | URLs | [`MAX_URL_BYTES`] | dropped |

use feed_rs::model::{Entry, Feed, Text};
use url::Url;

use super::text::{self, FirstImage};
use super::{MAX_URL_BYTES, absolute, cut_chars};
use crate::model::{Author, Enclosure, ImageSource, LeadImage};
use crate::parse::fallbacks::Fallback;

/// Media elements (`media:content` images and thumbnails) looked at per item: a feed may
/// list thousands, the first few name the lead image.
pub const MAX_IMAGE_CANDIDATES: usize = 64;

/// Other sizes of the lead image kept for `srcset`: more than the widths browsers choose
/// between.
pub const MAX_IMAGE_SOURCES: usize = 8;

/// The longest caption kept, in characters: two or three lines under a photo.
pub const MAX_CAPTION_CHARS: usize = 300;

/// The longest credit or author name kept, in characters.
pub const MAX_NAME_CHARS: usize = 100;

/// Authors kept per item for the author card.
pub const MAX_AUTHORS: usize = 8;

/// An image the feed offers: where, how large, and which media object it came from.
struct Candidate {
    url: String,
    width: Option<u32>,
    height: Option<u32>,
    /// Index of its media object in the entry (`usize::MAX`: the content's `srcset`).
    object: usize,
}

/// The item's lead image: the first image of its media (`media:content`, else a thumbnail),
/// else a JSON Feed item's `image`, else an image attachment, else the first image of the
/// content. `title` is the item's
/// title (a media title that repeats it is no caption).
pub(super) fn lead_image(
    e: &Entry,
    json_image: Option<&str>,
    enclosure: Option<&Enclosure>,
    first: Option<&FirstImage>,
    visible_text: &str,
    title: &str,
    base: &Url,
) -> Option<LeadImage> {
    let from_content = || content_image(first?, visible_text, base);
    let candidates = media_candidates(e, base);
    let Some(lead) = candidates.first() else {
        let attached = || {
            enclosure
                .filter(|e| e.mime_type.starts_with("image/"))
                .map(|e| LeadImage::new(e.url.clone()))
        };
        let own = json_image
            .and_then(|url| absolute(url, base))
            .map(LeadImage::new);
        return own.or_else(attached).or_else(from_content);
    };
    let key = picture_key(&lead.url);
    let same: Vec<&Candidate> = candidates
        .iter()
        .filter(|c| c.object == lead.object && picture_key(&c.url) == key)
        .collect();
    let mut image = sized(&same);
    let object = &e.media[lead.object];
    let episode = is_episode(e);
    // An episode's media text describes the episode, not the picture.
    image.caption = (!episode)
        .then_some(object)
        .and_then(|object| object.description.as_ref().or(object.title.as_ref()))
        .map(plain)
        .filter(|c| !c.is_empty() && c != title)
        .map(|c| cut_chars(c, MAX_CAPTION_CHARS));
    if image.caption.is_none() {
        // The content's first image is the same picture: its caption is this one's.
        image.caption = from_content()
            .filter(|c| picture_key(&c.url) == key)
            .and_then(|c| c.caption);
    }
    if !episode {
        image.credit = object
            .credits
            .iter()
            .map(|c| text::collapse_whitespace(&c.entity))
            .find(|c| !c.is_empty())
            .map(|c| cut_chars(c, MAX_NAME_CHARS));
    }
    Some(image)
}

/// The images of the entry's media, in document order, at most [`MAX_IMAGE_CANDIDATES`]:
/// each object's `media:content` images before its thumbnails.
fn media_candidates(e: &Entry, base: &Url) -> Vec<Candidate> {
    let mut out = Vec::new();
    for (object, m) in e.media.iter().enumerate() {
        let contents = m
            .content
            .iter()
            .filter(|c| c.content_type.as_ref().is_some_and(|t| t.ty() == "image"))
            .filter_map(|c| Some((c.url.as_ref()?.as_str(), c.width, c.height)));
        let thumbnails = m
            .thumbnails
            .iter()
            .map(|t| (t.image.uri.as_str(), t.image.width, t.image.height));
        for (url, width, height) in contents.chain(thumbnails) {
            if out.len() == MAX_IMAGE_CANDIDATES {
                return out;
            }
            if let Some(url) = absolute(url, base) {
                out.push(Candidate {
                    url,
                    width,
                    height,
                    object,
                });
            }
        }
    }
    out
}

/// Whether the item is an episode (audio or video, a duration, an episode number): then its
/// media credits name its author (feed-rs reads `itunes:author` as a media credit, and keeps
/// no `role` of a `media:credit`), not who made its image.
fn is_episode(e: &Entry) -> bool {
    e.media.iter().any(|m| {
        m.duration.is_some()
            || m.episode.is_some()
            || m.content.iter().any(|c| {
                c.content_type
                    .as_ref()
                    .is_some_and(|t| t.ty() == "audio" || t.ty() == "video")
            })
    })
}

/// One picture in several sizes → the widest as the image, with its height (or one in
/// proportion, from another size), and the sizes of known width for `srcset`.
fn sized(same: &[&Candidate]) -> LeadImage {
    let main = same
        .iter()
        .max_by_key(|c| c.width.unwrap_or(0))
        .filter(|c| c.width.is_some())
        .unwrap_or(&same[0]);
    let height = main.height.or_else(|| {
        let w = main.width?;
        let other = same
            .iter()
            .find(|c| c.width.is_some() && c.height.is_some())?;
        let (ow, oh) = (other.width?, other.height?);
        (ow > 0).then(|| (u64::from(w) * u64::from(oh) / u64::from(ow)) as u32)
    });
    LeadImage {
        url: main.url.clone(),
        width: main.width,
        height,
        caption: None,
        credit: None,
        sources: sources(same.iter().filter_map(|c| Some((c.url.clone(), c.width?)))),
    }
}

/// Distinct widths, narrowest first, the widest [`MAX_IMAGE_SOURCES`]; none for one size.
fn sources(sizes: impl Iterator<Item = (String, u32)>) -> Vec<ImageSource> {
    let mut out: Vec<ImageSource> = Vec::new();
    for (url, width) in sizes.take(MAX_IMAGE_CANDIDATES) {
        if width > 0 && !out.iter().any(|s| s.width == width) {
            out.push(ImageSource { url, width });
        }
    }
    if out.len() < 2 {
        return Vec::new();
    }
    out.sort_by_key(|s| s.width);
    let extra = out.len().saturating_sub(MAX_IMAGE_SOURCES);
    out.drain(..extra);
    out
}

/// The content's first image: its size from `width`/`height`, its other sizes from
/// `srcset`, its caption from the `<figcaption>` of its `<figure>`, else its `title`, else its
/// `alt`.
fn content_image(first: &FirstImage, visible_text: &str, base: &Url) -> Option<LeadImage> {
    let url = absolute(&first.src, base)?;
    let mut sizes: Vec<(String, u32)> = first.width.map(|w| (url.clone(), w)).into_iter().collect();
    if let Some(srcset) = &first.srcset {
        sizes.extend(
            srcset
                .split(',')
                .take(MAX_IMAGE_CANDIDATES)
                .filter_map(|s| {
                    let mut parts = s.split_whitespace();
                    let url = absolute(parts.next()?, base)?;
                    let width = parts.next()?.strip_suffix('w')?.parse().ok()?;
                    Some((url, width))
                }),
        );
    }
    let caption = first
        .caption
        .as_ref()
        .and_then(|r| visible_text.get(r.clone()))
        .map(text::collapse_whitespace)
        .filter(|c| !c.is_empty())
        .or_else(|| first.title.as_deref().map(text::collapse_whitespace))
        .or_else(|| first.alt.as_deref().map(text::collapse_whitespace))
        .filter(|c| !c.is_empty())
        .map(|c| cut_chars(c, MAX_CAPTION_CHARS));
    Some(LeadImage {
        url,
        width: first.width,
        height: first.height,
        caption,
        credit: None,
        sources: sources(sizes.into_iter()),
    })
}

/// What tells one picture from another across its sizes: host and path, without the query
/// (`?width=460`) and without a `-600x400` size suffix before the extension.
fn picture_key(url: &str) -> String {
    let Ok(url) = Url::parse(url) else {
        return url.to_owned();
    };
    let path = url.path();
    let (stem, ext) = match path.rfind('.') {
        Some(dot) if !path[dot..].contains('/') => path.split_at(dot),
        _ => (path, ""),
    };
    let stem = match stem.rfind(['-', '_']) {
        Some(at)
            if stem[at + 1..]
                .split_once('x')
                .is_some_and(|(w, h)| is_number(w) && is_number(h)) =>
        {
            &stem[..at]
        }
        _ => stem,
    };
    format!("{}{stem}{ext}", url.host_str().unwrap_or(""))
}

fn is_number(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// Plain text of a media text (plain, or HTML).
fn plain(t: &Text) -> String {
    if super::text_is_plain(t) {
        text::collapse_whitespace(&t.content)
    } else {
        text::plain_title(&t.content)
    }
}

/// The item's authors with what the feed says of each: the entry's authors (Atom `<author>`
/// with its `uri`, RSS `<author>`, `dc:creator`, JSON Feed authors with their `url`), else
/// the authors of its episode (`itunes:author`, with the episode's `itunes:image` as their
/// picture; see [`is_episode`]). At most [`MAX_AUTHORS`], distinct names, in document order; e-mail addresses
/// are not kept.
pub(super) fn authors(e: &Entry, fallback: Option<&Fallback>, base: &Url) -> Vec<Author> {
    let avatar = |name: &str| {
        fallback?
            .avatars
            .iter()
            .find(|(n, _)| n.trim() == name)
            .and_then(|(_, a)| absolute(a, base))
    };
    let mut out: Vec<Author> = Vec::new();
    let mut add = |author: Author| {
        if out.len() < MAX_AUTHORS
            && !author.name.is_empty()
            && !out.iter().any(|a| a.name == author.name)
        {
            out.push(author);
        }
    };
    for p in e.authors.iter().take(MAX_IMAGE_CANDIDATES) {
        let raw = p.name.as_deref().unwrap_or("");
        add(Author {
            name: name(raw),
            url: p.uri.as_deref().and_then(|u| absolute(u, base)),
            avatar: avatar(raw.trim()),
            about: None,
        });
    }
    if !e.authors.is_empty() {
        return out;
    }
    if !is_episode(e) {
        return out;
    }
    for m in &e.media {
        let avatar = m
            .thumbnails
            .first()
            .and_then(|t| absolute(&t.image.uri, base));
        for c in m.credits.iter().take(MAX_IMAGE_CANDIDATES) {
            add(Author {
                name: name(&c.entity),
                avatar: avatar.clone(),
                ..Author::default()
            });
        }
    }
    out
}

/// A name as shown: whitespace collapsed, at most [`MAX_NAME_CHARS`] characters.
fn name(raw: &str) -> String {
    // Enough of it for the cut, whatever its whitespace.
    let mut end = raw.len().min(MAX_NAME_CHARS * 8);
    while !raw.is_char_boundary(end) {
        end -= 1;
    }
    cut_chars(text::collapse_whitespace(&raw[..end]), MAX_NAME_CHARS)
}

/// The icon a feed declares for its source, absolute: the small one (JSON Feed `favicon`,
/// Atom `<icon>`), else the logo (RSS `<image>`, Atom `<logo>`, JSON Feed `icon`, the
/// channel's `itunes:image`).
pub(super) fn icon(feed: &Feed, feed_url: &Url) -> Option<String> {
    [&feed.icon, &feed.logo]
        .into_iter()
        .flatten()
        .find_map(|i| absolute(&i.uri, feed_url))
        .filter(|u| u.len() <= MAX_URL_BYTES)
}

/// `text` without a caption or credit of the lead image that opens it: the `<figcaption>`
/// of a `<figure>` before any other text, the image's caption, or its credit with a word
/// before it ("Photo: staff").
pub(super) fn without_leading_caption<'a>(
    text: &'a str,
    first: Option<&FirstImage>,
    image: Option<&LeadImage>,
) -> &'a str {
    let mut rest = text;
    if let Some(range) = first.and_then(|f| f.caption.clone()) {
        if text.get(..range.start).is_some_and(|b| b.trim().is_empty()) {
            rest = text.get(range.end..).unwrap_or(rest);
        }
    }
    let Some(image) = image else { return rest };
    if let Some(after) = image.caption.as_deref().and_then(|c| strip_words(rest, c)) {
        return after;
    }
    if let Some(credit) = &image.credit {
        // "Photo: staff", "Image by Ann Lee".
        let trimmed = rest.trim_start();
        if let Some((word, after)) = trimmed.split_once(char::is_whitespace) {
            let word = word.trim_end_matches(':');
            let after = after.trim_start();
            let after = after.strip_prefix("by ").unwrap_or(after);
            if word.chars().all(char::is_alphabetic) {
                if let Some(after) = strip_words(after, credit) {
                    return after;
                }
            }
        }
    }
    rest
}

/// `text` after `prefix`, when it opens `text` (whitespace aside) and ends a word there.
fn strip_words<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let mut rest = text;
    for word in prefix.split_whitespace() {
        rest = rest.trim_start().strip_prefix(word)?;
    }
    rest.chars()
        .next()
        .is_none_or(|c| c.is_whitespace() || c.is_ascii_punctuation())
        .then_some(rest)
}

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use super::*;
    use crate::config::ReadingTimeConfig;
    use crate::model::{FeedMeta, NewItem};

    fn read(doc: &str, url: &str) -> (FeedMeta, Vec<NewItem>) {
        let url = Url::parse(url).unwrap();
        let parsed = crate::parse::parse(doc.as_bytes(), None, &url).unwrap();
        super::super::normalize(parsed, &url, Utc::now(), &ReadingTimeConfig::default())
    }

    fn rss(items: &str) -> String {
        format!(
            r#"<rss version="2.0" xmlns:media="http://search.yahoo.com/mrss/"
                xmlns:itunes="http://www.itunes.com/dtds/podcast-1.0.dtd"
                xmlns:dc="http://purl.org/dc/elements/1.1/"><channel><title>Green Streets</title>
                <link>https://news.example/</link>
                <image><url>/logo.png</url><title>Green Streets</title><link>https://news.example/</link></image>
                {items}</channel></rss>"#
        )
    }

    /// Several sizes of one picture (the Guardian's `?width=` style, a WordPress `-WxH`
    /// name), its description and credit: the widest is the image, at its aspect ratio, the
    /// others its `srcset`; another picture of the item is not one of its sizes.
    #[test]
    fn rss_media_sizes_caption_and_credit() {
        let (meta, items) = read(
            &rss(r#"<item><guid>1</guid><title>Bridge opens</title>
                <media:content url="https://img.example/bridge.jpg?width=460&amp;s=1" type="image/jpeg" width="460"/>
                <media:content url="https://img.example/bridge.jpg?width=1200&amp;s=2" type="image/jpeg" width="1200" height="630"/>
                <media:content url="https://img.example/other.jpg" type="image/jpeg" width="900"/>
                <media:description>The new bridge at dawn</media:description>
                <media:credit>Ann Lee</media:credit>
                <description>&lt;p&gt;The council opened the bridge.&lt;/p&gt;</description></item>"#),
            "https://news.example/feed.xml",
        );
        let image = items[0].image.clone().unwrap();
        assert_eq!(
            image,
            LeadImage {
                url: "https://img.example/bridge.jpg?width=1200&s=2".into(),
                width: Some(1200),
                height: Some(630),
                caption: Some("The new bridge at dawn".into()),
                credit: Some("Ann Lee".into()),
                sources: vec![
                    ImageSource {
                        url: "https://img.example/bridge.jpg?width=460&s=1".into(),
                        width: 460
                    },
                    ImageSource {
                        url: "https://img.example/bridge.jpg?width=1200&s=2".into(),
                        width: 1200
                    },
                ],
            }
        );
        assert_eq!(meta.icon.as_deref(), Some("https://news.example/logo.png"));
        // The height of the widest size, in proportion, when only another size gives one.
        let (_, items) = read(
            &rss(r#"<item><guid>2</guid><title>t</title>
                <media:content url="https://img.example/up/photo-1200x800.jpg" type="image/jpeg" width="1200"/>
                <media:content url="https://img.example/up/photo-300x200.jpg" type="image/jpeg" width="300" height="200"/>
                </item>"#),
            "https://news.example/feed.xml",
        );
        let image = items[0].image.clone().unwrap();
        assert_eq!(
            (
                image.url.as_str(),
                image.width,
                image.height,
                image.sources.len()
            ),
            (
                "https://img.example/up/photo-1200x800.jpg",
                Some(1200),
                Some(800),
                2
            )
        );
    }

    /// Atom authors keep their `uri` (resolved), never their e-mail; the icon is `<icon>`.
    #[test]
    fn atom_author_with_uri() {
        let (meta, items) = read(
            r#"<feed xmlns="http://www.w3.org/2005/Atom"><title>A</title><id>a</id>
               <icon>/favicon.png</icon><logo>/logo.png</logo>
               <entry><id>1</id><title>t</title><updated>2025-01-01T00:00:00Z</updated>
               <author><name> Ann   Lee </name><uri>/people/ann</uri><email>ann@example.org</email></author>
               <author><name>Bo</name><uri>javascript:alert(1)</uri></author>
               </entry></feed>"#,
            "https://news.example/atom.xml",
        );
        assert_eq!(
            items[0].authors,
            vec![
                Author {
                    name: "Ann Lee".into(),
                    url: Some("https://news.example/people/ann".into()),
                    ..Author::default()
                },
                Author {
                    name: "Bo".into(),
                    ..Author::default()
                },
            ]
        );
        assert_eq!(items[0].author.as_deref(), Some("Ann Lee, Bo"));
        assert_eq!(
            meta.icon.as_deref(),
            Some("https://news.example/favicon.png")
        );
    }

    /// JSON Feed authors keep their `url` and `avatar`, the item its `image`; the icon is
    /// the `favicon`.
    #[test]
    fn json_feed_authors() {
        let (meta, items) = read(
            r#"{"version":"https://jsonfeed.org/version/1.1","title":"J",
                "icon":"https://news.example/big.png","favicon":"https://news.example/fav.png",
                "items":[{"id":"1","title":"t","content_html":"<p>x</p>",
                  "image":"/lead.jpg",
              "authors":[{"name":"Ann Lee","url":"https://news.example/ann","avatar":"/ann.jpg"}]}]}"#,
            "https://news.example/feed.json",
        );
        assert_eq!(items[0].authors[0].name, "Ann Lee");
        assert_eq!(
            items[0].authors[0].url.as_deref(),
            Some("https://news.example/ann")
        );
        assert_eq!(
            items[0].authors[0].avatar.as_deref(),
            Some("https://news.example/ann.jpg")
        );
        assert_eq!(
            items[0].image,
            Some(LeadImage::new("https://news.example/lead.jpg"))
        );
        assert_eq!(meta.icon.as_deref(), Some("https://news.example/fav.png"));
    }

    /// A podcast episode: `itunes:author` is its author (with the episode's image as the
    /// picture), and names nobody as the image's credit.
    #[test]
    fn itunes_podcast_author() {
        let (_, items) = read(
            &rss(r#"<item><guid>ep1</guid><title>Episode 1</title>
                <enclosure url="https://cdn.example/ep1.mp3" type="audio/mpeg" length="100"/>
                <itunes:author>Green Streets Podcast</itunes:author>
                <itunes:image href="https://cdn.example/ep1.jpg"/>
                <itunes:title>Episode 1</itunes:title>
                <itunes:summary>We walk the new bridge.</itunes:summary>
                <itunes:duration>30:00</itunes:duration></item>"#),
            "https://news.example/feed.xml",
        );
        let it = &items[0];
        assert_eq!(
            it.authors,
            vec![Author {
                name: "Green Streets Podcast".into(),
                avatar: Some("https://cdn.example/ep1.jpg".into()),
                ..Author::default()
            }]
        );
        assert_eq!(it.author.as_deref(), Some("Green Streets Podcast"));
        let image = it.image.clone().unwrap();
        assert_eq!(image.url, "https://cdn.example/ep1.jpg");
        assert_eq!((image.caption, image.credit), (None, None));
    }

    /// The content's first image in a `<figure>`: its `width`/`height`, its `srcset`, its
    /// `<figcaption>` as caption; the caption no longer opens the summary.
    #[test]
    fn content_figure_with_caption() {
        let (_, items) = read(
            &rss(
                r#"<item><guid>f</guid><title>Market day</title><description>&lt;figure&gt;&lt;img src="/m.jpg" width="600" height="315" alt="Stalls" srcset="/m-300.jpg 300w, /m.jpg 600w"&gt;&lt;figcaption&gt;Photo: staff&lt;/figcaption&gt;&lt;/figure&gt;&lt;p&gt;The market returns on Sunday.&lt;/p&gt;</description></item>"#,
            ),
            "https://news.example/feed.xml",
        );
        let it = &items[0];
        assert_eq!(
            it.image,
            Some(LeadImage {
                url: "https://news.example/m.jpg".into(),
                width: Some(600),
                height: Some(315),
                caption: Some("Photo: staff".into()),
                credit: None,
                sources: vec![
                    ImageSource {
                        url: "https://news.example/m-300.jpg".into(),
                        width: 300
                    },
                    ImageSource {
                        url: "https://news.example/m.jpg".into(),
                        width: 600
                    },
                ],
            })
        );
        assert_eq!(it.summary, "The market returns on Sunday.");
        // Without a figure, the image's alt text is the caption, and the text is untouched.
        let (_, items) = read(
            &rss(
                r#"<item><guid>g</guid><title>t</title><description>&lt;p&gt;Opening words.&lt;/p&gt;&lt;img src="/n.jpg" alt="Stalls"&gt;</description></item>"#,
            ),
            "https://news.example/feed.xml",
        );
        assert_eq!(
            items[0].image.as_ref().unwrap().caption.as_deref(),
            Some("Stalls")
        );
        assert_eq!(items[0].summary, "Opening words.");
    }

    /// A credit line that opens the text ("Photo: Ann Lee") is the image's, not the story's.
    #[test]
    fn a_leading_credit_line_leaves_the_summary() {
        let (_, items) = read(
            &rss(r#"<item><guid>c</guid><title>t</title>
                <media:content url="https://img.example/c.jpg" type="image/jpeg"/>
                <media:credit>Ann Lee</media:credit>
                <description>&lt;p&gt;Photo: Ann Lee&lt;/p&gt;&lt;p&gt;The bridge opened.&lt;/p&gt;</description></item>"#),
            "https://news.example/feed.xml",
        );
        assert_eq!(items[0].summary, "The bridge opened.");
    }

    /// Ten thousand sizes of one image: a bounded number looked at and kept.
    #[test]
    fn many_media_elements_stay_bounded() {
        let contents: String = (1..=10_000)
            .map(|w| {
                format!(r#"<media:content url="https://img.example/a.jpg?w={w}" type="image/jpeg" width="{w}"/>"#)
            })
            .collect();
        let (_, items) = read(
            &rss(&format!(
                "<item><guid>b</guid><title>t</title>{contents}</item>"
            )),
            "https://news.example/feed.xml",
        );
        let image = items[0].image.clone().unwrap();
        assert_eq!(image.sources.len(), MAX_IMAGE_SOURCES);
        assert_eq!(image.width, Some(MAX_IMAGE_CANDIDATES as u32));
    }
}
