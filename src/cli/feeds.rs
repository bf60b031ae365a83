//! The commands that manage the subscriptions without an editor: `add`, `remove`, `feeds`
//! and `import-opml --write`. The first, second and last edit the config file in place
//! ([`feedmerge::config::edit`]: comments kept, validated, atomic); a running daemon notices
//! the change by itself ([`feedmerge::daemon::CONFIG_CHECK`]). `feeds` only reads.

use std::io::{BufRead, IsTerminal as _, Write};
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context as _, bail};
use feedmerge::config::edit::{ConfigEdit, EditError, NewFeed};
use feedmerge::config::{Config, FeedConfig, canonical_url};
use feedmerge::redact::{self, Redacted};
use feedmerge::store::StoreError;
use feedmerge::terminal::{self, Escaped};
use url::Url;

/// How many configured feeds an unknown `remove` target lists as the closest.
const CLOSEST_SHOWN: usize = 3;

/// `feedmerge add`.
#[derive(Debug, clap::Args)]
pub struct AddArgs {
    /// The feed's or the site's address (http or https; `example.org/blog` is https)
    pub url: String,
    /// Shown as the items' source instead of the feed's own title
    #[arg(long)]
    pub title: Option<String>,
    /// Labels, separated by commas (for filtered outputs and ?tag=)
    #[arg(long, value_delimiter = ',', value_name = "TAG,...")]
    pub tags: Vec<String>,
    /// Polling interval for this feed ("2h"), at least [poller] min_interval
    #[arg(long, value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub interval: Option<Duration>,
    /// Add every feed found there instead of asking which
    #[arg(long)]
    pub all: bool,
    /// Add URL as it is, without fetching it to find the feed (for a feed that is down now)
    #[arg(long)]
    pub no_discover: bool,
}

/// `feedmerge remove`.
#[derive(Debug, clap::Args)]
pub struct RemoveArgs {
    /// The feed's URL, or its title as configured
    pub feed: String,
}

/// A feed that `add` may add for the address it was given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// The feed's address.
    pub url: Url,
    /// Its title as offered, if any.
    pub title: Option<String>,
}

/// `feedmerge add URL`: the feed (or the one chosen among several found) appended to the
/// config file.
pub fn add(config: &Path, args: &AddArgs) -> ExitCode {
    let stdin = std::io::stdin();
    // Asks only a person: a script's stdin is never waited on.
    let mut input = stdin.is_terminal().then(|| stdin.lock());
    let input = input.as_mut().map(|i| i as &mut dyn BufRead);
    exit(add_feeds(config, args, input, &mut std::io::stderr()))
}

/// `feedmerge remove URL|TITLE`: the feed's table removed from the config file.
pub fn remove(config: &Path, args: &RemoveArgs) -> ExitCode {
    exit(remove_feed(config, &args.feed))
}

/// `feedmerge import-opml FILE --write`: the file's feeds that are not configured yet
/// appended to the config file in one edit.
pub fn import_opml(file: &Path, config: &Path) -> ExitCode {
    exit(import_opml_feeds(file, config))
}

/// `feedmerge feeds [--json]`: the configured feeds, each with its title (configured, else the
/// feed's own as stored), tags and interval. Reads the database only to find the titles, and
/// only if there is one (never creating it).
pub fn list(cfg: &Config, json: bool) -> ExitCode {
    crate::exit_code(list_feeds(cfg, json), 1)
}

/// The feeds to add for `url`, the candidates `add` chooses from: what discovery finds there
/// (the address itself when it is a feed, else the feeds its page advertises, else the first
/// usual path that is one), through the same fetch policy as polling; with `as_is`, the
/// address itself, unfetched.
fn candidates(cfg: &Config, url: &Url, as_is: bool) -> anyhow::Result<Vec<Candidate>> {
    if as_is {
        return Ok(vec![Candidate {
            url: url.clone(),
            title: None,
        }]);
    }
    let found = discover(cfg, url)?;
    Ok(found
        .feeds
        .into_iter()
        .map(|f| Candidate {
            // The feed's own title comes with its items; only a page's name for a link is
            // worth offering when choosing among several.
            title: f.title,
            url: f.url,
        })
        .collect())
}

