//! The news page: stored items → an HTML page of story cards (minijinja, escaped by
//! default): per story the source, author and time, the headline, "N min read", the lead
//! image with its caption, the summary, and the whole sanitised story behind a "Read here"
//! control that needs no JavaScript; "Show more" paging. The CSS and JavaScript are separate
//! files, so that a strict Content-Security-Policy holds.

use std::borrow::Cow;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use minijinja::{Environment, context};
use serde::Serialize;

use super::sanitized::SanitizedCache;
use super::{AlsoInLink, Channel, Format, also_in, published_link, reading_label, story};
use crate::model::StoredItem;
use crate::redact;

/// Stories per page.
pub const PAGE_SIZE: usize = 30;
/// Lead images of the first page that load at once: those of the first cards, which a
/// reader sees without scrolling. The others load as they come into view.
pub const EAGER_IMAGES: usize = 2;
/// The stylesheet, served at `/static/feedmerge.css`.
pub const CSS: &str = include_str!("assets/feedmerge.css");
/// The script, served at `/static/feedmerge.js`.
pub const JS: &str = include_str!("assets/feedmerge.js");
const TEMPLATE: &str = include_str!("assets/page.html");

/// The version of a static file in its URL (`feedmerge.css?v=VERSION`): a hash of its
/// contents, so that browsers may keep it for as long as they like and still get a new one
/// with the release that changes it.
pub fn asset_version(body: &str) -> String {
    format!("{:016x}", xxhash_rust::xxh3::xxh3_64(body.as_bytes()))
}

/// The page's Content-Security-Policy: nothing but this server's own script and style,
/// images from anywhere on the web (the stories' lead images; the sources' icons, served by
/// this server, are covered by the same `http:`/`https:`), no frames, no plugins.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
img-src http: https:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// A link of the page's navigation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NavLink {
    /// What it is called (a source's name, a tag).
    pub name: String,
    /// Where it leads (`/?tag=local`).
    pub href: String,
    /// Whether it is the page shown.
    pub current: bool,
}

/// What the page offers to narrow it to one source or tag, and what narrows it now.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Nav {
    /// The sources, each linked to its own page.
    pub sources: Vec<NavLink>,
    /// Sources left out of [`Nav::sources`] to keep the page small.
    pub more_sources: usize,
    /// The tags, each linked to its page.
    pub tags: Vec<NavLink>,
    /// What this page shows when it is narrowed ("Tagged local").
    pub heading: Option<String>,
    /// The page of every story.
    pub all_url: String,
    /// The query string that narrows the feeds as this page is narrowed (`tag=local`);
    /// empty for the whole merged feed.
    pub feed_query: String,
}

/// One page of the news page, as it is to be rendered.
#[derive(Debug, Clone, Copy)]
pub struct Page<'a> {
    /// The output shown (title, description, feed links).
    pub channel: &'a Channel,
    /// Its stories on this page, newest first.
    pub items: &'a [StoredItem],
    /// The link to the next page, if there is one.
    pub more_url: Option<&'a str>,
    /// Whether this is the first page, whose first lead images load at once.
    pub first: bool,
    /// The sources and tags, and what narrows this page.
    pub nav: Option<&'a Nav>,
}

impl<'a> Page<'a> {
    /// The first and only page of `items`.
    pub fn new(channel: &'a Channel, items: &'a [StoredItem]) -> Page<'a> {
        Page {
            channel,
            items,
            more_url: None,
            first: true,
            nav: None,
        }
    }
}

#[derive(Serialize)]
struct Card<'a> {
    title: &'a str,
    link: Cow<'a, str>,
    source: Cow<'a, str>,
    /// The source's icon; until there is one, its initial stands in.
    source_icon: Option<Cow<'a, str>>,
    source_initial: String,
    /// `None` when it is the source's own name (a podcast by its show).
    author: Option<&'a str>,
    date_iso: String,
    date_exact: String,
    ago: String,
    figure: Option<Figure<'a>>,
    reading: String,
    summary: &'a str,
    /// The sanitised story, empty when the feed carries none.
    #[serde(serialize_with = "shared_str")]
    story: Arc<str>,
    author_card: Option<AuthorCard<'a>>,
    also_in: Vec<AlsoInLink<'a>>,
}

/// Serialises a shared string as the string it is.
fn shared_str<S: serde::Serializer>(s: &Arc<str>, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(s)
}

