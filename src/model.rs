//! Plain data passed between the stages: feeds, items as parsed ([`NewItem`]) and as stored
//! ([`StoredItem`]), reading-time estimates. No I/O here.

use chrono::{DateTime, Utc};

/// Row id of a feed in the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FeedId(pub i64);

/// What a feed says about itself.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FeedMeta {
    /// Plain-text title, if any.
    pub title: Option<String>,
    /// The site's home page.
    pub site_link: Option<String>,
    /// The icon the feed declares for its source (JSON Feed `favicon`, Atom `<icon>`, else
    /// the larger logo: RSS `<image>`, Atom `<logo>`, JSON Feed `icon`, `itunes:image`),
    /// absolute; not fetched here.
    pub icon: Option<String>,
    /// What had to be repaired in the document to read it (empty for a well-formed one).
    pub repairs: Repairs,
    /// The WebSub hub and topic the document announces (boxed: rarely any, and the meta
    /// travels with every poll's result).
    pub hub_links: Box<HubLinks>,
}

/// What a document or its `Link:` headers announce for WebSub: the hub to subscribe at and
/// the topic URL (`rel="self"`) to subscribe to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HubLinks {
    /// The first `rel="hub"`.
    pub hub: Option<url::Url>,
    /// The first `rel="self"`.
    pub topic: Option<url::Url>,
}

impl HubLinks {
    /// These links, the missing ones filled from `other`.
    pub fn or(self, other: HubLinks) -> HubLinks {
        HubLinks {
            hub: self.hub.or(other.hub),
            topic: self.topic.or(other.topic),
        }
    }
}

/// Where a feed's WebSub subscription stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SubState {
    /// The feed announces a hub; no subscription was asked for (subscribing is off, or not
    /// yet).
    Announced,
    /// Asked for; the hub has not verified it yet.
    Pending,
    /// Verified: the hub pushes the feed's changes until the lease ends.
    Active,
    /// The hub refused it (`hub.mode=denied`); asked again after a backoff.
    Denied,
    /// The request failed (the hub answered an error, could not be reached, or never
    /// verified it); asked again after a backoff.
    Failed,
    /// The lease ended without a renewal.
    Expired,
    /// The feed left the config: unsubscribing.
    Unsubscribing,
}

impl SubState {
    /// The name stored and shown by `status`.
    pub fn as_str(self) -> &'static str {
        match self {
            SubState::Announced => "announced",
            SubState::Pending => "pending",
            SubState::Active => "active",
            SubState::Denied => "denied",
            SubState::Failed => "failed",
            SubState::Expired => "expired",
            SubState::Unsubscribing => "unsubscribing",
        }
    }

    /// The state named `name` ([`SubState::as_str`]).
    pub fn from_name(name: &str) -> Option<Self> {
        [
            SubState::Announced,
            SubState::Pending,
            SubState::Active,
            SubState::Denied,
            SubState::Failed,
            SubState::Expired,
            SubState::Unsubscribing,
        ]
        .into_iter()
        .find(|s| s.as_str() == name)
    }
}

impl std::fmt::Display for SubState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A feed's hub and our subscription there, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HubSubscription {
    /// The feed.
    pub feed: FeedId,
    /// The hub it announces.
    pub hub: url::Url,
    /// The topic: its `rel="self"`, else the feed's URL.
    pub topic: url::Url,
    /// Where the subscription stands.
    pub state: SubState,
    /// The random part of the callback path (`/websub/<token>`), once asked for.
    pub token: Option<String>,
    /// The key the hub signs pushes with, once asked for.
    pub secret: Option<String>,
    /// When the lease granted ends.
    pub expires_at: Option<DateTime<Utc>>,
    /// When to act next: renew, ask again, give up waiting for the verification.
    pub renew_at: Option<DateTime<Utc>>,
    /// Failed or denied requests in a row.
    pub failures: u32,
    /// Why the last request failed.
    pub last_error: Option<String>,
}

