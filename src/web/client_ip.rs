//! The client's address behind trusted proxies, found as django-allauth's `get_client_ip`
//! (`allauth.core.internal.httpkit`) finds it, for rate limits and a new session's recorded IP.
//!
//! allauth's order: with `ALLAUTH_TRUSTED_CLIENT_IP_HEADER` set, that header's value and
//! nothing else; otherwise, with `ALLAUTH_TRUSTED_PROXY_COUNT = n > 0` and an
//! `X-Forwarded-For`, its comma-separated entry `n` from the right (each proxy appends the
//! address it received the request from, so the `n` right-most entries were written by our
//! proxies and everything left of them is whatever the client sent); otherwise the peer
//! address. With both settings unset no header is ever read.
//!
//! Where allauth fails, hallpass falls back to the peer address (the nearest proxy's) instead:
//! allauth answers 500 (`ImproperlyConfigured`) when `X-Forwarded-For` has fewer entries than
//! the count, and has no address at all when the chosen value is not an IP address or the
//! trusted header is missing. The fallback can only put a request in the proxy's shared
//! rate-limit bucket, never in one the client chose, and it never fails the request.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::atomic::{AtomicBool, Ordering};

use warp::http::{HeaderMap, HeaderName};

use crate::config::Config;

/// How to find the client's address: the two allauth settings, parsed.
#[derive(Debug)]
pub(crate) struct ClientIpPolicy {
    /// `ALLAUTH_TRUSTED_CLIENT_IP_HEADER`; wins over `X-Forwarded-For`.
    header: Option<HeaderName>,
    /// `ALLAUTH_TRUSTED_PROXY_COUNT`; 0 ignores `X-Forwarded-For`.
    proxy_count: usize,
    /// Whether the first fallback to the peer address has been logged (a misconfiguration
    /// shows on every request; one warning is enough).
    warned: AtomicBool,
    /// Whether an `X-Forwarded-For` ignored because no proxy is trusted has been logged: behind
    /// a proxy nobody configured, every client shares the proxy's address, and so its rate
    /// limits.
    warned_ignored: AtomicBool,
}

impl ClientIpPolicy {
    /// The policy `config` sets. A header name that `config` accepted but `http` does not (it
    /// validates the same token grammar) counts as unset.
    pub(crate) fn new(config: &Config) -> ClientIpPolicy {
        ClientIpPolicy::with(
            config
                .trusted_client_ip_header
                .as_deref()
                .and_then(|name| HeaderName::from_bytes(name.as_bytes()).ok()),
            config.trusted_proxy_count,
        )
    }

    fn with(header: Option<HeaderName>, proxy_count: usize) -> ClientIpPolicy {
        ClientIpPolicy {
            header,
            proxy_count,
            warned: AtomicBool::new(false),
            warned_ignored: AtomicBool::new(false),
        }
    }

    /// The client's address for a request with `headers` from `peer`: the trusted header's
    /// or `X-Forwarded-For`'s as configured, else `peer`. Never fails on header contents.
    pub(crate) fn client_ip(&self, headers: &HeaderMap, peer: Option<IpAddr>) -> Option<IpAddr> {
        let (source, found) = match &self.header {
            Some(name) => (name.as_str(), Some(header_ip(headers, name))),
            None if self.proxy_count > 0 => (
                "x-forwarded-for",
                forwarded_for_ip(headers, self.proxy_count),
            ),
            None => {
                self.warn_if_forwarded(headers);
                return peer;
            }
        };
        match found {
            Some(Some(ip)) => Some(ip),
            // No X-Forwarded-For at all: a direct request, as allauth takes REMOTE_ADDR.
            None => peer,
            Some(None) => {
                if !self.warned.swap(true, Ordering::Relaxed) {
                    tracing::warn!(
                        header = source,
                        proxy_count = self.proxy_count,
                        "client address header missing or unusable; using the peer address \
                         (check ALLAUTH_TRUSTED_PROXY_COUNT / ALLAUTH_TRUSTED_CLIENT_IP_HEADER); \
                         further occurrences are not logged"
                    );
                }
                peer
            }
        }
    }
}

impl ClientIpPolicy {
    /// Warns once when `headers` carry an `X-Forwarded-For` that no setting lets us use.
    fn warn_if_forwarded(&self, headers: &HeaderMap) {
        if self.warned_ignored.load(Ordering::Relaxed)
            || !headers.contains_key(HeaderName::from_static("x-forwarded-for"))
            || self.warned_ignored.swap(true, Ordering::Relaxed)
        {
            return;
        }
        tracing::warn!(
            "X-Forwarded-For ignored: no proxy is trusted, so the peer address is the client's \
             (behind a proxy every client then shares its rate limits); set \
             ALLAUTH_TRUSTED_PROXY_COUNT to the number of your proxies, or \
             ALLAUTH_TRUSTED_CLIENT_IP_HEADER; further occurrences are not logged"
        );
    }
}

