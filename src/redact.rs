//! Redaction: a URL → the form that may be published or logged. Feed URLs may carry secrets
//! (`https://user:pw@host/feed`, `?apikey=…`, `?token=…`): every URL feedmerge shows anyone
//! but the owner's own backup (`export-opml`) goes through here first.
//!
//! Userinfo is removed, and the value of every query parameter whose name looks secret is
//! replaced by [`REDACTED`]. The rest of the query stays byte for byte, so that two feeds that
//! differ only in a harmless parameter (rss-bridge and RSSHub routes) stay apart.

use std::borrow::Cow;
use std::fmt;

use url::Url;

/// What a secret query value is replaced with.
pub const REDACTED: &str = "REDACTED";

/// Parameter names that are secret whole (after lower-casing and dropping `-`, `_` and `.`).
const SECRET_NAMES: &[&str] = &[
    "auth",
    "code",
    "hash",
    "key",
    "pass",
    "pw",
    "pwd",
    "sid",
    "sig",
    "session",
    "sessionid",
];

/// Endings of parameter names that are secret (after the same folding): `apikey`,
/// `api_key`, `access_token`, `client_secret`, `x-auth`, `passwd`, `signature`, …
const SECRET_ENDINGS: &[&str] = &[
    "apikey",
    "accesskey",
    "secretkey",
    "privatekey",
    "token",
    "secret",
    "password",
    "passwd",
    "signature",
    "auth",
    "credential",
    "credentials",
];

/// Whether a query parameter called `name` (percent-decoded) carries a secret.
pub fn is_secret_param(name: &str) -> bool {
    let folded: String = name
        .chars()
        .filter(|c| !matches!(c, '-' | '_' | '.'))
        .flat_map(char::to_lowercase)
        .collect();
    SECRET_NAMES.contains(&folded.as_str()) || SECRET_ENDINGS.iter().any(|e| folded.ends_with(e))
}

/// `url` without userinfo and with the values of secret-looking query parameters replaced.
pub fn url(url: &Url) -> Url {
    let mut clean = url.clone();
    if !clean.username().is_empty() || clean.password().is_some() {
        // Only fails for URLs that cannot have userinfo, which then have none.
        let _ = clean.set_username("");
        let _ = clean.set_password(None);
    }
    if let Some(query) = url.query() {
        if let Cow::Owned(q) = query_text(query) {
            clean.set_query(Some(&q));
        }
    }
    clean
}

/// The base that relative references of a document fetched from `url` resolve against, when
/// what they make is published (item links, links and images in content): `url` without
/// userinfo, query or fragment. Resolving keeps the base's userinfo, and an empty reference or
/// a bare `#fragment` keeps its query too, so resolving against the URL as configured would
/// publish its password or `?apikey=` through every such link of the feed.
pub fn base(url: &Url) -> Url {
    let mut base = url.clone();
    if !base.username().is_empty() || base.password().is_some() {
        // Only fails for URLs that cannot have userinfo, which then have none.
        let _ = base.set_username("");
        let _ = base.set_password(None);
    }
    base.set_query(None);
    base.set_fragment(None);
    base
}

/// [`url()`] for a URL held as text. Text that is not an absolute URL is returned as it is.
pub fn url_text(text: &str) -> Cow<'_, str> {
    match Url::parse(text) {
        Ok(u) => {
            let clean = url(&u);
            if clean == u {
                Cow::Borrowed(text)
            } else {
                Cow::Owned(clean.into())
            }
        }
        Err(_) => Cow::Borrowed(text),
    }
}

/// A feed's display name, which is its URL when it has no title: that URL redacted, and any
/// other name as it is, without looking further than its first characters (a name is shown
/// once per item, and a publisher chooses how long it is).
pub fn name(name: &str) -> Cow<'_, str> {
    if starts_with_url(name.as_bytes()) {
        url_text(name)
    } else {
        Cow::Borrowed(name)
    }
}

/// `text` with every `http://` or `https://` URL in it redacted as [`url()`] does: for free text
/// that quotes URLs, such as error messages ("unexpected status 500 from https://…"). A URL
/// ends at whitespace, a quote or an angle bracket; punctuation that ends a sentence after it
/// stays out of it.
pub fn text(text: &str) -> Cow<'_, str> {
    let mut out = String::new();
    let mut done = 0;
    let mut from = 0;
    while let Some(start) = next_url_start(text, from) {
        let len = text[start..]
            .find(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | '<' | '>' | '`'))
            .unwrap_or(text.len() - start);
        let candidate = text[start..start + len].trim_end_matches(TRAILING_PUNCTUATION);
        let end = start + candidate.len();
        if let Cow::Owned(clean) = url_text(candidate) {
            out.push_str(&text[done..start]);
            out.push_str(&clean);
            done = end;
        }
        from = end.max(start + 1);
    }
    if done == 0 {
        return Cow::Borrowed(text);
    }
    out.push_str(&text[done..]);
    Cow::Owned(out)
}

/// Characters that end a sentence or a clause rather than a URL quoted in it.
const TRAILING_PUNCTUATION: &[char] = &['.', ',', ':', ';', '!', '?', ')', ']', '}'];

/// Where the next `http://` or `https://` (in any case) starts, at or after byte `from`.
fn next_url_start(text: &str, from: usize) -> Option<usize> {
    let bytes = text.as_bytes();
    (from..bytes.len()).find(|&i| starts_with_url(&bytes[i..]))
}

