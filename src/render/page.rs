//! The news page: stored items → an HTML page of story cards (minijinja, escaped by
//! default), with "N min read", the lead image, the source, and "Show more" paging. The CSS
//! and JavaScript are separate files, so that a strict Content-Security-Policy holds.

use std::borrow::Cow;

use chrono::{DateTime, Utc};
use minijinja::{Environment, context};
use serde::Serialize;

use super::{AlsoInLink, Channel, Format, also_in, reading_label};
use crate::model::StoredItem;
use crate::redact;

/// Stories per page.
pub const PAGE_SIZE: usize = 30;
/// The stylesheet, served at `/static/feedmerge.css`.
pub const CSS: &str = include_str!("assets/feedmerge.css");
/// The script, served at `/static/feedmerge.js`.
pub const JS: &str = include_str!("assets/feedmerge.js");
const TEMPLATE: &str = include_str!("assets/page.html");

/// The page's Content-Security-Policy: nothing but this server's own script and style,
/// images from anywhere on the web (the stories' lead images), no frames, no plugins.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
img-src http: https:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

#[derive(Serialize)]
struct Card<'a> {
    title: &'a str,
    link: Cow<'a, str>,
    source: Cow<'a, str>,
    author: Option<&'a str>,
    date_iso: String,
    date_exact: String,
    ago: String,
    image: Option<&'a str>,
    reading: String,
    summary: &'a str,
    also_in: Vec<AlsoInLink<'a>>,
}

/// Renders one page of `items` (newest first); `more_url` links the next page.
pub fn render(
    channel: &Channel,
    items: &[StoredItem],
    more_url: Option<&str>,
    now: DateTime<Utc>,
) -> String {
    let cards: Vec<Card<'_>> = items
        .iter()
        .map(|s| Card {
            title: if s.item.title.is_empty() {
                &s.item.summary
            } else {
                &s.item.title
            },
            // The feed's own URL only for an item without a link, and then redacted: it may
            // carry a token.
            link: s
                .item
                .link
                .as_deref()
                .map_or_else(|| redact::url_text(&s.feed_url), Cow::Borrowed),
            source: redact::name(&s.feed_title),
            // A podcast names itself as the author: "Green Streets Podcast · Green Streets Podcast".
            author: s
                .item
                .author
                .as_deref()
                .filter(|a| !a.eq_ignore_ascii_case(&s.feed_title)),
            date_iso: s.date.to_rfc3339(),
            date_exact: s.date.format("%A %-d %B %Y, %H:%M UTC").to_string(),
            ago: ago(s.date, now),
            image: s.item.image.as_ref().map(|i| i.url.as_str()),
            reading: reading_label(s.item.reading_time.minutes),
            summary: &s.item.summary,
            also_in: also_in(s),
        })
        .collect();
    let static_base = channel
        .base_url
        .join("static/")
        .map_or_else(|_| "/static/".to_owned(), |u| u.path().to_owned());
    let mut env = Environment::new();
    // The name ends in .html, so every value is HTML-escaped unless marked safe (none is).
    let html = env
        .add_template("page.html", TEMPLATE)
        .and_then(|()| env.get_template("page.html"))
        .and_then(|t| {
            t.render(context! {
                title => channel.title,
                description => channel.description,
                rss_url => channel.self_url(Format::Rss),
                atom_url => channel.self_url(Format::Atom),
                json_url => channel.self_url(Format::Json),
                opml_url => channel.base_url.join("sources.opml").map(|u| u.to_string()).unwrap_or_default(),
                static_base,
                cards,
                more_url,
                version => env!("CARGO_PKG_VERSION"),
            })
        });
    // The template is part of the binary and tested; rendering plain data cannot fail.
    html.expect("the page template renders")
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

    #[test]
    fn cards_escape_everything_and_show_the_reading_time() {
        let mut item = stored("<script>alert(1)</script>Title & more", "");
        item.item.summary = "<img src=x onerror=alert(1)>".into();
        item.item.image = Some(crate::model::LeadImage::new(
            "https://example.org/i.jpg\" onerror=\"alert(1)",
        ));
        let html = render(&channel(), &[item], Some("/?before=1-2"), Utc::now());
        assert!(!html.contains("<script>alert"), "{html}");
        assert!(!html.contains("<img src=x"), "{html}");
        assert!(!html.contains("\" onerror=\""), "{html}");
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

    /// A byline that is the source's name is not shown twice.
    #[test]
    fn the_source_is_not_repeated_as_author() {
        let mut item = stored("Episode 1", "");
        item.feed_title = "Green Streets Podcast".into();
        item.item.author = Some("Green Streets Podcast".into());
        let html = render(&channel(), &[item], None, Utc::now());
        assert_eq!(html.matches("Green Streets Podcast").count(), 1, "{html}");
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
