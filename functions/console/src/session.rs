//! Signing in to the console: a stateless session cookie, sealed with a key
//! derived from the deployment's cursor key, so that it works across Lambda
//! instances and runner restarts.
//!
//! The cookie holds the API key's hash, encrypted (so the browser cannot read
//! it), and when it was last used; never the key. Every request opens it,
//! checks that it was used within the last 12 hours, and authenticates the
//! hash through the same `Service` the API uses, so a revoked key's sessions
//! end with it. Each answer re-issues it with the new time (a sliding expiry).

use axum::http::{header, HeaderMap, Method};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use iev_domain::auth::KeyHash;
use iev_domain::service::Service;
use sha2::Sha256;

pub const COOKIE: &str = "iev_session";
/// A session ends after this long without a request.
pub const IDLE_SECONDS: i64 = 12 * 60 * 60;
const VERSION: &str = "v1";

fn mac(key: &[u8]) -> Hmac<Sha256> {
    Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length")
}

/// The keys that seal sessions, derived from the service's cursor key.
pub struct SessionKeys {
    encrypt: Vec<u8>,
    sign: Vec<u8>,
}

impl SessionKeys {
    pub fn of(service: &Service) -> Self {
        SessionKeys {
            encrypt: service
                .config
                .cursor_key
                .derive("console session encryption"),
            sign: service
                .config
                .cursor_key
                .derive("console session signature"),
        }
    }

    /// `v1.<nonce>.<hash encrypted>.<last used, unix s>.<tag>`: the hash's 32
    /// bytes XORed with HMAC(encrypt key, nonce), then the whole signed.
    pub fn seal(&self, hash: &KeyHash, last_used: i64) -> Option<String> {
        let plain = hex::decode(&hash.0).ok().filter(|b| b.len() == 32)?;
        let nonce: [u8; 16] = rand::random();
        let mut pad = mac(&self.encrypt);
        pad.update(&nonce);
        let pad = pad.finalize().into_bytes();
        let sealed: Vec<u8> = plain.iter().zip(pad.iter()).map(|(a, b)| a ^ b).collect();
        let body = format!(
            "{VERSION}.{}.{}.{last_used}",
            URL_SAFE_NO_PAD.encode(nonce),
            URL_SAFE_NO_PAD.encode(sealed)
        );
        let mut tag = mac(&self.sign);
        tag.update(body.as_bytes());
        Some(format!(
            "{body}.{}",
            URL_SAFE_NO_PAD.encode(tag.finalize().into_bytes())
        ))
    }

    /// The key hash and last use a cookie holds, if this deployment sealed it.
    pub fn open(&self, cookie: &str) -> Option<(KeyHash, i64)> {
        let (body, tag) = cookie.rsplit_once('.')?;
        let mut check = mac(&self.sign);
        check.update(body.as_bytes());
        check
            .verify_slice(&URL_SAFE_NO_PAD.decode(tag).ok()?)
            .ok()?;
        let mut parts = body.split('.');
        let (version, nonce, sealed, last_used) =
            (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        if version != VERSION || parts.next().is_some() {
            return None;
        }
        let nonce = URL_SAFE_NO_PAD.decode(nonce).ok()?;
        let sealed = URL_SAFE_NO_PAD.decode(sealed).ok()?;
        let mut pad = mac(&self.encrypt);
        pad.update(&nonce);
        let pad = pad.finalize().into_bytes();
        if sealed.len() != 32 {
            return None;
        }
        let plain: Vec<u8> = sealed.iter().zip(pad.iter()).map(|(a, b)| a ^ b).collect();
        Some((KeyHash(hex::encode(plain)), last_used.parse().ok()?))
    }
}

/// Whether a session last used at `last_used` is still open at `now`.
pub fn fresh(last_used: i64, now: i64) -> bool {
    now >= last_used - 60 && now - last_used <= IDLE_SECONDS
}

/// The session cookie's attributes: HttpOnly, SameSite=Strict, the whole
/// site, Secure when the service is reached over https.
/// The session cookie's name: under https it takes the `__Host-` prefix, so
/// that the browser keeps it to this host alone (no sibling subdomain can set
/// or shadow it).
pub fn cookie_name(secure: bool) -> &'static str {
    if secure {
        "__Host-iev_session"
    } else {
        COOKIE
    }
}

pub fn cookie_header(name: &str, value: &str, max_age: i64, secure: bool) -> String {
    format!(
        "{name}={value}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Strict{}",
        if secure { "; Secure" } else { "" }
    )
}

/// A cookie of the request, by name.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v)
}

/// Whether a request that changes something comes from the console's own
/// pages: the browser says so (`Sec-Fetch-Site: same-origin`), or its
/// `Origin` names the host it was sent to. A request with neither is refused,
/// on top of the cookie's SameSite=Strict.
pub fn same_origin(method: &Method, headers: &HeaderMap) -> bool {
    if matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS) {
        return true;
    }
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        return site == "same-origin";
    }
    let origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok());
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    match (origin.and_then(|o| url::Url::parse(o).ok()), host) {
        (Some(origin), Some(host)) => {
            let origin_host = match origin.port() {
                Some(port) => format!("{}:{port}", origin.host_str().unwrap_or_default()),
                None => origin.host_str().unwrap_or_default().to_owned(),
            };
            origin_host.eq_ignore_ascii_case(host)
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> SessionKeys {
        SessionKeys {
            encrypt: b"e".to_vec(),
            sign: b"s".to_vec(),
        }
    }

    #[test]
    fn a_sealed_session_opens_to_its_key_hash_and_time_and_hides_the_hash() {
        let hash = KeyHash::of("iev_key");
        let cookie = keys().seal(&hash, 1_700_000_000).unwrap();
        assert!(!cookie.contains(&hash.0));
        assert!(!cookie.contains("iev_key"));
        assert_eq!(keys().open(&cookie), Some((hash, 1_700_000_000)));
    }

    #[test]
    fn an_altered_or_foreign_session_does_not_open() {
        let cookie = keys().seal(&KeyHash::of("iev_key"), 1_700_000_000).unwrap();
        let later = cookie.replace(".1700000000.", ".1800000000.");
        assert_eq!(keys().open(&later), None);
        let other = SessionKeys {
            encrypt: b"e".to_vec(),
            sign: b"other".to_vec(),
        };
        assert_eq!(other.open(&cookie), None);
        assert_eq!(keys().open("v1.a.b.c.d"), None);
        assert_eq!(keys().open(""), None);
    }

    #[test]
    fn a_session_unused_for_twelve_hours_is_closed() {
        assert!(fresh(1000, 1000 + IDLE_SECONDS));
        assert!(!fresh(1000, 1001 + IDLE_SECONDS));
        assert!(!fresh(10_000, 1000), "a time in the future is refused");
    }

    #[test]
    fn a_change_from_another_site_or_without_origin_is_refused() {
        let post = Method::POST;
        let mut h = HeaderMap::new();
        assert!(!same_origin(&post, &h));
        h.insert(header::HOST, "127.0.0.1:8080".parse().unwrap());
        h.insert(header::ORIGIN, "http://127.0.0.1:8080".parse().unwrap());
        assert!(same_origin(&post, &h));
        h.insert(header::ORIGIN, "http://evil.example".parse().unwrap());
        assert!(!same_origin(&post, &h));
        h.insert("sec-fetch-site", "cross-site".parse().unwrap());
        assert!(!same_origin(&post, &h));
        h.insert("sec-fetch-site", "same-origin".parse().unwrap());
        assert!(same_origin(&post, &h));
        assert!(same_origin(&Method::GET, &HeaderMap::new()));
    }
}
