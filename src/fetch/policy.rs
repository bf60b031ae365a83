//! The fetch policy: which addresses a request may connect to. Addresses → public or not;
//! a URL and what it is for → where it may connect; a DNS resolver that hands the connector
//! public addresses only, so the address judged is the address connected to.
//!
//! The rules: a configured feed connects anywhere (the operator chose it). Its redirects go
//! where its first request went: anywhere when that was a non-public address (or with
//! `allow_private_redirects`), else to public addresses only. An article link, at every hop,
//! connects to public addresses only, except on its feed's own scheme, host and port when the
//! feed URL names a non-public address itself ([`named_reach`]). A remembered permanent move is
//! a redirect: polled with the same reach.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use url::{Host, Url};

/// IPv4 networks that are not public, as (network, prefix length). Anything outside them is
/// routable on the internet.
const NON_PUBLIC_V4: &[(Ipv4Addr, u8)] = &[
    // "This network" (RFC 791); 0.0.0.0 itself is the unspecified address.
    (Ipv4Addr::new(0, 0, 0, 0), 8),
    // Private (RFC 1918).
    (Ipv4Addr::new(10, 0, 0, 0), 8),
    // Shared address space of carrier-grade NAT (RFC 6598).
    (Ipv4Addr::new(100, 64, 0, 0), 10),
    // Loopback: this machine's own services.
    (Ipv4Addr::new(127, 0, 0, 0), 8),
    // Link-local; cloud metadata services answer at 169.254.169.254.
    (Ipv4Addr::new(169, 254, 0, 0), 16),
    // Private (RFC 1918).
    (Ipv4Addr::new(172, 16, 0, 0), 12),
    // IETF protocol assignments (RFC 6890).
    (Ipv4Addr::new(192, 0, 0, 0), 24),
    // Documentation, TEST-NET-1 (RFC 5737).
    (Ipv4Addr::new(192, 0, 2, 0), 24),
    // 6to4 relay anycast, deprecated (RFC 7526).
    (Ipv4Addr::new(192, 88, 99, 0), 24),
    // Private (RFC 1918).
    (Ipv4Addr::new(192, 168, 0, 0), 16),
    // Benchmarking (RFC 2544).
    (Ipv4Addr::new(198, 18, 0, 0), 15),
    // Documentation, TEST-NET-2 and TEST-NET-3 (RFC 5737).
    (Ipv4Addr::new(198, 51, 100, 0), 24),
    (Ipv4Addr::new(203, 0, 113, 0), 24),
    // Multicast.
    (Ipv4Addr::new(224, 0, 0, 0), 4),
    // Reserved (RFC 1112), including the broadcast address 255.255.255.255.
    (Ipv4Addr::new(240, 0, 0, 0), 4),
];

/// IPv6 global unicast (2000::/3, RFC 4291): every public IPv6 address lies in it. Outside it
/// are loopback, unspecified, IPv4-compatible (::/96), unique-local (fc00::/7), link-local
/// (fe80::/10), site-local, multicast (ff00::/8), discard (100::/64) and unassigned space.
const GLOBAL_UNICAST_V6: (Ipv6Addr, u8) = (Ipv6Addr::new(0x2000, 0, 0, 0, 0, 0, 0, 0), 3);

/// Networks inside 2000::/3 that are not public, as (network, prefix length).
const NON_PUBLIC_V6: &[(Ipv6Addr, u8)] = &[
    // IETF protocol assignments (RFC 2928): Teredo (2001::/32, which hides an IPv4 address),
    // benchmarking (2001:2::/48), ORCHID; no web page lives here.
    (Ipv6Addr::new(0x2001, 0, 0, 0, 0, 0, 0, 0), 23),
    // Documentation (RFC 3849, RFC 9637).
    (Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0), 32),
    (Ipv6Addr::new(0x3fff, 0, 0, 0, 0, 0, 0, 0), 20),
];

fn in_v4(ip: Ipv4Addr, (net, len): (Ipv4Addr, u8)) -> bool {
    let shift = 32 - u32::from(len);
    u32::from(ip) >> shift == u32::from(net) >> shift
}

fn in_v6(ip: Ipv6Addr, (net, len): (Ipv6Addr, u8)) -> bool {
    let shift = 128 - u32::from(len);
    u128::from(ip) >> shift == u128::from(net) >> shift
}