/// One kind of fault in a feed document that parsing repaired instead of rejecting the feed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Repair {
    /// Nothing declared the encoding and the bytes are not UTF-8: the encoding was detected.
    EncodingDetected,
    /// The document is UTF-8 but for a few bytes, which were replaced.
    InvalidUtf8,
    /// Text or markup before or after the feed's root element was dropped.
    OutsideRoot,
    /// A `&` that starts no reference, or a reference to an unknown entity, was escaped.
    BareAmpersand,
    /// An HTML entity (`&nbsp;`, `&eacute;`) used without a DTD was replaced by its character.
    HtmlEntity,
    /// A character XML forbids (most C0 controls) was dropped.
    IllegalCharacter,
    /// A namespace prefix used without a declaration was declared.
    UndeclaredPrefix,
    /// An end tag that closes nothing open, or not the innermost element, was fixed.
    MismatchedTag,
    /// Elements still open where the document ends were closed.
    Truncated,
    /// A CDATA section without its `]]>` was ended.
    BrokenCdata,
    /// Markup inside an element that holds text (raw HTML in a description) was escaped.
    MarkupInText,
    /// An attribute without quotes or value, or repeated, was rewritten.
    Attribute,
    /// An Atom text or content `type` the format does not allow was read as the nearest one.
    TextType,
    /// An item that could not be read even after repairs was left out.
    ItemDropped,
    /// A JSON Feed value of the wrong type was coerced (a numeric id) or dropped.
    JsonValue,
    /// A JSON string escape of half a surrogate pair was replaced by U+FFFD.
    LoneSurrogate,
}

impl Repair {
    /// Every repair, in the order they are shown.
    pub const ALL: [Repair; 16] = [
        Repair::EncodingDetected,
        Repair::InvalidUtf8,
        Repair::OutsideRoot,
        Repair::BareAmpersand,
        Repair::HtmlEntity,
        Repair::IllegalCharacter,
        Repair::UndeclaredPrefix,
        Repair::MismatchedTag,
        Repair::Truncated,
        Repair::BrokenCdata,
        Repair::MarkupInText,
        Repair::Attribute,
        Repair::TextType,
        Repair::ItemDropped,
        Repair::JsonValue,
        Repair::LoneSurrogate,
    ];

    /// The name stored in the database and shown by `status --json`.
    pub fn name(self) -> &'static str {
        match self {
            Repair::EncodingDetected => "encoding_detected",
            Repair::InvalidUtf8 => "invalid_utf8",
            Repair::OutsideRoot => "outside_root",
            Repair::BareAmpersand => "bare_ampersand",
            Repair::HtmlEntity => "html_entity",
            Repair::IllegalCharacter => "illegal_character",
            Repair::UndeclaredPrefix => "undeclared_prefix",
            Repair::MismatchedTag => "mismatched_tag",
            Repair::Truncated => "truncated",
            Repair::BrokenCdata => "broken_cdata",
            Repair::MarkupInText => "markup_in_text",
            Repair::Attribute => "attribute",
            Repair::TextType => "text_type",
            Repair::ItemDropped => "item_dropped",
            Repair::JsonValue => "json_value",
            Repair::LoneSurrogate => "lone_surrogate",
        }
    }

    /// A short phrase for people (`feedmerge status`).
    pub fn describe(self) -> &'static str {
        match self {
            Repair::EncodingDetected => "undeclared encoding detected",
            Repair::InvalidUtf8 => "bytes that are not UTF-8 replaced",
            Repair::OutsideRoot => "text outside the feed dropped",
            Repair::BareAmpersand => "bare & escaped",
            Repair::HtmlEntity => "HTML entities decoded",
            Repair::IllegalCharacter => "control characters dropped",
            Repair::UndeclaredPrefix => "undeclared prefixes declared",
            Repair::MismatchedTag => "mismatched tags fixed",
            Repair::Truncated => "truncated document closed",
            Repair::BrokenCdata => "unterminated CDATA ended",
            Repair::MarkupInText => "raw HTML in text escaped",
            Repair::Attribute => "malformed attributes fixed",
            Repair::TextType => "unknown text types read",
            Repair::ItemDropped => "unreadable items left out",
            Repair::JsonValue => "JSON values of the wrong type coerced",
            Repair::LoneSurrogate => "lone surrogates replaced",
        }
    }

    fn bit(self) -> u32 {
        // Fewer than 32 variants, numbered from 0 in declaration order.
        1 << self as u32
    }
}

/// A set of [`Repair`]s.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Repairs(u32);

impl Repairs {
    /// Adds `repair`.
    pub fn insert(&mut self, repair: Repair) {
        self.0 |= repair.bit();
    }

