//! JSON Feed as generators really write it → JSON Feed as feed-rs reads it. Runs only once
//! the strict parse failed: lone surrogate escapes become U+FFFD, a repeated key keeps its
//! last value (as in JavaScript), numeric ids and titles become strings (JSON Feed 1.1 asks
//! readers to coerce ids), values of the wrong type are dropped, and so are items that are
//! not objects.

use serde_json::{Map, Value};

use super::fallbacks::Fallback;
use crate::model::{Repair, Repairs};

/// The version assumed when a document with `items` names none it could be.
const DEFAULT_VERSION: &str = "https://jsonfeed.org/version/1.1";

/// String fields of the feed object.
const FEED_STRINGS: &[&str] = &[
    "home_page_url",
    "feed_url",
    "description",
    "user_comment",
    "next_url",
    "icon",
    "favicon",
    "language",
];

/// String fields of an item.
const ITEM_STRINGS: &[&str] = &[
    "url",
    "external_url",
    "content_html",
    "content_text",
    "summary",
    "image",
    "banner_image",
    "date_published",
    "date_modified",
    "language",
];

/// The document rewritten into JSON Feed feed-rs reads, and what was repaired. `None` when it
/// is not JSON at all, or not a feed (no `items` array).
pub fn lenient(body: &[u8]) -> Option<(Vec<u8>, Repairs)> {
    let mut repairs = Repairs::default();
    let text = std::str::from_utf8(body).ok()?;
    let text = replace_lone_surrogates(text, &mut repairs);
    let mut feed: Value = serde_json::from_str(&text).ok()?;
    let obj = feed.as_object_mut()?;
    let before = serde_json::to_string(obj).ok()?;
    let items = obj.get_mut("items")?.as_array_mut()?;
    let count = items.len();
    items.retain(Value::is_object);
    if items.len() != count {
        repairs.insert(Repair::ItemDropped);
    }
    for item in items.iter_mut().filter_map(Value::as_object_mut) {
        coerce_string(item, "id");
        coerce_string(item, "title");
        for key in ITEM_STRINGS {
            keep_string(item, key);
        }
        fix_tags(item);
        fix_authors(item);
        fix_attachments(item);
    }
    let version_ok = obj
        .get("version")
        .and_then(Value::as_str)
        .is_some_and(|v| v.starts_with("https://jsonfeed.org/version/1"));
    if !version_ok {
        obj.insert("version".to_owned(), Value::from(DEFAULT_VERSION));
    }
    coerce_string(obj, "title");
    if !obj.contains_key("title") {
        obj.insert("title".to_owned(), Value::from(""));
    }
    for key in FEED_STRINGS {
        keep_string(obj, key);
    }
    fix_authors(obj);
    let after = serde_json::to_string(obj).ok()?;
    // The strict parse refused the document: when nothing else explains why, a key was
    // repeated (which leaves no trace once read).
    if after != before || repairs.is_empty() {
        repairs.insert(Repair::JsonValue);
    }
    Some((after.into_bytes(), repairs))
}

/// Authors read per item for their avatars (the item's first ones).
pub const MAX_AVATARS: usize = 16;

/// What each item of a JSON Feed says that feed-rs does not keep: its `image` and its
/// authors' `avatar`s. `doc` is the document feed-rs read (every item an object); `None`
/// when it cannot be read so. One more pass of serde over the document, which allocates
/// only for these fields.
pub fn extras(doc: &[u8]) -> Option<Vec<Fallback>> {
    #[derive(serde::Deserialize)]
    struct Doc {
        items: Vec<Item>,
    }
    #[derive(serde::Deserialize)]
    struct Item {
        #[serde(default)]
        image: Option<Value>,
        #[serde(default)]
        author: Option<Value>,
        #[serde(default)]
        authors: Option<Value>,
    }
    let doc: Doc = serde_json::from_slice(doc).ok()?;
    let text = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_owned);
    Some(
        doc.items
            .into_iter()
            .map(|item| {
                let list = match item.authors {
                    Some(Value::Array(list)) => list,
                    _ => Vec::new(),
                };
                let avatars = list
                    .iter()
                    .chain(item.author.as_ref())
                    .take(MAX_AVATARS)
                    .filter_map(|a| Some((text(a.get("name"))?, text(a.get("avatar"))?)))
                    .collect();
                Fallback {
                    image: text(item.image.as_ref()),
                    avatars,
                    ..Fallback::default()
                }
            })
            .collect(),
    )
}

