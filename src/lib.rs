//! feedmerge: polls RSS, Atom and JSON feeds, stores their items in SQLite, removes
//! duplicates, and serves one merged RSS feed in which every item says how long it takes to
//! read ("2 min read").
//!
//! # Layout
//! The stages, in pipeline order:
//! - [`config`] — `config.toml` → validated [`config::Config`], checked section by section
//! - [`hosts`] — URL → permission to request it (per-host limits, `Retry-After`)
//! - [`fetch`] — URL + validators → body or "not modified" (reqwest)
//! - [`parse`] — bytes → `feed_rs::model::Feed` and polling hints
//! - [`normalize`] — feed → [`model::NewItem`]s (plain titles, absolute links, dates, reading time)
//! - [`dedupe`] — items → items with stable keys and canonical links, repeats removed
//! - [`store`] — SQLite (items inserted or updated, the merged selection read back)
//! - [`articles`] — stored items that want their article page → the page fetched and
//!   extracted, the estimate refined (apart from the polls, which never wait for it)
//! - [`render`] — stored items → RSS 2.0 (sanitised HTML)
//! - [`serve`] — HTTP (axum): the rendered feed from memory, with ETag/304/compression
//!
//! Around them: [`pipeline`] chains the stages for one poll, [`schedule`] decides when to poll
//! next, [`scheduler`] runs the polls, [`app`] builds what the daemon and the one-shot
//! commands share, [`daemon`] runs the daemon and shuts it down in order,
//! [`metrics`] counts what happened, [`memory`] gives freed memory back, [`opml`] reads and
//! writes subscription lists, [`redact`] takes secrets out of URLs before they are shown,
//! [`terminal`] escapes what would drive a terminal, [`shutdown`] turns signals into futures,
//! and [`model`] holds the plain data passed between stages.

pub mod config;
pub mod hosts;
pub mod fetch;
pub mod parse;
pub mod normalize;
pub mod dedupe;
pub mod store;
pub mod fulltext;
pub mod render;
pub mod serve;

pub mod app;
pub mod daemon;
pub mod html;
pub mod memory;
pub mod metrics;
pub mod model;
pub mod opml;
pub mod pipeline;
pub mod redact;
pub mod schedule;
pub mod scheduler;
pub mod shutdown;
pub mod terminal;
pub mod words;