/// [`feedmerge::discover::discover`] for `url`, on a runtime of its own (the editing commands
/// run before the daemon's runtime exists).
fn discover(cfg: &Config, url: &Url) -> anyhow::Result<feedmerge::discover::Discovery> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the runtime for discovery")?
        .block_on(feedmerge::app::discover(cfg, url))
        .with_context(|| format!("no feed to add at {}", Redacted(url)))
}

/// The exit code of an editing command: 1 when the file could not be written (a runtime
/// failure), else 2 (a refused edit: bad usage or a bad config).
fn exit(result: anyhow::Result<()>) -> ExitCode {
    let written = result.as_ref().err().is_some_and(|e| {
        e.chain().any(|c| {
            matches!(
                c.downcast_ref::<EditError>(),
                Some(EditError::Write { .. } | EditError::Changed { .. })
            )
        })
    });
    crate::exit_code(result, if written { 1 } else { 2 })
}

/// What a running daemon does about an edit, said after it.
fn picked_up() -> String {
    let within = humantime::format_duration(2 * feedmerge::daemon::CONFIG_CHECK);
    format!("a running feedmerge notices the change within {within}")
}

/// `text` as a feed URL: absolute, http or https.
fn feed_url(text: &str) -> anyhow::Result<Url> {
    let url = Url::parse(text.trim()).with_context(|| format!("{text:?} is not a URL"))?;
    match url.scheme() {
        "http" | "https" if url.host().is_some() => Ok(url),
        "http" | "https" => bail!("{text:?} has no host"),
        other => bail!("{text:?}: only http and https feeds can be added, not {other}"),
    }
}

/// The configured feed that is `url` (compared by [`canonical_url`]), with its index.
fn configured<'a>(cfg: &'a Config, url: &Url) -> Option<(usize, &'a FeedConfig)> {
    let wanted = canonical_url(url);
    cfg.feeds
        .iter()
        .enumerate()
        .find(|(_, f)| canonical_url(&f.url) == wanted)
}

/// A configured feed as a user recognises it: `URL ("Title")`.
fn named(feed: &FeedConfig) -> String {
    match &feed.title {
        Some(title) => format!("{} (\"{}\")", Redacted(&feed.url), Escaped(title)),
        None => Redacted(&feed.url).to_string(),
    }
}

fn add_feeds(
    config: &Path,
    args: &AddArgs,
    input: Option<&mut dyn BufRead>,
    prompt: &mut dyn Write,
) -> anyhow::Result<()> {
    // As typed in a browser: `example.org/blog` is `https://example.org/blog`.
    let url = super::discover::parse_address(&args.url)
        .map_err(|e| anyhow::anyhow!("{:?}: {e}", args.url))?;
    let mut edit = ConfigEdit::open(config)?;
    if let Some((_, feed)) = configured(edit.config(), &url) {
        bail!("{} is in {} already", named(feed), config.display());
    }
    let found = candidates(edit.config(), &url, args.no_discover)?;
    let several = found.len() > 1;
    let chosen = choose(&url, found, args.all, input, prompt)?;
    let tags: Vec<String> = args
        .tags
        .iter()
        .map(|t| t.trim().to_owned())
        .filter(|t| !t.is_empty())
        .collect();
    let mut added: Vec<Url> = Vec::new();
    let mut out = std::io::stdout().lock();
    for c in chosen {
        let key = canonical_url(&c.url);
        if let Some((_, feed)) = configured(edit.config(), &c.url) {
            writeln!(out, "{} is in {} already", named(feed), config.display())?;
            continue;
        }
        if added.iter().any(|a| canonical_url(a) == key) {
            continue;
        }
        edit.append_feed(&NewFeed {
            url: c.url.clone(),
            // Of several feeds (a blog's posts and its comments), the page's names tell them
            // apart; one feed is named by its own title as it polls.
            title: args
                .title
                .clone()
                .or_else(|| c.title.clone().filter(|_| several)),
            tags: tags.clone(),
            interval: args.interval,
        })?;
        added.push(c.url);
    }
    if added.is_empty() {
        bail!(
            "nothing to add: every feed found is in {} already",
            config.display()
        );
    }
    edit.save()?;
    for url in &added {
        writeln!(out, "added {} to {}", Redacted(url), config.display())?;
    }
    writeln!(out, "{}", picked_up())?;
    Ok(())
}

