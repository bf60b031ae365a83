//! `feedmerge export-opml`: the configured feeds as OPML on stdout, full URLs included (the
//! owner's backup), named by the titles the database holds where the config gives none.

use std::collections::HashMap;
use std::io::Write as _;

use feedmerge::app;
use feedmerge::config::Config;
use feedmerge::opml::{self, Urls};

/// Prints the OPML. Without a database (none yet, or one that cannot be read), untitled feeds
/// are named by their URL and a warning on stderr says why: the subscriptions are exported
/// all the same.
///
/// # Errors
/// When stdout cannot be written.
pub async fn export(cfg: &Config) -> anyhow::Result<()> {
    let own_titles = match app::own_titles(cfg).await {
        Ok(titles) => titles,
        Err(e) => {
            eprintln!("warning: {e:#}; feeds without a configured title are named by their URL");
            HashMap::new()
        }
    };
    let document = opml::export(&cfg.output.title, &cfg.feeds, &own_titles, Urls::Full);
    let mut out = std::io::stdout().lock();
    out.write_all(document.as_bytes())?;
    out.flush()?;
    Ok(())
}
