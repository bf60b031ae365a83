//! The filters a reader may add to the default feed and the news page (`?tag=`, `?source=`,
//! `?min_minutes=`, `?limit=`): parsed and normalised, so that every spelling that selects the same items is one cache key
//! and a key's size is bounded by the config, never by the request, then applied to the
//! default [`Output`].

use std::borrow::Cow;

use super::{Output, Outputs};

/// `?min_minutes=` above this is read as this: a day of reading, more than any article.
pub const MAX_MIN_MINUTES: u32 = 24 * 60;

/// Which feeds `?tag=` selects.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub enum TagFilter {
    /// No `?tag=`: every feed.
    #[default]
    All,
    /// A tag of the config.
    Tag(String),
    /// A tag no feed has: no feed, hence no items, however it is spelt.
    Unknown,
}

/// Which feed `?source=` selects.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub enum SourceFilter {
    /// No `?source=`: every feed.
    #[default]
    All,
    /// A configured feed, by its slug (see [`super::Sources`]).
    Source(String),
    /// A slug no feed has: no feed, hence no items, however it is spelt.
    Unknown,
}

/// The filters a reader may add to the default feed, normalised: `Filters::default()` is the
/// default feed itself.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Filters {
    /// `?tag=`.
    pub tag: TagFilter,
    /// `?source=`.
    pub source: SourceFilter,
    /// `?min_minutes=`: at least 1, at most [`MAX_MIN_MINUTES`]; `None` for no minimum.
    pub min_minutes: Option<u32>,
    /// `?limit=`: at least 1 and below the default feed's `max_items`; `None` for that.
    pub limit: Option<usize>,
}

/// A query string the default feed cannot answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    /// A number parameter that is not a whole number.
    #[error("?{name}= takes a whole number")]
    NotANumber {
        /// The parameter.
        name: &'static str,
    },
    /// A parameter given more than once.
    #[error("?{name}= is given more than once")]
    Repeated {
        /// The parameter.
        name: &'static str,
    },
}