/// A lead image as a `<figure>`: the image at its own aspect ratio (`width` and `height`
/// reserve its room before it loads), and its caption and credit below it.
#[derive(Serialize)]
struct Figure<'a> {
    src: Cow<'a, str>,
    width: Option<u32>,
    height: Option<u32>,
    /// `srcset` candidates (`URL 600w, …`), when the feed offers several sizes.
    srcset: Option<String>,
    caption: Option<&'a str>,
    credit: Option<&'a str>,
    /// Loaded at once (on the first cards) rather than lazily.
    eager: bool,
    /// The first image of the page: fetched before other images.
    high_priority: bool,
}

/// What a feed says about a story's author, shown at the end of the story.
#[derive(Serialize)]
struct AuthorCard<'a> {
    name: &'a str,
    avatar: Option<Cow<'a, str>>,
    url: Option<Cow<'a, str>>,
    role: Option<&'a str>,
}

/// The lead image of the card at `position` on `page`, with what the feed tells of it: its
/// size, its other sizes (`srcset`), its caption and credit.
fn figure<'a>(s: &'a StoredItem, position: usize, page: &Page<'_>) -> Option<Figure<'a>> {
    let image = s.item.image.as_ref()?;
    let src = published_link(&image.url)?;
    let eager = page.first && position < EAGER_IMAGES;
    // Only sizes that are themselves publishable links, and the main image among them, so
    // that the browser may pick any of them.
    let mut sources: Vec<String> = image
        .sources
        .iter()
        .filter_map(|size| published_link(&size.url).map(|u| format!("{u} {}w", size.width)))
        .collect();
    let srcset = match image.width {
        Some(width) if !sources.is_empty() => {
            sources.push(format!("{src} {width}w"));
            Some(sources.join(", "))
        }
        _ => None,
    };
    let plain = |t: &'a Option<String>| t.as_deref().map(str::trim).filter(|t| !t.is_empty());
    Some(Figure {
        src,
        // Both or neither: one alone cannot give the aspect ratio.
        width: image.height.and(image.width),
        height: image.width.and(image.height),
        srcset,
        caption: plain(&image.caption),
        credit: plain(&image.credit),
        eager,
        high_priority: eager && position == 0,
    })
}

/// The author card at the end of a story: the first author the feed describes whose name is
/// the byline's (or the byline alone).
fn author_card<'a>(s: &'a StoredItem, byline: &'a str) -> AuthorCard<'a> {
    let described = s
        .item
        .authors
        .iter()
        .find(|a| byline.contains(a.name.as_str()) && !a.name.trim().is_empty());
    AuthorCard {
        name: described.map_or(byline, |a| a.name.as_str()),
        avatar: described
            .and_then(|a| a.avatar.as_deref())
            .and_then(published_link),
        url: described
            .and_then(|a| a.url.as_deref())
            .and_then(published_link),
        role: described.and_then(|a| a.about.as_deref()),
    }
}

/// Whether `author` only repeats the source's name, as a podcast's or a blog's often does.
fn is_source_name(author: &str, source: &str) -> bool {
    let author = author.trim();
    author.is_empty() || author.eq_ignore_ascii_case(source.trim())
}