/// The candidates to add: the one there is, or all with `all`; of several, the one the person
/// at the terminal picks by number (`input`, asked on `prompt`). Without a terminal, several
/// are an error that lists them.
fn choose(
    url: &Url,
    mut found: Vec<Candidate>,
    all: bool,
    input: Option<&mut dyn BufRead>,
    prompt: &mut dyn Write,
) -> anyhow::Result<Vec<Candidate>> {
    if found.is_empty() {
        bail!("no feed found at {}", Redacted(url));
    }
    if found.len() == 1 || all {
        return Ok(found);
    }
    let mut list = String::new();
    for (i, c) in found.iter().enumerate() {
        let title = c.title.as_deref().map(terminal::escape).unwrap_or_default();
        list.push_str(&format!("  {}. {}  {title}\n", i + 1, Redacted(&c.url)));
    }
    let Some(input) = input else {
        bail!(
            "{} offers {} feeds:\n{list}add one of them by its URL, or pass --all to add them all",
            Redacted(url),
            found.len()
        );
    };
    write!(
        prompt,
        "{} offers {} feeds:\n{list}",
        Redacted(url),
        found.len()
    )?;
    loop {
        write!(prompt, "Which one? [1-{}, Enter for none] ", found.len())?;
        prompt.flush()?;
        let mut line = String::new();
        if input.read_line(&mut line)? == 0 || line.trim().is_empty() {
            bail!("nothing added");
        }
        match line.trim().parse::<usize>() {
            Ok(n) if (1..=found.len()).contains(&n) => return Ok(vec![found.swap_remove(n - 1)]),
            _ => writeln!(prompt, "{:?} is not one of the numbers", line.trim())?,
        }
    }
}

fn remove_feed(config: &Path, target: &str) -> anyhow::Result<()> {
    let mut edit = ConfigEdit::open(config)?;
    let index = find(edit.config(), target, config)?;
    let removed = named(&edit.config().feeds[index]);
    edit.remove_feed(index)?;
    edit.save()?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "removed {removed} from {}", config.display())?;
    writeln!(out, "{}", picked_up())?;
    Ok(())
}

/// The index of the configured feed that `target` names: by its URL (compared by
/// [`canonical_url`]), else by its configured title, exactly.
fn find(cfg: &Config, target: &str, config: &Path) -> anyhow::Result<usize> {
    if let Ok(url) = feed_url(target) {
        if let Some((i, _)) = configured(cfg, &url) {
            return Ok(i);
        }
    }
    let titled: Vec<usize> = (0..cfg.feeds.len())
        .filter(|&i| cfg.feeds[i].title.as_deref() == Some(target.trim()))
        .collect();
    match titled[..] {
        [i] => Ok(i),
        [] => {
            let mut message = format!(
                "no feed in {} has the URL or title \"{}\"",
                config.display(),
                Escaped(target)
            );
            let closest = closest(cfg, target);
            if !closest.is_empty() {
                message.push_str("; the closest:");
                for i in closest {
                    message.push_str(&format!("\n  {}", named(&cfg.feeds[i])));
                }
            }
            bail!(message)
        }
        _ => {
            let mut message = format!(
                "{} feeds in {} are titled \"{}\"; remove one by its URL:",
                titled.len(),
                config.display(),
                Escaped(target)
            );
            for i in titled {
                message.push_str(&format!("\n  {}", Redacted(&cfg.feeds[i].url)));
            }
            bail!(message)
        }
    }
}

/// The indexes of the [`CLOSEST_SHOWN`] configured feeds whose URL or title is closest to
/// `target` (fewest edits, ignoring case), closest first.
fn closest(cfg: &Config, target: &str) -> Vec<usize> {
    let target = target.trim().to_lowercase();
    let mut scored: Vec<(usize, usize)> = cfg
        .feeds
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let by_url = edits(&target, &f.url.as_str().to_lowercase());
            let by_title = f
                .title
                .as_deref()
                .map_or(usize::MAX, |t| edits(&target, &t.to_lowercase()));
            (by_url.min(by_title), i)
        })
        .collect();
    scored.sort_unstable();
    scored
        .into_iter()
        .take(CLOSEST_SHOWN)
        .map(|(_, i)| i)
        .collect()
}

