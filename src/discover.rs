//! Discovery: any address (a feed's, a site's, a page's) → the feeds found there. The address
//! itself when it is a feed; else the feeds its page advertises
//! ([`crate::html::links`]), each fetched to be sure it is one; else the first of the
//! [usual paths](USUAL_NAMES) that answers a feed, tried one at a time. Every request goes
//! through the one fetch policy ([`Fetcher::fetch`] for the address given, as for a
//! configured feed; [`Fetcher::fetch_discovered`] for what is found through it), with the
//! same limits as a poll.
//!
//! Like [`crate::pipeline`] for a poll, this chains `fetch` and `parse`; it stores nothing.
//! Documents are parsed on the calling task, one at a time: discovery serves a command, not
//! the daemon.

use url::Url;

use crate::fetch::{ErrorChain, FetchError, Fetched, Fetcher};
use crate::html::links::{self, Advertised};
use crate::model::FeedFormat;
use crate::normalize::text;
use crate::parse::{self, ParseError};
use crate::redact::Redacted;

/// The file names tried, in this order, when a page advertises no feed: first in the folder
/// of the address given (when it is not the site's root), then at the root. The names the
/// common blog engines and static site generators publish (WordPress `/feed`, Hugo
/// `/index.xml`, Jekyll `/feed.xml`, Ghost `/rss`, Zola `/atom.xml`, JSON Feed
/// `/feed.json`).
pub const USUAL_NAMES: [&str; 8] = [
    "feed",
    "rss",
    "atom.xml",
    "feed.xml",
    "rss.xml",
    "index.xml",
    "feed.json",
    "atom",
];

/// Tried at the site's root after [`USUAL_NAMES`]: the blog of a site whose home page is not
/// the blog.
pub const USUAL_ROOT_EXTRAS: [&str; 1] = ["blog/feed"];

/// How a feed was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum How {
    /// The address given is the feed.
    Given,
    /// The page at the address given advertises it (`<link rel="alternate">`).
    Advertised,
    /// It answered at one of the usual paths ([`USUAL_NAMES`]).
    UsualPath,
}

impl How {
    /// Its name, as `discover` prints it: `given`, `advertised`, `usual-path`.
    pub fn as_str(self) -> &'static str {
        match self {
            How::Given => "given",
            How::Advertised => "advertised",
            How::UsualPath => "usual-path",
        }
    }
}

/// A feed found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FoundFeed {
    /// The address to subscribe to: as given, advertised or tried (before any redirect).
    pub url: Url,
    /// The title the page gave the link, else the feed's own title (plain text, at most
    /// [`links::MAX_TITLE_CHARS`] characters).
    pub title: Option<String>,
    /// What the document is.
    pub format: FeedFormat,
    /// How it was found.
    pub how: How,
}

/// A feed a page advertised that is not one after all, or could not be fetched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// Its address, as advertised.
    pub url: Url,
    /// Why (an error and its causes, URLs redacted).
    pub reason: String,
}

/// What [`discover`] found: at least one feed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Discovery {
    /// The feeds, in page order when a page advertised several; never empty.
    pub feeds: Vec<FoundFeed>,
    /// The advertised feeds that turned out not to be feeds, or could not be fetched.
    pub skipped: Vec<Skipped>,
}