impl Filters {
    /// Reads the filters of `query` (the part of the URL after `?`) against `outputs`.
    /// Other parameters are ignored; an empty value is no value.
    ///
    /// # Errors
    /// When a number is not a whole number or a parameter is repeated.
    pub fn parse(query: Option<&str>, outputs: &Outputs) -> Result<Filters, QueryError> {
        let mut tag: Option<Cow<'_, str>> = None;
        let mut source: Option<Cow<'_, str>> = None;
        let mut min_minutes: Option<u64> = None;
        let mut limit: Option<u64> = None;
        for (name, value) in url::form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
            match &*name {
                "tag" => set("tag", &mut tag, Some(value))?,
                "source" => set("source", &mut source, Some(value))?,
                "min_minutes" => set(
                    "min_minutes",
                    &mut min_minutes,
                    number("min_minutes", &value)?,
                )?,
                "limit" => set("limit", &mut limit, number("limit", &value)?)?,
                _ => {}
            }
        }
        let tag = match tag {
            None => TagFilter::All,
            // The config's own copy, so that the key holds nothing the request chose.
            Some(t) => outputs
                .tags
                .get_key_value(&*t)
                .map_or(TagFilter::Unknown, |(known, _)| {
                    TagFilter::Tag(known.clone())
                }),
        };
        let source = match source {
            None => SourceFilter::All,
            Some(s) => outputs
                .sources
                .get(&s)
                .map_or(SourceFilter::Unknown, |known| {
                    SourceFilter::Source(known.slug.to_owned())
                }),
        };
        let default_limit = outputs.default.selection.limit;
        Ok(Filters {
            tag,
            source,
            min_minutes: min_minutes
                .filter(|&m| m > 0)
                .map(|m| u32::try_from(m).unwrap_or(u32::MAX).min(MAX_MIN_MINUTES)),
            limit: limit
                .map(|l| usize::try_from(l).unwrap_or(usize::MAX).max(1))
                .filter(|&l| l < default_limit),
        })
    }

    /// Whether these are no filters at all: the default feed.
    pub fn is_default(&self) -> bool {
        *self == Filters::default()
    }

    /// The default feed of `outputs`, narrowed by these filters.
    pub fn apply(&self, outputs: &Outputs) -> Output {
        let mut output = outputs.default.clone();
        match &self.tag {
            TagFilter::All => {}
            TagFilter::Tag(tag) => {
                output.selection.feeds = Some(outputs.tags.get(tag).cloned().unwrap_or_default());
            }
            TagFilter::Unknown => output.selection.feeds = Some(Vec::new()),
        }
        match &self.source {
            SourceFilter::All => {}
            SourceFilter::Source(slug) => {
                let url = outputs.sources.get(slug).map(|s| s.url.to_owned());
                let feeds = match output.selection.feeds.take() {
                    // Both: the source, if it has the tag.
                    Some(tagged) => url.filter(|u| tagged.contains(u)).into_iter().collect(),
                    None => url.into_iter().collect(),
                };
                output.selection.feeds = Some(feeds);
            }
            SourceFilter::Unknown => output.selection.feeds = Some(Vec::new()),
        }
        if self.min_minutes.is_some() {
            output.selection.min_minutes = self.min_minutes;
        }
        if let Some(limit) = self.limit {
            output.selection.limit = limit.min(output.selection.limit);
        }
        // Health items belong to the whole feed, not to a slice of it.
        output.health_items &= self.is_default();
        output
    }

    /// Whether a `?tag=` or `?source=` names nothing the config has.
    pub fn names_unknown(&self) -> bool {
        self.tag == TagFilter::Unknown || self.source == SourceFilter::Unknown
    }

    /// The filters as a query string, normalised (`tag=local&min_minutes=5`), empty for the
    /// default feed; a tag or source the config does not have is left out.
    pub fn query(&self) -> String {
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        if let TagFilter::Tag(tag) = &self.tag {
            q.append_pair("tag", tag);
        }
        if let SourceFilter::Source(slug) = &self.source {
            q.append_pair("source", slug);
        }
        if let Some(m) = self.min_minutes {
            q.append_pair("min_minutes", &m.to_string());
        }
        if let Some(l) = self.limit {
            q.append_pair("limit", &l.to_string());
        }
        q.finish()
    }

    /// Bytes the filters hold beyond their own size (a configured tag's name, a source's
    /// slug).
    pub fn heap_size(&self) -> usize {
        let tag = match &self.tag {
            TagFilter::Tag(tag) => tag.capacity(),
            TagFilter::All | TagFilter::Unknown => 0,
        };
        let source = match &self.source {
            SourceFilter::Source(slug) => slug.capacity(),
            SourceFilter::All | SourceFilter::Unknown => 0,
        };
        tag + source
    }
}

/// Stores `value` in `slot`, refusing a second one.
fn set<T>(name: &'static str, slot: &mut Option<T>, value: Option<T>) -> Result<(), QueryError> {
    if value.is_some() && slot.is_some() {
        return Err(QueryError::Repeated { name });
    }
    if value.is_some() {
        *slot = value;
    }
    Ok(())
}