/// The Levenshtein distance between `a` and `b`, in characters.
fn edits(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (diagonal + usize::from(ca != cb))
                .min(above + 1)
                .min(row[j] + 1);
            diagonal = above;
        }
    }
    row[b.len()]
}

fn import_opml_feeds(file: &Path, config: &Path) -> anyhow::Result<()> {
    let mut bytes = Vec::new();
    std::fs::File::open(file)
        .and_then(|f| {
            use std::io::Read as _;
            f.take(crate::MAX_OPML_BYTES + 1).read_to_end(&mut bytes)
        })
        .with_context(|| format!("cannot read {}", file.display()))?;
    if bytes.len() as u64 > crate::MAX_OPML_BYTES {
        bail!(
            "{} is larger than {} bytes: not an OPML file",
            file.display(),
            crate::MAX_OPML_BYTES
        );
    }
    let found = feedmerge::opml::read(&bytes)
        .with_context(|| format!("cannot import {}", file.display()))?;
    let mut skipped: Vec<(String, String)> = found
        .skipped
        .into_iter()
        .filter(|s| s.reason != feedmerge::opml::SITE_ONLY)
        .map(|s| (s.url, s.reason))
        .collect();
    let mut edit = ConfigEdit::open(config)?;
    let mut feeds = found.feeds;
    // A site given only by its address: its feed is found as `add` finds it (the first one its
    // page advertises), one site at a time, each through the fetch policy.
    let mut discovered = Vec::new();
    for page in found.pages {
        match discover(edit.config(), &page.url) {
            Ok(d) => {
                if let Some(feed) = d.feeds.into_iter().next() {
                    discovered.push((page.url.clone(), feed.url.clone()));
                    feeds.push(feedmerge::opml::OpmlFeed {
                        url: feed.url,
                        title: page.title,
                        tags: page.tags,
                    });
                }
            }
            Err(e) => skipped.push((page.url.to_string(), format!("{e:#}"))),
        }
    }
    let mut added: Vec<Url> = Vec::new();
    let mut already = Vec::new();
    for f in feeds {
        let key = canonical_url(&f.url);
        if configured(edit.config(), &f.url).is_some()
            || added.iter().any(|a| canonical_url(a) == key)
        {
            already.push(f.url);
            continue;
        }
        edit.append_feed(&NewFeed {
            url: f.url.clone(),
            title: f.title,
            tags: f.tags,
            interval: None,
        })?;
        added.push(f.url);
    }
    if !added.is_empty() {
        edit.save()?;
    }
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "{} feed(s) added to {}; {} already there; {} outline(s) skipped",
        added.len(),
        config.display(),
        already.len(),
        skipped.len()
    )?;
    for url in &added {
        writeln!(out, "  added {}", Redacted(url))?;
    }
    for (site, feed) in &discovered {
        writeln!(
            out,
            "  found {} for the site {}",
            Redacted(feed),
            Redacted(site)
        )?;
    }
    for url in &already {
        writeln!(out, "  already there: {}", Redacted(url))?;
    }
    for (url, reason) in &skipped {
        writeln!(
            out,
            "  skipped \"{}\": {}",
            Escaped(&redact::text(url)),
            Escaped(reason)
        )?;
    }
    if !added.is_empty() {
        writeln!(out, "{}", picked_up())?;
    }
    Ok(())
}

/// One line of `feedmerge feeds`.
#[derive(Debug, serde::Serialize)]
struct Listed {
    /// The URL, redacted.
    url: String,
    /// The configured title, else the feed's own as stored.
    title: Option<String>,
    tags: Vec<String>,
    /// The effective polling interval, as a duration string.
    interval: String,
}