    /// Adds every repair of `other`.
    pub fn extend(&mut self, other: Repairs) {
        self.0 |= other.0;
    }

    /// Whether `repair` is in the set.
    pub fn contains(self, repair: Repair) -> bool {
        self.0 & repair.bit() != 0
    }

    /// No repair at all: the document was well-formed.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The repairs, in [`Repair::ALL`] order.
    pub fn iter(self) -> impl Iterator<Item = Repair> {
        Repair::ALL.into_iter().filter(move |r| self.contains(*r))
    }

    /// The names, comma separated (the stored form); empty for none.
    pub fn to_names(self) -> String {
        self.iter().map(Repair::name).collect::<Vec<_>>().join(",")
    }

    /// The inverse of [`Repairs::to_names`]; unknown names (from a newer version) are skipped.
    pub fn from_names(names: &str) -> Self {
        let mut set = Repairs::default();
        for name in names.split(',') {
            if let Some(r) = Repair::ALL.iter().find(|r| r.name() == name.trim()) {
                set.insert(*r);
            }
        }
        set
    }
}

impl std::fmt::Display for Repairs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let phrases: Vec<&str> = self.iter().map(Repair::describe).collect();
        f.write_str(&phrases.join(", "))
    }
}

impl serde::Serialize for Repairs {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.iter().map(Repair::name))
    }
}

/// What a feed document says about how often to poll it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FeedHints {
    /// RSS `<ttl>`.
    pub ttl: Option<std::time::Duration>,
    /// `sy:updatePeriod` divided by `sy:updateFrequency`.
    pub update_period: Option<std::time::Duration>,
    /// RSS `<skipHours>`: bit `h` set means hour `h` (UTC) is skipped.
    pub skip_hours: u32,
    /// RSS `<skipDays>`: bit `d` set means weekday `d` (0 = Monday) is skipped.
    pub skip_days: u8,
}

/// HTTP cache validators kept between polls (`ETag`, `Last-Modified`), sent with the next
/// conditional GET.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Validators {
    /// The `ETag` the server sent last.
    pub etag: Option<String>,
    /// The `Last-Modified` the server sent last.
    pub last_modified: Option<String>,
}

impl Validators {
    /// Keeps each validator of `newer` that is present, else the current one: a 304 may carry
    /// fresh validators or none at all.
    pub fn merge(&self, newer: Validators) -> Validators {
        Validators {
            etag: newer.etag.or_else(|| self.etag.clone()),
            last_modified: newer.last_modified.or_else(|| self.last_modified.clone()),
        }
    }
}

/// A feed the configuration subscribes to, as the store keeps it: where it is and the title
/// that overrides its own. Built from `config::FeedConfig` by the caller, so that the store
/// does not depend on the configuration's shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    /// The feed's URL.
    pub url: url::Url,
    /// Title override; the feed's own title is used otherwise.
    pub title: Option<String>,
}

impl Subscription {
    /// A subscription to `url` under the feed's own title.
    pub fn new(url: url::Url) -> Self {
        Subscription { url, title: None }
    }
}

/// What a poll came to. Stored in the feed's row (`last_result`) as `ok`, `not_modified`,
/// `failed` or `gone`, and shown by `status` under the same names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PollKind {
    /// A new document was fetched and stored.
    Fetched,
    /// 304: nothing changed.
    NotModified,
    /// The fetch or the parse failed; the error is on the feed.
    Failed,
    /// 410 Gone: the feed is not polled on schedule any more.
    Gone,
}

impl PollKind {
    /// The name stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            PollKind::Fetched => "ok",
            PollKind::NotModified => "not_modified",
            PollKind::Failed => "failed",
            PollKind::Gone => "gone",
        }
    }

    /// The inverse of [`PollKind::as_str`].
    pub fn from_name(name: &str) -> Option<Self> {
        [
            PollKind::Fetched,
            PollKind::NotModified,
            PollKind::Failed,
            PollKind::Gone,
        ]
        .into_iter()
        .find(|k| k.as_str() == name)
    }

    /// Whether the poll counts as an error of the feed (one more in a row).
    pub fn is_error(self) -> bool {
        matches!(self, PollKind::Failed | PollKind::Gone)
    }
}