/// Renders `page`, taking each story's sanitised HTML from `sanitized` (shared with the
/// feeds, which carry the same).
pub fn render(page: &Page<'_>, now: DateTime<Utc>, sanitized: &SanitizedCache) -> String {
    let mut sanitizer = None;
    let channel = page.channel;
    // This server's own paths, under the base URL's: the page links to no other server for
    // its icons.
    let own_path = |name: &str| {
        channel
            .base_url
            .join(name)
            .map_or_else(|_| format!("/{name}"), |u| u.path().to_owned())
    };
    let icon_base = own_path("icons/");
    let cards: Vec<Card<'_>> = page
        .items
        .iter()
        .enumerate()
        .map(|(position, s)| {
            let source = redact::name(&s.feed_title);
            let author = s
                .item
                .author
                .as_deref()
                .filter(|a| !is_source_name(a, &source));
            Card {
                title: if s.item.title.is_empty() {
                    &s.item.summary
                } else {
                    &s.item.title
                },
                // The feed's own URL only for an item without a link, and then redacted: it
                // may carry a token.
                link: s
                    .item
                    .link
                    .as_deref()
                    .map_or_else(|| redact::url_text(&s.feed_url), Cow::Borrowed),
                source_initial: source
                    .chars()
                    .find(|c| c.is_alphanumeric())
                    .map_or_else(String::new, |c| c.to_uppercase().collect()),
                source_icon: s
                    .source_icon
                    .as_deref()
                    .map(|name| Cow::Owned(format!("{icon_base}{name}"))),
                source,
                author,
                date_iso: s.date.to_rfc3339(),
                date_exact: s.date.format("%A %-d %B %Y, %H:%M UTC").to_string(),
                ago: ago(s.date, now),
                figure: figure(s, position, page),
                reading: reading_label(s.item.reading_time.minutes),
                summary: &s.item.summary,
                story: story(&s.item, sanitized, &mut sanitizer),
                author_card: author.map(|byline| author_card(s, byline)),
                also_in: also_in(s),
            }
        })
        .collect();
    let static_base = own_path("static/");
    let nav = page.nav;
    // On a narrowed page the feed links narrow the feed the same way.
    let feed_url = |format| {
        let url = channel.self_url(format);
        match nav.filter(|n| !n.feed_query.is_empty()) {
            Some(n) => format!("{url}?{}", n.feed_query),
            None => url,
        }
    };
    let heading = nav.and_then(|n| n.heading.as_deref());
    let mut env = Environment::new();
    // The name ends in .html, so every value is HTML-escaped unless marked safe: only the
    // stories are, which the sanitiser made.
    let html = env
        .add_template("page.html", TEMPLATE)
        .and_then(|()| env.get_template("page.html"))
        .and_then(|t| {
            t.render(context! {
                title => channel.title,
                heading,
                description => channel.description,
                rss_url => feed_url(Format::Rss),
                atom_url => feed_url(Format::Atom),
                json_url => feed_url(Format::Json),
                nav,
                opml_url => channel.base_url.join("sources.opml").map(|u| u.to_string()).unwrap_or_default(),
                static_base,
                css_version => asset_version(CSS),
                js_version => asset_version(JS),
                favicon_ico => own_path("favicon.ico"),
                favicon_svg => own_path("favicon.svg"),
                cards,
                more_url => page.more_url,
                version => env!("CARGO_PKG_VERSION"),
            })
        });
    // The template is part of the binary and tested; rendering plain data cannot fail.
    html.expect("the page template renders")
}

/// The page that answers a news page narrowed to a tag or source the config does not have:
/// it says so and links to every story at `home` (a path). It needs no stylesheet, so that
/// it reads the same wherever it is served from.
pub fn not_found(home: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>No such tag or source</title>\n</head>\n<body>\n<main>\n\
         <h1>No such tag or source</h1>\n\
         <p>This feedmerge has no tag or source by that name. The page of every story lists \
         the ones it has.</p>\n<p><a href=\"{}\">All stories</a></p>\n</main>\n</body>\n</html>\n",
        crate::html::escape(home)
    )
}