/// The IPv4 address an IPv6 address stands for, when connecting to it reaches that IPv4
/// address: IPv4-mapped (::ffff:0:0/96, which the kernel sends as IPv4), NAT64 (64:ff9b::/96,
/// RFC 6052) and 6to4 (2002::/16, RFC 3056).
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let bits = u128::from(ip);
    // Invariant: each cast keeps the 32 bits selected by the shift, which fit.
    let low = Ipv4Addr::from(bits as u32);
    if let Some(v4) = ip.to_ipv4_mapped() {
        return Some(v4);
    }
    if in_v6(ip, (Ipv6Addr::new(0x64, 0xff9b, 0, 0, 0, 0, 0, 0), 96)) {
        return Some(low);
    }
    if in_v6(ip, (Ipv6Addr::new(0x2002, 0, 0, 0, 0, 0, 0, 0), 16)) {
        return Some(Ipv4Addr::from((bits >> 80) as u32));
    }
    None
}

/// Whether `ip` is a public address, one a stranger's link may make feedmerge connect to.
/// Not public: loopback, private (RFC 1918, fc00::/7), link-local (169.254/16, fe80::/10),
/// carrier-grade NAT (100.64/10), multicast, unspecified, broadcast, documentation,
/// benchmarking and reserved ranges, and the IPv6 forms that reach any of them (IPv4-mapped,
/// IPv4-compatible, NAT64, 6to4).
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => match embedded_v4(v6) {
            Some(v4) => is_public_v4(v4),
            None => in_v6(v6, GLOBAL_UNICAST_V6) && !NON_PUBLIC_V6.iter().any(|&n| in_v6(v6, n)),
        },
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    !NON_PUBLIC_V4.iter().any(|&n| in_v4(ip, n))
}

/// What counts as public and how host names become addresses: the real rules and the
/// system's resolver by default. A library user (a test) may declare other addresses public
/// or answer names itself; `config.toml` cannot change it.
#[derive(Clone)]
pub struct Network {
    /// Whether an address is public ([`is_public`] by default).
    pub is_public: fn(IpAddr) -> bool,
    /// Turns host names into addresses ([`SystemResolver`] by default). Every request
    /// resolves through it; requests that must stay public see only the public answers.
    pub resolver: Arc<dyn Resolve>,
}

impl Default for Network {
    fn default() -> Self {
        Network {
            is_public,
            resolver: Arc::new(SystemResolver),
        }
    }
}

impl fmt::Debug for Network {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Network").finish_non_exhaustive()
    }
}

/// The system's resolver (`getaddrinfo`, on tokio's blocking threads, as reqwest's own).
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemResolver;

impl Resolve for SystemResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            // Port 0: the connector puts the URL's port in.
            let addrs = tokio::net::lookup_host((host.as_str(), 0)).await?;
            let addrs: Addrs = Box::new(addrs.collect::<Vec<_>>().into_iter());
            Ok(addrs)
        })
    }
}

/// A resolver that passes on only the public answers of another, and fails with
/// [`Refusal::NonPublicName`] when none is left. The connector connects only to what it
/// returns, so a name that answers differently the next time (DNS rebinding) gains nothing.
pub(crate) struct PublicOnly {
    pub(crate) inner: Arc<dyn Resolve>,
    pub(crate) is_public: fn(IpAddr) -> bool,
}

impl Resolve for PublicOnly {
    fn resolve(&self, name: Name) -> Resolving {
        let host = name.as_str().to_owned();
        let lookup = self.inner.resolve(name);
        let is_public = self.is_public;
        Box::pin(async move {
            let all: Vec<SocketAddr> = lookup.await?.collect();
            let public: Vec<SocketAddr> =
                all.iter().copied().filter(|a| is_public(a.ip())).collect();
            if public.is_empty() && !all.is_empty() {
                return Err(Box::new(Refusal::NonPublicName { host }) as _);
            }
            let addrs: Addrs = Box::new(public.into_iter());
            Ok(addrs)
        })
    }
}

/// Where one request may connect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    /// Wherever its host resolves.
    Anywhere,
    /// Public addresses only.
    Public,
}