impl std::fmt::Display for PollKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for PollKind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// Why a poll failed, finer than [`PollKind::Failed`]: what `/metrics` counts polls by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Failure {
    /// The server answered with a status other than 2xx or 304 (and 410, which is
    /// [`PollKind::Gone`]).
    HttpStatus,
    /// The body was larger than allowed.
    TooLarge,
    /// The request did not complete in time.
    Timeout,
    /// A redirect was not followed.
    Redirect,
    /// The fetch policy refused where the URL leads.
    Refused,
    /// The media type is not one read.
    MediaType,
    /// DNS, connection, TLS or a broken body.
    Network,
    /// The document could not be read as a feed.
    Parse,
}

impl Failure {
    /// The name in `/metrics` (`feedmerge_polls_total{result="timeout"}`).
    pub fn as_str(self) -> &'static str {
        match self {
            Failure::HttpStatus => "http_status",
            Failure::TooLarge => "too_large",
            Failure::Timeout => "timeout",
            Failure::Redirect => "redirect",
            Failure::Refused => "refused",
            Failure::MediaType => "media_type",
            Failure::Network => "network",
            Failure::Parse => "parse",
        }
    }
}

/// The format of a feed document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FeedFormat {
    /// RSS 0.9x, 1.0 (RDF) or 2.0.
    Rss,
    /// Atom 0.3 or 1.0.
    Atom,
    /// JSON Feed 1.0 or 1.1.
    Json,
}

impl FeedFormat {
    /// Its name, as `discover` prints it: `rss`, `atom`, `json`.
    pub fn as_str(self) -> &'static str {
        match self {
            FeedFormat::Rss => "rss",
            FeedFormat::Atom => "atom",
            FeedFormat::Json => "json",
        }
    }
}

/// A feed's health, from its last poll: the one classification `status`, `/metrics`
/// (`feedmerge_feeds{state}`), systemd's `STATUS=` line and the store's counts share.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Health {
    /// Not polled yet.
    New,
    /// The last poll succeeded (a new document or 304).
    Ok,
    /// The last poll failed.
    Failing,
    /// The last poll answered 410 Gone.
    Gone,
}

impl Health {
    /// Every health, in the order they are shown.
    pub const ALL: [Health; 4] = [Health::Ok, Health::Failing, Health::Gone, Health::New];

    /// The health of a feed whose last poll came to `last` (`None`: never polled).
    pub fn of(last: Option<PollKind>) -> Self {
        match last {
            None => Health::New,
            Some(PollKind::Fetched | PollKind::NotModified) => Health::Ok,
            Some(PollKind::Failed) => Health::Failing,
            Some(PollKind::Gone) => Health::Gone,
        }
    }

    /// The name shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Health::New => "new",
            Health::Ok => "ok",
            Health::Failing => "failing",
            Health::Gone => "gone",
        }
    }
}

/// A feed that is failing, for the merged feed's health items.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedFailure {
    /// The configured URL.
    pub feed_url: String,
    /// Display title.
    pub feed_title: String,
    /// The first failure of the current run of errors.
    pub since: DateTime<Utc>,
    /// The last error.
    pub error: String,
}

/// An item's identity inside its feed: stable across polls and restarts (see `dedupe`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct ItemKey(pub String);

/// A media attachment (RSS `<enclosure>`, Atom `rel="enclosure"`, `media:content`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Enclosure {
    /// Absolute URL.
    pub url: String,
    /// MIME type, `application/octet-stream` when unknown.
    pub mime_type: String,
    /// Size in bytes, 0 when unknown.
    pub length: u64,
}

/// An item's lead image as the news page shows it: at its own aspect ratio, with its caption
/// and credit below it, and the other sizes the feed offers for `srcset`. Text fields are
/// plain text; URLs are absolute http(s). Every field is bounded (see `normalize`).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LeadImage {
    /// The image to show (the largest of the sizes offered), absolute.
    pub url: String,
    /// Its width in CSS pixels, when the feed says.
    pub width: Option<u32>,
    /// Its height in CSS pixels, when the feed says.
    pub height: Option<u32>,
    /// What it shows (`media:description`, a `<figcaption>`, the image's `title` or `alt`).
    pub caption: Option<String>,
    /// Who made it (`media:credit`).
    pub credit: Option<String>,
    /// The same image in other widths, narrowest first, for `srcset` (empty when the feed
    /// offers one size).
    pub sources: Vec<ImageSource>,
}

