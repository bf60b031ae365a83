//! Request paths and query strings → what they name: the `[[outputs]]` entry and format of a
//! path, and the `?token=` that opens a private one. The default feed's filters are
//! [`crate::output::Filters`].

use crate::render::Format;

/// The `[[outputs]]` path and format a request path names (`/rust.atom` → `rust`, Atom), if
/// it has the shape of one; whether that output exists is for the caller to look up.
pub fn output_path(path: &str) -> Option<(&str, Format)> {
    let (name, ext) = path.trim_start_matches('/').rsplit_once('.')?;
    let format = Format::ALL.into_iter().find(|f| f.extension() == ext)?;
    Some((name, format))
}

/// The first `?before=` of a query string (the news page's cursor), if any.
pub fn before(query: Option<&str>) -> Option<String> {
    url::form_urlencoded::parse(query?.as_bytes())
        .find(|(k, _)| k == "before")
        .map(|(_, v)| v.into_owned())
}

/// The `?token=` of a query string, if any.
pub fn token(query: Option<&str>) -> Option<String> {
    url::form_urlencoded::parse(query?.as_bytes())
        .find(|(k, _)| k == "token")
        .map(|(_, v)| v.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_paths() {
        assert_eq!(output_path("/rust.atom"), Some(("rust", Format::Atom)));
        assert_eq!(
            output_path("/private/a.b.json"),
            Some(("private/a.b", Format::Json))
        );
        assert_eq!(output_path("/rust.html"), None);
        assert_eq!(output_path("/rust"), None);
        assert_eq!(token(Some("a=1&token=s%20t")), Some("s t".to_owned()));
        assert_eq!(token(None), None);
        assert_eq!(
            before(Some("tag=x&before=1-2&before=3-4")),
            Some("1-2".to_owned())
        );
        assert_eq!(before(Some("tag=x")), None);
    }
}