/// Why a request was not sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The host name resolved, but to no public address.
    #[error("{host} resolves only to non-public addresses")]
    NonPublicName {
        /// The host name.
        host: String,
    },
    /// The host is an IP address that is not public.
    #[error("{ip} is not a public address")]
    NonPublicAddress {
        /// The address.
        ip: IpAddr,
    },
    /// Only http and https are fetched.
    #[error("unsupported scheme {scheme}")]
    Scheme {
        /// The URL's scheme.
        scheme: String,
    },
}

/// Which rule refused a request, to tell the operator what it protects and how to change it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// A feed whose first request reached a public address redirected elsewhere.
    PublicFeedRedirect,
    /// An article link (or its redirect) on another host than its feed.
    Article,
    /// A feed a site's page advertised (or its redirect) on another host than the site.
    Discovered,
    /// A WebSub hub a feed announced, on another host than the feed.
    Hub,
    /// A source's icon or its site's page (or a redirect) on another host than its feed.
    Icon,
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Rule::PublicFeedRedirect => {
                "the redirect of a feed on a public address must lead to a public address; \
                 set [poller] allow_private_redirects = true to allow it"
            }
            Rule::Article => {
                "an article link must lead to a public address or to its feed's own \
                 scheme, host and port"
            }
            Rule::Discovered => {
                "a feed found through a site's address must lead to a public address or to \
                 the site's own scheme, host and port; set [poller] allow_private_redirects = \
                 true to allow it"
            }
            Rule::Hub => {
                "a hub a feed announces must be on a public address or on the feed's own \
                 scheme, host and port"
            }
            Rule::Icon => {
                "a source's icon and its site's page must lead to a public address or to \
                 its feed's own scheme, host and port"
            }
        })
    }
}

/// Whether two URLs have the same scheme, host and port (default ports filled in).
pub fn same_origin(a: &Url, b: &Url) -> bool {
    a.scheme() == b.scheme()
        && a.host() == b.host()
        && a.port_or_known_default() == b.port_or_known_default()
}

/// Where requests for the feed at `feed_url` may connect, other than the request for the
/// configured URL itself (which may go anywhere): anywhere when the URL names a non-public
/// address itself (an IP address, `localhost`), since the operator chose that address; public
/// addresses only when it names a host. What a name resolved to once says nothing about the
/// next answer (a publisher's name can answer a private address for one poll, then for the
/// articles or the remembered move it makes possible), so it is never taken as the operator's
/// word.
pub fn named_reach(feed_url: &Url, is_public: fn(IpAddr) -> bool) -> Reach {
    let private = match feed_url.host() {
        Some(Host::Ipv4(v4)) => !is_public(IpAddr::V4(v4)),
        Some(Host::Ipv6(v6)) => !is_public(IpAddr::V6(v6)),
        Some(Host::Domain(d)) => {
            let d = d.trim_end_matches('.').to_ascii_lowercase();
            d == "localhost" || d.ends_with(".localhost")
        }
        None => false,
    };
    if private {
        Reach::Anywhere
    } else {
        Reach::Public
    }
}

/// Where a hop of an article fetch may connect: on its feed's own scheme, host and port,
/// where the feed's other requests may ([`named_reach`]); elsewhere only to public addresses.
pub fn article_reach(url: &Url, feed_url: &Url, is_public: fn(IpAddr) -> bool) -> Reach {
    if same_origin(url, feed_url) {
        named_reach(feed_url, is_public)
    } else {
        Reach::Public
    }
}

/// Where the first request for a feed found through the site address `given` may connect
/// (one its page advertised, or one at a usual path): where `given` itself may, on its own
/// scheme, host and port (the operator chose that server); elsewhere where a remembered move
/// of `given` may ([`named_reach`]): the page, not the operator, named that address.
/// `allow_private_redirects` lifts the rule.
pub fn discovered_reach(
    url: &Url,
    given: &Url,
    is_public: fn(IpAddr) -> bool,
    allow_private_redirects: bool,
) -> Reach {
    if allow_private_redirects || same_origin(url, given) {
        Reach::Anywhere
    } else {
        named_reach(given, is_public)
    }
}

