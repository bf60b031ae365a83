//! WebSub through the running daemon: a hub written here (wiremock on the feed's own server,
//! 127.0.0.1) takes subscription requests, and the test plays the hub's part of the
//! protocol over real HTTP: verification of intent, signed pushes, leases that end.

use std::collections::HashMap;
use std::time::Duration;

use chrono::Utc;
use feedmerge::model::SubState;
use ring::hmac;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

use crate::common::{Daemon, Env, http_client, wait_until};

const LIMIT: Duration = Duration::from_secs(20);
/// A push spacing that the tests sending several pushes in a row pass (with
/// [`Setup::push_spaced`]).
const TINY_SPACING: &str = "push_spacing = \"1ms\"\n";

/// An RSS feed of `items` (guid = title) that announces `hub` and its own URL `topic`.
fn feed(hub: &str, topic: &str, items: &[&str]) -> Vec<u8> {
    let mut xml = format!(
        r#"<rss version="2.0" xmlns:atom="http://www.w3.org/2005/Atom"><channel><title>Pushed</title>
        <link>https://site.example/</link><description>d</description>
        <atom:link rel="hub" href="{hub}"/><atom:link rel="self" href="{topic}"/>"#
    );
    for title in items {
        xml.push_str(&format!(
            "<item><title>{title}</title><guid isPermaLink=\"false\">{title}</guid>\
             <link>https://site.example/{title}</link><description>{title} text</description></item>"
        ));
    }
    xml.push_str("</channel></rss>");
    xml.into_bytes()
}

/// A feed server whose feed announces a hub on the same server, which answers subscription
/// requests with `hub_status`, and a daemon (its callbacks at its own address) polling it.
struct Setup {
    env: Env,
    daemon: Daemon,
    topic: String,
    hub: String,
}

async fn setup(hub_status: u16, extra: &str) -> Setup {
    let env = Env::new().await;
    let (topic, hub) = (env.url("/feed.xml"), env.url("/hub"));
    env.serve_bytes(
        "/feed.xml",
        feed(&hub, &topic, &["First"]),
        "application/rss+xml",
    )
    .await;
    Mock::given(method("POST"))
        .and(path("/hub"))
        .respond_with(ResponseTemplate::new(hub_status))
        .mount(&env.server)
        .await;
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("address");
    let cfg = env.config_with(
        std::slice::from_ref(&topic),
        &format!("[websub]\ncallback_url = \"http://{addr}/\"\n{extra}"),
    );
    let daemon = Daemon::start_on(cfg, listener);
    Setup {
        env,
        daemon,
        topic,
        hub,
    }
}

impl Setup {
    /// The requests the hub received so far, as their forms.
    async fn hub_requests(&self) -> Vec<HashMap<String, String>> {
        let requests = self
            .env
            .server
            .received_requests()
            .await
            .unwrap_or_default();
        requests
            .iter()
            .filter(|r| r.method.as_str() == "POST" && r.url.path() == "/hub")
            .map(|r| url::form_urlencoded::parse(&r.body).into_owned().collect())
            .collect()
    }

    /// The `n`-th request (from 1) the hub received, once it has.
    async fn hub_request(&self, n: usize) -> HashMap<String, String> {
        wait_until(&format!("{n} requests at the hub"), LIMIT, || async {
            self.hub_requests().await.len() >= n
        })
        .await;
        self.hub_requests().await.swap_remove(n - 1)
    }

    /// How many times the feed was fetched.
    async fn polls(&self) -> usize {
        // Only GETs reach the feed's path.
        self.env.requests_to("/feed.xml").await
    }

    /// The hub's verification of intent for `request`, as sent: `(status, body)`.
    async fn verify(
        &self,
        request: &HashMap<String, String>,
        mode: &str,
        topic: &str,
        lease: u64,
    ) -> (u16, String) {
        let mut url = url::Url::parse(&request["hub.callback"]).unwrap();
        url.query_pairs_mut()
            .append_pair("hub.mode", mode)
            .append_pair("hub.topic", topic)
            .append_pair("hub.challenge", "ch4llenge-0123")
            .append_pair("hub.lease_seconds", &lease.to_string());
        let response = http_client().get(url).send().await.expect("daemon answers");
        let status = response.status().as_u16();
        (status, response.text().await.unwrap())
    }

