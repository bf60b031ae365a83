//! The parse floor: what parsing a corpus costs with feed-rs alone, no normalising, no storing.
//! `bench/ingest.sh` runs it on the corpus it polls and prints feedmerge's first-ingest CPU as a
//! multiple of it (see BENCHMARKS.md).
//!
//! ```sh
//! cargo build --release --example parse_floor
//! target/release/examples/parse_floor /tmp/feedmerge-bench/corpus-K1000-M20-s42
//! ```
//!
//! The argument is a corpus folder of `bench/gen_corpus.py` (its `paths.txt` names the
//! documents) or any folder of feed documents. Every document is read into memory first; then,
//! on one thread, each is parsed by feed-rs with the options feedmerge itself gives it (the
//! document's URL as base, no generated ids), and then by `feedmerge::parse::parse` (decoding,
//! the entry cap, the look-ups feed-rs does not keep): the two lines of output are the floor
//! and feedmerge's parse stage on the same bytes, each with its CPU seconds (user + system of
//! this process) and bytes per CPU second. A third line, `quick-xml`, reads every document
//! with quick-xml's borrowing slice reader alone (every event, no model): where the floor could
//! move with a reader of the common case that skips feed-rs's copies. A fourth,
//! `feedmerge::normalize`, normalises the parsed documents (parsed beforehand, untimed) as a
//! poll does with the default settings: items → `NewItem`s, a near-duplicate fingerprint for
//! the news of the default window before now only; its bytes are the documents'.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use chrono::Utc;
use feedmerge::config::{DEFAULT_NEAR_WINDOW, ReadingTimeConfig};
use feedmerge::normalize;
use url::Url;

/// The base URL the documents are parsed against: the corpus's own links are absolute, so
/// only relative ones (none in the generated corpus) would use it.
const BASE_URL: &str = "http://127.0.0.1/";

fn main() -> Result<()> {
    let Some(dir) = std::env::args_os().nth(1).map(PathBuf::from) else {
        bail!("usage: parse_floor CORPUS_DIR");
    };
    let docs = read_corpus(&dir)?;
    let bytes: usize = docs.iter().map(Vec::len).sum();
    let base = Url::parse(BASE_URL).context("parse the base URL")?;

    let floor = measure(|| {
        let mut entries = 0;
        for doc in &docs {
            let parser = feed_rs::parser::Builder::new()
                .base_uri(Some(base.as_str()))
                .id_generator(|_, _, _| String::new())
                .build();
            entries += parser.parse(doc.as_slice()).map_or(0, |f| f.entries.len());
        }
        entries
    });
    report("feed-rs", docs.len(), bytes, floor);

    let ours = measure(|| {
        docs.iter()
            .map(|doc| {
                feedmerge::parse::parse(doc, None, &base).map_or(0, |p| p.feed.entries.len())
            })
            .sum()
    });
    report("feedmerge::parse", docs.len(), bytes, ours);

    let events = measure(|| docs.iter().map(Vec::as_slice).map(xml_events).sum());
    report("quick-xml", docs.len(), bytes, events);

    // Every document parsed first, untimed, so that the pass below is normalising alone.
    let parsed: Vec<_> = docs
        .iter()
        .filter_map(|doc| feedmerge::parse::parse(doc, None, &base).ok())
        .collect();
    let now = Utc::now();
    let news_since = now.checked_sub_signed(
        chrono::Duration::from_std(DEFAULT_NEAR_WINDOW).context("the default window")?,
    );
    let rt = ReadingTimeConfig::default();
    let normalized = measure(|| {
        parsed
            .into_iter()
            .map(|p| {
                normalize::normalize_news(p, &base, now, &rt, news_since)
                    .1
                    .len()
            })
            .sum()
    });
    report("feedmerge::normalize", docs.len(), bytes, normalized);
    Ok(())
}