/// The trusted header's address; `None` when it is missing, repeated into a list, or not an
/// address.
fn header_ip(headers: &HeaderMap, name: &HeaderName) -> Option<IpAddr> {
    joined(headers, name).and_then(|value| parse_ip(&value))
}

/// `None` without an `X-Forwarded-For` (or only empty ones); `Some(None)` when it has fewer
/// than `count` entries or the chosen entry is not an address; else that address.
fn forwarded_for_ip(headers: &HeaderMap, count: usize) -> Option<Option<IpAddr>> {
    let name = HeaderName::from_static("x-forwarded-for");
    if headers
        .get_all(&name)
        .iter()
        .all(|value| value.as_bytes().is_empty())
    {
        return None;
    }
    Some(joined(headers, &name).and_then(|list| entry_from_right(&list, count)))
}

/// Every value of header `name`, in order, joined with `,` (how a repeated list header reads,
/// and what Django sees through a WSGI server); `None` if absent or not visible ASCII.
fn joined(headers: &HeaderMap, name: &HeaderName) -> Option<String> {
    let mut out: Option<String> = None;
    for value in headers.get_all(name) {
        let text = value.to_str().ok()?;
        match &mut out {
            Some(out) => {
                out.push(',');
                out.push_str(text);
            }
            None => out = Some(text.to_owned()),
        }
    }
    out
}

/// The entry `count` (>= 1) from the right of the list `a, b, c`, as an address.
///
/// Entries are trimmed of spaces, the list separator's optional whitespace: allauth does not
/// trim, so there `client, proxy` with a count of 1 yields `" proxy"`, which is no address.
fn entry_from_right(list: &str, count: usize) -> Option<IpAddr> {
    let entry = list.rsplit(',').nth(count.checked_sub(1)?)?;
    parse_ip(entry.trim_matches([' ', '\t']))
}

/// An address as allauth's `clean_client_ip` takes it: a plain IPv4 or IPv6 address, or one
/// with a port (`1.2.3.4:80`, `[2001:db8::1]:80`); the port is dropped. A bracketed IPv6
/// address without a port is accepted too (allauth refuses it). Anything else is `None`.
pub(crate) fn parse_ip(text: &str) -> Option<IpAddr> {
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Some(rest) = text.strip_prefix('[') {
        let (inner, after) = rest.split_once(']')?;
        if !(after.is_empty() || after.strip_prefix(':').is_some_and(is_port)) {
            return None;
        }
        return inner.parse::<Ipv6Addr>().ok().map(IpAddr::V6);
    }
    let (host, port) = text.rsplit_once(':')?;
    if !is_port(port) {
        return None;
    }
    host.parse::<Ipv4Addr>().ok().map(IpAddr::V4)
}