    /// Subscribes as a hub that grants `lease` seconds: the first request, verified.
    async fn subscribed(&self, lease: u64) -> HashMap<String, String> {
        let request = self.hub_request(1).await;
        let (status, body) = self.verify(&request, "subscribe", &self.topic, lease).await;
        assert_eq!((status, body.as_str()), (200, "ch4llenge-0123"));
        request
    }

    /// A push of `body` to `callback`, signed with `signature`: the status.
    async fn push(&self, callback: &str, signature: Option<String>, body: Vec<u8>) -> u16 {
        self.push_answer(callback, signature, body)
            .await
            .status()
            .as_u16()
    }

    /// The same, after the spacing of the last push when it is [`TINY_SPACING`].
    async fn push_spaced(&self, callback: &str, signature: Option<String>, body: Vec<u8>) -> u16 {
        tokio::time::sleep(Duration::from_millis(5)).await;
        self.push(callback, signature, body).await
    }

    /// A push of `body` to `callback`, signed with `signature`: the answer.
    async fn push_answer(
        &self,
        callback: &str,
        signature: Option<String>,
        body: Vec<u8>,
    ) -> reqwest::Response {
        let mut request = http_client()
            .post(callback)
            .header("content-type", "application/rss+xml")
            .body(body);
        if let Some(s) = signature {
            request = request.header("x-hub-signature", s);
        }
        request.send().await.expect("daemon answers")
    }

    /// The value of the series `series` (`name{labels}`) in `/metrics`.
    async fn metric(&self, series: &str) -> u64 {
        let metrics = self.daemon.text("/metrics").await;
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("no {series} in\n{metrics}"))
    }

    async fn status(&self) -> feedmerge::store::FeedStatus {
        let cfg = feedmerge::config::Config::load(&self.env.dir.path().join("config.toml"))
            .expect("config");
        feedmerge::app::status(&cfg)
            .await
            .expect("status")
            .remove(0)
    }
}

fn sign(algorithm: hmac::Algorithm, name: &str, secret: &str, body: &[u8]) -> String {
    let tag = hmac::sign(&hmac::Key::new(algorithm, secret.as_bytes()), body);
    let hex: String = tag.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    format!("{name}={hex}")
}

#[tokio::test]
async fn subscribes_verifies_and_takes_signed_pushes_without_a_poll() {
    let s = setup(202, TINY_SPACING).await;
    let request = s.hub_request(1).await;
    assert_eq!(request["hub.mode"], "subscribe");
    assert_eq!(request["hub.topic"], s.topic);
    assert_eq!(request["hub.lease_seconds"], "864000");
    let callback = &request["hub.callback"];
    let token = callback
        .strip_prefix(&s.daemon.url("/websub/"))
        .unwrap_or_else(|| panic!("callback {callback} under /websub/"));
    assert_eq!(token.len(), 48, "{token}");
    assert_eq!(request["hub.secret"].len(), 64);
    assert_eq!(s.status().await.websub, Some(SubState::Pending));

    s.subscribed(3600).await;
    let status = s.status().await;
    assert_eq!(status.websub, Some(SubState::Active));
    assert_eq!(status.hub.as_deref(), Some(s.hub.as_str()));

    // The pushed document is stored as a poll's: new item, reading time, same dedupe.
    let body = feed(&s.hub, &s.topic, &["First", "Pushed story"]);
    for (algorithm, name) in [
        (hmac::HMAC_SHA256, "sha256"),
        (hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, "sha1"),
    ] {
        let signature = sign(algorithm, name, &request["hub.secret"], &body);
        assert_eq!(
            s.push_spaced(callback, Some(signature), body.clone()).await,
            204
        );
    }
    let channel = s.daemon.wait_for_items(2).await;
    let titles: Vec<_> = channel.items().iter().filter_map(|i| i.title()).collect();
    assert_eq!(titles.len(), 2, "{titles:?}");
    assert!(titles.contains(&"Pushed story"), "{titles:?}");
    let pushed = channel
        .items()
        .iter()
        .find(|i| i.title() == Some("Pushed story"))
        .unwrap();
    assert!(pushed.description().unwrap_or("").contains("min read"));
    assert_eq!(s.polls().await, 1, "the push was not a poll");
    let accepted = "feedmerge_websub_pushes_total{result=\"accepted\"}";
    assert_eq!(s.metric(accepted).await, 2);
    let subscribed = "feedmerge_websub_requests_total{mode=\"subscribe\",result=\"ok\"}";
    assert_eq!(s.metric(subscribed).await, 1);
    s.daemon.stop().await;
}

