//! Config text → `Config::parse`: any text is a config or an error, never a panic; the
//! error message (which names the line) can always be formatted.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match feedmerge::config::Config::parse(text, Path::new("config.toml")) {
        Ok(config) => {
            // What `check` prints for a valid config.
            let _ = format!("{config:?}");
        }
        Err(e) => {
            let message = e.to_string();
            assert!(
                message.contains("config.toml"),
                "error does not name the file: {message}"
            );
        }
    }
});
