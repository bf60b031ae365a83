//! Criterion micro-benchmarks of the hot stages of one poll and of serving, on documents shaped
//! like the ingest benchmark's corpus (`bench/gen_corpus.py`): 20 items per feed, 300-1500-word
//! HTML bodies, images in ~30% of them, authors, categories.
//!
//! ```sh
//! cargo bench --bench stages                         # every group
//! cargo bench --bench stages -- parse                # one group (a name filter)
//! cargo bench --bench stages -- --warm-up-time 1 --measurement-time 3
//! ```
//!
//! Groups: `parse` (bytes → feed, per format), `normalize` (feed → items: plain titles, links,
//! dates, visible text and reading time), `reading_time` (its two steps: visible text of the
//! HTML, then the estimate), `dedupe` (identity keys and canonical links), `sanitize` (one
//! item's HTML), `render` (the merged RSS feed of 100 items, sanitising included), and
//! `poll_cpu` (parse + normalise + identify one fetched feed: the CPU a 200 response costs
//! before the database write).
//!
//! The inputs are generated here, deterministically (a fixed-seed PRNG), so the benchmarks need
//! no file and no network.

use std::fmt::Write as _;
use std::hint::black_box;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use feedmerge::config::{Placement, ReadingTimeConfig};
use feedmerge::model::{Cursor, NewItem, StoredItem, TextSource};
use feedmerge::normalize::{reading_time, text};
use feedmerge::render::html::Sanitizer;
use feedmerge::render::{Channel, Format};
use feedmerge::{dedupe, normalize, parse};
use url::Url;

/// Items per generated feed, as in the ingest corpus.
const ITEMS_PER_FEED: usize = 20;
/// Items in the merged feed served at `/feed.xml` (`[output] max_items` default).
const MERGED_ITEMS: usize = 100;

// ------------------------------------------------------------------ deterministic corpus

/// SplitMix64: small, fast, and the same sequence on every machine.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `lo..=hi`.
    fn range(&mut self, lo: usize, hi: usize) -> usize {
        lo + (self.next() % (hi - lo + 1) as u64) as usize
    }

    /// True with probability `p`.
    fn chance(&mut self, p: f64) -> bool {
        ((self.next() >> 11) as f64 / (1u64 << 53) as f64) < p
    }
}

const COMMON: &[&str] = &[
    "the",
    "of",
    "and",
    "to",
    "in",
    "is",
    "for",
    "on",
    "that",
    "with",
    "as",
    "by",
    "this",
    "from",
    "release",
    "version",
    "server",
    "feed",
    "update",
    "performance",
    "memory",
    "database",
    "network",
    "kernel",
    "security",
    "benchmark",
    "latency",
    "cache",
    "protocol",
    "compiler",
    "library",
    "article",
    "research",
    "policy",
    "energy",
    "climate",
    "café",
    "naïve",
    "Zürich",
    "東京",
];
const SYLLABLES: &[&str] = &[
    "ka", "to", "ri", "men", "sa", "lo", "vi", "tor", "an", "el", "qu", "ar", "ne", "po", "li",
    "da", "ger", "ion", "us", "ba", "ce", "mo", "ra", "te", "pre", "con", "ste", "ful", "ness",
    "ing",
];

struct Words {
    vocab: Vec<String>,
}

impl Words {
    fn new(rng: &mut Rng) -> Words {
        let mut vocab: Vec<String> = COMMON.iter().map(|w| (*w).to_owned()).collect();
        while vocab.len() < 3000 {
            let n = rng.range(1, 4);
            vocab.push((0..n).map(|_| SYLLABLES[rng.range(0, 29)]).collect());
        }
        Words { vocab }
    }

    /// A word, frequent words more often (roughly Zipf).
    fn word(&self, rng: &mut Rng) -> &str {
        let a = rng.range(0, self.vocab.len() - 1);
        let b = rng.range(0, a);
        &self.vocab[b]
    }