/// Whether `bytes` start with `http://` or `https://`, in any case.
fn starts_with_url(bytes: &[u8]) -> bool {
    let starts = |p: &[u8]| bytes.len() >= p.len() && bytes[..p.len()].eq_ignore_ascii_case(p);
    starts(b"http://") || starts(b"https://")
}

/// A query string with the values of secret-looking parameters replaced.
fn query_text(query: &str) -> Cow<'_, str> {
    let secret = |pair: &str| {
        let name = pair.split_once('=').map_or(pair, |(n, _)| n);
        let decoded: String = url::form_urlencoded::parse(name.as_bytes())
            .next()
            .map(|(n, _)| n.into_owned())
            .unwrap_or_default();
        pair.contains('=') && is_secret_param(&decoded)
    };
    if !query.split('&').any(secret) {
        return Cow::Borrowed(query);
    }
    let pairs: Vec<Cow<'_, str>> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((name, _)) if secret(pair) => Cow::Owned(format!("{name}={REDACTED}")),
            _ => Cow::Borrowed(pair),
        })
        .collect();
    Cow::Owned(pairs.join("&"))
}

/// Shows a URL redacted: `format!("{}", Redacted(&url))`, or `%Redacted(&url)` in a log field.
#[derive(Debug, Clone, Copy)]
pub struct Redacted<'a>(pub &'a Url);

impl fmt::Display for Redacted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(url(self.0).as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shown(s: &str) -> String {
        Redacted(&Url::parse(s).unwrap()).to_string()
    }

    #[test]
    fn userinfo_and_secret_values_go_the_rest_stays() {
        assert_eq!(
            shown("http://user:pw@host.example/feed?apikey=K&tag=a%20b"),
            "http://host.example/feed?apikey=REDACTED&tag=a%20b"
        );
        assert_eq!(
            shown("https://h.example/f?access_token=t&Api-Key=k&X_AUTH=z&page=2&sig=s#frag"),
            "https://h.example/f?access_token=REDACTED&Api-Key=REDACTED&X_AUTH=REDACTED&page=2&sig=REDACTED#frag"
        );
        assert_eq!(
            shown("https://rsshub.example/github/issue/a/b?limit=5&key=secret"),
            "https://rsshub.example/github/issue/a/b?limit=5&key=REDACTED"
        );
        // Only the user name.
        assert_eq!(shown("https://me@h.example/f"), "https://h.example/f");
    }

    #[test]
    fn harmless_urls_are_left_as_written() {
        for s in [
            "https://h.example/feed.xml",
            "https://h.example/f?tag=news&page=2&keyword=rust&format=rss",
            "https://h.example/f?token",
            "https://h.example/f?a=1&&b=2",
        ] {
            assert_eq!(shown(s), s);
            assert!(matches!(url_text(s), Cow::Borrowed(_)));
        }
        assert_eq!(url_text("not a url"), "not a url");
    }

    #[test]
    fn a_name_is_redacted_when_it_is_a_url() {
        assert_eq!(
            name("https://u:p@h.example/f?key=k"),
            "https://h.example/f?key=REDACTED"
        );
        for s in ["Example", "", "ééééé", "Read https://u:p@h.example/ later"] {
            assert!(matches!(name(s), Cow::Borrowed(_)), "{s}");
        }
    }

    #[test]
    fn urls_inside_text_are_redacted() {
        assert_eq!(
            text("unexpected status 500 from http://u:pw@h.example/f?apikey=K&tag=x."),
            "unexpected status 500 from http://h.example/f?apikey=REDACTED&tag=x."
        );
        assert_eq!(
            text(
                "cannot fetch HTTPS://h.example/?token=t: refused; see \"https://me:x@b.example/\""
            ),
            "cannot fetch https://h.example/?token=REDACTED: refused; see \"https://b.example/\""
        );
        for s in [
            "no URL here",
            "https://h.example/f?tag=x and http://",
            "ünïcödé https://h.example/é",
            "",
        ] {
            assert!(matches!(text(s), Cow::Borrowed(_)), "{s}");
        }
    }

    #[test]
    fn a_base_for_published_links_carries_no_secret() {
        let feed = Url::parse("http://alice:hunter2@host.example/dir/feed.xml?apikey=K#f").unwrap();
        let base = base(&feed);
        assert_eq!(base.as_str(), "http://host.example/dir/feed.xml");
        for (reference, resolved) in [
            ("", "http://host.example/dir/feed.xml"),
            ("#top", "http://host.example/dir/feed.xml#top"),
            ("?page=2", "http://host.example/dir/feed.xml?page=2"),
            ("/post/1", "http://host.example/post/1"),
            ("other", "http://host.example/dir/other"),
        ] {
            assert_eq!(
                base.join(reference).unwrap().as_str(),
                resolved,
                "{reference:?}"
            );
        }
    }

    #[test]
    fn encoded_names_are_recognised() {
        assert_eq!(
            shown("https://h.example/f?api%5Fkey=1&client%2Dsecret=2&password=3&passwd=4"),
            "https://h.example/f?api%5Fkey=REDACTED&client%2Dsecret=REDACTED&password=REDACTED&passwd=REDACTED"
        );
    }
}