fn list_feeds(cfg: &Config, json: bool) -> anyhow::Result<()> {
    let titles = stored_titles(cfg);
    let listed: Vec<Listed> = cfg
        .feeds
        .iter()
        .enumerate()
        .map(|(i, f)| Listed {
            url: Redacted(&f.url).to_string(),
            title: f.title.clone().or_else(|| titles.get(i).cloned().flatten()),
            tags: f.tags.clone(),
            interval: humantime::format_duration(f.interval(&cfg.poller)).to_string(),
        })
        .collect();
    let mut out = std::io::stdout().lock();
    if json {
        let text = serde_json::to_string_pretty(&listed)?;
        writeln!(out, "{}", terminal::json(&text))?;
        return Ok(());
    }
    let mut rows = vec![["TITLE", "TAGS", "INTERVAL", "URL"].map(str::to_owned)];
    rows.extend(listed.into_iter().map(|l| {
        [
            l.title.unwrap_or_else(|| "-".to_owned()),
            l.tags.join(", "),
            l.interval,
            l.url,
        ]
    }));
    out.write_all(crate::columns(&rows, crate::MAX_CELL_CHARS).as_bytes())?;
    Ok(())
}

/// Each configured feed's title as `status` shows it (the configured one, else the feed's own
/// as stored), read from the database opened read-only; none when there is no database yet
/// or it cannot be read, which is said on stderr.
fn stored_titles(cfg: &Config) -> Vec<Option<String>> {
    let statuses = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
        .and_then(|rt| rt.block_on(feedmerge::app::status(cfg)));
    match statuses {
        Ok(statuses) => statuses.into_iter().map(|s| s.title).collect(),
        Err(e) => {
            let missing = e
                .chain()
                .any(|c| matches!(c.downcast_ref(), Some(StoreError::Missing { .. })));
            if missing {
                eprintln!("{e}; only the configured titles are shown");
            } else {
                eprintln!("warning: {e:#}; only the configured titles are shown");
            }
            Vec::new()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(n: usize) -> Vec<Candidate> {
        (1..=n)
            .map(|i| Candidate {
                url: Url::parse(&format!("https://site.example/feed{i}.xml")).unwrap(),
                title: Some(format!("Feed {i}")),
            })
            .collect()
    }

    fn site() -> Url {
        Url::parse("https://site.example/").unwrap()
    }

    #[test]
    fn one_candidate_is_taken_and_all_takes_every_one() {
        let mut prompt = Vec::new();
        assert_eq!(
            choose(&site(), found(1), false, None, &mut prompt).unwrap(),
            found(1)
        );
        assert_eq!(
            choose(&site(), found(3), true, None, &mut prompt).unwrap(),
            found(3)
        );
        assert!(prompt.is_empty());
        let e = choose(&site(), Vec::new(), true, None, &mut prompt).unwrap_err();
        assert_eq!(e.to_string(), "no feed found at https://site.example/");
    }

    #[test]
    fn several_candidates_without_a_terminal_are_listed_in_the_error() {
        let mut prompt = Vec::new();
        let e = choose(&site(), found(2), false, None, &mut prompt).unwrap_err();
        assert_eq!(
            e.to_string(),
            "https://site.example/ offers 2 feeds:\n  1. https://site.example/feed1.xml  Feed 1\n  2. https://site.example/feed2.xml  Feed 2\nadd one of them by its URL, or pass --all to add them all"
        );
        assert!(prompt.is_empty(), "nothing is asked");
    }

    #[test]
    fn several_candidates_on_a_terminal_are_asked_for_by_number() {
        let mut prompt = Vec::new();
        let mut input: &[u8] = b"7\nx\n2\n";
        let chosen = choose(&site(), found(3), false, Some(&mut input), &mut prompt).unwrap();
        assert_eq!(chosen, vec![found(3).remove(1)]);
        let asked = String::from_utf8(prompt).unwrap();
        assert!(
            asked.starts_with("https://site.example/ offers 3 feeds:\n  1. "),
            "{asked}"
        );
        assert_eq!(
            asked.matches("Which one? [1-3, Enter for none] ").count(),
            3
        );
        assert!(asked.contains("\"7\" is not one of the numbers"), "{asked}");
        // Enter, or the end of the input, adds none.
        for answer in [&b"\n"[..], b""] {
            let mut input = answer;
            let e = choose(&site(), found(2), false, Some(&mut input), &mut Vec::new());
            assert_eq!(e.unwrap_err().to_string(), "nothing added");
        }
    }

    #[test]
    fn edits_counts_levenshtein_distance() {
        assert_eq!(edits("", ""), 0);
        assert_eq!(edits("kitten", "sitting"), 3);
        assert_eq!(edits("rust blog", "rust blgo"), 2);
        assert_eq!(edits("日本", "日本語"), 1);
    }
}
