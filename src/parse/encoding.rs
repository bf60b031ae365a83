//! Encoding: the raw bytes of a document → UTF-8, which is all feed-rs then has to read. What
//! the document declares wins; when nothing declares an encoding and the bytes are not UTF-8,
//! or a document that says it is UTF-8 is not, the encoding is detected (chardetng, Firefox's
//! detector for unlabelled legacy pages).

use std::borrow::Cow;

use url::Url;

use crate::model::{Repair, Repairs};

/// Returns the document as UTF-8 and what had to be guessed or replaced to get it: decoded
/// from its BOM, else from the encoding its XML declaration names, else kept when it is
/// UTF-8, else from the HTTP charset, else UTF-8 with the odd bytes replaced when that is
/// what it mostly is, else in the encoding detected. A declaration that names another
/// encoding is removed from the decoded text. feed-rs can decode by itself, but its decoder
/// panics on some valid documents (a declaration longer than 64 bytes).
pub fn to_utf8<'a>(body: &'a [u8], charset: Option<&str>, url: &Url) -> (Cow<'a, [u8]>, Repairs) {
    let mut repairs = Repairs::default();
    if let Some((encoding, bom)) = encoding_rs::Encoding::for_bom(body) {
        let (text, _) = encoding.decode_without_bom_handling(&body[bom..]);
        return (Cow::Owned(without_declaration(&text).into_bytes()), repairs);
    }
    if let Some(label) = declared_encoding(body) {
        match encoding_rs::Encoding::for_label(label.as_bytes()) {
            Some(encoding) if encoding != encoding_rs::UTF_8 => {
                let (text, _) = encoding.decode_without_bom_handling(body);
                return (Cow::Owned(without_declaration(&text).into_bytes()), repairs);
            }
            _ => {}
        }
    }
    if std::str::from_utf8(body).is_ok() {
        return (Cow::Borrowed(body), repairs);
    }
    let labelled = charset
        .and_then(|c| encoding_rs::Encoding::for_label(c.as_bytes()))
        .filter(|e| *e != encoding_rs::UTF_8);
    let encoding = match labelled {
        Some(encoding) => encoding,
        None if mostly_utf8(body) => {
            repairs.insert(Repair::InvalidUtf8);
            encoding_rs::UTF_8
        }
        None => {
            repairs.insert(Repair::EncodingDetected);
            detect(body, url)
        }
    };
    let (text, _, _) = encoding.decode(body);
    (Cow::Owned(text.into_owned().into_bytes()), repairs)
}

/// Whether `body`, which is not valid UTF-8, is still UTF-8 with a few stray bytes: it has
/// more well-formed multi-byte sequences than malformed ones. Text in a legacy encoding
/// forms a well-formed sequence only by chance (a lead byte followed by the right number of
/// bytes from 0x80-0xBF), far less often than it breaks one.
fn mostly_utf8(body: &[u8]) -> bool {
    let (mut good, mut bad) = (0usize, 0usize);
    for chunk in body.utf8_chunks() {
        good += chunk.valid().chars().filter(|c| !c.is_ascii()).count();
        bad += usize::from(!chunk.invalid().is_empty());
    }
    good > bad
}

/// The encoding chardetng finds most likely for `body`, told the top-level domain of `url` as
/// Firefox tells it (a `.jp` site is more likely Shift_JIS than GBK).
fn detect(body: &[u8], url: &Url) -> &'static encoding_rs::Encoding {
    let tld = match url.host() {
        Some(url::Host::Domain(host)) => host.rsplit('.').next(),
        _ => None,
    };
    let mut detector = chardetng::EncodingDetector::new(chardetng::Iso2022JpDetection::Deny);
    detector.feed(body, true);
    // UTF-8 is ruled out: the bytes are not UTF-8.
    detector.guess(tld.map(str::as_bytes), chardetng::Utf8Detection::Deny)
}

