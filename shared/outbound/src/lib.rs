//! Calls to vendors and alert webhooks. Addresses on loopback, private,
//! link-local (cloud metadata) and other internal ranges are refused unless
//! policy allows them, whether named by an IP in the URL, reached through DNS,
//! or redirected to.

use async_trait::async_trait;
use iev_domain::ports::{Outbound, OutboundRequest, OutboundResult};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AddressPolicy {
    pub allow_loopback: bool,
    pub allow_private: bool,
}

impl AddressPolicy {
    /// Public addresses only: the default in AWS.
    pub const PUBLIC_ONLY: AddressPolicy = AddressPolicy {
        allow_loopback: false,
        allow_private: false,
    };
    /// Public and loopback: the local runner's default, so the demo vendor on localhost works.
    pub const WITH_LOOPBACK: AddressPolicy = AddressPolicy {
        allow_loopback: true,
        allow_private: false,
    };

    /// `none`, `loopback` or `all`: which internal addresses may be called.
    pub fn parse(s: &str) -> Result<Self, String> {
        match s {
            "none" => Ok(Self::PUBLIC_ONLY),
            "loopback" => Ok(Self::WITH_LOOPBACK),
            "all" => Ok(AddressPolicy {
                allow_loopback: true,
                allow_private: true,
            }),
            other => Err(format!("'{other}' is not one of none, loopback, all")),
        }
    }

    /// Why `ip` may not be called, if it may not.
    pub fn refusal(&self, ip: IpAddr) -> Option<&'static str> {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
            v4 => v4,
        };
        // An IPv6 form that carries an IPv4 address reaches that address
        // through a translator or a tunnel: judged by the address it carries,
        // and never allowed as loopback.
        if let IpAddr::V6(v6) = ip {
            if let Some(v4) = embedded_v4(v6) {
                let inner = IpAddr::V4(v4);
                let internal =
                    inner.is_loopback() || AddressPolicy::PUBLIC_ONLY.refusal(inner).is_some();
                return (internal && !self.allow_private)
                    .then_some("an IPv6 address that carries an internal IPv4 address");
            }
        }
        if ip.is_loopback() {
            return (!self.allow_loopback).then_some("a loopback address");
        }
        let internal = match ip {
            IpAddr::V4(v4) => {
                let [a, b, ..] = v4.octets();
                v4.is_private()
                    || v4.is_link_local()
                    || v4.is_unspecified()
                    || v4.is_broadcast()
                    || v4.is_multicast()
                    || a == 0
                    || (a == 100 && (64..128).contains(&b))
                    || (a == 192 && b == 0)
                    || a >= 240
            }
            IpAddr::V6(v6) => {
                let [first, second, third, ..] = v6.segments();
                v6.is_unspecified()
                    || v6.is_multicast()
                    || (first & 0xfe00) == 0xfc00
                    || (first & 0xffc0) == 0xfe80
                    // site-local (deprecated, still routed inside some networks)
                    || (first & 0xffc0) == 0xfec0
                    // Teredo: the IPv4 client it reaches is obscured in the address
                    || (first == 0x2001 && second == 0)
                    // NAT64 for local use (RFC 8215)
                    || (first == 0x64 && second == 0xff9b && third == 1)
                    // discard-only (RFC 6666)
                    || v6.segments()[..4] == [0x100, 0, 0, 0]
            }
        };
        (internal && !self.allow_private).then_some("a private, link-local or reserved address")
    }
}

/// The IPv4 address an IPv6 address stands for: IPv4-compatible
/// (`::a.b.c.d`, not `::` or `::1`), NAT64 (`64:ff9b::/96`) and 6to4
/// (`2002:aabb:ccdd::/48`). IPv4-mapped addresses are unwrapped before.
fn embedded_v4(v6: std::net::Ipv6Addr) -> Option<std::net::Ipv4Addr> {
    let s = v6.segments();
    let low = |hi: u16, lo: u16| {
        let [a, b] = hi.to_be_bytes();
        let [c, d] = lo.to_be_bytes();
        std::net::Ipv4Addr::new(a, b, c, d)
    };
    let compatible = s[..6] == [0; 6] && !(s[6] == 0 && s[7] <= 1);
    let nat64 = s[..6] == [0x64, 0xff9b, 0, 0, 0, 0];
    // IPv4-translated (SIIT, RFC 2765): ::ffff:0:a.b.c.d
    let translated = s[..6] == [0, 0, 0, 0, 0xffff, 0];
    if compatible || nat64 || translated {
        Some(low(s[6], s[7]))
    } else if s[0] == 0x2002 {
        Some(low(s[1], s[2]))
    } else {
        None
    }
}

