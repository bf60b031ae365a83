//! feedmerge's integration tests, in one binary (linked once): one module per area, the
//! shared helpers in [`common`]. Every test runs the real thing: a local HTTP server on
//! 127.0.0.1, a real SQLite file in a temporary folder, the real binary where the command
//! line is what is tested. Run one area with `cargo test --test integration AREA::`.

mod common;

mod backup;
mod browser;
mod cli;
mod conformance;
mod crash;
mod discover;
mod fulltext;
mod hostile;
mod icons;
mod load;
mod manage;
mod near_duplicates;
mod page;
mod pipeline;
mod polling;
mod properties;
mod serve;
mod service;
mod storage;
mod websub;
