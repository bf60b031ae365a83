//! OPML bytes → `opml::parse`; never a panic. Whatever it reads, `to_toml` turns into
//! `[[feeds]]` tables that `Config::parse` accepts (that is what `import-opml` appends to the
//! config).
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(feeds) = feedmerge::opml::parse(data) else {
        return;
    };
    let toml = feedmerge::opml::to_toml(&feeds);
    if let Err(e) = feedmerge::config::Config::parse(&toml, Path::new("config.toml")) {
        panic!("imported feeds are not a valid config: {e}\n{toml}");
    }
});