#[derive(Debug, Clone)]
pub struct OutboundConfig {
    pub timeout: Duration,
    pub max_response_bytes: usize,
    pub policy: AddressPolicy,
}

impl Default for OutboundConfig {
    fn default() -> Self {
        OutboundConfig {
            timeout: Duration::from_secs(10),
            max_response_bytes: 64 * 1024,
            policy: AddressPolicy::PUBLIC_ONLY,
        }
    }
}

/// The resolver refused every address of a host.
#[derive(Debug)]
struct Forbidden(String);

impl std::fmt::Display for Forbidden {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Forbidden {}

/// Resolves names through the system resolver and drops the addresses policy forbids.
struct PolicyResolver(AddressPolicy);

impl reqwest::dns::Resolve for PolicyResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = self.0;
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let allowed: Vec<SocketAddr> = addrs
                .iter()
                .copied()
                .filter(|a| policy.refusal(a.ip()).is_none())
                .collect();
            if allowed.is_empty() {
                let why = addrs
                    .first()
                    .and_then(|a| policy.refusal(a.ip()))
                    .unwrap_or("no address");
                return Err(Box::new(Forbidden(format!("{host} resolves to {why}")))
                    as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(allowed.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

fn literal_refusal(policy: &AddressPolicy, url: &url::Url) -> Option<String> {
    let ip = match url.host()? {
        url::Host::Ipv4(v4) => IpAddr::V4(v4),
        url::Host::Ipv6(v6) => IpAddr::V6(v6),
        url::Host::Domain(_) => return None,
    };
    policy.refusal(ip).map(|why| format!("{ip} is {why}"))
}

#[derive(Clone)]
pub struct HttpOutbound {
    client: reqwest::Client,
    config: Arc<OutboundConfig>,
}

impl HttpOutbound {
    pub fn new(config: OutboundConfig) -> Result<Self, String> {
        let policy = config.policy;
        let redirects = reqwest::redirect::Policy::custom(move |attempt| {
            if attempt.previous().len() >= 3 {
                attempt.error("more than 3 redirects")
            } else if let Some(why) = literal_refusal(&policy, attempt.url()) {
                attempt.error(Forbidden(format!("redirect refused: {why}")))
            } else {
                attempt.follow()
            }
        });
        let client = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.timeout.min(Duration::from_secs(5)))
            .redirect(redirects)
            .dns_resolver(Arc::new(PolicyResolver(policy)))
            .pool_max_idle_per_host(64)
            .user_agent("integration-events/1")
            .build()
            .map_err(|e| format!("HTTP client: {e}"))?;
        Ok(HttpOutbound {
            client,
            config: Arc::new(config),
        })
    }
}

fn forbidden_in(e: &(dyn std::error::Error + 'static)) -> Option<String> {
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = current {
        if let Some(f) = err.downcast_ref::<Forbidden>() {
            return Some(f.0.clone());
        }
        current = err.source();
    }
    None
}

fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let value = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?;
    if let Ok(secs) = value.trim().parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = chrono::DateTime::parse_from_rfc2822(value.trim()).ok()?;
    (at.with_timezone(&chrono::Utc) - chrono::Utc::now())
        .to_std()
        .ok()
}

#[async_trait]
impl Outbound for HttpOutbound {
    async fn send(&self, request: OutboundRequest) -> OutboundResult {
        let url = match url::Url::parse(&request.url) {
            Ok(u) => u,
            Err(e) => return OutboundResult::Refused(format!("not a URL: {e}")),
        };
        if let Some(why) = literal_refusal(&self.config.policy, &url) {
            return OutboundResult::Refused(why);
        }
        let method = if request.method == "POST" {
            reqwest::Method::POST
        } else {
            reqwest::Method::GET
        };
        let mut req = self
            .client
            .request(method, url)
            .header(reqwest::header::ACCEPT, "application/json");
        if let Some(auth) = request.authorization {
            req = req.header(reqwest::header::AUTHORIZATION, auth);
        }
        if let Some(body) = request.json_body {
            req = req
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body);
        }
        let mut resp = match req.send().await {
            Ok(r) => r,
            Err(e) => return classify(e),
        };
        let status = resp.status().as_u16();
        let retry_after = retry_after(resp.headers());
        let cap = self.config.max_response_bytes;
        let mut body = Vec::new();
        let mut truncated = false;
        loop {
            match resp.chunk().await {
                Ok(Some(chunk)) => {
                    if body.len() + chunk.len() > cap {
                        body.extend_from_slice(&chunk[..cap - body.len()]);
                        truncated = true;
                        break;
                    }
                    body.extend_from_slice(&chunk);
                }
                Ok(None) => break,
                Err(e) => return classify(e),
            }
        }
        OutboundResult::Response {
            status,
            body,
            truncated,
            retry_after,
        }
    }
}

fn classify(e: reqwest::Error) -> OutboundResult {
    if let Some(why) = forbidden_in(&e) {
        return OutboundResult::Refused(why);
    }
    if e.is_timeout() {
        return OutboundResult::Timeout;
    }
    let mut detail = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        detail = format!("{detail}: {s}");
        source = s.source();
    }
    OutboundResult::Unreachable(detail)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn internal_addresses_are_refused_by_default_and_public_ones_are_not() {
        let p = AddressPolicy::PUBLIC_ONLY;
        for internal in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "::1",
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
        ] {
            assert!(
                p.refusal(ip(internal)).is_some(),
                "{internal} must be refused"
            );
        }
        for public in ["93.184.216.34", "8.8.8.8", "2606:4700::1111"] {
            assert!(p.refusal(ip(public)).is_none(), "{public} must be allowed");
        }
    }