impl LeadImage {
    /// The image at `url`, with nothing known about it.
    pub fn new(url: impl Into<String>) -> Self {
        LeadImage {
            url: url.into(),
            ..LeadImage::default()
        }
    }
}

/// One size of a [`LeadImage`].
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ImageSource {
    /// Absolute URL of this size.
    pub url: String,
    /// Its width in pixels (the `w` descriptor of `srcset`).
    pub width: u32,
}

/// A person an item names as its author, for the news page's author card. Plain text, URLs
/// absolute http(s), every field bounded (see `normalize`).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Author {
    /// The name shown.
    pub name: String,
    /// Their page (Atom `uri`, JSON Feed `url`).
    pub url: Option<String>,
    /// Their picture (JSON Feed `avatar`, an iTunes image of a podcast's host).
    pub avatar: Option<String>,
    /// A line about them (their role), when the feed gives one.
    pub about: Option<String>,
}

/// Where a reading-time estimate's text came from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum TextSource {
    /// The article page itself, fetched and extracted.
    Full,
    /// Full content (`content:encoded`, Atom content, JSON `content_html`).
    Content,
    /// Only a summary or description was available.
    Summary,
    /// The item had no text at all.
    #[default]
    None,
}

impl TextSource {
    /// The name stored in the database and written to the feedmerge namespace.
    pub fn as_str(self) -> &'static str {
        match self {
            TextSource::Full => "full",
            TextSource::Content => "content",
            TextSource::Summary => "summary",
            TextSource::None => "none",
        }
    }

    /// The inverse of [`TextSource::as_str`]; unknown names read as `None`.
    pub fn from_name(name: &str) -> Self {
        match name {
            "full" => TextSource::Full,
            "content" => TextSource::Content,
            "summary" => TextSource::Summary,
            _ => TextSource::None,
        }
    }
}

/// A "N min read" estimate and what it was computed from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReadingTime {
    /// Whole minutes, at least 1.
    pub minutes: u32,
    /// Words counted outside CJK scripts.
    pub words: u32,
    /// Han, Hiragana, Katakana and Hangul characters counted.
    pub cjk_chars: u32,
    /// Images in the text.
    pub images: u32,
    /// Which text was measured.
    pub source: TextSource,
}

/// An item as normalised from a freshly parsed feed, ready to store.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NewItem {
    /// Identity inside the feed.
    pub key: ItemKey,
    /// The guid to publish: the feed's own guid when it had one, otherwise derived from the key.
    pub guid: String,
    /// Absolute link to the article.
    pub link: Option<String>,
    /// The link in canonical form, the cross-feed identity of the story.
    pub canonical_link: Option<String>,
    /// Plain-text title.
    pub title: String,
    /// The byline: author names, comma separated.
    pub author: Option<String>,
    /// The authors named, with what the feed says about each (link, avatar, role), for the
    /// author card: at most `normalize::MAX_AUTHORS`, in document order.
    pub authors: Vec<Author>,
    /// Category terms.
    pub categories: Vec<String>,
    /// The fullest HTML we have (content, else summary), as published: sanitised when rendered.
    pub content_html: String,
    /// URL that relative references in `content_html` resolve against.
    pub content_base: Option<String>,
    /// Published, else updated, when plausible (not in the future, not before 1995).
    pub date: Option<DateTime<Utc>>,
    /// First media attachment.
    pub enclosure: Option<Enclosure>,
    /// The lead image.
    pub image: Option<LeadImage>,
    /// The first words of the visible text, plain.
    pub summary: String,
    /// Reading-time estimate of the content.
    pub reading_time: ReadingTime,
    /// Hash of everything above that is shown; a change means the item was updated.
    pub content_hash: i64,
    /// The article page, when this poll fetched it (`None`: not attempted now).
    pub full_text: Option<FullTextOutcome>,
    /// The content looks like a summary and the settings ask for the article page.
    pub wants_full_text: bool,
    /// For near-duplicate detection across feeds (stored for new items when it is on).
    pub fingerprint: Option<Fingerprint>,
    /// The stored item of another feed this one is a copy of, and the judgement that said so.
    pub near_duplicate_of: Option<(i64, Verdict)>,
}