/// "just now", "5 minutes ago", "3 hours ago", "2 days ago", or the date for older stories.
pub fn ago(t: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let secs = (now - t).num_seconds().max(0);
    let plural = |n: i64, unit: &str| format!("{n} {unit}{} ago", if n == 1 { "" } else { "s" });
    match secs {
        0..60 => "just now".to_owned(),
        60..3600 => plural(secs / 60, "minute"),
        3600..86_400 => plural(secs / 3600, "hour"),
        86_400..2_592_000 => plural(secs / 86_400, "day"),
        _ => t.format("%-d %B %Y").to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{channel, stored};
    use super::*;
    use crate::model::{Author, ImageSource, LeadImage};

    fn render_items(items: &[StoredItem]) -> String {
        render(
            &Page::new(&channel(), items),
            Utc::now(),
            &SanitizedCache::default(),
        )
    }

    #[test]
    fn cards_escape_everything_and_show_the_reading_time() {
        let mut item = stored("<script>alert(1)</script>Title & more", "");
        item.item.summary = "<img src=x onerror=alert(1)>".into();
        item.item.image = Some(LeadImage::new(
            "https://example.org/i.jpg\" onerror=\"alert(1)",
        ));
        item.item.author = Some("<b>Ann</b>".into());
        item.feed_title = "<i>Source</i>".into();
        let channel = channel();
        let page = Page {
            more_url: Some("/?before=1-2"),
            ..Page::new(&channel, std::slice::from_ref(&item))
        };
        let html = render(&page, Utc::now(), &SanitizedCache::default());
        assert!(!html.contains("<script>alert"), "{html}");
        assert!(!html.contains("<img src=x"), "{html}");
        assert!(!html.contains("\" onerror=\""), "{html}");
        assert!(
            !html.contains("<b>Ann") && !html.contains("<i>Source"),
            "{html}"
        );
        // minijinja also escapes "/" (as &#x2f;), which browsers read back as "/".
        assert!(
            html.contains("&lt;script&gt;alert(1)&lt;&#x2f;script&gt;Title &amp; more"),
            "{html}"
        );
        assert!(html.contains(">2 min read<"));
        assert!(
            html.contains(r#"<a id="more" class="more" href="&#x2f;?before=1-2">Show more</a>"#),
            "{html}"
        );
        assert!(html.contains(r#"<link rel="alternate" type="application/atom+xml""#));
        assert!(!html.contains("<script>"), "no inline script: {html}");
    }

    #[test]
    fn the_whole_story_is_in_place_behind_read_here() {
        let mut item = stored(
            "Hello",
            r#"<p style="color:red" onclick="x()">The <b>whole</b> story.</p><script>alert(1)</script>
               <img src="/photo.jpg"><a href="/more">more</a>"#,
        );
        item.also_in = vec![crate::model::AlsoIn {
            feed_title: "City News".into(),
            link: Some("https://city.example/copy".into()),
        }];
        let html = render_items(&[item]);
        let details = &html[html.find("<details").expect("a <details>: {html}")..];
        let details = &details[..details.find("</details>").unwrap()];
        assert!(
            details.contains("<summary>Read here</summary>"),
            "{details}"
        );
        assert!(details.contains("The <b>whole</b> story."), "{details}");
        assert!(
            details.contains(r#"<img src="https://example.org/photo.jpg" loading="lazy">"#),
            "{details}"
        );
        assert!(
            details.contains(r#"href="https://example.org/more" rel="noopener noreferrer""#),
            "{details}"
        );
        // The story ends with its author and the other feeds that have it.
        let (card, also) = (
            details.find("class=\"author-card\"").expect("{details}"),
            details.find("class=\"also-in\"").expect("{details}"),
        );
        assert!(
            details.find("whole").unwrap() < card && card < also,
            "{details}"
        );
        // Nothing inline for the Content-Security-Policy to refuse.
        for inline in ["style=", "onclick", "<script>", "<style"] {
            assert!(!html.contains(inline), "{inline} in {html}");
        }
    }

    #[test]
    fn a_card_without_content_has_no_read_here() {
        let mut item = stored("Hello", "");
        item.item.summary = "Just the teaser.".into();
        let html = render_items(&[item]);
        assert!(!html.contains("<details"), "{html}");
        assert!(html.contains("Just the teaser."), "{html}");
    }

    #[test]
    fn lead_images_are_figures_above_the_text_lazy_below_the_fold() {
        let items: Vec<StoredItem> = (0..4)
            .map(|i| {
                let mut s = stored(&format!("Story {i}"), "<p>x</p>");
                s.item.image = Some(LeadImage::new(format!("https://example.org/{i}.jpg")));
                s
            })
            .collect();
        let html = render_items(&items);
        let imgs: Vec<&str> = html
            .split("<figure class=\"lead\">")
            .skip(1)
            .map(|f| &f[..f.find("</figure>").unwrap()])
            .collect();
        assert_eq!(imgs.len(), 4, "{html}");
        assert!(
            imgs[0].contains(r#"loading="eager" fetchpriority="high""#),
            "{}",
            imgs[0]
        );
        assert!(
            imgs[1].contains(r#"loading="eager""#) && !imgs[1].contains("fetchpriority"),
            "{}",
            imgs[1]
        );
        assert!(imgs[2..].iter().all(|i| i.contains(r#"loading="lazy""#)));
        // Each figure comes after its headline and before its story.
        let first = &html[html.find("Story 0").unwrap()..];
        assert!(first.find("<figure").unwrap() < first.find("<details").unwrap());
        // On later pages every image waits until it is scrolled to.
        let channel = channel();
        let later = Page {
            first: false,
            ..Page::new(&channel, &items)
        };
        let html = render(&later, Utc::now(), &SanitizedCache::default());
        assert!(
            !html.contains("eager") && !html.contains("fetchpriority"),
            "{html}"
        );
    }

    #[test]
    fn figures_reserve_their_room_and_carry_caption_and_credit() {
        let item = stored("Hello", "");
        let figure = Figure {
            src: "https://example.org/a.jpg".into(),
            width: Some(600),
            height: Some(315),
            srcset: Some(
                "https://example.org/a-300.jpg 300w, https://example.org/a.jpg 600w".into(),
            ),
            caption: Some("The bridge at dawn"),
            credit: Some("Photo: staff"),
            eager: false,
            high_priority: false,
        };
        let env = {
            let mut env = Environment::new();
            env.add_template("page.html", TEMPLATE).unwrap();
            env
        };
        let card = Card {
            figure: Some(figure),
            ..card_of(&item)
        };
        let html = env
            .get_template("page.html")
            .unwrap()
            .render(context! { cards => vec![card] })
            .unwrap();
        assert!(html.contains(r#"width="600" height="315""#), "{html}");
        assert!(
            html.contains(r#"srcset="https:&#x2f;&#x2f;example.org&#x2f;a-300.jpg 300w"#),
            "{html}"
        );
        assert!(
            html.contains("<figcaption>The bridge at dawn <span class=\"credit\">Photo: staff</span></figcaption>"),
            "{html}"
        );
    }

    /// What the feed told of the image and the author reaches the card: size, other sizes,
    /// caption, credit; the author's link and avatar.
    #[test]
    fn stored_details_fill_the_figure_and_the_author_card() {
        let mut item = stored("Bridge opens", "<p>The bridge opened.</p>");
        item.item.image = Some(LeadImage {
            url: "https://example.org/a.jpg".into(),
            width: Some(1200),
            height: Some(630),
            caption: Some("The bridge at dawn".into()),
            credit: Some("Ann Lee".into()),
            sources: vec![ImageSource {
                url: "https://example.org/a-600.jpg".into(),
                width: 600,
            }],
        });
        item.item.author = Some("Bo Chen".into());
        item.item.authors = vec![Author {
            name: "Bo Chen".into(),
            url: Some("https://example.org/bo".into()),
            avatar: Some("https://example.org/bo.jpg".into()),
            about: None,
        }];
        let html = render_items(&[item]);
        assert!(html.contains(r#"width="1200" height="630""#), "{html}");
        assert!(
            html.contains("a-600.jpg 600w, https:&#x2f;&#x2f;example.org&#x2f;a.jpg 1200w"),
            "{html}"
        );
        assert!(
            html.contains("The bridge at dawn <span class=\"credit\">Ann Lee</span>"),
            "{html}"
        );
        assert!(
            html.contains(r#"src="https:&#x2f;&#x2f;example.org&#x2f;bo.jpg""#),
            "{html}"
        );
        assert!(
            html.contains(r#"href="https:&#x2f;&#x2f;example.org&#x2f;bo" rel="author""#),
            "{html}"
        );
    }

    fn card_of(s: &StoredItem) -> Card<'_> {
        Card {
            title: &s.item.title,
            link: Cow::Borrowed("https://example.org/a"),
            source: Cow::Borrowed(&s.feed_title),
            source_icon: None,
            source_initial: "E".into(),
            author: None,
            date_iso: String::new(),
            date_exact: String::new(),
            ago: String::new(),
            figure: None,
            reading: "1 min read".into(),
            summary: "",
            story: Arc::from(""),
            author_card: None,
            also_in: Vec::new(),
        }
    }

    #[test]
    fn an_author_who_is_the_source_is_named_once() {
        let mut item = stored("Episode 12", "<p>x</p>");
        item.feed_title = "Green Streets Podcast".into();
        item.item.author = Some("Green Streets Podcast".into());
        let html = render_items(std::slice::from_ref(&item));
        assert_eq!(html.matches("Green Streets Podcast").count(), 1, "{html}");
        assert!(!html.contains("author-card"), "{html}");
        item.item.author = Some("Ann Lee".into());
        let html = render_items(&[item]);
        assert!(
            html.contains("<span class=\"author\">Ann Lee</span>"),
            "{html}"
        );
        assert!(html.contains("class=\"author-card\""), "{html}");
    }

    /// A source's icon is served by feedmerge, never linked where the source has it; the
    /// page names feedmerge's own icon.
    #[test]
    fn the_source_icon_and_the_page_icon_are_served_from_here() {
        let mut item = stored("Hello", "");
        item.feed_icon = Some("https://example.org/icon.png".into());
        item.source_icon = Some("0123456789abcdef".into());
        let html = render_items(std::slice::from_ref(&item));
        assert!(
            html.contains(r#"<img class="source-icon" src="&#x2f;icons&#x2f;0123456789abcdef""#),
            "{html}"
        );
        assert!(!html.contains("icon.png"), "{html}");
        assert!(
            html.contains(r#"<link rel="icon" href="&#x2f;favicon.svg" type="image/svg+xml">"#),
            "{html}"
        );
        item.source_icon = None;
        let html = render_items(&[item]);
        assert!(html.contains(r#"<span class="source-icon" aria-hidden="true">"#));
    }

    #[test]
    fn relative_times() {
        let now = Utc::now();
        let h = chrono::Duration::hours;
        assert_eq!(ago(now, now), "just now");
        assert_eq!(ago(now - chrono::Duration::minutes(1), now), "1 minute ago");
        assert_eq!(ago(now - h(3), now), "3 hours ago");
        assert_eq!(ago(now - h(49), now), "2 days ago");
        assert_eq!(ago(now + h(1), now), "just now");
    }
}