    #[test]
    fn ipv6_forms_that_carry_an_internal_ipv4_address_are_refused_and_public_ones_are_not() {
        for policy in [AddressPolicy::PUBLIC_ONLY, AddressPolicy::WITH_LOOPBACK] {
            for internal in [
                "::127.0.0.1",
                "::169.254.169.254",
                "::10.0.0.1",
                "64:ff9b::169.254.169.254",
                "64:ff9b::7f00:1",
                "64:ff9b::10.1.2.3",
                "2002:a9fe:a9fe::1",
                "2002:7f00:1::",
                "2002:c0a8:101::1",
                "::ffff:0:169.254.169.254",
                "::ffff:0:10.0.0.1",
            ] {
                assert!(
                    policy.refusal(ip(internal)).is_some(),
                    "{internal} must be refused under {policy:?}"
                );
            }
        }
        let p = AddressPolicy::PUBLIC_ONLY;
        for public in ["::8.8.8.8", "64:ff9b::93.184.216.34", "2002:5db8:d822::1"] {
            assert!(
                p.refusal(ip(public)).is_none(),
                "{public} carries a public address"
            );
        }
    }

    #[test]
    fn teredo_local_nat64_and_site_local_ranges_are_refused() {
        let p = AddressPolicy::PUBLIC_ONLY;
        for internal in [
            "2001:0:4136:e378:8000:63bf:3fff:fdd2",
            "2001::1",
            "64:ff9b:1::a00:1",
            "fec0::1",
            "feff::1",
            "100::1",
        ] {
            assert!(
                p.refusal(ip(internal)).is_some(),
                "{internal} must be refused"
            );
        }
        assert!(
            p.refusal(ip("2001:db8::1")).is_none(),
            "2001:db8::/32 is not Teredo"
        );
        assert!(AddressPolicy::parse("all")
            .unwrap()
            .refusal(ip("::10.0.0.1"))
            .is_none());
    }

    #[test]
    fn the_loopback_policy_allows_loopback_but_still_refuses_metadata() {
        let p = AddressPolicy::WITH_LOOPBACK;
        assert!(p.refusal(ip("127.0.0.1")).is_none());
        assert!(p.refusal(ip("::1")).is_none());
        assert!(p.refusal(ip("169.254.169.254")).is_some());
        assert!(p.refusal(ip("10.0.0.1")).is_some());
    }

    #[test]
    fn a_retry_after_header_is_read_in_seconds() {
        let mut h = reqwest::header::HeaderMap::new();
        h.insert(reqwest::header::RETRY_AFTER, "7".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_secs(7)));
    }

    #[tokio::test]
    async fn a_loopback_url_is_refused_before_any_connection_under_the_public_policy() {
        let out = HttpOutbound::new(OutboundConfig::default()).unwrap();
        let result = out
            .send(OutboundRequest {
                method: "GET",
                url: "http://127.0.0.1:9/x".into(),
                authorization: None,
                json_body: None,
            })
            .await;
        assert!(matches!(result, OutboundResult::Refused(_)), "{result:?}");
        let result = out
            .send(OutboundRequest {
                method: "GET",
                url: "http://localhost:9/x".into(),
                authorization: None,
                json_body: None,
            })
            .await;
        assert!(matches!(result, OutboundResult::Refused(_)), "{result:?}");
    }
}