/// A number or boolean at `key` becomes its text; anything else but a string is dropped.
fn coerce_string(obj: &mut Map<String, Value>, key: &str) {
    let coerced = match obj.get(key) {
        None | Some(Value::String(_)) => return,
        Some(Value::Number(n)) => Some(n.to_string()),
        Some(Value::Bool(b)) => Some(b.to_string()),
        Some(_) => None,
    };
    match coerced {
        Some(s) => obj.insert(key.to_owned(), Value::String(s)),
        None => obj.remove(key),
    };
}

/// Drops the value at `key` unless it is a string.
fn keep_string(obj: &mut Map<String, Value>, key: &str) {
    if obj.get(key).is_some_and(|v| !v.is_string()) {
        obj.remove(key);
    }
}

/// `tags` as a list of strings: a single string becomes a list of one.
fn fix_tags(item: &mut Map<String, Value>) {
    let tags = match item.remove("tags") {
        Some(Value::String(s)) => vec![Value::String(s)],
        Some(Value::Array(list)) => list.into_iter().filter(Value::is_string).collect(),
        _ => return,
    };
    item.insert("tags".to_owned(), Value::Array(tags));
}

/// `author` and `authors` as objects with string fields: a bare name becomes an author.
fn fix_authors(obj: &mut Map<String, Value>) {
    let author = |v: Value| -> Option<Value> {
        let mut a = match v {
            Value::String(name) => Map::from_iter([("name".to_owned(), Value::String(name))]),
            Value::Object(a) => a,
            _ => return None,
        };
        for key in ["name", "url", "avatar"] {
            keep_string(&mut a, key);
        }
        Some(Value::Object(a))
    };
    if let Some(v) = obj.remove("author") {
        if let Some(a) = author(v) {
            obj.insert("author".to_owned(), a);
        }
    }
    if let Some(v) = obj.remove("authors") {
        let list = match v {
            Value::Array(list) => list,
            one => vec![one],
        };
        let authors: Vec<Value> = list.into_iter().filter_map(author).collect();
        obj.insert("authors".to_owned(), Value::Array(authors));
    }
}

/// `attachments` with a URL each; a missing MIME type is unknown, a size that is not a
/// whole number is dropped.
fn fix_attachments(item: &mut Map<String, Value>) {
    let Some(Value::Array(list)) = item.remove("attachments") else {
        return;
    };
    let fixed: Vec<Value> = list
        .into_iter()
        .filter_map(|a| {
            let mut a = match a {
                Value::Object(a) => a,
                _ => return None,
            };
            keep_string(&mut a, "url");
            a.get("url")?;
            keep_string(&mut a, "mime_type");
            if !a.contains_key("mime_type") {
                a.insert(
                    "mime_type".to_owned(),
                    Value::from("application/octet-stream"),
                );
            }
            keep_string(&mut a, "title");
            if a.get("size_in_bytes").is_some_and(|s| s.as_u64().is_none()) {
                a.remove("size_in_bytes");
            }
            Some(Value::Object(a))
        })
        .collect();
    item.insert("attachments".to_owned(), Value::Array(fixed));
}

