//! What an icon's bytes are: PNG, JPEG, GIF, WebP, ICO or SVG, told by their own first
//! bytes (the server's `Content-Type` is not trusted: an error page is often labelled an
//! image, and an icon `text/plain`). Anything else is not an icon.

/// An image format feedmerge serves as a source icon.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IconType {
    /// PNG.
    Png,
    /// JPEG.
    Jpeg,
    /// GIF (87a or 89a).
    Gif,
    /// WebP (RIFF).
    Webp,
    /// Windows icon (`.ico`).
    Ico,
    /// SVG: served with a Content-Security-Policy that lets no script run.
    Svg,
}

/// How far into an SVG document its `<svg>` element is looked for, past an XML
/// declaration, comments and a doctype.
pub const MAX_SVG_PROLOG: usize = 4096;

impl IconType {
    /// The media type it is served as.
    pub fn media_type(self) -> &'static str {
        match self {
            IconType::Png => "image/png",
            IconType::Jpeg => "image/jpeg",
            IconType::Gif => "image/gif",
            IconType::Webp => "image/webp",
            // What browsers and servers use; `image/vnd.microsoft.icon` is registered but
            // less widely known.
            IconType::Ico => "image/x-icon",
            IconType::Svg => "image/svg+xml",
        }
    }

    /// Every type an icon is kept as.
    pub const ALL: [IconType; 6] = [
        IconType::Png,
        IconType::Jpeg,
        IconType::Gif,
        IconType::Webp,
        IconType::Ico,
        IconType::Svg,
    ];

    /// The type of a media type that [`IconType::media_type`] gave.
    pub fn from_media_type(media_type: &str) -> Option<IconType> {
        IconType::ALL
            .into_iter()
            .find(|t| t.media_type() == media_type)
    }
}

/// The image format of `bytes`, if they are one of [`IconType`]'s.
pub fn sniff(bytes: &[u8]) -> Option<IconType> {
    match bytes {
        [0x89, b'P', b'N', b'G', b'\r', b'\n', 0x1a, b'\n', ..] => Some(IconType::Png),
        [0xff, 0xd8, 0xff, ..] => Some(IconType::Jpeg),
        [b'G', b'I', b'F', b'8', b'7' | b'9', b'a', ..] => Some(IconType::Gif),
        [
            b'R',
            b'I',
            b'F',
            b'F',
            _,
            _,
            _,
            _,
            b'W',
            b'E',
            b'B',
            b'P',
            ..,
        ] => Some(IconType::Webp),
        // Reserved 0, type 1 (icon), and at least one image in the directory.
        [0, 0, 1, 0, lo, hi, ..] if (*lo, *hi) != (0, 0) => Some(IconType::Ico),
        _ if is_svg(bytes) => Some(IconType::Svg),
        _ => None,
    }
}

/// Whether the first element of `bytes` is `<svg>`, after a byte order mark, white space, an
/// XML declaration, processing instructions, comments and a doctype, all within
/// [`MAX_SVG_PROLOG`]. An HTML page (`<!doctype html><html>`) is not.
fn is_svg(bytes: &[u8]) -> bool {
    let head = &bytes[..bytes.len().min(MAX_SVG_PROLOG)];
    let mut rest = head.strip_prefix(b"\xef\xbb\xbf").unwrap_or(head);
    loop {
        rest = rest.trim_ascii_start();
        let skip_to = |rest: &[u8], end: &[u8]| -> Option<usize> {
            rest.windows(end.len())
                .position(|w| w == end)
                .map(|i| i + end.len())
        };
        let skipped = if rest.starts_with(b"<?") {
            skip_to(rest, b"?>")
        } else if rest.starts_with(b"<!--") {
            skip_to(rest, b"-->")
        } else if rest.starts_with(b"<!") {
            // A doctype: up to its first `>`, or past its internal subset (`[…]>`) when
            // one opens before that.
            let gt = skip_to(rest, b">");
            let subset = rest.iter().position(|&c| c == b'[');
            match (subset, gt) {
                (Some(open), Some(gt)) if open < gt => skip_to(rest, b"]>"),
                _ => gt,
            }
        } else {
            let name = rest
                .strip_prefix(b"<svg:svg")
                .or_else(|| rest.strip_prefix(b"<svg"));
            return name.is_some_and(|after| {
                after
                    .first()
                    .is_some_and(|c| c.is_ascii_whitespace() || matches!(c, b'>' | b'/'))
            });
        };
        match skipped {
            Some(n) => rest = &rest[n..],
            None => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_formats_are_told_by_their_first_bytes() {
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR"), Some(IconType::Png));
        assert_eq!(sniff(b"\xff\xd8\xff\xe0\0\x10JFIF"), Some(IconType::Jpeg));
        assert_eq!(sniff(b"GIF89a\x01\0\x01\0"), Some(IconType::Gif));
        assert_eq!(sniff(b"GIF87a\x01\0\x01\0"), Some(IconType::Gif));
        assert_eq!(sniff(b"RIFF\x24\0\0\0WEBPVP8 "), Some(IconType::Webp));
        assert_eq!(sniff(b"\0\0\x01\0\x01\0\x10\x10"), Some(IconType::Ico));
    }

    #[test]
    fn what_only_looks_like_an_image_is_not_one() {
        assert_eq!(sniff(b""), None);
        assert_eq!(sniff(b"\x89PNG"), None, "cut short");
        assert_eq!(sniff(b"RIFF\x24\0\0\0WAVEfmt "), None, "audio");
        assert_eq!(
            sniff(b"\0\0\x01\0\0\0"),
            None,
            "an icon directory with no image"
        );
        assert_eq!(sniff(b"\0\0\x02\0\x01\0"), None, "a cursor");
        assert_eq!(sniff(b"GIF90a"), None);
    }

    #[test]
    fn svg_is_told_by_its_first_element() {
        let svg = br#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 1 1"/>"#;
        assert_eq!(sniff(svg), Some(IconType::Svg));
        let prolog = b"\xef\xbb\xbf <?xml version=\"1.0\"?>\n<!-- made by hand -->\n\
            <!DOCTYPE svg PUBLIC \"-//W3C//DTD SVG 1.1//EN\" \"x.dtd\">\n<svg>";
        assert_eq!(sniff(prolog), Some(IconType::Svg));
        assert_eq!(sniff(b"<svg:svg xmlns:svg='x'>"), Some(IconType::Svg));
        let subset = b"<!DOCTYPE svg [<!ENTITY a \"b\">]><svg>";
        assert_eq!(sniff(subset), Some(IconType::Svg));
        assert_eq!(sniff(b"<!DOCTYPE html><p>]]></p><svg>"), None);
        assert_eq!(sniff(b"<svgx>"), None);
        assert_eq!(sniff(b"<!-- never ends <svg>"), None);
        let late = format!("<!--{}--><svg>", " ".repeat(MAX_SVG_PROLOG));
        assert_eq!(sniff(late.as_bytes()), None);
    }

    #[test]
    fn html_and_text_are_not_icons() {
        for page in [
            &b"<!doctype html><html><head><title>Not found</title>"[..],
            b"<html><body><svg></svg></body></html>",
            b"<?xml version=\"1.0\"?><rss version=\"2.0\">",
            b"Not Found",
            b"{\"error\": 404}",
        ] {
            assert_eq!(sniff(page), None, "{}", String::from_utf8_lossy(page));
        }
    }

    #[test]
    fn media_types_read_back() {
        for t in IconType::ALL {
            assert_eq!(IconType::from_media_type(t.media_type()), Some(t));
        }
        assert_eq!(IconType::from_media_type("text/html"), None);
    }
}