    fn sentence(&self, rng: &mut Rng) -> (String, usize) {
        let n = rng.range(6, 22);
        let mut s = String::new();
        for i in 0..n {
            if i > 0 {
                s.push(' ');
            }
            s.push_str(self.word(rng));
        }
        s.push('.');
        (s, n)
    }

    fn title(&self, rng: &mut Rng) -> String {
        let n = rng.range(4, 12);
        let mut t: Vec<String> = (0..n)
            .map(|_| {
                let w = self.word(rng);
                let mut c = w.chars();
                c.next()
                    .map(|f| f.to_uppercase().chain(c).collect())
                    .unwrap_or_default()
            })
            .collect();
        if rng.chance(0.05) {
            t.insert(0, "Q&A:".to_owned());
        }
        t.join(" ")
    }

    /// An article body: paragraphs, some headings, lists, code, quotes, links, one figure.
    fn body(&self, rng: &mut Rng, key: &str, with_img: bool) -> (String, usize) {
        let target = rng.range(300, 1500);
        let (mut html, mut words, mut para) = (String::new(), 0, 0);
        while words < target {
            if para > 0 {
                match rng.range(0, 99) {
                    0..=7 => {
                        let _ = writeln!(html, "<h2>{}</h2>", esc(&self.title(rng)));
                    }
                    8..=11 => {
                        html.push_str("<ul>");
                        for _ in 0..rng.range(2, 6) {
                            let _ = write!(html, "<li>{}</li>", esc(&self.sentence(rng).0));
                        }
                        html.push_str("</ul>\n");
                    }
                    12..=13 => {
                        let _ = writeln!(
                            html,
                            "<pre><code>fn main() {{ println!(\"{}\"); }}</code></pre>",
                            esc(self.word(rng))
                        );
                    }
                    14..=15 => {
                        let _ = writeln!(
                            html,
                            "<blockquote><p>{}</p></blockquote>",
                            esc(&self.sentence(rng).0)
                        );
                    }
                    _ => {}
                }
            }
            html.push_str("<p>");
            for i in 0..rng.range(3, 8) {
                let (s, n) = self.sentence(rng);
                words += n;
                if i > 0 {
                    html.push(' ');
                }
                if rng.chance(0.05) {
                    let _ = write!(
                        html,
                        "<a href=\"http://127.0.0.1:9/ref/{key}/{i}\">{}</a>",
                        esc(&s)
                    );
                } else if rng.chance(0.05) {
                    let _ = write!(html, "<strong>{}</strong>", esc(&s));
                } else {
                    html.push_str(&esc(&s));
                }
            }
            html.push_str("</p>\n");
            para += 1;
            if with_img && para == 1 {
                let _ = writeln!(
                    html,
                    "<figure><img src=\"http://127.0.0.1:9/img/{key}.jpg\" alt=\"{}\" width=\"800\" \
                     height=\"450\"/><figcaption>{}</figcaption></figure>",
                    esc(self.word(rng)),
                    esc(&self.sentence(rng).0)
                );
            }
        }
        (html, words)
    }
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// One generated item, format-neutral.
struct Item {
    title: String,
    link: String,
    guid: Option<String>,
    date: DateTime<Utc>,
    author: String,
    categories: Vec<String>,
    summary: String,
    body: String,
    enclosure: Option<(String, u64)>,
}

fn items(rng: &mut Rng, words: &Words, feed: usize, n: usize) -> Vec<Item> {
    let base = Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0).unwrap();
    (0..n)
        .map(|j| {
            let key = format!("f{feed:05}-{j}");
            let link = format!("http://127.0.0.1:9/site{feed:05}/2024/12/story-{j}.html");
            let guid = match rng.range(0, 99) {
                0..=14 => None,
                15..=54 => Some(link.clone()),
                _ => Some(format!("urn:bench:{key}:{:08x}", rng.next() as u32)),
            };
            let with_img = rng.chance(0.3);
            let (body, _) = words.body(rng, &key, with_img);
            let mut summary = String::new();
            while summary.len() < 300 {
                summary.push_str(&words.sentence(rng).0);
                summary.push(' ');
            }
            Item {
                title: words.title(rng),
                link,
                guid,
                date: base - chrono::Duration::hours((6 * j + feed % 97) as i64),
                author: format!("{} {}", words.word(rng), words.word(rng)),
                categories: (0..rng.range(0, 4))
                    .map(|_| words.word(rng).to_owned())
                    .collect(),
                summary,
                body,
                enclosure: rng
                    .chance(0.08)
                    .then(|| (format!("http://127.0.0.1:9/media/{key}.mp3"), 12_345_678)),
            }
        })
        .collect()
}

