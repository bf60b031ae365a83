//! The icons a web page names for its site: its `<link rel="icon">` (`shortcut icon`) and
//! `<link rel="apple-touch-icon">` elements, their `href` resolved against the page URL and
//! the page's `<base href>`. Read by html5ever's tokenizer, as a browser reads it, from the
//! start of the page only (`<link>` belongs in `<head>`): linear, and bounded whatever the
//! page.

use url::Url;

/// Bytes of a page read for the icons it names: `<head>` comes first, and rarely runs past a
/// few tens of KiB even with inline styles and scripts.
pub const MAX_SCAN_BYTES: usize = 256 * 1024;

/// Icons taken from one page. A site names a handful (sizes, a touch icon); the first few
/// are all a reader of 20-pixel icons could want.
pub const MAX_ICONS: usize = 4;

/// The icons `html`, the page at `page`, names: the `rel="icon"` ones in page order, then
/// the `rel="apple-touch-icon"` ones (larger, made for home screens); each URL once, http
/// and https only, at most [`MAX_ICONS`], from the first [`MAX_SCAN_BYTES`] of the page.
pub fn icons(html: &str, page: &Url) -> Vec<Url> {
    // Each `href` with whether it is a touch icon; bounded before resolving.
    let (found, base) = super::head::read(html, page, MAX_SCAN_BYTES, 4 * MAX_ICONS, |a| {
        let touch = a.rel_has("apple-touch-icon") || a.rel_has("apple-touch-icon-precomposed");
        (a.rel_has("icon") || touch).then(|| (!a.rel_has("icon"), a.get("href").map(str::to_owned)))
    });
    let hrefs = found
        .iter()
        .filter(|(touch, _)| !touch)
        .chain(found.iter().filter(|(touch, _)| *touch));
    let mut urls: Vec<Url> = Vec::new();
    for href in hrefs.filter_map(|(_, href)| href.as_deref()) {
        let Some(url) = super::head::resolve(&base, href) else {
            continue;
        };
        if !urls.contains(&url) {
            urls.push(url);
        }
        if urls.len() == MAX_ICONS {
            break;
        }
    }
    urls
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page() -> Url {
        Url::parse("https://example.org/blog/").unwrap()
    }

    fn found(html: &str) -> Vec<String> {
        icons(html, &page())
            .into_iter()
            .map(|u| u.to_string())
            .collect()
    }

    #[test]
    fn icons_first_then_touch_icons_resolved_and_once_each() {
        let html = r#"<!doctype html><html><head>
            <link rel="apple-touch-icon" href="/touch.png">
            <LINK REL="Shortcut Icon" HREF=fav.ico>
            <link rel="icon" type="image/svg+xml" href="/icon.svg">
            <link rel="icon" href="fav.ico">
            <link rel="stylesheet" href="/s.css">
            <link rel="icon" href="javascript:alert(1)">
            </head><body></body></html>"#;
        assert_eq!(
            found(html),
            [
                "https://example.org/blog/fav.ico",
                "https://example.org/icon.svg",
                "https://example.org/touch.png"
            ]
        );
    }

    #[test]
    fn base_href_counts_and_scripts_do_not() {
        let html = r#"<head><base href="https://cdn.example/s/">
            <script>document.write('<link rel="icon" href="/evil.png">')</script>
            <link rel="icon" href="i.png"></head>"#;
        assert_eq!(found(html), ["https://cdn.example/s/i.png"]);
    }

    #[test]
    fn only_the_start_of_a_page_is_read_and_few_icons_are_kept() {
        let late = format!(
            "<head>{}</head><link rel=icon href=/late.png>",
            " ".repeat(MAX_SCAN_BYTES)
        );
        assert!(found(&late).is_empty());
        let many: String = (0..100)
            .map(|i| format!("<link rel=icon href=/{i}.png>"))
            .collect();
        assert_eq!(found(&many).len(), MAX_ICONS);
    }
}
