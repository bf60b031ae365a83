//! `feedmerge discover URL [--json]`: the feeds found behind an address (a site's, a page's, a
//! feed's), one line each: URL, format, how it was found, title. Exits 1 with the reason when
//! there is none.

use std::io::Write;

use feedmerge::app;
use feedmerge::config::Config;
use feedmerge::discover::Discovery;
use feedmerge::terminal::{self, Escaped};
use url::Url;

/// The arguments of `feedmerge discover`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The address: a feed, or a site or page that advertises its feeds
    /// (https:// is assumed when no scheme is given)
    #[arg(value_parser = parse_address)]
    pub url: Url,
    /// Print JSON instead of lines
    #[arg(long)]
    pub json: bool,
}

/// An address as typed: a URL, or a host and path (`example.org/blog`) taken as https.
pub(crate) fn parse_address(text: &str) -> Result<Url, String> {
    let text = text.trim();
    let url = match Url::parse(text) {
        Err(url::ParseError::RelativeUrlWithoutBase) => Url::parse(&format!("https://{text}")),
        parsed => parsed,
    }
    .map_err(|e| format!("not a URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!(
            "unsupported scheme {} (http or https)",
            url.scheme()
        ));
    }
    Ok(url)
}

/// Runs `feedmerge discover`: finds the feeds with `cfg`'s fetch settings and prints them;
/// the advertised feeds that are not feeds are listed on stderr.
///
/// # Errors
/// When nothing is found, or stdout cannot be written.
pub async fn run(cfg: &Config, args: &Args) -> anyhow::Result<()> {
    let found = app::discover(cfg, &args.url).await?;
    let mut out = std::io::stdout().lock();
    if args.json {
        let text = serde_json::to_string_pretty(&json(&found))?;
        writeln!(out, "{}", terminal::json(&text))?;
        return Ok(());
    }
    for feed in &found.feeds {
        write!(
            out,
            "{}  {}  {}",
            Escaped(feed.url.as_str()),
            feed.format.as_str(),
            feed.how.as_str()
        )?;
        if let Some(title) = &feed.title {
            write!(out, "  {}", Escaped(title))?;
        }
        writeln!(out)?;
    }
    let mut err = std::io::stderr().lock();
    for s in &found.skipped {
        writeln!(
            err,
            "skipped {}: {}",
            Escaped(s.url.as_str()),
            Escaped(&s.reason)
        )?;
    }
    Ok(())
}

/// `--json`: `{"feeds": [{"url", "format", "how", "title"}], "skipped": [{"url", "reason"}]}`.
fn json(found: &Discovery) -> serde_json::Value {
    let feeds: Vec<_> = found
        .feeds
        .iter()
        .map(|f| {
            serde_json::json!({
                "url": f.url.as_str(),
                "format": f.format.as_str(),
                "how": f.how.as_str(),
                "title": f.title,
            })
        })
        .collect();
    let skipped: Vec<_> = found
        .skipped
        .iter()
        .map(|s| serde_json::json!({ "url": s.url.as_str(), "reason": s.reason }))
        .collect();
    serde_json::json!({ "feeds": feeds, "skipped": skipped })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_as_typed() {
        assert_eq!(
            parse_address("example.org/blog").unwrap().as_str(),
            "https://example.org/blog"
        );
        assert_eq!(
            parse_address(" http://example.org/ ").unwrap().as_str(),
            "http://example.org/"
        );
        assert!(parse_address("ftp://example.org/").is_err());
        assert!(parse_address("http://").is_err());
    }
}
