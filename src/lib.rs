//! feedmerge: polls RSS, Atom and JSON feeds, stores their items in SQLite, removes
//! duplicates (within a feed and across feeds), and serves one merged feed (RSS, Atom, JSON
//! Feed, an HTML news page) in which every item says how long it takes to read ("2 min
//! read").
//!
//! # Layout
//! The stages, in the order a feed's data flows through them:
//! - [`config`] — `config.toml` → validated [`config::Config`], checked section by section
//! - [`hosts`] — URL → permission to request it (per-host limits, `Retry-After`)
//! - [`fetch`] — URL + [`model::Validators`] → body or "not modified" (reqwest)
//! - [`parse`] — bytes → `feed_rs::model::Feed` and polling hints
//! - [`normalize`] — feed → [`model::NewItem`]s (plain titles, absolute links, dates, reading
//!   time, near-duplicate fingerprint, whether the article page is wanted)
//! - [`dedupe`] — items → items with stable keys and canonical links, repeats removed; and
//!   the judgement that an item copies another feed's story
//! - [`store`] — SQLite: items inserted or updated, the near-duplicate index, the queue of
//!   article pages, the merged selection read back; takes and returns [`model`] types only
//! - [`fulltext`] — stored items that want their article page → the page fetched and
//!   extracted, the estimate refined (apart from the polls, which never wait for it)
//! - [`icons`] — polled feeds → their sites' icons fetched once per site, checked by their
//!   bytes and stored (apart from the polls), for the news page to serve itself
//! - [`render`] — stored items → RSS 2.0, Atom, JSON Feed and the HTML news page (sanitised
//!   HTML)
//! - [`output`] — config → the merged feeds to show (query filters included), each rendered
//!   once per change of the data and compressed once per coding, kept in memory
//! - [`serve`] — HTTP (axum): requests → those renderings, with ETag/304/compression and
//!   connection limits
//!
//! Around them: [`pipeline`] chains the stages for one poll, [`schedule`] decides when to poll
//! next, [`scheduler`] runs the polls, [`app`] builds what the daemon and the one-shot
//! commands share, [`daemon`] runs the daemon and shuts it down in order, [`discover`] finds
//! the feeds behind a site's address (chaining `fetch` and `parse`, as a poll does),
//! [`websub`] subscribes to the hubs feeds announce (their pushes go through [`pipeline`])
//! and tells `[websub] hub` when an output changed,
//! [`metrics`] counts what happened, [`memory`] gives freed memory back, [`opml`] reads and
//! writes subscription lists, [`redact`] takes secrets out of URLs before they are shown,
//! [`terminal`] escapes what would drive a terminal, [`shutdown`] turns signals into futures.
//! Beneath every stage, depending on none: [`model`] holds the plain data passed between
//! them, [`words`] splits text into words, [`html`] escapes, scans and bounds HTML and reads
//! the feeds a page advertises.
//!
//! Only [`pipeline`] (a poll), [`fulltext`] (an article page), [`icons`] (a source's icon)
//! and [`discover`] (a site's address) chain stages; a stage otherwise uses the pure functions of the stages before it,
//! never one after it, except that [`normalize`] feeds `dedupe`'s fingerprint builder in its
//! one pass over the words.

pub mod config;
pub mod hosts;
pub mod fetch;
pub mod parse;
pub mod normalize;
pub mod dedupe;
pub mod store;
pub mod fulltext;
pub mod icons;
pub mod render;
pub mod output;
pub mod serve;

pub mod app;
pub mod daemon;
pub mod discover;
pub mod html;
pub mod idle;
pub mod memory;
#[cfg(test)]
mod allocations;
pub mod metrics;
pub mod model;
pub mod opml;
pub mod pipeline;
pub mod redact;
pub mod schedule;
pub mod scheduler;
pub mod shutdown;
pub mod terminal;
pub mod websub;
pub mod words;
