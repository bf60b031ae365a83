//! HTML shared by the stages that read it (`normalize`, `fulltext`) and write it (`render`):
//! the one escaper, a fast scanner for the markup feeds carry (`markup`) and the bound on
//! nesting applied before any tree is built ([`nesting`]), the feeds a page advertises
//! ([`links`]) and the icons it names ([`icons`]). No stage of its own: plain functions of
//! strings.

pub(crate) mod head;
pub mod icons;
pub mod links;
pub(crate) mod markup;
pub mod nesting;

/// `s` escaped for HTML (and XML) text and quoted attribute values: `&`, `<`, `>`, `"` and
/// `'`.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    escape_into(&mut out, s);
    out
}

/// [`escape`], appended to `out`.
pub fn escape_into(out: &mut String, s: &str) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            // Not `&apos;`, which HTML 4 lacks; and plain-text content escaped so is stored,
            // hashed for change detection, so these bytes must stay as they are.
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_the_five_characters_html_reserves() {
        assert_eq!(
            escape(r#"a < b > c & "d" 'e' é"#),
            "a &lt; b &gt; c &amp; &quot;d&quot; &#39;e&#39; é"
        );
    }
}