#[tokio::test]
async fn unknown_unsigned_and_badly_signed_pushes_and_foreign_verifications_are_refused() {
    let s = setup(202, TINY_SPACING).await;
    let request = s.hub_request(1).await;
    // Not the topic asked for, not a mode asked for, not a callback of ours.
    let other_topic = s.env.url("/other.xml");
    assert_eq!(
        s.verify(&request, "subscribe", &other_topic, 60).await.0,
        404
    );
    assert_eq!(s.verify(&request, "unsubscribe", &s.topic, 60).await.0, 404);
    let mut forged = request.clone();
    forged.insert(
        "hub.callback".into(),
        s.daemon.url("/websub/0123456789abcdef"),
    );
    assert_eq!(s.verify(&forged, "subscribe", &s.topic, 60).await.0, 404);
    assert_eq!(s.status().await.websub, Some(SubState::Pending));
    // Before the verification, even a well-signed push is not taken.
    let callback = &request["hub.callback"];
    let secret = &request["hub.secret"];
    let body = feed(&s.hub, &s.topic, &["Forged"]);
    let good = sign(hmac::HMAC_SHA256, "sha256", secret, &body);
    assert_eq!(
        s.push(callback, Some(good.clone()), body.clone()).await,
        410
    );

    s.subscribed(3600).await;
    let wrong_key = sign(hmac::HMAC_SHA256, "sha256", "not the secret", &body);
    let wrong_key = s.push_spaced(callback, Some(wrong_key), body.clone());
    assert_eq!(wrong_key.await, 403);
    assert_eq!(s.push_spaced(callback, None, body.clone()).await, 403);
    let md5 = good.replacen("sha256", "md5", 1);
    assert_eq!(s.push_spaced(callback, Some(md5), body.clone()).await, 403);
    let unknown = s.daemon.url("/websub/0123456789abcdef");
    assert_eq!(s.push(&unknown, Some(good), body).await, 410);
    let titles = crate::common::titles(&s.daemon.feed().await);
    assert_eq!(titles, ["First"]);
    for (result, n) in [("unknown", 2), ("unsigned", 1), ("bad_signature", 2)] {
        let start = format!("feedmerge_websub_pushes_total{{result=\"{result}\"}}");
        assert_eq!(s.metric(&start).await, n);
    }
    s.daemon.stop().await;
}

/// The `Retry-After` of an answer, in seconds.
fn retry_after(response: &reqwest::Response) -> u64 {
    let value = response
        .headers()
        .get("retry-after")
        .expect("a Retry-After");
    value.to_str().unwrap().parse().expect("seconds")
}

