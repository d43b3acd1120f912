//! OAuth 1.0a, two-legged, HMAC-SHA1 (RFC 5849), as AppDirect signs calls to
//! vendors and verifies calls from them. Vendor code written for AppDirect uses a
//! standard OAuth library, so this follows the RFC to the letter.

use base64::Engine;
use hmac::{Hmac, Mac};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use sha1::Sha1;

/// RFC 5849 3.6: everything but ALPHA, DIGIT, '-', '.', '_', '~' is encoded.
const RFC3986: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// How far a request's timestamp may stray from our clock.
pub const TIMESTAMP_WINDOW_SECS: i64 = 300;

pub fn encode(s: &str) -> String {
    utf8_percent_encode(s, RFC3986).to_string()
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OAuthError {
    #[error("missing OAuth Authorization header")]
    Missing,
    #[error("malformed OAuth Authorization header: {0}")]
    Malformed(String),
    #[error("unsupported oauth_signature_method '{0}', expected HMAC-SHA1")]
    UnsupportedMethod(String),
    #[error("unknown oauth_consumer_key")]
    UnknownConsumer,
    #[error("oauth_timestamp is outside the allowed window")]
    Stale,
    #[error("signature does not match")]
    BadSignature,
}

/// The parameters of an `Authorization: OAuth ...` header, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthorizationParams {
    pub params: Vec<(String, String)>,
}