/// `text` without a leading XML declaration (which may name an encoding it no longer has).
fn without_declaration(text: &str) -> String {
    let trimmed = text.trim_start();
    match trimmed
        .strip_prefix("<?xml")
        .and_then(|rest| rest.find("?>").map(|end| &rest[end + 2..]))
    {
        Some(rest) => rest.to_owned(),
        None => text.to_owned(),
    }
}

/// The `encoding` the leading XML declaration names, if any.
fn declared_encoding(body: &[u8]) -> Option<String> {
    let start = body.iter().position(|b| !b.is_ascii_whitespace())?;
    let rest = &body[start..];
    if !rest.starts_with(b"<?xml") {
        return None;
    }
    let end = rest.iter().position(|&b| b == b'>')?;
    let decl = String::from_utf8_lossy(&rest[..end]);
    let after = &decl[decl.find("encoding")? + "encoding".len()..];
    let value = after.trim_start().strip_prefix('=')?.trim_start();
    let quote = value.chars().next().filter(|q| matches!(q, '"' | '\''))?;
    Some(value[1..].split(quote).next()?.trim().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(body: &[u8], host: &str) -> (String, Repairs) {
        let url = Url::parse(&format!("https://{host}/feed.xml")).unwrap();
        let (bytes, repairs) = to_utf8(body, None, &url);
        (String::from_utf8(bytes.into_owned()).unwrap(), repairs)
    }

    fn rss(title: &str) -> String {
        format!(
            "<rss version=\"2.0\"><channel><title>t</title><item><title>{title}</title>\
             <description>{title}。{title}、{title}</description></item></channel></rss>"
        )
    }

    #[test]
    fn undeclared_legacy_encodings_are_detected() {
        let text = "市役所の新しい庁舎が完成しました。来月から窓口業務を開始します";
        for encoding in [encoding_rs::EUC_JP, encoding_rs::SHIFT_JIS] {
            let doc = rss(text);
            let (bytes, _, _) = encoding.encode(&doc);
            let (decoded, repairs) = decode(&bytes, "example.org");
            assert!(decoded.contains(text), "{}: {decoded}", encoding.name());
            assert_eq!(
                repairs.iter().collect::<Vec<_>>(),
                [Repair::EncodingDetected]
            );
        }
    }

    #[test]
    fn utf8_with_a_stray_byte_stays_utf8() {
        let mut body = rss("Résultats de l’enquête publiés").into_bytes();
        body.extend_from_slice(b"<!-- \xe9 -->");
        let (decoded, repairs) = decode(&body, "example.org");
        assert!(
            decoded.contains("Résultats de l’enquête publiés"),
            "{decoded}"
        );
        assert_eq!(repairs.iter().collect::<Vec<_>>(), [Repair::InvalidUtf8]);
    }

    #[test]
    fn a_declared_utf8_that_is_not_is_detected() {
        let text = "Завтра ожидается сильный ветер и дождь";
        let doc = format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>{}", rss(text));
        let (bytes, _, _) = encoding_rs::WINDOWS_1251.encode(&doc);
        let (decoded, repairs) = decode(&bytes, "example.org");
        assert!(decoded.contains(text), "{decoded}");
        assert!(repairs.contains(Repair::EncodingDetected));
    }

    #[test]
    fn declarations_and_labels_are_not_second_guessed() {
        // Valid UTF-8 is never detected as anything else, and costs no copy.
        let url = Url::parse("https://example.org/").unwrap();
        let plain = rss("Grüße");
        let (bytes, repairs) = to_utf8(plain.as_bytes(), Some("iso-8859-1"), &url);
        assert!(matches!(bytes, Cow::Borrowed(_)));
        assert!(repairs.is_empty());
        // The HTTP label of a document that declares nothing is believed.
        let doc = rss("Crème brûlée");
        let (latin1, _, _) = encoding_rs::WINDOWS_1252.encode(&doc);
        let (bytes, repairs) = to_utf8(&latin1, Some("iso-8859-1"), &url);
        assert!(String::from_utf8_lossy(&bytes).contains("Crème brûlée"));
        assert!(repairs.is_empty());
    }
}