#[tokio::test]
async fn a_push_within_the_spacing_is_refused_unread_and_the_feed_polled_when_it_ends() {
    let s = setup(202, "push_spacing = \"3s\"\n").await;
    let request = s.subscribed(3600).await;
    let (callback, secret) = (&request["hub.callback"], &request["hub.secret"]);
    let signed = |titles: &[&str]| {
        let body = feed(&s.hub, &s.topic, titles);
        (sign(hmac::HMAC_SHA256, "sha256", secret, &body), body)
    };
    s.daemon.wait_for_items(1).await;
    let polls = s.polls().await;

    let (signature, body) = signed(&["First", "Pushed"]);
    let taken = std::time::Instant::now();
    assert_eq!(s.push(callback, Some(signature), body).await, 204);
    // The publisher changes the feed; its hub pushes again at once, and again.
    let changed = feed(&s.hub, &s.topic, &["First", "Pushed", "Polled"]);
    Mock::given(method("GET"))
        .and(path("/feed.xml"))
        .respond_with(ResponseTemplate::new(200).set_body_raw(changed, "application/rss+xml"))
        .with_priority(1)
        .mount(&s.env.server)
        .await;
    for _ in 0..2 {
        let (signature, body) = signed(&["First", "Pushed", "Refused"]);
        let refused = s.push_answer(callback, Some(signature), body).await;
        assert_eq!(refused.status().as_u16(), 429);
        assert!((1..=3).contains(&retry_after(&refused)), "{refused:?}");
    }
    let start = "feedmerge_websub_pushes_total{result=\"rate_limited\"}";
    assert_eq!(s.metric(start).await, 2);
    assert_eq!(
        crate::common::titles(&s.daemon.feed().await).len(),
        2,
        "a refused push is not stored"
    );
    assert_eq!(s.polls().await, polls, "polled within the spacing");

    // When the spacing ends, the feed is polled (once) and what it carries now is stored.
    let channel = s.daemon.wait_for_items(3).await;
    assert!(
        taken.elapsed() >= Duration::from_millis(2900),
        "polled before the spacing ended"
    );
    let titles = crate::common::titles(&channel);
    assert!(titles.contains(&"Polled".to_owned()), "{titles:?}");
    assert!(!titles.contains(&"Refused".to_owned()), "{titles:?}");
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(s.polls().await, polls + 1);
    assert_eq!(s.status().await.next_poll_reason.as_deref(), Some("websub"));

    // After the spacing, a push is taken again.
    let (signature, body) = signed(&["First", "Pushed", "Polled", "Later"]);
    assert_eq!(s.push(callback, Some(signature), body).await, 204);
    let titles = crate::common::titles(&s.daemon.wait_for_items(4).await);
    assert!(titles.contains(&"Later".to_owned()), "{titles:?}");
    let start = "feedmerge_websub_pushes_total{result=\"accepted\"}";
    assert_eq!(s.metric(start).await, 2);
    s.daemon.stop().await;
}

#[tokio::test]
async fn a_push_is_refused_unread_while_another_of_its_subscription_is_read() {
    let s = setup(202, "push_spacing = \"1s\"\n").await;
    let request = s.subscribed(3600).await;
    let (callback, secret) = (&request["hub.callback"], &request["hub.secret"]);
    let body = feed(&s.hub, &s.topic, &["First", "Slow"]);
    let signature = sign(hmac::HMAC_SHA256, "sha256", secret, &body);
    // A push whose body comes slowly: half of it, then the rest after the spacing.
    let url = url::Url::parse(callback).unwrap();
    let mut slow = tokio::net::TcpStream::connect(s.daemon.addr).await.unwrap();
    let head = format!(
        "POST {} HTTP/1.1\r\nhost: {}\r\ncontent-type: application/rss+xml\r\nx-hub-signature: {signature}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        url.path(),
        s.daemon.addr,
        body.len()
    );
    let (first, rest) = body.split_at(body.len() / 2);
    slow.write_all(head.as_bytes()).await.unwrap();
    slow.write_all(first).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    // Past the spacing, but the first is still being read.
    let other = s.push_answer(callback, Some(signature.clone()), body.clone());
    let other = other.await;
    assert_eq!(other.status().as_u16(), 429);
    assert_eq!(retry_after(&other), 1);
    slow.write_all(rest).await.unwrap();
    let mut answer = String::new();
    slow.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 204"), "{answer}");
    let titles = crate::common::titles(&s.daemon.wait_for_items(2).await);
    assert!(titles.contains(&"Slow".to_owned()), "{titles:?}");
    s.daemon.stop().await;
}