impl AuthorizationParams {
    pub fn parse(header: &str) -> Result<Self, OAuthError> {
        let rest = header
            .trim()
            .strip_prefix("OAuth")
            .filter(|r| r.is_empty() || r.starts_with(char::is_whitespace))
            .ok_or(OAuthError::Missing)?;
        let mut params = Vec::new();
        for part in rest.split(',') {
            let part = part.trim();
            if part.is_empty() {
                continue;
            }
            let (k, v) = part
                .split_once('=')
                .ok_or_else(|| OAuthError::Malformed(format!("'{part}' has no '='")))?;
            let v = v
                .trim()
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .ok_or_else(|| OAuthError::Malformed(format!("value of '{k}' is not quoted")))?;
            let decode = |s: &str| {
                percent_encoding::percent_decode_str(s)
                    .decode_utf8()
                    .map(|c| c.into_owned())
                    .map_err(|_| OAuthError::Malformed(format!("'{k}' is not UTF-8")))
            };
            params.push((decode(k.trim())?, decode(v)?));
        }
        Ok(AuthorizationParams { params })
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn require(&self, name: &str) -> Result<&str, OAuthError> {
        self.get(name)
            .ok_or_else(|| OAuthError::Malformed(format!("{name} is missing")))
    }
}

/// RFC 5849 3.4.1.2: scheme and host lower-case, default port dropped, no query.
pub fn base_string_uri(url: &url::Url) -> String {
    let scheme = url.scheme().to_ascii_lowercase();
    let host = url.host_str().unwrap_or_default().to_ascii_lowercase();
    let port = match url.port() {
        Some(p) if !(scheme == "http" && p == 80 || scheme == "https" && p == 443) => {
            format!(":{p}")
        }
        _ => String::new(),
    };
    format!("{scheme}://{host}{port}{}", url.path())
}

/// RFC 5849 3.4.1: the string that is signed.
pub fn signature_base_string(method: &str, url: &url::Url, params: &[(String, String)]) -> String {
    let mut encoded: Vec<(String, String)> =
        params.iter().map(|(k, v)| (encode(k), encode(v))).collect();
    encoded.sort();
    let normalized = encoded
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&");
    format!(
        "{}&{}&{}",
        method.to_ascii_uppercase(),
        encode(&base_string_uri(url)),
        encode(&normalized)
    )
}

pub fn hmac_sha1_signature(base: &str, consumer_secret: &str, token_secret: &str) -> String {
    let key = format!("{}&{}", encode(consumer_secret), encode(token_secret));
    let mut mac = Hmac::<Sha1>::new_from_slice(key.as_bytes()).expect("HMAC takes any key size");
    mac.update(base.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// The parameters that go into the signature: the URL's query, a form body's
/// fields, and the Authorization header's `oauth_*` (less realm and signature).
fn signed_params(
    url: &url::Url,
    form_body: Option<&[u8]>,
    header: &AuthorizationParams,
) -> Vec<(String, String)> {
    let mut params: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    if let Some(body) = form_body {
        params.extend(url::form_urlencoded::parse(body).into_owned());
    }
    params.extend(
        header
            .params
            .iter()
            .filter(|(k, _)| k != "realm" && k != "oauth_signature")
            .cloned(),
    );
    params
}

/// An `Authorization` header value for a two-legged request.
pub fn authorization_header(
    method: &str,
    url: &url::Url,
    form_body: Option<&[u8]>,
    consumer_key: &str,
    consumer_secret: &str,
    nonce: &str,
    timestamp: i64,
) -> String {
    let oauth = AuthorizationParams {
        params: vec![
            ("oauth_consumer_key".into(), consumer_key.into()),
            ("oauth_nonce".into(), nonce.into()),
            ("oauth_signature_method".into(), "HMAC-SHA1".into()),
            ("oauth_timestamp".into(), timestamp.to_string()),
            ("oauth_version".into(), "1.0".into()),
        ],
    };
    let base = signature_base_string(method, url, &signed_params(url, form_body, &oauth));
    let signature = hmac_sha1_signature(&base, consumer_secret, "");
    let mut parts: Vec<String> = oauth
        .params
        .iter()
        .map(|(k, v)| format!("{}=\"{}\"", encode(k), encode(v)))
        .collect();
    parts.push(format!("oauth_signature=\"{}\"", encode(&signature)));
    format!("OAuth {}", parts.join(", "))
}

/// Checks a signed request; returns the consumer key it was signed with.
/// `secret_for` answers the consumer secret for a key, or `None` if unknown.
pub fn verify(
    method: &str,
    url: &url::Url,
    authorization: Option<&str>,
    form_body: Option<&[u8]>,
    now_unix: i64,
    secret_for: impl FnOnce(&str) -> Option<String>,
) -> Result<String, OAuthError> {
    let header = AuthorizationParams::parse(authorization.ok_or(OAuthError::Missing)?)?;
    let method_name = header.require("oauth_signature_method")?;
    if method_name != "HMAC-SHA1" {
        return Err(OAuthError::UnsupportedMethod(method_name.to_owned()));
    }
    if let Some(version) = header.get("oauth_version") {
        if version != "1.0" {
            return Err(OAuthError::Malformed(format!(
                "oauth_version '{version}' is not 1.0"
            )));
        }
    }
    let timestamp: i64 = header
        .require("oauth_timestamp")?
        .parse()
        .map_err(|_| OAuthError::Malformed("oauth_timestamp is not a number".into()))?;
    header.require("oauth_nonce")?;
    let given = header.require("oauth_signature")?;
    let consumer_key = header.require("oauth_consumer_key")?.to_owned();
    let secret = secret_for(&consumer_key).ok_or(OAuthError::UnknownConsumer)?;
    if (now_unix - timestamp).abs() > TIMESTAMP_WINDOW_SECS {
        return Err(OAuthError::Stale);
    }
    let token_secret = "";
    let base = signature_base_string(method, url, &signed_params(url, form_body, &header));
    let expected = hmac_sha1_signature(&base, &secret, token_secret);
    if constant_time_eq(expected.as_bytes(), given.as_bytes()) {
        Ok(consumer_key)
    } else {
        Err(OAuthError::BadSignature)
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> url::Url {
        url::Url::parse(s).unwrap()
    }

    /// RFC 5849 section 3.4.1.1's worked example.
    #[test]
    fn the_base_string_matches_rfc_5849_section_3_4_1_1() {
        let header = AuthorizationParams::parse(
            r#"OAuth realm="Example", oauth_consumer_key="9djdj82h48djs9d2", oauth_token="kkk9d7dh3k39sjv7", oauth_signature_method="HMAC-SHA1", oauth_timestamp="137131201", oauth_nonce="7d8f3e4a", oauth_signature="bYT5CMsGcbgUdFHObYMEfcx6bsw%3D""#,
        )
        .unwrap();
        let u = url("http://example.com/request?b5=%3D%253D&a3=a&c%40=&a2=r%20b");
        let params = signed_params(&u, Some(b"c2&a3=2+q"), &header);
        assert_eq!(
            signature_base_string("POST", &u, &params),
            "POST&http%3A%2F%2Fexample.com%2Frequest&a2%3Dr%2520b%26a3%3D2%2520q%26a3%3Da%26b5%3D%253D%25253D%26c%2540%3D%26c2%3D%26oauth_consumer_key%3D9djdj82h48djs9d2%26oauth_nonce%3D7d8f3e4a%26oauth_signature_method%3DHMAC-SHA1%26oauth_timestamp%3D137131201%26oauth_token%3Dkkk9d7dh3k39sjv7"
        );
    }

    /// RFC 5849 section 1.2's worked example (with a token, which HMAC keys take too).
    #[test]
    fn the_signature_matches_rfc_5849_section_1_2() {
        let u = url("http://photos.example.net/photos?file=vacation.jpg&size=original");
        let header = AuthorizationParams {
            params: vec![
                ("oauth_consumer_key".into(), "dpf43f3p2l4k3l03".into()),
                ("oauth_token".into(), "nnch734d00sl2jdk".into()),
                ("oauth_signature_method".into(), "HMAC-SHA1".into()),
                ("oauth_timestamp".into(), "137131202".into()),
                ("oauth_nonce".into(), "chapoH".into()),
            ],
        };
        let base = signature_base_string("GET", &u, &signed_params(&u, None, &header));
        assert_eq!(
            hmac_sha1_signature(&base, "kd94hf93k423kf44", "pfkkdhi9sl3r4s00"),
            "MdpQcU8iPSUjWoN/UDMsK2sui9I="
        );
    }

    #[test]
    fn a_request_we_sign_verifies_and_names_its_consumer() {
        let u = url("https://iev.example:8443/api/integration/v1/events/tok?x=a+b");
        let h = authorization_header("GET", &u, None, "key", "s3cr&t", "n1", 1_000);
        let got = verify("GET", &u, Some(&h), None, 1_010, |k| {
            (k == "key").then(|| "s3cr&t".to_owned())
        });
        assert_eq!(got, Ok("key".to_owned()));
    }

    #[test]
    fn a_wrong_secret_a_changed_url_or_a_stale_timestamp_fail() {
        let u = url("https://iev.example/api/integration/v1/events/tok");
        let h = authorization_header("GET", &u, None, "key", "secret", "n1", 1_000);
        let secret = |_: &str| Some("other".to_owned());
        assert_eq!(
            verify("GET", &u, Some(&h), None, 1_000, secret),
            Err(OAuthError::BadSignature)
        );
        let moved = url("https://iev.example/api/integration/v1/events/tok2");
        let right = |_: &str| Some("secret".to_owned());
        assert_eq!(
            verify("GET", &moved, Some(&h), None, 1_000, right),
            Err(OAuthError::BadSignature)
        );
        assert_eq!(
            verify("GET", &u, Some(&h), None, 1_000 + 301, right),
            Err(OAuthError::Stale)
        );
        assert_eq!(
            verify("POST", &u, Some(&h), None, 1_000, right),
            Err(OAuthError::BadSignature)
        );
    }

    #[test]
    fn unsigned_or_malformed_headers_are_refused() {
        let u = url("https://iev.example/x");
        let any = |_: &str| Some("s".to_owned());
        assert_eq!(
            verify("GET", &u, None, None, 0, any),
            Err(OAuthError::Missing)
        );
        assert_eq!(
            verify("GET", &u, Some("Bearer abc"), None, 0, any),
            Err(OAuthError::Missing)
        );
        assert!(matches!(
            verify("GET", &u, Some("OAuth oauth_nonce=abc"), None, 0, any),
            Err(OAuthError::Malformed(_))
        ));
        assert_eq!(
            verify(
                "GET",
                &u,
                Some(r#"OAuth oauth_signature_method="PLAINTEXT""#),
                None,
                0,
                any
            ),
            Err(OAuthError::UnsupportedMethod("PLAINTEXT".into()))
        );
    }

    #[test]
    fn an_unknown_consumer_key_is_refused() {
        let u = url("https://iev.example/x");
        let h = authorization_header("GET", &u, None, "nobody", "s", "n", 5);
        assert_eq!(
            verify("GET", &u, Some(&h), None, 5, |_| None),
            Err(OAuthError::UnknownConsumer)
        );
    }
}