/// The entries of `doc` (`<item>` and `<entry>` start tags) counted by quick-xml's borrowing
/// slice reader, every event read and every text's line ends normalised (references come as their own events), no model built: what a reader of
/// the common case (UTF-8 XML) would pay before building its fields. 0 for what it cannot
/// read.
fn xml_events(doc: &[u8]) -> usize {
    use quick_xml::events::Event;

    let mut reader = quick_xml::Reader::from_reader(doc);
    let mut entries = 0;
    let mut text_bytes = 0;
    loop {
        match reader.read_event() {
            Ok(Event::Start(e)) => {
                entries += usize::from(matches!(e.local_name().as_ref(), "item" | "entry"));
            }
            Ok(Event::Text(t)) => text_bytes += t.xml10_content().len(),
            Ok(Event::CData(t)) => text_bytes += t.xml10_content().len(),
            Ok(Event::GeneralRef(r)) => text_bytes += r.len(),
            Ok(Event::Eof) => break,
            Err(_) => return 0,
            Ok(_) => {}
        }
    }
    std::hint::black_box(text_bytes);
    entries
}

/// What one pass over the documents cost: entries read, wall seconds, CPU seconds.
struct Pass {
    entries: usize,
    wall_s: f64,
    cpu_s: f64,
}

/// Runs `pass` once, timing it in wall and CPU seconds.
fn measure(pass: impl FnOnce() -> usize) -> Pass {
    let (cpu0, wall0) = (cpu_seconds(), Instant::now());
    let entries = pass();
    Pass {
        entries,
        wall_s: wall0.elapsed().as_secs_f64(),
        cpu_s: cpu_seconds() - cpu0,
    }
}

/// Prints one pass as `key=value` fields, which `bench/ingest.sh` reads.
fn report(parser: &str, files: usize, bytes: usize, pass: Pass) {
    // Precision loss is irrelevant for a rate printed with three significant figures.
    #[allow(clippy::cast_precision_loss)]
    let rate = bytes as f64 / pass.cpu_s.max(1e-9);
    println!(
        "parser={parser} files={files} bytes={bytes} entries={} wall_s={:.3} cpu_s={:.3} \
         bytes_per_cpu_s={rate:.0} mb_per_cpu_s={:.1}",
        pass.entries,
        pass.wall_s,
        pass.cpu_s,
        rate / 1e6,
    );
}

/// The documents of `dir`: those its `paths.txt` names, else every file in it, sorted.
fn read_corpus(dir: &Path) -> Result<Vec<Vec<u8>>> {
    let list = dir.join("paths.txt");
    let paths: Vec<PathBuf> = if list.is_file() {
        std::fs::read_to_string(&list)
            .with_context(|| format!("read {}", list.display()))?
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| dir.join(l.trim()))
            .collect()
    } else {
        let mut paths = std::fs::read_dir(dir)
            .with_context(|| format!("list {}", dir.display()))?
            .map(|e| e.map(|e| e.path()))
            .collect::<Result<Vec<_>, _>>()
            .with_context(|| format!("list {}", dir.display()))?;
        paths.retain(|p| p.is_file());
        paths.sort();
        paths
    };
    if paths.is_empty() {
        bail!("no documents in {}", dir.display());
    }
    paths
        .iter()
        .map(|p| std::fs::read(p).with_context(|| format!("read {}", p.display())))
        .collect()
}

/// User + system CPU seconds of this process so far.
fn cpu_seconds() -> f64 {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage writes a rusage into the pointer it is given, which is valid and
    // large enough; RUSAGE_SELF cannot fail. On failure the zeroed value reads as 0 s.
    let usage = unsafe {
        libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr());
        usage.assume_init()
    };
    let secs = |t: libc::timeval| {
        // Seconds of CPU time fit an f64 exactly for any plausible run.
        #[allow(clippy::cast_precision_loss)]
        let s = t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
        s
    };
    secs(usage.ru_utime) + secs(usage.ru_stime)
}