#[tokio::test]
async fn a_push_is_bounded_like_a_fetch() {
    let s = setup(202, "[poller]\nmax_body = \"4KiB\"\n").await;
    let request = s.subscribed(3600).await;
    let titles: Vec<String> = (0..100).map(|n| format!("Story {n}")).collect();
    let titles: Vec<&str> = titles.iter().map(String::as_str).collect();
    let body = feed(&s.hub, &s.topic, &titles);
    assert!(body.len() > 4096);
    let signature = sign(hmac::HMAC_SHA256, "sha256", &request["hub.secret"], &body);
    assert_eq!(
        s.push(&request["hub.callback"], Some(signature), body)
            .await,
        413
    );
    let start = "feedmerge_websub_pushes_total{result=\"too_large\"}";
    assert_eq!(s.metric(start).await, 1);
    // A push within the spacing of that one is refused before any of its body is read: as
    // large a body is too soon (not too large).
    let body = feed(&s.hub, &s.topic, &titles);
    let signature = sign(hmac::HMAC_SHA256, "sha256", &request["hub.secret"], &body);
    assert_eq!(
        s.push(&request["hub.callback"], Some(signature), body)
            .await,
        429
    );
    assert_eq!(s.metric(start).await, 1);
    // A callback that takes no pushes is answered before any of the body is read: as large
    // a body, sent to a token nobody was given, is gone (not too large).
    let unknown = format!("{}x", request["hub.callback"]);
    let body = feed(&s.hub, &s.topic, &titles);
    assert_eq!(s.push(&unknown, None, body).await, 410);
    s.daemon.stop().await;
}

#[tokio::test]
async fn an_active_subscription_slows_polling_and_is_renewed_before_its_lease_ends() {
    // Polled every second until the hub pushes.
    let s = setup(202, "poll_interval = \"1h\"\n[poller]\ninterval = \"1s\"\n").await;
    let first = s.subscribed(4).await;
    let verified = std::time::Instant::now();
    // The poll after the verification is scheduled at poll_interval.
    wait_until("a poll at the safety-net interval", LIMIT, || async {
        s.status().await.next_poll_reason.as_deref() == Some("websub")
    })
    .await;
    let polls = s.polls().await;
    // Renewed at 80 % of the 4 s lease, with the same callback and secret.
    let renewal = s.hub_request(2).await;
    assert!(
        verified.elapsed() < Duration::from_secs(4),
        "renewed after the lease ended"
    );
    assert_eq!(renewal["hub.mode"], "subscribe");
    assert_eq!(renewal["hub.callback"], first["hub.callback"]);
    assert_eq!(renewal["hub.secret"], first["hub.secret"]);
    let (status, _) = s.verify(&renewal, "subscribe", &s.topic, 3600).await;
    assert_eq!(status, 200);
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(s.polls().await, polls, "polled while the hub pushes");
    assert_eq!(s.status().await.websub, Some(SubState::Active));
    s.daemon.stop().await;
}

#[tokio::test]
async fn a_lapsed_lease_brings_polling_back_to_its_interval() {
    let s = setup(202, "poll_interval = \"1h\"\n[poller]\ninterval = \"1s\"\n").await;
    s.subscribed(2).await;
    wait_until("a poll at the safety-net interval", LIMIT, || async {
        s.status().await.next_poll_reason.as_deref() == Some("websub")
    })
    .await;
    let polls = s.polls().await;
    // The renewal is never verified: the lease ends, polling resumes every second.
    s.hub_request(2).await;
    wait_until("polls after the lease ended", LIMIT, || async {
        s.polls().await >= polls + 2
    })
    .await;
    let status = s.status().await;
    assert_eq!(status.next_poll_reason.as_deref(), Some("interval"));
    assert_ne!(status.websub, Some(SubState::Active));
    s.daemon.stop().await;
}

#[tokio::test]
async fn a_hub_that_refuses_leaves_the_feed_polled_as_usual() {
    let s = setup(400, "[poller]\ninterval = \"1s\"\n").await;
    s.hub_request(1).await;
    wait_until("the refusal recorded", LIMIT, || async {
        s.status().await.websub == Some(SubState::Failed)
    })
    .await;
    let status = s.status().await;
    assert!(
        status.websub_error.as_deref().unwrap_or("").contains("400"),
        "{status:?}"
    );
    let polls = s.polls().await;
    wait_until("polls at the usual interval", LIMIT, || async {
        s.polls().await >= polls + 2
    })
    .await;
    let start = "feedmerge_websub_requests_total{mode=\"subscribe\",result=\"failed\"}";
    assert_eq!(s.metric(start).await, 1);
    s.daemon.stop().await;
}