/// What near-duplicate detection indexes of an item (computed by `dedupe`): its LSH bands
/// and the hash of its title.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fingerprint {
    /// LSH band hashes (empty for short texts).
    pub bands: Vec<u32>,
    /// Hash of the normalised title.
    pub title_key: u32,
}

/// What decided a near-duplicate merge.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, serde::Serialize)]
pub struct Evidence {
    /// The titles are the same or nearly so (after prefixes, number style and punctuation).
    pub title: bool,
    /// The texts are highly similar.
    pub body: bool,
    /// The links end in the same slug.
    pub slug: bool,
}

impl Evidence {
    /// The names of what holds, comma-separated: `title,body`, `body,slug`.
    pub fn names(self) -> String {
        [
            (self.title, "title"),
            (self.body, "body"),
            (self.slug, "slug"),
        ]
        .iter()
        .filter(|(on, _)| *on)
        .map(|(_, name)| *name)
        .collect::<Vec<_>>()
        .join(",")
    }

    /// Reads [`Evidence::names`]; unknown names are ignored.
    pub fn from_names(names: &str) -> Evidence {
        let has = |n: &str| names.split(',').any(|x| x.trim() == n);
        Evidence {
            title: has("title"),
            body: has("body"),
            slug: has("slug"),
        }
    }
}

/// The judgement that two items are one story (`dedupe::judge`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Verdict {
    /// How similar the texts are: the Jaccard similarity of their word 4-grams, or the share
    /// of the shorter one found in the other when that decided; for texts too short to
    /// compare so, of their words (1.0 when the title and the link decided).
    pub similarity: f64,
    /// What decided it.
    pub evidence: Evidence,
}

/// What fetching an item's article page gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FullTextOutcome {
    /// Extracted; the estimate in [`NewItem::reading_time`] comes from it. The article's
    /// HTML is kept when the merged feed is to carry it.
    Extracted(Option<String>),
    /// The fetch or the extraction failed (the estimate stays the summary's); not retried.
    Failed(String),
}

/// A position in the merged feed's order (newest first), for paging.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    /// The item's date, unix seconds.
    pub sort_at: i64,
    /// Its row id, which breaks ties.
    pub id: i64,
}

impl Cursor {
    /// The form used in URLs (`?before=1717171717-42`).
    pub fn to_param(self) -> String {
        format!("{}-{}", self.sort_at, self.id)
    }

    /// Reads [`Cursor::to_param`]'s form.
    pub fn from_param(s: &str) -> Option<Self> {
        let (sort_at, id) = s.split_once('-')?;
        Some(Cursor {
            sort_at: sort_at.parse().ok()?,
            id: id.parse().ok()?,
        })
    }
}

/// Another feed that carries a story, and its copy's link there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlsoIn {
    /// The feed's display title (config override, else its own title, else its URL).
    pub feed_title: String,
    /// The link of the copy in that feed, if it has one.
    pub link: Option<String>,
}

/// A stored item joined with its feed, as the renderers need it.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredItem {
    /// The item as normalised when last stored.
    pub item: NewItem,
    /// Its position in the merged order.
    pub cursor: Cursor,
    /// The other feeds that carry the same story, with the links to their copies.
    pub also_in: Vec<AlsoIn>,
    /// The feed it came from.
    pub feed_url: String,
    /// The feed's display title (config override, else its own title, else its URL).
    pub feed_title: String,
    /// The icon the feed declares for its source, as published (see [`FeedMeta::icon`]).
    pub feed_icon: Option<String>,
    /// The feed's site (its home page), when it names one.
    pub feed_site: Option<String>,
    /// The name of its source's icon as feedmerge serves it (`/icons/NAME`), once fetched.
    pub source_icon: Option<String>,
    /// When feedmerge first saw the item.
    pub first_seen: DateTime<Utc>,
    /// The date shown: the item's date, else `first_seen`.
    pub date: DateTime<Utc>,
    /// When the stored row last changed.
    pub changed_at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evidence_reads_back_from_its_names() {
        let all = [false, true];
        for title in all {
            for body in all {
                for slug in all {
                    let e = Evidence { title, body, slug };
                    assert_eq!(Evidence::from_names(&e.names()), e);
                }
            }
        }
    }
}