/// Where a feed's redirects may connect: where its first request went. `feed_public` is
/// whether that request's connection reached a public address.
pub fn feed_redirect_reach(feed_public: bool, allow_private_redirects: bool) -> Reach {
    if feed_public && !allow_private_redirects {
        Reach::Public
    } else {
        Reach::Anywhere
    }
}

/// Judges what can be judged before sending a request that must stay public: its scheme,
/// and an IP-address host (the connector never asks a resolver about those). Host names are
/// judged as they are resolved, by the resolver of the public-only client.
///
/// # Errors
/// The [`Refusal`] when the URL cannot lead to a public address.
pub fn check_public_url(url: &Url, is_public: fn(IpAddr) -> bool) -> Result<(), Refusal> {
    if !matches!(url.scheme(), "http" | "https") {
        return Err(Refusal::Scheme {
            scheme: url.scheme().to_owned(),
        });
    }
    let ip = match url.host() {
        Some(Host::Ipv4(v4)) => IpAddr::V4(v4),
        Some(Host::Ipv6(v6)) => IpAddr::V6(v6),
        Some(Host::Domain(_)) | None => return Ok(()),
    };
    if is_public(ip) {
        Ok(())
    } else {
        Err(Refusal::NonPublicAddress { ip })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn ip(s: &str) -> IpAddr {
        IpAddr::from_str(s).unwrap()
    }

    /// Every non-public IPv4 network, by its first and last address, with the addresses just
    /// outside it that are public.
    const V4_EDGES: &[(&str, &str, &[&str])] = &[
        ("0.0.0.0", "0.255.255.255", &["1.0.0.0"]),
        ("10.0.0.0", "10.255.255.255", &["9.255.255.255", "11.0.0.0"]),
        (
            "100.64.0.0",
            "100.127.255.255",
            &["100.63.255.255", "100.128.0.0"],
        ),
        (
            "127.0.0.0",
            "127.255.255.255",
            &["126.255.255.255", "128.0.0.0"],
        ),
        (
            "169.254.0.0",
            "169.254.255.255",
            &["169.253.255.255", "169.255.0.0"],
        ),
        (
            "172.16.0.0",
            "172.31.255.255",
            &["172.15.255.255", "172.32.0.0"],
        ),
        (
            "192.0.0.0",
            "192.0.0.255",
            &["191.255.255.255", "192.0.1.0"],
        ),
        ("192.0.2.0", "192.0.2.255", &["192.0.1.255", "192.0.3.0"]),
        (
            "192.88.99.0",
            "192.88.99.255",
            &["192.88.98.255", "192.88.100.0"],
        ),
        (
            "192.168.0.0",
            "192.168.255.255",
            &["192.167.255.255", "192.169.0.0"],
        ),
        (
            "198.18.0.0",
            "198.19.255.255",
            &["198.17.255.255", "198.20.0.0"],
        ),
        (
            "198.51.100.0",
            "198.51.100.255",
            &["198.51.99.255", "198.51.101.0"],
        ),
        (
            "203.0.113.0",
            "203.0.113.255",
            &["203.0.112.255", "203.0.114.0"],
        ),
        ("224.0.0.0", "239.255.255.255", &["223.255.255.255"]),
        ("240.0.0.0", "255.255.255.255", &[]),
    ];

    /// The IPv6 forms that reach an IPv4 address.
    fn v6_forms(v4: Ipv4Addr) -> [Ipv6Addr; 3] {
        let [a, b, c, d] = v4.octets().map(u16::from);
        [
            v4.to_ipv6_mapped(),
            Ipv6Addr::new(0x64, 0xff9b, 0, 0, 0, 0, (a << 8) | b, (c << 8) | d),
            Ipv6Addr::new(0x2002, (a << 8) | b, (c << 8) | d, 0, 0, 0, 0, 1),
        ]
    }

    #[test]
    fn every_non_public_ipv4_network_and_its_ipv6_forms() {
        assert_eq!(V4_EDGES.len(), NON_PUBLIC_V4.len(), "a network is untested");
        for (first, last, outside) in V4_EDGES {
            for s in [first, last] {
                let IpAddr::V4(v4) = ip(s) else {
                    unreachable!()
                };
                assert!(!is_public(IpAddr::V4(v4)), "{s}");
                for v6 in v6_forms(v4) {
                    assert!(!is_public(IpAddr::V6(v6)), "{v6} ({s})");
                }
                // IPv4-compatible (::a.b.c.d, deprecated): never public.
                let compat = Ipv6Addr::from(u128::from(u32::from(v4)));
                assert!(!is_public(IpAddr::V6(compat)), "{compat}");
            }
            for s in *outside {
                let IpAddr::V4(v4) = ip(s) else {
                    unreachable!()
                };
                assert!(is_public(IpAddr::V4(v4)), "{s}");
                for v6 in v6_forms(v4) {
                    assert!(is_public(IpAddr::V6(v6)), "{v6} ({s})");
                }
            }
        }
        for s in [
            "8.8.8.8",
            "1.1.1.1",
            "93.184.216.34",
            "192.31.196.1",
            "223.255.255.255",
        ] {
            assert!(is_public(ip(s)), "{s}");
        }
        for s in [
            "169.254.169.254",
            "255.255.255.255",
            "0.0.0.0",
            "127.0.0.2",
            "100.100.100.100",
        ] {
            assert!(!is_public(ip(s)), "{s}");
        }
    }

    #[test]
    fn ipv6_ranges() {
        for s in [
            "::",
            "::1",
            "::7f00:1",
            "::808:808",
            "100::1",
            "64:ff9b:1::1",
            "fc00::1",
            "fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
            "fe80::1",
            "febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
            "fec0::1",
            "ff02::1",
            "ff0e::1",
            "2001::1",
            "2001:0:4136:e378:8000:63bf:3fff:fdd2",
            "2001:2::1",
            "2001:1ff:ffff:ffff:ffff:ffff:ffff:ffff",
            "2001:db8::1",
            "2001:db8:ffff:ffff:ffff:ffff:ffff:ffff",
            "3fff::1",
            "3fff:fff:ffff:ffff:ffff:ffff:ffff:ffff",
            "1fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
            "4000::1",
            "::ffff:0:0",
            "::ffff:ffff:ffff",
            "::ffff:169.254.169.254",
            "64:ff9b::a9fe:a9fe",
            "2002:a00:1::1",
            "2002:7f00:1::",
        ] {
            assert!(!is_public(ip(s)), "{s}");
        }
        for s in [
            "2000::1",
            "2001:200::1",
            "2001:4860:4860::8888",
            "2001:db7:ffff:ffff:ffff:ffff:ffff:ffff",
            "2001:db9::1",
            "2606:4700::1111",
            "3ffe:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
            "3fff:1000::1",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
            "2002:808:808::1",
        ] {
            assert!(is_public(ip(s)), "{s}");
        }
    }

    #[test]
    fn ip_hosts_are_judged_before_sending() {
        let check = |s: &str| check_public_url(&Url::parse(s).unwrap(), is_public);
        assert_eq!(check("http://example.org/"), Ok(()));
        assert_eq!(check("https://8.8.8.8/"), Ok(()));
        assert_eq!(check("http://[2606:4700::1111]/"), Ok(()));
        // The URL parser reads every IPv4 spelling as the address it means.
        for s in [
            "http://127.0.0.1:8080/admin",
            "http://2130706433/",
            "http://0x7f.1/",
            "http://0177.0.0.1/",
            "http://127.1/",
            "http://[::1]/",
            "http://[::ffff:7f00:1]/",
            "http://[::ffff:10.0.0.1]/",
            "http://169.254.169.254/latest/meta-data/",
            "http://0/",
        ] {
            assert!(
                matches!(check(s), Err(Refusal::NonPublicAddress { .. })),
                "{s}: {:?}",
                check(s)
            );
        }
        assert_eq!(
            check("file:///etc/passwd"),
            Err(Refusal::Scheme {
                scheme: "file".into()
            })
        );
        assert_eq!(
            check("http://127.0.0.1/").unwrap_err().to_string(),
            "127.0.0.1 is not a public address"
        );
    }

    #[test]
    fn articles_reach_anywhere_only_on_the_origin_of_a_feed_named_by_a_private_address() {
        let url = |s: &str| Url::parse(s).unwrap();
        for feed in [
            "http://127.0.0.1:3000/feed.xml",
            "http://localhost:3000/feed.xml",
            "http://bridge.localhost:3000/feed.xml",
            "http://[::1]:3000/feed.xml",
            "http://192.168.1.5:3000/feed.xml",
        ] {
            let feed = url(feed);
            assert_eq!(named_reach(&feed, is_public), Reach::Anywhere, "{feed}");
            let mut same = feed.clone();
            same.set_path("/post/1");
            same.set_query(Some("x=1"));
            let reach = article_reach(&same, &feed, is_public);
            assert_eq!(reach, Reach::Anywhere, "{same}");
            let mut other_port = feed.clone();
            other_port.set_port(Some(3001)).unwrap();
            assert_eq!(article_reach(&other_port, &feed, is_public), Reach::Public);
            let mut other_scheme = feed.clone();
            other_scheme.set_scheme("https").unwrap();
            let reach = article_reach(&other_scheme, &feed, is_public);
            assert_eq!(reach, Reach::Public);
        }
        // By name, even a name that resolves to this machine or a private network: what it
        // resolved to once says nothing about the next answer.
        for feed in [
            "http://rss-bridge.lan:3000/feed",
            "https://news.example/feed",
        ] {
            let feed = url(feed);
            assert_eq!(named_reach(&feed, is_public), Reach::Public, "{feed}");
            let mut same = feed.clone();
            same.set_path("/post/1");
            let reach = article_reach(&same, &feed, is_public);
            assert_eq!(reach, Reach::Public, "{same}");
        }
        // Default ports are the same port written or not.
        let feed = url("http://127.0.0.1/feed");
        let reach = article_reach(&url("http://127.0.0.1:80/a"), &feed, is_public);
        assert_eq!(reach, Reach::Anywhere);
    }

    #[test]
    fn feed_redirects_reach_where_the_feed_went() {
        assert_eq!(feed_redirect_reach(true, false), Reach::Public);
        assert_eq!(feed_redirect_reach(true, true), Reach::Anywhere);
        assert_eq!(feed_redirect_reach(false, false), Reach::Anywhere);
        assert_eq!(feed_redirect_reach(false, true), Reach::Anywhere);
    }

    /// Answers every name with the same addresses.
    struct Fixed(Vec<IpAddr>);

    impl Resolve for Fixed {
        fn resolve(&self, _: Name) -> Resolving {
            let addrs: Vec<SocketAddr> = self.0.iter().map(|&ip| SocketAddr::new(ip, 0)).collect();
            Box::pin(async move {
                let addrs: Addrs = Box::new(addrs.into_iter());
                Ok(addrs)
            })
        }
    }

    async fn public_only(answers: &[&str]) -> Result<Vec<IpAddr>, String> {
        let resolver = PublicOnly {
            inner: Arc::new(Fixed(answers.iter().map(|s| ip(s)).collect())),
            is_public,
        };
        match resolver
            .resolve(Name::from_str("host.example").unwrap())
            .await
        {
            Ok(addrs) => Ok(addrs.map(|a| a.ip()).collect()),
            Err(e) => {
                let refusal = e.downcast_ref::<Refusal>().expect("a refusal");
                Err(refusal.to_string())
            }
        }
    }

    #[tokio::test]
    async fn the_resolver_passes_on_public_answers_only() {
        assert_eq!(
            public_only(&["127.0.0.1", "8.8.8.8", "::1", "2606:4700::1111", "10.0.0.1"]).await,
            Ok(vec![ip("8.8.8.8"), ip("2606:4700::1111")])
        );
        assert_eq!(
            public_only(&["127.0.0.1", "::ffff:169.254.169.254"]).await,
            Err("host.example resolves only to non-public addresses".into())
        );
        // No answer at all stays the resolver's business (the connector reports it).
        assert_eq!(public_only(&[]).await, Ok(vec![]));
    }

    #[tokio::test]
    async fn the_system_resolver_answers_localhost() {
        let addrs: Vec<IpAddr> = SystemResolver
            .resolve(Name::from_str("localhost").unwrap())
            .await
            .unwrap()
            .map(|a| a.ip())
            .collect();
        assert!(
            !addrs.is_empty() && addrs.iter().all(IpAddr::is_loopback),
            "{addrs:?}"
        );
    }
}