#[tokio::test]
async fn a_feed_removed_from_the_config_is_unsubscribed() {
    let s = setup(202, "").await;
    let request = s.subscribed(3600).await;
    // The config without the feed.
    let path = s.env.dir.path().join("config.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let kept = &text[..text.find("[[feeds]]").unwrap()];
    std::fs::write(&path, kept).unwrap();
    s.daemon.reload().await;
    let unsubscribe = s.hub_request(2).await;
    assert_eq!(unsubscribe["hub.mode"], "unsubscribe");
    assert_eq!(unsubscribe["hub.callback"], request["hub.callback"]);
    assert_eq!(unsubscribe["hub.topic"], s.topic);
    assert!(!unsubscribe.contains_key("hub.secret"));
    let (status, body) = s.verify(&unsubscribe, "unsubscribe", &s.topic, 0).await;
    assert_eq!((status, body.as_str()), (200, "ch4llenge-0123"));
    let body = feed(&s.hub, &s.topic, &["Late"]);
    let signature = sign(hmac::HMAC_SHA256, "sha256", &request["hub.secret"], &body);
    assert_eq!(
        s.push(&request["hub.callback"], Some(signature), body)
            .await,
        410
    );
    s.daemon.stop().await;
}

#[tokio::test]
async fn a_hub_elsewhere_on_a_private_address_is_never_contacted() {
    let env = Env::new().await;
    let elsewhere = wiremock::MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(202))
        .expect(0)
        .mount(&elsewhere)
        .await;
    let topic = env.url("/feed.xml");
    let hub = format!("{}/hub", elsewhere.uri());
    env.serve_bytes(
        "/feed.xml",
        feed(&hub, &topic, &["First"]),
        "application/rss+xml",
    )
    .await;
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("address");
    let cfg = env.config_with(
        std::slice::from_ref(&topic),
        &format!("[websub]\ncallback_url = \"http://{addr}/\"\n"),
    );
    let daemon = Daemon::start_on(cfg.clone(), listener);
    // Before the daemon created its database, there is no status.
    let status = || async {
        feedmerge::app::status(&cfg)
            .await
            .ok()
            .map(|mut s| s.remove(0))
    };
    wait_until("the refusal recorded", LIMIT, || async {
        status()
            .await
            .is_some_and(|s| s.websub == Some(SubState::Failed))
    })
    .await;
    let error = status().await.unwrap().websub_error.unwrap_or_default();
    assert!(error.contains("not a public address"), "{error}");
    daemon.stop().await;
    elsewhere.verify().await;
}

/// A daemon whose outputs announce the hub `hub` (a server of the test's), polling `feed`
/// every second; its base URL is its own address.
async fn publishing_daemon(env: &Env, hub: &str, feed: &str) -> Daemon {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("address");
    let path = env.dir.path().join("config.toml");
    std::fs::write(
        &path,
        format!(
            "[server]\nlisten = \"{addr}\"\nbase_url = \"http://{addr}/\"\n\
             [storage]\npath = \"feedmerge.db\"\n[reading_time]\nfull_text = \"never\"\n\
             [poller]\ninterval = \"1s\"\n[websub]\nhub = \"{hub}\"\n\
             [[feeds]]\nurl = \"{feed}\"\n\
             [[outputs]]\npath = \"/private\"\ntoken = \"0123456789abcdef0123\"\n"
        ),
    )
    .unwrap();
    let cfg = feedmerge::config::Config::load(&path).expect("config");
    Daemon::start_on(cfg, listener)
}

/// The `hub.url`s of the publish notifications `hub` received, in order.
async fn pinged(hub: &wiremock::MockServer) -> Vec<String> {
    let requests = hub.received_requests().await.unwrap_or_default();
    requests
        .iter()
        .map(|r| {
            let form: HashMap<String, String> =
                url::form_urlencoded::parse(&r.body).into_owned().collect();
            assert_eq!(form["hub.mode"], "publish");
            form["hub.url"].clone()
        })
        .collect()
}