/// `text` with every `\u` escape of half a surrogate pair replaced by `\uFFFD` (serde_json,
/// rightly, rejects them; JavaScript would produce an unpaired surrogate).
fn replace_lone_surrogates<'a>(text: &'a str, repairs: &mut Repairs) -> std::borrow::Cow<'a, str> {
    let bytes = text.as_bytes();
    let hex = |at: usize| -> Option<u16> {
        let digits = text.get(at..at + 4)?;
        u16::from_str_radix(digits, 16).ok()
    };
    let escape_at = |at: usize| -> Option<u16> {
        (bytes.get(at) == Some(&b'\\') && bytes.get(at + 1) == Some(&b'u'))
            .then(|| hex(at + 2))
            .flatten()
    };
    let mut out: Option<String> = None;
    let mut copied = 0;
    let mut i = 0;
    while let Some(found) = memchr::memchr(b'\\', &bytes[i..]) {
        let at = i + found;
        let Some(unit) = escape_at(at) else {
            // Any other escape: skip the escaped character, so that `\\u` is not read as one.
            i = at + 2;
            if i >= bytes.len() {
                break;
            }
            continue;
        };
        let high = (0xD800..0xDC00).contains(&unit);
        let low = (0xDC00..0xE000).contains(&unit);
        let paired = high && escape_at(at + 6).is_some_and(|u| (0xDC00..0xE000).contains(&u));
        if paired {
            i = at + 12;
        } else if high || low {
            let s = out.get_or_insert_with(|| String::with_capacity(text.len()));
            s.push_str(&text[copied..at]);
            s.push_str("\\uFFFD");
            copied = at + 6;
            i = at + 6;
            repairs.insert(Repair::LoneSurrogate);
        } else {
            i = at + 6;
        }
    }
    match out {
        Some(mut s) => {
            s.push_str(&text[copied..]);
            std::borrow::Cow::Owned(s)
        }
        None => std::borrow::Cow::Borrowed(text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixed(json: &str) -> (Value, Vec<Repair>) {
        let (bytes, repairs) = lenient(json.as_bytes()).expect("a feed");
        (
            serde_json::from_slice(&bytes).unwrap(),
            repairs.iter().collect(),
        )
    }

    #[test]
    fn lone_surrogates_become_replacement_characters() {
        let (v, repairs) = fixed(
            r#"{"version":"https://jsonfeed.org/version/1.1","title":"t","items":[{"id":"1","title":"a \ud83d b \ud83d\ude00 c \ude00 \\ud83d"}]}"#,
        );
        assert_eq!(v["items"][0]["title"], "a \u{FFFD} b 😀 c \u{FFFD} \\ud83d");
        assert_eq!(repairs, [Repair::LoneSurrogate]);
    }

    #[test]
    fn values_are_coerced_and_bad_items_dropped() {
        let (v, repairs) = fixed(
            r#"{"version":"https://jsonfeed.org/version/1","title":"t","title":"last","items":[
                {"id":1,"title":2024,"url":5,"tags":"news","author":"Jo","date_published":17},
                "junk",
                {"id":"x","attachments":[{"url":"https://example.net/a.mp3","size_in_bytes":"big"},{"title":"no url"}]}]}"#,
        );
        assert_eq!(v["title"], "last");
        let item = &v["items"][0];
        assert_eq!(item["id"], "1");
        assert_eq!(item["title"], "2024");
        assert!(item.get("url").is_none() && item.get("date_published").is_none());
        assert_eq!(item["tags"], serde_json::json!(["news"]));
        assert_eq!(item["author"], serde_json::json!({"name": "Jo"}));
        assert_eq!(
            v["items"][1]["attachments"],
            serde_json::json!([{"url": "https://example.net/a.mp3", "mime_type": "application/octet-stream"}])
        );
        assert_eq!(v["items"].as_array().unwrap().len(), 2);
        assert_eq!(repairs, [Repair::ItemDropped, Repair::JsonValue]);
    }

    #[test]
    fn not_a_feed_is_left_alone() {
        assert!(lenient(b"{\"hello\": 1}").is_none());
        assert!(lenient(b"not json").is_none());
    }
}
