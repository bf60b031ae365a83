//! `[server]`: where and how the merged feed is served → [`ServerConfig`].

use std::net::SocketAddr;
use std::time::Duration;

use serde::Deserialize;
use url::Url;

use super::value::{Bounded, FromToml, HttpUrl, Located, Timespan, Value};

/// Default `[server] listen` address.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
/// Default `[server] shutdown_timeout` for in-flight polls and requests to finish.
pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(10);
/// Default `[server] metrics`: beside the feeds.
pub const DEFAULT_METRICS: MetricsEndpoint = MetricsEndpoint::Listener;
/// Default `[server] max_connections`.
pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;
/// Default `[server] idle_timeout`.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// Default `[server] header_timeout`: a request head is one packet or a few; a client still
/// sending one after this long is trickling it on purpose.
pub const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(5);

/// `[server] max_connections`: 1 to a million.
type Connections = Bounded<1, 1_000_000>;

/// `[server]`: where the merged feed is served.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Public URL of the server, used for self links.
    pub base_url: Url,
    /// How long in-flight polls and requests get to finish on shutdown.
    pub shutdown_timeout: Duration,
    /// Where `/metrics` is served.
    pub metrics: MetricsEndpoint,
    /// Connections open at once.
    pub max_connections: usize,
    /// A connection without traffic for this long is closed.
    pub idle_timeout: Duration,
    /// A request head must arrive whole within this long (from the accept, or from its first
    /// byte on a kept-alive connection), however it trickles in.
    pub header_timeout: Duration,
}

/// Where `/metrics` is served (`[server] metrics`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricsEndpoint {
    /// On the main listener, beside the feeds (`"listener"`, the default).
    Listener,
    /// On a separate address, for example one only Prometheus can reach.
    Separate(SocketAddr),
    /// Not at all (`"off"`).
    Off,
}

impl FromToml for MetricsEndpoint {
    type Raw = String;

    fn from_toml(v: &String) -> Result<Self, String> {
        match v.trim() {
            "listener" => Ok(MetricsEndpoint::Listener),
            "off" => Ok(MetricsEndpoint::Off),
            other => other.parse().map(MetricsEndpoint::Separate).map_err(|_| {
                format!("{v:?} is not \"listener\", \"off\" or an address like \"127.0.0.1:9100\"")
            }),
        }
    }
}

/// `[server] listen`: an IP address and port.
struct Listen(SocketAddr);

impl FromToml for Listen {
    type Raw = String;

    fn from_toml(v: &String) -> Result<Self, String> {
        v.trim()
            .parse()
            .map(Listen)
            .map_err(|_| format!("{v:?} is not an address like \"127.0.0.1:8080\""))
    }
}

/// `[server]` as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawServer {
    listen: Value<String>,
    base_url: Value<String>,
    shutdown_timeout: Value<String>,
    metrics: Value<String>,
    max_connections: Value<i64>,
    idle_timeout: Value<String>,
    header_timeout: Value<String>,
}

impl RawServer {
    /// Checks each key, in the order of the struct.
    pub(super) fn validate(self) -> Result<ServerConfig, Located> {
        let listen =
            Listen::optional("server.listen", self.listen)?.map_or_else(default_listen, |l| l.0);
        Ok(ServerConfig {
            listen,
            base_url: HttpUrl::optional("server.base_url", self.base_url)?
                .map_or_else(|| base_url_for(listen), Url::from),
            shutdown_timeout: Timespan::optional("server.shutdown_timeout", self.shutdown_timeout)?
                .map_or(DEFAULT_SHUTDOWN_TIMEOUT, Duration::from),
            metrics: MetricsEndpoint::optional("server.metrics", self.metrics)?
                .unwrap_or(DEFAULT_METRICS),
            max_connections: Connections::optional("server.max_connections", self.max_connections)?
                .map_or(DEFAULT_MAX_CONNECTIONS, usize::from),
            idle_timeout: Timespan::optional("server.idle_timeout", self.idle_timeout)?
                .map_or(DEFAULT_IDLE_TIMEOUT, Duration::from),
            header_timeout: Timespan::optional("server.header_timeout", self.header_timeout)?
                .map_or(DEFAULT_HEADER_TIMEOUT, Duration::from),
        })
    }
}