/// A whole number, saturating (the callers clamp it anyway); `None` when empty.
fn number(name: &'static str, value: &str) -> Result<Option<u64>, QueryError> {
    if value.is_empty() {
        return Ok(None);
    }
    if !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(QueryError::NotANumber { name });
    }
    Ok(Some(value.bytes().fold(0u64, |n, d| {
        n.saturating_mul(10).saturating_add(u64::from(d - b'0'))
    })))
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::render::Channel;
    use crate::store::Selection;

    fn outputs() -> Outputs {
        Outputs {
            default: Output {
                channel: Channel {
                    title: "t".into(),
                    description: "d".into(),
                    base_url: url::Url::parse("http://127.0.0.1:8080/").unwrap(),
                    path: "feed".into(),
                    placement: crate::config::Placement::Description,
                    hub: None,
                },
                selection: Selection::newest(100),
                health_items: true,
                token: None,
            },
            filtered: HashMap::new(),
            tags: HashMap::from([("rust".to_owned(), vec!["https://a.example/".to_owned()])]),
            sources: crate::output::tests::sources(&[
                (
                    "https://a.example/".to_owned(),
                    Some("Alpha News".to_owned()),
                ),
                ("https://b.example/".to_owned(), None),
            ]),
            feeds: Vec::new().into(),
            tracking_params: Default::default(),
        }
    }

    fn parse(q: &str) -> Result<Filters, QueryError> {
        Filters::parse(Some(q), &outputs())
    }

    #[test]
    fn spellings_of_one_selection_are_one_key() {
        let unknown = parse("tag=nothing").unwrap();
        assert_eq!(unknown.tag, TagFilter::Unknown);
        for q in [
            "tag=%6Eothing-else",
            "tag=",
            &format!("tag={}", "x".repeat(60_000)),
        ] {
            assert_eq!(parse(q).unwrap(), unknown, "{q}");
        }
        assert_eq!(unknown.heap_size(), 0);
        assert_eq!(
            parse("tag=rust&utm_source=x").unwrap(),
            parse("tag=r%75st").unwrap()
        );
        // No filter, or one that changes nothing, is the default feed.
        for q in [
            "",
            "utm_source=x",
            "limit=100",
            "limit=5000",
            "min_minutes=0",
            "limit=&min_minutes=",
        ] {
            assert!(parse(q).unwrap().is_default(), "{q}");
        }
        assert_eq!(
            parse("min_minutes=99999999999999999999999")
                .unwrap()
                .min_minutes,
            Some(MAX_MIN_MINUTES)
        );
        assert_eq!(parse("limit=0").unwrap().limit, Some(1));
        assert_eq!(parse("limit=99").unwrap().limit, Some(99));
    }

    #[test]
    fn bad_numbers_and_repeats_are_refused() {
        assert_eq!(
            parse("limit=-1"),
            Err(QueryError::NotANumber { name: "limit" })
        );
        assert_eq!(
            parse("min_minutes=1e3"),
            Err(QueryError::NotANumber {
                name: "min_minutes"
            })
        );
        assert_eq!(
            parse("tag=a&tag=b"),
            Err(QueryError::Repeated { name: "tag" })
        );
    }

    #[test]
    fn filters_narrow_the_default_feed() {
        let o = outputs();
        let f = parse("tag=rust&min_minutes=5&limit=7").unwrap();
        let out = f.apply(&o);
        assert_eq!(
            out.selection.feeds.as_deref(),
            Some(&["https://a.example/".to_owned()][..])
        );
        assert_eq!(
            (out.selection.min_minutes, out.selection.limit),
            (Some(5), 7)
        );
        assert!(!out.health_items);
        let none = parse("tag=nope").unwrap().apply(&o);
        assert_eq!(none.selection.feeds, Some(Vec::new()));
        assert!(Filters::default().apply(&o).health_items);
    }

    #[test]
    fn sources_narrow_by_slug_and_read_back_from_their_query() {
        let o = outputs();
        let f = parse("source=alpha-news").unwrap();
        assert_eq!(f.source, SourceFilter::Source("alpha-news".into()));
        assert_eq!(
            f.apply(&o).selection.feeds,
            Some(vec!["https://a.example/".to_owned()])
        );
        assert_eq!(
            parse("source=b-example").unwrap().apply(&o).selection.feeds,
            Some(vec!["https://b.example/".to_owned()])
        );
        // With a tag: the source only if it has the tag.
        let both = parse("tag=rust&source=b-example").unwrap().apply(&o);
        assert_eq!(both.selection.feeds, Some(Vec::new()));
        let unknown = parse("source=nope").unwrap();
        assert!(unknown.names_unknown() && !f.names_unknown());
        assert_eq!(unknown.apply(&o).selection.feeds, Some(Vec::new()));
        assert_eq!(parse("source=&tag=").unwrap().source, SourceFilter::Unknown);
        assert_eq!(
            parse("source=a&source=b"),
            Err(QueryError::Repeated { name: "source" })
        );
        let all = parse("tag=rust&source=alpha-news&min_minutes=3&limit=9&x=1").unwrap();
        assert_eq!(
            all.query(),
            "tag=rust&source=alpha-news&min_minutes=3&limit=9"
        );
        assert_eq!(parse(&all.query()).unwrap(), all);
        assert_eq!(Filters::default().query(), "");
    }
}