#[tokio::test]
async fn outputs_announce_the_hub_and_it_is_told_of_each_change_only() {
    let env = Env::new().await;
    let hub = wiremock::MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/hub"))
        .respond_with(ResponseTemplate::new(204))
        .mount(&hub)
        .await;
    let hub_url = format!("{}/hub", hub.uri());
    let topic = env.url("/feed.xml");
    let plain = |titles: &[&str]| {
        let mut xml = String::from(r#"<rss version="2.0"><channel><title>Source</title>"#);
        for t in titles {
            xml.push_str(&format!(
                "<item><title>{t}</title><guid>{t}</guid><description>{t} text</description></item>"
            ));
        }
        xml.push_str("</channel></rss>");
        xml.into_bytes()
    };
    env.serve_bytes("/feed.xml", plain(&["One"]), "application/rss+xml")
        .await;
    let daemon = publishing_daemon(&env, &hub_url, &topic).await;
    daemon.wait_for_items(1).await;

    // Every output announces the hub beside its own URL, in the body and in Link headers.
    let response = http_client()
        .get(daemon.url("/feed.xml"))
        .send()
        .await
        .unwrap();
    let link = response.headers()["link"].to_str().unwrap().to_owned();
    assert_eq!(
        link,
        format!(
            "<{hub_url}>; rel=\"hub\", <{}>; rel=\"self\"",
            daemon.url("/feed.xml")
        )
    );
    let rss = response.text().await.unwrap();
    assert!(
        rss.contains(&format!(r#"<atom:link href="{hub_url}" rel="hub"/>"#)),
        "{rss}"
    );
    use rss::validation::Validate;
    rss::Channel::read_from(rss.as_bytes())
        .unwrap()
        .validate()
        .expect("valid RSS 2.0");
    let atom = daemon.text("/feed.atom").await;
    assert!(
        atom.contains(&format!(r#"<link href="{hub_url}" rel="hub"/>"#)),
        "{atom}"
    );
    let json: serde_json::Value = serde_json::from_str(&daemon.text("/feed.json").await).unwrap();
    assert_eq!(
        json["hubs"],
        serde_json::json!([{"type": "WebSub", "url": hub_url}])
    );
    // An output behind a token is no topic a hub could read.
    let private = http_client()
        .get(daemon.url("/private.xml?token=0123456789abcdef0123"))
        .send()
        .await
        .unwrap();
    assert!(private.headers().get("link").is_none());
    assert!(!private.text().await.unwrap().contains(r#"rel="hub""#));

    // The hub heard of the item in every format; polls that change nothing say nothing.
    let formats = ["/feed.xml", "/feed.atom", "/feed.json"].map(|p| daemon.url(p));
    wait_until("the hub told of every format", LIMIT, || async {
        let urls = pinged(&hub).await;
        formats.iter().all(|f| urls.contains(f))
    })
    .await;
    let before = pinged(&hub).await.len();
    let polls = || async {
        let requests = env.server.received_requests().await.unwrap_or_default();
        requests.len()
    };
    let polled = polls().await;
    wait_until("unchanged polls", LIMIT, || async {
        polls().await >= polled + 3
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(pinged(&hub).await.len(), before, "{:?}", pinged(&hub).await);

    // A change is told once per format, and a subscriber fetching hub.url reads it.
    env.server.reset().await;
    env.serve_bytes("/feed.xml", plain(&["One", "Two"]), "application/rss+xml")
        .await;
    wait_until("the hub told of the change", LIMIT, || async {
        pinged(&hub).await.len() >= before + 3
    })
    .await;
    let after: Vec<String> = pinged(&hub).await[before..].to_vec();
    let mut sorted = after.clone();
    sorted.sort();
    let mut expected = formats.to_vec();
    expected.sort();
    assert_eq!(sorted, expected);
    let fetched = http_client()
        .get(&after[0])
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(fetched.contains("Two"), "{fetched}");
    let start = "feedmerge_websub_pings_total{result=\"ok\"}";
    let metrics = daemon.text("/metrics").await;
    assert!(
        metrics.contains(&format!("{start} {}", before + 3)),
        "{metrics}"
    );
    daemon.stop().await;
}

#[tokio::test]
async fn a_denied_subscription_is_recorded_and_a_long_challenge_is_not_echoed() {
    let s = setup(202, "").await;
    let request = s.hub_request(1).await;
    let callback = url::Url::parse(&request["hub.callback"]).unwrap();
    let call = |pairs: Vec<(&str, String)>| {
        let mut url = callback.clone();
        url.query_pairs_mut().extend_pairs(pairs);
        async move {
            http_client()
                .get(url)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    let long = "c".repeat(feedmerge::websub::MAX_CHALLENGE_BYTES + 1);
    let subscribe = |challenge: String| {
        vec![
            ("hub.mode", "subscribe".to_owned()),
            ("hub.topic", s.topic.clone()),
            ("hub.challenge", challenge),
        ]
    };
    assert_eq!(call(subscribe(long)).await, 404);
    assert_eq!(call(subscribe(String::new())).await, 404);
    assert_eq!(s.status().await.websub, Some(SubState::Pending));
    let denied = vec![
        ("hub.mode", "denied".to_owned()),
        ("hub.topic", s.topic.clone()),
        ("hub.reason", "not allowed here".to_owned()),
    ];
    assert_eq!(call(denied).await, 200);
    let status = s.status().await;
    assert_eq!(status.websub, Some(SubState::Denied));
    assert_eq!(
        status.websub_error.as_deref(),
        Some("the hub denied the subscription: not allowed here")
    );
    // A denied subscription is no longer verifiable.
    assert_eq!(call(subscribe("late".to_owned())).await, 404);
    s.daemon.stop().await;
}

/// A hub that grants no lease (`hub.lease_seconds=0`) gets the shortest one taken, not a
/// subscription that lapses at once and is asked for again without end.
#[tokio::test]
async fn a_lease_of_nothing_is_taken_as_the_shortest() {
    let s = setup(202, "").await;
    let verified = Utc::now();
    s.subscribed(0).await;
    let expires = s.status().await.websub_expires_at.expect("a lease end");
    // Stored to the second: a lease of at least one second ends after the verification.
    assert!(
        expires > verified,
        "the lease ends at {expires}, verified at {verified}"
    );
    s.daemon.stop().await;
}

/// Once verified, a subscription takes no verification it did not ask for: a hub cannot
/// extend the lease (and have the daemon write) at will; the renewal the daemon sends is
/// verified as usual (`an_active_subscription_slows_polling_and_is_renewed_before_its_lease_ends`).
#[tokio::test]
async fn a_verification_nobody_asked_for_is_refused() {
    let s = setup(202, "").await;
    let request = s.subscribed(3600).await;
    let before = s.status().await.websub_expires_at;
    let (status, _) = s.verify(&request, "subscribe", &s.topic, 7200).await;
    assert_eq!(status, 404);
    assert_eq!(s.status().await.websub_expires_at, before);
    s.daemon.stop().await;
}

/// A hub that fails every attempt at one notification is told again later, without waiting
/// for another change: the outputs it was not told of are tried again with back-off.
#[tokio::test]
async fn a_hub_that_failed_is_told_again_without_another_change() {
    let env = Env::new().await;
    let hub = wiremock::MockServer::start().await;
    // The first notification's attempts fail (the RSS output's, told first).
    Mock::given(method("POST"))
        .and(path("/hub"))
        .respond_with(ResponseTemplate::new(503))
        .up_to_n_times(feedmerge::websub::publish::PING_ATTEMPTS.into())
        .with_priority(1)
        .mount(&hub)
        .await;
    Mock::given(method("POST"))
        .and(path("/hub"))
        .respond_with(ResponseTemplate::new(204))
        .mount(&hub)
        .await;
    let hub_url = format!("{}/hub", hub.uri());
    let topic = env.url("/feed.xml");
    env.serve_bytes(
        "/feed.xml",
        feed(&hub_url, &topic, &["One"]),
        "application/rss+xml",
    )
    .await;
    let daemon = publishing_daemon(&env, &hub_url, &topic).await;
    daemon.wait_for_items(1).await;
    let rss = daemon.url("/feed.xml");
    let attempts = feedmerge::websub::publish::PING_ATTEMPTS as usize;
    wait_until(
        "the RSS output told after its failed attempts",
        LIMIT * 2,
        || async { pinged(&hub).await.iter().filter(|u| **u == rss).count() > attempts },
    )
    .await;
    daemon.stop().await;
}
