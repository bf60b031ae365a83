//! The news page in a real browser: headless Chromium, driven over WebDriver by chromedriver,
//! against the running daemon. Skipped (with a note) where Chromium is not installed;
//! `.ci/run` installs Debian's `chromium` and `chromium-driver`, so CI always runs it.
//! Screenshots are saved to `target/test-artifacts/`: `news-page.png`, and the layout test's
//! `news-page-WIDTH-SCHEME.png` at 390 px and 1280 px, light and dark.

use crate::common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use common::{Daemon, Env, fixture, http_client};
use serde_json::{Value, json};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// A chromedriver process and one browser session.
struct Browser {
    driver: Child,
    base: String,
    session: String,
}

impl Browser {
    async fn start() -> Option<Browser> {
        if !std::path::Path::new(CHROMIUM).exists() || !std::path::Path::new(CHROMEDRIVER).exists()
        {
            eprintln!(
                "skipped: {CHROMIUM} and {CHROMEDRIVER} are needed (apt-get install chromium chromium-driver)"
            );
            return None;
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let base = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(20);
        while http_client()
            .get(format!("{base}/status"))
            .send()
            .await
            .is_err()
        {
            assert!(Instant::now() < deadline, "chromedriver did not start");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let profile = tempfile::tempdir().unwrap().keep();
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                    "--no-first-run", "--disable-background-networking", "--disable-component-update",
                    "--disable-sync", "--window-size=1100,1400",
                    format!("--user-data-dir={}", profile.display())]
            }
        }}});
        let mut browser = Browser {
            driver,
            base,
            session: String::new(),
        };
        let created = browser.call("POST", "/session", caps).await;
        browser.session = created["sessionId"].as_str().expect("a session").to_owned();
        Some(browser)
    }

    async fn call(&self, method: &str, path: &str, body: Value) -> Value {
        let url = if path == "/session" {
            format!("{}{path}", self.base)
        } else {
            format!("{}/session/{}{path}", self.base, self.session)
        };
        let req = match method {
            "GET" => http_client().get(url),
            "DELETE" => http_client().delete(url),
            _ => http_client()
                .post(url)
                .header("content-type", "application/json")
                .body(body.to_string()),
        };
        let bytes = req.send().await.unwrap().bytes().await.unwrap();
        let v: Value = serde_json::from_slice(&bytes).unwrap();
        v["value"].clone()
    }

    /// Runs a DevTools command (emulation) through chromedriver.
    async fn cdp(&self, cmd: &str, params: Value) -> Value {
        self.call(
            "POST",
            "/goog/cdp/execute",
            json!({"cmd": cmd, "params": params}),
        )
        .await
    }

    /// Opens `url` in a window of `width` × `height` CSS pixels (a phone's below 600) that
    /// prefers the colour `scheme` ("light" or "dark").
    async fn open_as(&self, url: &str, width: u32, height: u32, scheme: &str) {
        self.cdp(
            "Emulation.setDeviceMetricsOverride",
            json!({"width": width, "height": height, "deviceScaleFactor": 1,
                "mobile": width < 600}),
        )
        .await;
        self.cdp(
            "Emulation.setEmulatedMedia",
            json!({"features": [{"name": "prefers-color-scheme", "value": scheme}]}),
        )
        .await;
        self.call("POST", "/url", json!({"url": url})).await;
    }

    /// Saves what the browser shows to `target/test-artifacts/NAME.png`.
    async fn screenshot(&self, name: &str) {
        let shot = self.call("GET", "/screenshot", Value::Null).await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(shot.as_str().expect("a screenshot"))
            .unwrap();
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-artifacts");
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png).unwrap();
        println!("screenshot: {}", path.display());
    }

    async fn script(&self, js: &str) -> Value {
        self.call("POST", "/execute/sync", json!({"script": js, "args": []}))
            .await
    }

    /// Runs `js` until it returns true.
    async fn wait_for(&self, js: &str, what: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.script(js).await != Value::Bool(true) {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// An RSS feed with `n` dated stories.
fn many_stories(n: usize) -> Vec<u8> {
    let mut xml = String::from(r#"<rss version="2.0"><channel><title>Daily</title>"#);
    for i in 0..n {
        xml.push_str(&format!(
            "<item><guid>s{i}</guid><title>Story number {i}</title><link>https://example.org/s/{i}</link>\
             <pubDate>{}</pubDate><description>Words of story {i}.</description></item>",
            (chrono::Utc::now() - chrono::Duration::hours(i as i64 + 2)).to_rfc2822()
        ));
    }
    xml.push_str("</channel></rss>");
    xml.into_bytes()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_news_page_works_in_a_real_browser() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let env = Env::new().await;
    env.serve_bytes("/daily", many_stories(40), "application/rss+xml")
        .await;
    env.serve_bytes("/xss", fixture("xss.xml"), "application/rss+xml")
        .await;
    env.serve_bytes(
        "/article",
        fixture("article_1500.xml"),
        "application/rss+xml",
    )
    .await;
    let cfg = env.config(&[env.url("/daily"), env.url("/xss"), env.url("/article")]);
    common::poll(&cfg).await;

    let daemon = Daemon::start(cfg).await;
    let site = daemon.url("/");

    browser.call("POST", "/url", json!({"url": site})).await;
    browser
        .wait_for("return document.readyState === 'complete'", "the page")
        .await;
    let cards = browser
        .script("return document.querySelectorAll('#stories > article').length")
        .await;
    assert_eq!(cards, 30, "the first page holds 30 stories");
    // Times were made relative by the script.
    let times = browser
        .script("return document.querySelector('time').textContent")
        .await;
    assert!(times.as_str().unwrap().ends_with("ago"), "{times}");
    // The feeds are discoverable.
    let alternates = browser
        .script("return document.querySelectorAll('link[rel=alternate]').length")
        .await;
    assert_eq!(alternates, 3);

    // "Show more" appends the next page in place.
    browser
        .script("document.getElementById('more').click(); return true")
        .await;
    browser
        .wait_for(
            "return document.querySelectorAll('#stories > article').length === 50",
            "the next page",
        )
        .await;
    let more_left = browser
        .script("return document.getElementById('more') === null")
        .await;
    assert_eq!(more_left, true, "no more pages after the last one");
    // Every card says how long it takes to read; the long (older) article says 7 minutes.
    let labels = browser
        .script("return [...document.querySelectorAll('.reading')].map(e => e.textContent)")
        .await;
    let labels: Vec<&str> = labels
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(
        labels.iter().all(|l| l.ends_with(" min read")),
        "{labels:?}"
    );
    assert!(labels.contains(&"7 min read"), "{labels:?}");

    // No payload of the XSS feed ran: no alert is open, no script of theirs is in the page.
    let alert = browser.call("GET", "/alert/text", Value::Null).await;
    assert_eq!(alert["error"], "no such alert", "{alert}");
    let scripts = browser.script("return document.scripts.length").await;
    assert_eq!(scripts, 1, "only feedmerge.js");

    browser.screenshot("news-page").await;

    browser.call("DELETE", "", Value::Null).await;
    daemon.stop().await;
}

/// Without JavaScript, "Show more" is a plain link to the next page.
#[tokio::test]
async fn show_more_works_without_javascript() {
    let env = Env::new().await;
    env.serve_bytes("/daily", many_stories(45), "application/rss+xml")
        .await;
    let cfg = env.config(&[env.url("/daily")]);
    common::poll(&cfg).await;
    let daemon = Daemon::start(cfg).await;
    let site = daemon.url("");

    let r = http_client().get(format!("{site}/")).send().await.unwrap();
    let csp = r.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        csp.contains("script-src 'self'") && csp.contains("default-src 'none'"),
        "{csp}"
    );
    let html = r.text().await.unwrap();
    assert_eq!(html.matches("<article").count(), 30);
    let more = html
        .split("id=\"more\" class=\"more\" href=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap();
    let more = more.replace("&#x2f;", "/");
    let next = http_client()
        .get(format!("{site}{more}"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(next.matches("<article").count(), 15);
    assert!(next.contains("Story number 30") && !next.contains("Story number 29<"));
    assert!(!next.contains("id=\"more\""));
    assert_eq!(
        http_client()
            .get(format!("{site}/?before=nonsense"))
            .send()
            .await
            .unwrap()
            .status(),
        400
    );
    let css = http_client()
        .get(format!("{site}/static/feedmerge.css"))
        .send()
        .await
        .unwrap();
    assert_eq!(css.headers()["content-type"], "text/css; charset=utf-8");
    daemon.stop().await;
}

/// A landscape lead image, 600×315 as news sites' share images are.
const LEAD_SVG: &str = r##"<svg xmlns="http://www.w3.org/2000/svg" width="600" height="315" viewBox="0 0 600 315"><rect width="600" height="315" fill="#3a6ea5"/><circle cx="300" cy="157" r="90" fill="#f2c14e"/></svg>"##;

/// An RSS feed of `n` stories, each with the lead image at `image` and a long story whose
/// parts are wider than a phone (a table, preformatted code, an unbroken word, a big image).
fn illustrated(n: usize, image: &str) -> Vec<u8> {
    let mut xml = String::from(r#"<rss version="2.0"><channel><title>Illustrated</title>"#);
    let wide = format!(
        "<p>The whole story begins here.</p><pre>{}</pre><table><tr>{}</tr></table><p>{}</p>\
         <p><img src=\"{image}\" width=\"2000\" height=\"1050\"></p><p>{}</p>",
        "code ".repeat(60),
        "<td>cell with several words</td>".repeat(12),
        "unbroken".repeat(40),
        "A sentence of the story. ".repeat(200),
    );
    for i in 0..n {
        xml.push_str(&format!(
            "<item><guid>p{i}</guid><title>Pictured story {i}</title><link>https://example.org/p/{i}</link>\
             <author>desk@example.org (Ann Lee)</author>\
             <pubDate>{}</pubDate><enclosure url=\"{image}\" type=\"image/svg+xml\" length=\"0\"/>\
             <description><![CDATA[{wide}]]></description></item>",
            (chrono::Utc::now() - chrono::Duration::hours(i as i64 + 1)).to_rfc2822()
        ));
    }
    xml.push_str("</channel></rss>");
    xml.into_bytes()
}

/// At a phone's and a desktop's width, light and dark: nothing scrolls sideways, lead images
/// keep their own aspect ratio, "Read here" opens the story in place, and the colours follow
/// the reader's scheme. Screenshots of each are kept.
#[tokio::test(flavor = "multi_thread")]
async fn the_layout_holds_at_phone_and_desktop_widths_light_and_dark() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let env = Env::new().await;
    env.serve_bytes("/lead.svg", LEAD_SVG.as_bytes().to_vec(), "image/svg+xml")
        .await;
    env.serve_bytes(
        "/illustrated",
        illustrated(4, &env.url("/lead.svg")),
        "application/rss+xml",
    )
    .await;
    let cfg = env.config(&[env.url("/illustrated")]);
    common::poll(&cfg).await;
    let daemon = Daemon::start(cfg).await;
    let site = daemon.url("/");

    for (width, height) in [(390, 844), (1280, 900)] {
        for scheme in ["light", "dark"] {
            let what = format!("{width} px, {scheme}");
            browser.open_as(&site, width, height, scheme).await;
            browser
                .wait_for(
                    "const i = document.querySelector('.lead img'); \
                     return document.readyState === 'complete' && !!i && i.complete && i.naturalWidth > 0",
                    &format!("the first lead image at {what}"),
                )
                .await;
            let viewport = browser.script("return window.innerWidth").await;
            assert_eq!(viewport, width, "{what}");

            // The lead image is as wide as the card, at its own aspect ratio.
            let ratio = browser
                .script(
                    "const i = document.querySelector('.lead img'); const r = i.getBoundingClientRect(); \
                     return [r.width / r.height, i.naturalWidth / i.naturalHeight, r.width / i.closest('.card').clientWidth]",
                )
                .await;
            let (shown, natural, of_card) = (
                ratio[0].as_f64().unwrap(),
                ratio[1].as_f64().unwrap(),
                ratio[2].as_f64().unwrap(),
            );
            assert!(
                (shown / natural - 1.0).abs() <= 0.02,
                "{what}: shown at {shown:.3}, natural {natural:.3}"
            );
            // The card's width less its padding: not a strip beside the text.
            assert!(of_card > 0.85, "{what}: {of_card} of the card's width");

            // "Read here" opens the whole story in place, without leaving the page.
            let closed = browser
                .script("return document.querySelector('.story-body').checkVisibility()")
                .await;
            assert_eq!(closed, false, "{what}: the story starts closed");
            browser
                .script("document.querySelector('details.story > summary').click(); return true")
                .await;
            let story = browser
                .script(
                    "const d = document.querySelector('details.story'); \
                     const b = d.querySelector('.story-body'); \
                     return [d.open && b.checkVisibility(), b.getBoundingClientRect().height, b.innerText.includes('The whole story begins here.')]",
                )
                .await;
            assert_eq!(story[0], true, "{what}: {story}");
            assert!(story[1].as_f64().unwrap() > 100.0, "{what}: {story}");
            assert_eq!(story[2], true, "{what}: {story}");
            assert_eq!(
                browser
                    .script("return location.pathname + location.search")
                    .await,
                "/",
                "{what}"
            );

            // Nothing is wider than the screen, the open story included.
            let overflow = browser
                .script("return document.documentElement.scrollWidth - window.innerWidth")
                .await;
            assert!(
                overflow.as_f64().unwrap() <= 0.0,
                "{what}: {overflow} px too wide"
            );

            // The colours follow the scheme.
            let background = browser
                .script("return getComputedStyle(document.body).backgroundColor")
                .await;
            let expected = if scheme == "dark" {
                "rgb(18, 19, 20)"
            } else {
                "rgb(246, 245, 242)"
            };
            assert_eq!(background, expected, "{what}");

            browser.script("window.scrollTo(0, 0); return true").await;
            browser
                .screenshot(&format!("news-page-{width}-{scheme}"))
                .await;
        }
    }
    browser.call("DELETE", "", Value::Null).await;
    daemon.stop().await;
}

/// Where axe-core's browser build is: `$FEEDMERGE_AXE`, else where `.ci/run` installs it
/// (`npm install --prefix target/npm axe-core@4`).
fn axe_path() -> std::path::PathBuf {
    std::env::var_os("FEEDMERGE_AXE").map_or_else(
        || {
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("target/npm/node_modules/axe-core/axe.min.js")
        },
        std::path::PathBuf::from,
    )
}

/// A picture of `width`×`height`, as the feeds' images are.
fn picture(width: u32, height: u32, hue: u32) -> Vec<u8> {
    format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}"><rect width="{width}" height="{height}" fill="hsl({hue},45%,45%)"/><circle cx="{}" cy="{}" r="{}" fill="hsl({},70%,70%)"/></svg>"##,
        width / 2,
        height / 2,
        width.min(height) / 3,
        (hue + 120) % 360
    )
    .into_bytes()
}

/// A paragraph of the `i`th story.
fn words(i: usize, sentences: usize) -> String {
    const W: [&str; 16] = [
        "council",
        "bridge",
        "river",
        "residents",
        "budget",
        "season",
        "library",
        "station",
        "plans",
        "opened",
        "voted",
        "reported",
        "after",
        "during",
        "weekend",
        "market",
    ];
    (0..sentences)
        .map(|s| {
            let n = 9 + (i + s) % 7;
            let mut sentence: String = (0..n)
                .map(|k| W[(i * 7 + s * 3 + k * 5) % W.len()])
                .collect::<Vec<_>>()
                .join(" ");
            sentence[..1].make_ascii_uppercase();
            sentence + "."
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The sources of a realistic news page and their 50 stories (10 each, an hour apart):
/// RSS with `media:content` in two sizes, a caption and a credit; Atom with a `<figure>`
/// and authors with links; a JSON Feed with images and authors' avatars; RSS with portrait
/// photos as enclosures; a podcast. Their images come from `env`'s server. Returns the
/// config, with each feed's tags.
async fn news_sources(env: &Env) -> feedmerge::config::Config {
    let date = |i: usize| chrono::Utc::now() - chrono::Duration::hours(i as i64 + 1);
    let story = |i: usize| {
        (0..4 + i % 6)
            .map(|p| format!("<p>{}</p>", words(i + p, 4)))
            .collect::<String>()
    };
    let title = |i: usize| format!("Story {i}: {}", &words(i, 1)[..40].trim_end());
    let image = async |name: String, w: u32, h: u32, hue: u32| {
        let path = format!("/images/{name}.svg");
        env.serve_bytes(&path, picture(w, h, hue), "image/svg+xml")
            .await;
        env.url(&path)
    };
    let (mut city, mut wire, mut notes, mut sport, mut podcast) = (
        String::new(),
        String::new(),
        Vec::new(),
        String::new(),
        String::new(),
    );
    for i in 0..50 {
        let author = ["Ann Lee", "Bo Chen", "Carla Diaz", "Dev Patel", "Eva Novak"][i / 5 % 5];
        let link = format!("https://news.example/{i}");
        let hue = (i * 37 % 360) as u32;
        match i % 5 {
            0 => {
                let small = image(format!("city-{i}-600"), 600, 315, hue).await;
                let big = image(format!("city-{i}"), 1200, 630, hue).await;
                city += &format!(
                    "<item><guid>{link}</guid><title>{}</title><link>{link}</link><pubDate>{}</pubDate>\
                     <dc:creator>{author}</dc:creator><category>transport</category>\
                     <media:content url=\"{small}\" type=\"image/svg+xml\" width=\"600\" height=\"315\"/>\
                     <media:content url=\"{big}\" type=\"image/svg+xml\" width=\"1200\" height=\"630\">\
                     <media:description>The river seen from the new bridge</media:description>\
                     <media:credit>Photo desk</media:credit></media:content>\
                     <description>{}</description><content:encoded><![CDATA[{}]]></content:encoded></item>",
                    title(i),
                    date(i).to_rfc2822(),
                    words(i, 1),
                    story(i)
                );
            }
            1 => {
                let img = image(format!("wire-{i}"), 600, 315, hue).await;
                let content = format!(
                    "<figure><img src=\"{img}\" width=\"600\" height=\"315\" alt=\"\">\
                     <figcaption>Crowds at the station. Photo: wire</figcaption></figure>{}",
                    story(i)
                );
                wire += &format!(
                    "<entry><id>{link}</id><title>{}</title><link href=\"{link}\"/><updated>{}</updated>\
                     <author><name>{author}</name><uri>https://news.example/people/{}</uri></author>\
                     <summary>{}</summary><content type=\"html\">{}</content></entry>",
                    title(i),
                    date(i).to_rfc3339(),
                    i % 5,
                    words(i, 1),
                    feedmerge::html::escape(&content)
                );
            }
            2 => {
                let img = image(format!("notes-{i}"), 600, 315, hue).await;
                let avatar = image(format!("avatar-{i}"), 96, 96, hue).await;
                notes.push(json!({
                    "id": link, "url": link, "title": title(i),
                    "date_published": date(i).to_rfc3339(), "image": img,
                    "summary": words(i, 1), "content_html": story(i),
                    "authors": [{"name": author, "url": format!("https://news.example/people/{i}"),
                        "avatar": avatar}],
                }));
            }
            3 => {
                let img = image(format!("sport-{i}"), 400, 600, hue).await;
                sport += &format!(
                    "<item><guid>{link}</guid><title>{}</title><link>{link}</link><pubDate>{}</pubDate>\
                     <author>desk@news.example ({author})</author>\
                     <enclosure url=\"{img}\" type=\"image/svg+xml\" length=\"0\"/>\
                     <description><![CDATA[{}]]></description></item>",
                    title(i),
                    date(i).to_rfc2822(),
                    story(i)
                );
            }
            _ => {
                let cover = image(format!("podcast-{i}"), 600, 600, hue).await;
                podcast += &format!(
                    "<item><guid>{link}</guid><title>Episode {i}</title><link>{link}</link>\
                     <pubDate>{}</pubDate><itunes:author>{author}</itunes:author>\
                     <itunes:image href=\"{cover}\"/>\
                     <enclosure url=\"https://news.example/{i}.mp3\" type=\"audio/mpeg\" length=\"1000\"/>\
                     <description>{}</description></item>",
                    date(i).to_rfc2822(),
                    words(i, 2)
                );
            }
        }
    }
    let rss = |name: &str, items: &str| {
        format!(
            "<rss version=\"2.0\" xmlns:media=\"http://search.yahoo.com/mrss/\" \
             xmlns:dc=\"http://purl.org/dc/elements/1.1/\" \
             xmlns:content=\"http://purl.org/rss/1.0/modules/content/\" \
             xmlns:itunes=\"http://www.itunes.com/dtds/podcast-1.0.dtd\">\
             <channel><title>{name}</title><link>https://news.example/</link>\
             <description>{name}</description>{items}</channel></rss>"
        )
        .into_bytes()
    };
    let atom = format!(
        "<feed xmlns=\"http://www.w3.org/2005/Atom\"><title>Morning Wire</title><id>urn:wire</id>\
         <updated>{}</updated>{wire}</feed>",
        date(0).to_rfc3339()
    );
    let json_feed = json!({"version": "https://jsonfeed.org/version/1.1", "title": "Tech Notes",
        "items": notes});
    let feeds: [(&str, Vec<u8>, &str, &str); 5] = [
        (
            "/city.rss",
            rss("City Desk", &city),
            "application/rss+xml",
            "\"local\", \"news\"",
        ),
        (
            "/wire.atom",
            atom.into_bytes(),
            "application/atom+xml",
            "\"world\", \"news\"",
        ),
        (
            "/notes.json",
            json_feed.to_string().into_bytes(),
            "application/feed+json",
            "\"tech\"",
        ),
        (
            "/sport.rss",
            rss("Sport Daily", &sport),
            "application/rss+xml",
            "\"sport\", \"local\"",
        ),
        (
            "/podcast.rss",
            rss("Green Streets Podcast", &podcast),
            "application/rss+xml",
            "\"podcasts\"",
        ),
    ];
    let mut toml = String::from(
        "[server]\nlisten = \"127.0.0.1:0\"\n[storage]\npath = \"feedmerge.db\"\n\
         [reading_time]\nfull_text = \"never\"\n[output]\ntitle = \"Evening News\"\n",
    );
    for (path, body, content_type, tags) in feeds {
        env.serve_bytes(path, body, content_type).await;
        toml += &format!("[[feeds]]\nurl = \"{}\"\ntags = [{tags}]\n", env.url(path));
    }
    let path = env.dir.path().join("config.toml");
    std::fs::write(&path, toml).unwrap();
    feedmerge::config::Config::load(&path).expect("a valid config")
}

/// axe-core finds no accessibility violations on a realistic page of 50 stories with their
/// images (the first page, then the rest appended by "Show more", a story and the sources
/// opened), at 390 px and 1280 px, light and dark.
#[tokio::test(flavor = "multi_thread")]
async fn axe_finds_no_violations_at_phone_and_desktop_widths_light_and_dark() {
    let axe = axe_path();
    let Ok(axe_js) = std::fs::read_to_string(&axe) else {
        // CI installs it (.ci/run); elsewhere it is optional, like Chromium.
        assert!(
            std::env::var_os("CI").is_none_or(|v| v.is_empty()),
            "axe-core is missing at {} (npm install --prefix target/npm axe-core@4)",
            axe.display()
        );
        eprintln!(
            "skipped: no axe-core at {} (npm install --prefix target/npm axe-core@4)",
            axe.display()
        );
        return;
    };
    let Some(browser) = Browser::start().await else {
        return;
    };
    let env = Env::new().await;
    let cfg = news_sources(&env).await;
    common::poll(&cfg).await;
    let daemon = Daemon::start(cfg).await;
    let site = daemon.url("/");

    let mut report = String::new();
    for (width, height) in [(390, 844), (1280, 900)] {
        for scheme in ["light", "dark"] {
            let what = format!("{width} px, {scheme}");
            browser.open_as(&site, width, height, scheme).await;
            browser
                .wait_for("return document.readyState === 'complete'", &what)
                .await;
            browser
                .script("document.getElementById('more').click(); return true")
                .await;
            browser
                .wait_for(
                    "return document.querySelectorAll('#stories > article').length === 50",
                    &format!("every story at {what}"),
                )
                .await;
            browser
                .script(
                    "document.querySelector('details.story').open = true; \
                     document.querySelector('details.sources').open = true; return true",
                )
                .await;
            // Through WebDriver, not the page: the page's Content-Security-Policy allows no
            // script of another origin, and axe is none of the page's business.
            browser
                .script(&format!("{axe_js}\n;window.axe = axe; return true"))
                .await;
            let violations = browser
                .call(
                    "POST",
                    "/execute/async",
                    json!({"script": "const done = arguments[arguments.length - 1]; \
                        axe.run(document, {resultTypes: ['violations']}).then(r => done(r.violations.map(v => \
                          ({id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.slice(0, 5).map(n => \
                            ({target: n.target.join(' '), html: n.html.slice(0, 160), why: n.failureSummary})), \
                            count: v.nodes.length})))).catch(e => done(String(e)))",
                        "args": []}),
                )
                .await;
            let list = violations
                .as_array()
                .unwrap_or_else(|| panic!("{what}: axe did not run: {violations}"));
            for v in list {
                report += &format!(
                    "\n{what}: {} ({}, {} nodes): {}",
                    v["id"].as_str().unwrap_or(""),
                    v["impact"].as_str().unwrap_or(""),
                    v["count"],
                    v["help"].as_str().unwrap_or("")
                );
                for n in v["nodes"].as_array().into_iter().flatten() {
                    report += &format!(
                        "\n    {}\n      {}\n      {}",
                        n["target"].as_str().unwrap_or(""),
                        n["html"].as_str().unwrap_or(""),
                        n["why"].as_str().unwrap_or("").replace('\n', "\n      ")
                    );
                }
            }
            browser.script("window.scrollTo(0, 0); return true").await;
            browser
                .screenshot(&format!("news-page-axe-{width}-{scheme}"))
                .await;
        }
    }
    browser.call("DELETE", "", Value::Null).await;
    daemon.stop().await;
    assert!(report.is_empty(), "axe-core found violations:{report}");
}