/// [`DEFAULT_LISTEN`] as an address.
pub(super) fn default_listen() -> SocketAddr {
    // Invariant: the constant is a valid socket address (checked by a unit test).
    DEFAULT_LISTEN.parse().expect("DEFAULT_LISTEN parses")
}

impl ServerConfig {
    /// Why the links feedmerge publishes (each feed's self link, the news page's feed links)
    /// may not reach readers, if they may not: `base_url` names an unspecified address
    /// (`0.0.0.0`, `[::]`), which no client can connect to, or it was left to follow a
    /// `listen` address that is not loopback, where the address readers use (a host name, a
    /// reverse proxy) is most likely another.
    pub fn base_url_warning(&self) -> Option<String> {
        let unspecified = match self.base_url.host() {
            Some(url::Host::Ipv4(ip)) => ip.is_unspecified(),
            Some(url::Host::Ipv6(ip)) => ip.is_unspecified(),
            _ => false,
        };
        if unspecified {
            return Some(format!(
                "server.base_url: links in the feeds point to {}, which readers cannot reach; \
                 set base_url to the address readers use",
                self.base_url
            ));
        }
        (!self.listen.ip().is_loopback() && self.base_url == base_url_for(self.listen)).then(|| {
            format!(
                "server.base_url is not set: links in the feeds point to {}; set it if readers \
                 reach feedmerge under another name (a host name, a reverse proxy)",
                self.base_url
            )
        })
    }
}

/// The default `base_url`: the listen address over http.
fn base_url_for(listen: SocketAddr) -> Url {
    // Invariant: a socket address always forms a valid http URL.
    Url::parse(&format!("http://{listen}/")).expect("socket address forms a URL")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unreachable_or_unset_base_url_is_warned_about() {
        let server = |listen: &str, base: Option<&str>| {
            let base = base.map_or(String::new(), |b| format!("base_url = \"{b}\"\n"));
            let text = format!("[server]\nlisten = \"{listen}\"\n{base}");
            super::super::Config::parse(&text, std::path::Path::new("config.toml"))
                .unwrap()
                .server
        };
        let warning = |listen, base| server(listen, base).base_url_warning();
        assert_eq!(warning("127.0.0.1:8080", None), None);
        assert!(
            warning("0.0.0.0:8080", None)
                .is_some_and(|w| w.contains("http://0.0.0.0:8080/") && w.contains("cannot reach"))
        );
        assert!(warning("[::]:8080", None).is_some_and(|w| w.contains("cannot reach")));
        assert!(warning("192.168.1.5:8080", None).is_some_and(|w| w.contains("is not set")));
        assert_eq!(
            warning("0.0.0.0:8080", Some("https://feeds.example.org/")),
            None
        );
    }

    #[test]
    fn listen_and_metrics_spellings() {
        let listen = |s: &str| Listen::from_toml(&s.to_owned()).map(|l| l.0);
        assert_eq!(listen(" 0.0.0.0:80 "), Ok("0.0.0.0:80".parse().unwrap()));
        assert_eq!(
            listen("localhost:80"),
            Err(r#""localhost:80" is not an address like "127.0.0.1:8080""#.to_owned())
        );
        let metrics = |s: &str| MetricsEndpoint::from_toml(&s.to_owned());
        assert_eq!(metrics(" off "), Ok(MetricsEndpoint::Off));
        assert_eq!(
            metrics("[::1]:9100"),
            Ok(MetricsEndpoint::Separate("[::1]:9100".parse().unwrap()))
        );
        assert_eq!(
            metrics(""),
            Err(r#""" is not "listener", "off" or an address like "127.0.0.1:9100""#.to_owned())
        );
    }
}
