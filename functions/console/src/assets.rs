//! The console's static files, compiled into the binary and served under a
//! versioned path (`/console/assets/<version>/<name>`): the version is a hash
//! of their contents, so a browser keeps them for a year and a new build is
//! fetched anew. Nothing is fetched from anywhere else.

use axum::extract::Path;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use std::sync::LazyLock;

struct Asset {
    name: &'static str,
    content_type: &'static str,
    bytes: &'static [u8],
    /// The same bytes gzip-compressed, where the package ships them so.
    gzip: Option<&'static [u8]>,
}

const ASSETS: &[Asset] = &[
    Asset {
        name: "console.css",
        content_type: "text/css; charset=utf-8",
        bytes: include_bytes!("../assets/console.css"),
        gzip: None,
    },
    Asset {
        name: "console.js",
        content_type: "text/javascript; charset=utf-8",
        bytes: include_bytes!("../assets/console.js"),
        gzip: None,
    },
    // htmx 2 (npm `htmx.org`, Zero-Clause BSD: assets/htmx.LICENSE).
    Asset {
        name: "htmx.min.js",
        content_type: "text/javascript; charset=utf-8",
        bytes: include_bytes!("../assets/htmx.min.js"),
        gzip: Some(include_bytes!("../assets/htmx.min.js.gz")),
    },
    Asset {
        name: "htmx.LICENSE",
        content_type: "text/plain; charset=utf-8",
        bytes: include_bytes!("../assets/htmx.LICENSE"),
        gzip: None,
    },
];

static VERSION: LazyLock<String> = LazyLock::new(|| {
    let mut hash = Sha256::new();
    for asset in ASSETS {
        hash.update(asset.name.as_bytes());
        hash.update(asset.bytes);
    }
    hex::encode(&hash.finalize()[..6])
});

/// The address of one of the console's files.
pub fn url(name: &str) -> String {
    format!("/console/assets/{}/{name}", *VERSION)
}

/// The bytes a browser downloads for all the console's files, each
/// compressed where it is served so.
pub fn served_bytes() -> usize {
    ASSETS
        .iter()
        .filter(|a| a.name != "htmx.LICENSE")
        .map(|a| a.gzip.map_or(a.bytes.len(), <[u8]>::len))
        .sum()
}

pub async fn serve(Path((version, name)): Path<(String, String)>, headers: HeaderMap) -> Response {
    let Some(asset) = ASSETS.iter().find(|a| a.name == name) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    if version != *VERSION {
        return StatusCode::NOT_FOUND.into_response();
    }
    let accepts_gzip = headers
        .get(header::ACCEPT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|e| e.trim().starts_with("gzip")));
    let mut response = match asset.gzip.filter(|_| accepts_gzip) {
        Some(gz) => {
            let mut r = gz.into_response();
            r.headers_mut()
                .insert(header::CONTENT_ENCODING, HeaderValue::from_static("gzip"));
            r
        }
        None => asset.bytes.into_response(),
    };
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(asset.content_type),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=31536000, immutable"),
    );
    h.insert(header::VARY, HeaderValue::from_static("Accept-Encoding"));
    response
}