fn rss2_doc(items: &[Item]) -> String {
    let mut d = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<rss version=\"2.0\" \
         xmlns:content=\"http://purl.org/rss/1.0/modules/content/\" \
         xmlns:dc=\"http://purl.org/dc/elements/1.1/\">\n<channel>\n<title>Bench feed</title>\n\
         <link>http://127.0.0.1:9/site/</link>\n<description>d</description>\n<ttl>60</ttl>\n",
    );
    for it in items {
        let _ = writeln!(
            d,
            "<item>\n<title>{}</title>\n<link>{}</link>",
            esc(&it.title),
            it.link
        );
        if let Some(g) = &it.guid {
            let _ = writeln!(
                d,
                "<guid isPermaLink=\"{}\">{}</guid>",
                *g == it.link,
                esc(g)
            );
        }
        let _ = writeln!(
            d,
            "<pubDate>{}</pubDate>\n<dc:creator>{}</dc:creator>",
            it.date.to_rfc2822(),
            esc(&it.author)
        );
        for c in &it.categories {
            let _ = writeln!(d, "<category>{}</category>", esc(c));
        }
        let _ = writeln!(
            d,
            "<description>{}</description>\n<content:encoded><![CDATA[{}]]></content:encoded>",
            esc(&it.summary),
            it.body
        );
        if let Some((url, len)) = &it.enclosure {
            let _ = writeln!(
                d,
                "<enclosure url=\"{url}\" length=\"{len}\" type=\"audio/mpeg\"/>"
            );
        }
        d.push_str("</item>\n");
    }
    d.push_str("</channel>\n</rss>\n");
    d
}

fn atom_doc(items: &[Item]) -> String {
    let mut d = String::from(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<feed xmlns=\"http://www.w3.org/2005/Atom\">\n\
         <title>Bench feed</title>\n<link rel=\"alternate\" href=\"http://127.0.0.1:9/site/\"/>\n\
         <id>urn:bench:feed</id>\n<updated>2025-01-01T00:00:00Z</updated>\n",
    );
    for it in items {
        let date = it.date.format("%Y-%m-%dT%H:%M:%SZ");
        let _ = writeln!(
            d,
            "<entry>\n<title type=\"text\">{}</title>\n<link rel=\"alternate\" type=\"text/html\" \
             href=\"{}\"/>\n<id>{}</id>\n<published>{date}</published>\n<updated>{date}</updated>\n\
             <author><name>{}</name></author>",
            esc(&it.title),
            it.link,
            esc(it.guid.as_deref().unwrap_or(&it.link)),
            esc(&it.author)
        );
        for c in &it.categories {
            let _ = writeln!(d, "<category term=\"{}\"/>", esc(c));
        }
        let _ = writeln!(
            d,
            "<summary type=\"text\">{}</summary>\n<content type=\"html\">{}</content>\n</entry>",
            esc(&it.summary),
            esc(&it.body)
        );
    }
    d.push_str("</feed>\n");
    d
}