/// Django's port in `split_domain_port`: one or more ASCII digits.
fn is_port(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use warp::http::HeaderValue;

    use super::*;

    const PEER: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
    const MAX_COUNT: usize = crate::config::MAX_TRUSTED_PROXY_COUNT;

    fn headers(pairs: &[(&str, &[u8])]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_bytes(value).unwrap(),
            );
        }
        map
    }

    fn ip(text: &str) -> Option<IpAddr> {
        Some(text.parse().unwrap())
    }

    fn behind(count: usize, xff: &[&[u8]]) -> Option<IpAddr> {
        let pairs: Vec<(&str, &[u8])> = xff.iter().map(|v| ("x-forwarded-for", *v)).collect();
        ClientIpPolicy::with(None, count).client_ip(&headers(&pairs), Some(PEER))
    }

    #[test]
    fn without_settings_headers_are_never_read() {
        let policy = ClientIpPolicy::with(None, 0);
        let h = headers(&[("x-forwarded-for", b"1.1.1.1"), ("x-real-ip", b"2.2.2.2")]);
        assert_eq!(policy.client_ip(&h, Some(PEER)), Some(PEER));
        assert_eq!(policy.client_ip(&h, None), None);
    }

    #[test]
    fn an_ignored_forwarded_for_is_warned_about_once_and_only_then() {
        let policy = ClientIpPolicy::with(None, 0);
        policy.client_ip(&headers(&[("x-real-ip", b"2.2.2.2")]), Some(PEER));
        assert!(!policy.warned_ignored.load(Ordering::Relaxed));
        let h = headers(&[("x-forwarded-for", b"1.1.1.1")]);
        assert_eq!(policy.client_ip(&h, Some(PEER)), Some(PEER));
        assert!(policy.warned_ignored.load(Ordering::Relaxed));
        // Trusted proxies: the header is used, so nothing to warn about.
        let trusted = ClientIpPolicy::with(None, 1);
        trusted.client_ip(&h, Some(PEER));
        assert!(!trusted.warned_ignored.load(Ordering::Relaxed));
    }

    #[test]
    fn forwarded_for_entry_counted_from_the_right() {
        assert_eq!(behind(1, &[b"203.0.113.9"]), ip("203.0.113.9"));
        assert_eq!(behind(1, &[b"6.6.6.6, 203.0.113.9"]), ip("203.0.113.9"));
        assert_eq!(behind(1, &[b"6.6.6.6,203.0.113.9"]), ip("203.0.113.9"));
        assert_eq!(
            behind(2, &[b"6.6.6.6, 203.0.113.9, 10.1.1.1"]),
            ip("203.0.113.9")
        );
        assert_eq!(behind(2, &[b"203.0.113.9, 10.1.1.1"]), ip("203.0.113.9"));
        // Repeated header lines are one list, in order.
        assert_eq!(behind(1, &[b"6.6.6.6", b"203.0.113.9"]), ip("203.0.113.9"));
        assert_eq!(behind(2, &[b"203.0.113.9", b"10.1.1.1"]), ip("203.0.113.9"));
        // IPv6 and ports, as allauth's clean_client_ip.
        assert_eq!(behind(1, &[b"2001:DB8::1"]), ip("2001:db8::1"));
        assert_eq!(behind(1, &[b"[2001:db8::1]:443"]), ip("2001:db8::1"));
        assert_eq!(behind(1, &[b"203.0.113.9:51234"]), ip("203.0.113.9"));
    }

    #[test]
    fn no_or_empty_forwarded_for_is_the_peer() {
        assert_eq!(behind(1, &[]), Some(PEER));
        assert_eq!(behind(1, &[b""]), Some(PEER));
        assert_eq!(behind(3, &[]), Some(PEER));
    }

    #[test]
    fn fewer_entries_than_the_count_is_the_peer_not_an_error() {
        // allauth raises ImproperlyConfigured (a 500) here.
        assert_eq!(behind(2, &[b"203.0.113.9"]), Some(PEER));
        assert_eq!(behind(3, &[b"1.1.1.1, 2.2.2.2"]), Some(PEER));
        assert_eq!(
            ClientIpPolicy::with(None, 2)
                .client_ip(&headers(&[("x-forwarded-for", b"1.1.1.1")]), None),
            None
        );
    }

    #[test]
    fn garbage_is_the_peer_and_never_panics() {
        let garbage: &[&[u8]] = &[
            b"not-an-ip",
            b",",
            b",,,,",
            b" , ",
            b"1.2.3.4,",
            b"999.1.1.1",
            b"1.2.3",
            b"01.2.3.4",
            b"1.2.3.4:",
            b"1.2.3.4:port",
            b"[::1",
            b"[::1]x",
            b"[1.2.3.4]:80",
            b"fe80::1%eth0",
            b"unknown",
            b"\"1.2.3.4\"",
            b"for=1.2.3.4",
            b"\xff\xfe",
            b"\t",
            &[b'9'; 4096],
            &[b','; 4096],
        ];
        for count in [1, MAX_COUNT] {
            for value in garbage {
                assert_eq!(behind(count, &[value]), Some(PEER), "{count} {value:?}");
            }
        }
        // A garbage entry to the left of the trusted one does not matter.
        assert_eq!(
            behind(1, &[b"\"<script>\", 203.0.113.9"]),
            ip("203.0.113.9")
        );
    }

    #[test]
    fn trusted_header_wins_and_ignores_forwarded_for() {
        let policy = ClientIpPolicy::with(Some(HeaderName::from_static("x-real-ip")), 1);
        let h = headers(&[
            ("x-forwarded-for", b"1.1.1.1, 2.2.2.2"),
            ("x-real-ip", b"203.0.113.9"),
        ]);
        assert_eq!(policy.client_ip(&h, Some(PEER)), ip("203.0.113.9"));
        // Missing, repeated or garbage: the peer (allauth: no address at all).
        let h = headers(&[("x-forwarded-for", b"1.1.1.1, 2.2.2.2")]);
        assert_eq!(policy.client_ip(&h, Some(PEER)), Some(PEER));
        let h = headers(&[("x-real-ip", b"1.1.1.1"), ("x-real-ip", b"2.2.2.2")]);
        assert_eq!(policy.client_ip(&h, Some(PEER)), Some(PEER));
        for value in [&b"garbage"[..], b"", b"1.1.1.1, 2.2.2.2", b"\xff"] {
            let h = headers(&[("x-real-ip", value)]);
            assert_eq!(policy.client_ip(&h, Some(PEER)), Some(PEER), "{value:?}");
        }
    }

    #[test]
    fn parse_ip_takes_what_clean_client_ip_takes() {
        for (text, want) in [
            ("192.0.2.1", "192.0.2.1"),
            ("::1", "::1"),
            ("2001:db8:0:0:0:0:0:1", "2001:db8::1"),
            ("192.0.2.1:8080", "192.0.2.1"),
            ("[::1]:80", "::1"),
            ("[::1]", "::1"),
        ] {
            assert_eq!(parse_ip(text), ip(want), "{text}");
        }
        for text in [
            "",
            " 192.0.2.1",
            "192.0.2.1 ",
            "::1:80:",
            "example.com",
            "example.com:80",
        ] {
            assert_eq!(parse_ip(text), None, "{text:?}");
        }
    }
}
