//! A request's path and query (`/feed.xml?tag=…&limit=…`) → the output it names and the
//! default feed's normalised filters, the key its rendering is cached under.
//!
//! Nothing may panic; a cache key holds no more than the longest configured tag, whatever
//! the request; the filters narrow the default feed within its limits; and writing the
//! filters back as a query and reading that gives the same filters (one key per selection).
#![no_main]

use std::collections::HashMap;

use feedmerge::config::Placement;
use feedmerge::render::{Channel, Format};
use feedmerge::output::{Filters, MAX_MIN_MINUTES, Output, Outputs, SourceFilter, TagFilter};
use feedmerge::serve::query;
use feedmerge::store::Selection;
use libfuzzer_sys::fuzz_target;

/// The configured tags: plain, with a space and an ampersand, and non-ASCII.
const TAGS: [&str; 3] = ["rust", "tech & news", "ünï"];
/// The default feed's `max_items`.
const MAX_ITEMS: usize = 100;

fn outputs() -> Outputs {
    let output = |path: &str| Output {
        channel: Channel {
            title: "t".into(),
            description: "d".into(),
            base_url: url::Url::parse("http://127.0.0.1:8080/").unwrap(),
            path: path.into(),
            placement: Placement::Description,
        },
        selection: Selection::newest(MAX_ITEMS),
        health_items: true,
        token: None,
    };
    Outputs {
        default: output("feed"),
        filtered: HashMap::from([("rust".to_owned(), output("rust"))]),
        tags: TAGS
            .iter()
            .map(|t| (t.to_string(), vec![format!("https://{}.example/", t.len())]))
            .collect(),
        sources: Default::default(),
        sources_opml: String::new(),
        tracking_params: Default::default(),
    }
}

/// The filters written back as a query string.
fn to_query(f: &Filters) -> String {
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    match &f.tag {
        TagFilter::All => {}
        TagFilter::Tag(t) => {
            q.append_pair("tag", t);
        }
        TagFilter::Unknown => {
            q.append_pair("tag", "no such tag");
        }
    }
    match &f.source {
        SourceFilter::All => {}
        SourceFilter::Source(s) => {
            q.append_pair("source", s);
        }
        SourceFilter::Unknown => {
            q.append_pair("source", "no such source");
        }
    }
    if let Some(m) = f.min_minutes {
        q.append_pair("min_minutes", &m.to_string());
    }
    if let Some(l) = f.limit {
        q.append_pair("limit", &l.to_string());
    }
    q.finish()
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (path, query) = match text.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (&*text, None),
    };
    if let Some((name, format)) = query::output_path(path) {
        assert!(path.contains(name));
        assert!(path.ends_with(format.extension()));
        assert!(Format::ALL.contains(&format));
    }
    let _ = query::token(query);
    let outputs = outputs();
    let Ok(filters) = Filters::parse(query, &outputs) else {
        return;
    };
    let longest = TAGS.iter().map(|t| t.len()).max().unwrap();
    assert!(filters.heap_size() <= longest, "{filters:?}");
    if let TagFilter::Tag(t) = &filters.tag {
        assert!(TAGS.contains(&t.as_str()), "{t:?} is not configured");
    }
    let narrowed = filters.apply(&outputs);
    let s = &narrowed.selection;
    assert!((1..=MAX_ITEMS).contains(&s.limit), "limit {}", s.limit);
    assert!(s.min_minutes.is_none_or(|m| (1..=MAX_MIN_MINUTES).contains(&m)));
    match &filters.tag {
        TagFilter::All => assert!(s.feeds.is_none()),
        TagFilter::Tag(t) => assert_eq!(s.feeds.as_ref(), outputs.tags.get(t)),
        TagFilter::Unknown => assert_eq!(s.feeds.as_deref(), Some(&[][..])),
    }
    assert_eq!(narrowed.health_items, filters.is_default());
    let again = Filters::parse(Some(&to_query(&filters)), &outputs);
    assert_eq!(again.as_ref(), Ok(&filters), "{}", to_query(&filters));
});