fn rss1_doc(items: &[Item]) -> String {
    let about = |it: &Item| esc(it.guid.as_deref().unwrap_or(&it.link));
    let mut d = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<rdf:RDF \
         xmlns:rdf=\"http://www.w3.org/1999/02/22-rdf-syntax-ns#\" \
         xmlns=\"http://purl.org/rss/1.0/\" xmlns:dc=\"http://purl.org/dc/elements/1.1/\" \
         xmlns:content=\"http://purl.org/rss/1.0/modules/content/\">\n\
         <channel rdf:about=\"http://127.0.0.1:9/site/\">\n<title>Bench feed</title>\n\
         <link>http://127.0.0.1:9/site/</link>\n<description>d</description>\n<items><rdf:Seq>\n",
    );
    for it in items {
        let _ = writeln!(d, "<rdf:li rdf:resource=\"{}\"/>", about(it));
    }
    d.push_str("</rdf:Seq></items>\n</channel>\n");
    for it in items {
        let _ = writeln!(
            d,
            "<item rdf:about=\"{}\">\n<title>{}</title>\n<link>{}</link>\n<dc:date>{}</dc:date>\n\
             <dc:creator>{}</dc:creator>\n<description>{}</description>\n\
             <content:encoded><![CDATA[{}]]></content:encoded>\n</item>",
            about(it),
            esc(&it.title),
            it.link,
            it.date.format("%Y-%m-%dT%H:%M:%SZ"),
            esc(&it.author),
            esc(&it.summary),
            it.body
        );
    }
    d.push_str("</rdf:RDF>\n");
    d
}

/// The inputs shared by every group.
struct Corpus {
    feed_url: Url,
    now: DateTime<Utc>,
    rss2: Vec<u8>,
    atom: Vec<u8>,
    rss1: Vec<u8>,
    /// The merged feed's items, as the store returns them.
    stored: Vec<StoredItem>,
}

fn corpus() -> Corpus {
    let mut rng = Rng(42);
    let words = Words::new(&mut rng);
    let feed_url = Url::parse("http://127.0.0.1:18180/feeds/f00001.rss").unwrap();
    let now = Utc.with_ymd_and_hms(2025, 6, 1, 0, 0, 0).unwrap();
    let rss2 = rss2_doc(&items(&mut rng, &words, 1, ITEMS_PER_FEED)).into_bytes();
    let atom = atom_doc(&items(&mut rng, &words, 2, ITEMS_PER_FEED)).into_bytes();
    let rss1 = rss1_doc(&items(&mut rng, &words, 3, ITEMS_PER_FEED)).into_bytes();

    // The merged feed: 100 items from 5 feeds, through the real parse → normalise → identify.
    let mut stored = Vec::new();
    for feed in 0..MERGED_ITEMS / ITEMS_PER_FEED {
        let url = Url::parse(&format!(
            "http://127.0.0.1:18180/feeds/f{:05}.rss",
            feed + 10
        ))
        .unwrap();
        let doc = rss2_doc(&items(&mut rng, &words, feed + 10, ITEMS_PER_FEED));
        let new = process(doc.as_bytes(), &url, now);
        for item in new {
            let date = item.date.unwrap_or(now);
            stored.push(StoredItem {
                cursor: Cursor {
                    sort_at: date.timestamp(),
                    id: stored.len() as i64 + 1,
                },
                feed_url: url.to_string(),
                feed_title: format!("Bench feed {feed}"),
                feed_icon: None,
                feed_site: None,
                source_icon: None,
                also_in: Vec::new(),
                first_seen: now,
                date,
                changed_at: now,
                item,
            });
        }
    }
    stored.sort_by_key(|s| std::cmp::Reverse(s.date));
    Corpus {
        feed_url,
        now,
        rss2,
        atom,
        rss1,
        stored,
    }
}

/// What a poll does with a fetched body before writing it: parse, normalise, identify.
fn process(body: &[u8], url: &Url, now: DateTime<Utc>) -> Vec<NewItem> {
    let parsed = parse::parse(body, None, url).expect("a valid feed");
    let (_, items) = normalize::normalize(parsed, url, now, &ReadingTimeConfig::default());
    dedupe::identify(items)
}

// ------------------------------------------------------------------ benchmarks