/// Why nothing was found. URLs are shown redacted.
#[derive(Debug, thiserror::Error)]
pub enum DiscoverError {
    /// The address given could not be fetched (status, policy, network, size, time).
    #[error(transparent)]
    Fetch(#[from] FetchError),
    /// The address given is a feed too broken to read.
    #[error("{} is a feed that cannot be read: {source}", Redacted(.url))]
    Unreadable {
        /// The address.
        url: Url,
        /// What the parser said.
        source: ParseError,
    },
    /// The page advertises feeds, and none of them is one that can be fetched and read.
    #[error("{} advertises feeds, but none of them can be read: {}", Redacted(.url), skipped_list(.skipped))]
    AdvertisedUnreadable {
        /// The page.
        url: Url,
        /// Each advertised feed and why it was not taken.
        skipped: Vec<Skipped>,
    },
    /// No feed: the page advertises none, and none of the usual paths answers one.
    #[error("{}", no_feed_message(.url, *.html, .tried, .stopped.as_deref()))]
    NoFeed {
        /// The address given.
        url: Url,
        /// Whether it is an HTML page.
        html: bool,
        /// The paths tried, in order.
        tried: Vec<Url>,
        /// The error that ended the tries early (the server asked to wait, or stopped
        /// answering), if one did.
        stopped: Option<Box<FetchError>>,
    },
}

fn no_feed_message(url: &Url, html: bool, tried: &[Url], stopped: Option<&FetchError>) -> String {
    let what = if html {
        "is an HTML page that advertises no feed"
    } else {
        "is not a feed"
    };
    let mut message = format!(
        "{} {what}, and none of {} is one",
        Redacted(url),
        tried_list(tried)
    );
    if let Some(e) = stopped {
        message.push_str(&format!(" (stopped trying: {})", ErrorChain(e)));
    }
    message
}

fn skipped_list(skipped: &[Skipped]) -> String {
    skipped
        .iter()
        .map(|s| format!("{}: {}", Redacted(&s.url), s.reason))
        .collect::<Vec<_>>()
        .join("; ")
}

fn tried_list(tried: &[Url]) -> String {
    tried
        .iter()
        .map(|u| u.path())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Finds the feeds at `url`: the address itself if it is a feed; else the feeds its page
/// advertises that are feeds (each fetched once); else the first of the usual paths that is
/// one ([`usual_paths`]), tried in order, one at a time, stopping at the first.
///
/// # Errors
/// [`DiscoverError`]: `url` cannot be fetched or is a broken feed, what its page advertises
/// cannot be read, or nothing is found.
pub async fn discover(fetcher: &Fetcher, url: &Url) -> Result<Discovery, DiscoverError> {
    let page = match fetcher.fetch(url, &Default::default()).await? {
        crate::fetch::FetchOutcome::Fetched(fetched) => fetched,
        // Nothing conditional was asked: a server that answers 304 anyway has no document.
        crate::fetch::FetchOutcome::NotModified { .. } => {
            return Err(FetchError::Status {
                status: 304,
                url: url.clone(),
                retry_after: None,
            }
            .into());
        }
    };
    let html = match read(&page) {
        Ok((format, title)) => {
            return Ok(Discovery {
                feeds: vec![FoundFeed {
                    url: url.clone(),
                    title,
                    format,
                    how: How::Given,
                }],
                skipped: Vec::new(),
            });
        }
        Err(ParseError::HtmlPage { advertised }) if !advertised.is_empty() => {
            return advertised_feeds(fetcher, url, advertised).await;
        }
        Err(ParseError::HtmlPage { .. }) => true,
        Err(ParseError::NotAFeed | ParseError::Empty) => false,
        Err(source @ ParseError::Invalid(_)) => {
            return Err(DiscoverError::Unreadable {
                url: url.clone(),
                source,
            });
        }
    };
    let mut tried = Vec::new();
    for candidate in usual_paths(&page.url) {
        tried.push(candidate.clone());
        match fetcher.fetch_discovered(&candidate, url).await {
            Ok(fetched) => {
                if let Ok((format, title)) = read(&fetched) {
                    return Ok(Discovery {
                        feeds: vec![FoundFeed {
                            url: candidate,
                            title,
                            format,
                            how: How::UsualPath,
                        }],
                        skipped: Vec::new(),
                    });
                }
            }
            // Not there: the next name.
            Err(FetchError::Status { status, .. })
                if (400..500).contains(&status) && status != 429 => {}
            // The server asked to wait, failed, or is not reachable (or the policy refuses
            // where the name leads now): more requests would not be polite, nor answered.
            Err(e) => {
                return Err(DiscoverError::NoFeed {
                    url: url.clone(),
                    html,
                    tried,
                    stopped: Some(Box::new(e)),
                });
            }
        }
    }
    Err(DiscoverError::NoFeed {
        url: url.clone(),
        html,
        tried,
        stopped: None,
    })
}

/// The advertised feeds that are feeds, each fetched in turn.
async fn advertised_feeds(
    fetcher: &Fetcher,
    given: &Url,
    advertised: Vec<Advertised>,
) -> Result<Discovery, DiscoverError> {
    let mut feeds = Vec::new();
    let mut skipped = Vec::new();
    for link in advertised {
        let reason = match fetcher.fetch_discovered(&link.url, given).await {
            Ok(fetched) => match read(&fetched) {
                Ok((format, title)) => {
                    feeds.push(FoundFeed {
                        url: link.url,
                        title: link.title.or(title),
                        format,
                        how: How::Advertised,
                    });
                    continue;
                }
                Err(e) => e.to_string(),
            },
            Err(e) => ErrorChain(&e).to_string(),
        };
        skipped.push(Skipped {
            url: link.url,
            reason,
        });
    }
    if feeds.is_empty() {
        return Err(DiscoverError::AdvertisedUnreadable {
            url: given.clone(),
            skipped,
        });
    }
    Ok(Discovery { feeds, skipped })
}

/// The format and title of a fetched document, if it is a feed.
fn read(fetched: &Fetched) -> Result<(FeedFormat, Option<String>), ParseError> {
    let parsed = parse::parse(&fetched.body, fetched.charset.as_deref(), &fetched.url)?;
    let format = match parsed.feed.feed_type {
        feed_rs::model::FeedType::Atom => FeedFormat::Atom,
        feed_rs::model::FeedType::JSON => FeedFormat::Json,
        feed_rs::model::FeedType::RSS0
        | feed_rs::model::FeedType::RSS1
        | feed_rs::model::FeedType::RSS2 => FeedFormat::Rss,
    };
    let title = parsed
        .feed
        .title
        .map(|t| text::plain_title(&t.content))
        .filter(|t| !t.is_empty())
        .map(|t| match t.char_indices().nth(links::MAX_TITLE_CHARS) {
            Some((cut, _)) => format!("{}…", &t[..cut]),
            None => t,
        });
    Ok((format, title))
}

/// The usual paths tried for the site of `page`, in order: [`USUAL_NAMES`] in the folder of
/// `page` when it is not the root (`https://example.org/blog/` and
/// `https://example.org/blog` are the folder `/blog/`, `https://example.org/blog/a.html` is
/// in it), then [`USUAL_NAMES`] and [`USUAL_ROOT_EXTRAS`] at the root. At most
/// `2 × USUAL_NAMES.len() + USUAL_ROOT_EXTRAS.len()` addresses, each once.
pub fn usual_paths(page: &Url) -> Vec<Url> {
    let mut base = page.clone();
    base.set_query(None);
    base.set_fragment(None);
    let path = base.path().to_owned();
    let folder = match path.rsplit_once('/') {
        // `/blog`: a folder written without its slash, unless it names a file.
        Some((_, last)) if !last.is_empty() && !last.contains('.') => format!("{path}/"),
        Some((dir, _)) => format!("{dir}/"),
        None => "/".to_owned(),
    };
    let mut folders = vec![folder];
    if folders[0] != "/" {
        folders.push("/".to_owned());
    }
    let mut paths: Vec<Url> = Vec::new();
    for (i, folder) in folders.iter().enumerate() {
        let root = i + 1 == folders.len();
        let extras: &[&str] = if root { &USUAL_ROOT_EXTRAS } else { &[] };
        for name in USUAL_NAMES.iter().chain(extras) {
            let mut url = base.clone();
            url.set_path(&format!("{folder}{name}"));
            if !paths.contains(&url) {
                paths.push(url);
            }
        }
    }
    paths
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paths(page: &str) -> Vec<String> {
        usual_paths(&Url::parse(page).unwrap())
            .iter()
            .map(|u| u.to_string())
            .collect()
    }

    #[test]
    fn usual_paths_at_the_root() {
        let got = paths("https://example.org/?utm_source=x#top");
        assert_eq!(got.len(), USUAL_NAMES.len() + USUAL_ROOT_EXTRAS.len());
        assert_eq!(got[0], "https://example.org/feed");
        assert_eq!(got[1], "https://example.org/rss");
        assert_eq!(got.last().unwrap(), "https://example.org/blog/feed");
    }

    #[test]
    fn usual_paths_in_the_folder_first_then_at_the_root() {
        for page in [
            "https://example.org/news/",
            "https://example.org/news",
            "https://example.org/news/index.html",
        ] {
            let got = paths(page);
            assert_eq!(got.len(), 2 * USUAL_NAMES.len() + USUAL_ROOT_EXTRAS.len());
            assert_eq!(got[0], "https://example.org/news/feed", "{page}");
            assert_eq!(got[USUAL_NAMES.len()], "https://example.org/feed", "{page}");
        }
        // Each address once: `/blog/` has the root's `blog/feed` among its own.
        assert_eq!(
            paths("https://example.org/blog/").len(),
            2 * USUAL_NAMES.len()
        );
        // A file at the root: the root only.
        assert_eq!(
            paths("https://example.org/index.html")[0],
            "https://example.org/feed"
        );
    }

    #[test]
    fn errors_name_the_address_and_what_was_tried() {
        let url = Url::parse("https://user:pw@x.example/?token=t").unwrap();
        let e = DiscoverError::NoFeed {
            url: url.clone(),
            html: true,
            tried: usual_paths(&url).into_iter().take(2).collect(),
            stopped: None,
        };
        assert_eq!(
            e.to_string(),
            "https://x.example/?token=REDACTED is an HTML page that advertises no feed, \
             and none of /feed, /rss is one"
        );
    }
}