fn stages(c: &mut Criterion) {
    let corpus = corpus();
    let rt = ReadingTimeConfig::default();
    let url = &corpus.feed_url;

    let mut g = c.benchmark_group("parse");
    for (name, doc) in [
        ("rss2_20_items", &corpus.rss2),
        ("atom_20_items", &corpus.atom),
        ("rss1_20_items", &corpus.rss1),
    ] {
        g.throughput(Throughput::Bytes(doc.len() as u64));
        g.bench_function(name, |b| {
            b.iter(|| parse::parse(black_box(doc), None, url).unwrap())
        });
    }
    g.finish();

    let parsed = || parse::parse(&corpus.rss2, None, url).unwrap();
    let mut g = c.benchmark_group("normalize");
    g.throughput(Throughput::Elements(ITEMS_PER_FEED as u64));
    // Normalising takes the parsed feed (its content is moved into the items): each
    // iteration gets a fresh one, parsed outside the measurement.
    g.bench_function("rss2_20_items", |b| {
        b.iter_batched(
            parsed,
            |p| normalize::normalize(black_box(p), url, corpus.now, &rt),
            BatchSize::SmallInput,
        )
    });
    g.finish();

    // One typical body: the median-sized item of the feed.
    let (_, new_items) = normalize::normalize(parsed(), url, corpus.now, &rt);
    let mut by_size: Vec<&NewItem> = new_items.iter().collect();
    by_size.sort_by_key(|i| i.content_html.len());
    let typical = by_size[by_size.len() / 2];
    let html = typical.content_html.as_str();
    let visible = text::visible(html);
    let mut g = c.benchmark_group("reading_time");
    g.throughput(Throughput::Bytes(html.len() as u64));
    g.bench_function(
        format!("visible_text_{}_words", typical.reading_time.words),
        |b| b.iter(|| text::visible(black_box(html))),
    );
    g.bench_function(
        format!("estimate_{}_words", typical.reading_time.words),
        |b| {
            b.iter(|| {
                reading_time::estimate(
                    black_box(&visible.text),
                    visible.images,
                    TextSource::Content,
                    &rt,
                )
            })
        },
    );
    g.finish();

    let mut g = c.benchmark_group("dedupe");
    g.throughput(Throughput::Elements(new_items.len() as u64));
    g.bench_function("identify_20_items", |b| {
        b.iter_batched(
            || new_items.clone(),
            dedupe::identify,
            BatchSize::SmallInput,
        )
    });
    let link = "HTTPS://Example.ORG:443/a/b?utm_source=x&id=3&fbclid=y#top";
    g.throughput(Throughput::Elements(1));
    g.bench_function("canonical_link", |b| {
        b.iter(|| dedupe::canonical_link(black_box(link)))
    });
    g.finish();

    let base = typical.content_base.as_deref();
    let mut g = c.benchmark_group("sanitize");
    g.throughput(Throughput::Bytes(html.len() as u64));
    let mut sanitizer = Sanitizer::default();
    g.bench_function("one_item_reused_sanitizer", |b| {
        b.iter(|| sanitizer.clean(black_box(html), base))
    });
    g.bench_function("one_item_new_sanitizer", |b| {
        b.iter(|| Sanitizer::default().clean(black_box(html), base))
    });
    g.finish();

    let channel = Channel {
        title: "feedmerge".into(),
        description: "Merged feed".into(),
        base_url: Url::parse("http://127.0.0.1:8080/").unwrap(),
        path: "feed".into(),
        // The default: "N min read" as the description's first paragraph.
        placement: Placement::Description,
        hub: None,
    };
    let mut g = c.benchmark_group("render");
    g.throughput(Throughput::Elements(corpus.stored.len() as u64));
    g.bench_function("rss_100_items", |b| {
        b.iter(|| {
            feedmerge::render::render(
                Format::Rss,
                &channel,
                black_box(&corpus.stored),
                &[],
                corpus.now,
            )
        })
    });
    g.finish();

    let mut g = c.benchmark_group("poll_cpu");
    for (name, doc) in [
        ("rss2_20_items", &corpus.rss2),
        ("atom_20_items", &corpus.atom),
    ] {
        g.throughput(Throughput::Bytes(doc.len() as u64));
        g.bench_function(name, |b| {
            b.iter(|| process(black_box(doc), url, corpus.now))
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    // Short by default (a 2-core machine shared with builds); the command line overrides these.
    config = Criterion::default()
        .sample_size(30)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3));
    targets = stages
}
criterion_main!(benches);
