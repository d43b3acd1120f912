//! The one place where the domain meets HTTP: every error becomes a response
//! here, credentials are read here, request bodies are bounded here.

use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use iev_domain::auth::Caller;
use iev_domain::service::{Service, MAX_BODY_BYTES};
use iev_domain::{DomainError, StoreError};
use serde_json::json;
use std::sync::Arc;

pub mod openapi;
pub mod schema;

/// What every handler shares.
pub type AppState = Arc<Service>;

/// A handler's failure. Only these reach a client; internal detail goes to the log.
#[derive(Debug)]
pub struct ApiError(pub DomainError);

impl From<DomainError> for ApiError {
    fn from(e: DomainError) -> Self {
        ApiError(e)
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        ApiError(DomainError::Store(e))
    }
}

fn error_body(status: StatusCode, code: &str, message: &str, field: Option<&str>) -> Response {
    let mut error = json!({"code": code, "message": message});
    if let Some(f) = field {
        error["field"] = json!(f);
    }
    (status, Json(json!({ "error": error }))).into_response()
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let e = self.0;
        match &e {
            DomainError::Invalid { field, message } => error_body(
                StatusCode::BAD_REQUEST,
                "invalid_input",
                message,
                field.as_deref(),
            ),
            DomainError::Unauthenticated => error_body(
                StatusCode::UNAUTHORIZED,
                "unauthenticated",
                "missing or unknown credential",
                None,
            ),
            DomainError::BadSignature(detail) => error_body(
                StatusCode::UNAUTHORIZED,
                "bad_signature",
                &format!("OAuth signature rejected: {detail}"),
                None,
            ),
            DomainError::Forbidden => error_body(
                StatusCode::FORBIDDEN,
                "forbidden",
                "this credential's role may not do that",
                None,
            ),
            DomainError::NotFound(what) => error_body(
                StatusCode::NOT_FOUND,
                "not_found",
                &format!("{what} not found"),
                None,
            ),
            DomainError::Conflict(message) => {
                error_body(StatusCode::CONFLICT, "conflict", message, None)
            }
            DomainError::TooLarge { limit } => error_body(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                &format!("request body is larger than {limit} bytes"),
                None,
            ),
            DomainError::Store(StoreError::Unavailable(detail)) => {
                tracing::warn!(error = %detail, "storage or queue unavailable");
                let mut response = error_body(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    "storage or queue unavailable; retry later",
                    None,
                );
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
                response
            }
            DomainError::Store(StoreError::Conflict(detail)) => {
                tracing::warn!(error = %detail, "write conflict");
                error_body(
                    StatusCode::CONFLICT,
                    "conflict",
                    "the record was changed by another request; try again",
                    None,
                )
            }
            DomainError::Store(StoreError::Internal(detail)) => {
                tracing::error!(error = %detail, "internal error");
                error_body(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "internal error",
                    None,
                )
            }
        }
    }
}

/// The caller named by `Authorization: Bearer <key>`.
pub struct Authenticated(pub Caller);

impl FromRequestParts<AppState> for Authenticated {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let key = bearer(&parts.headers);
        Ok(Authenticated(state.authenticate(key).await?))
    }
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, key) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| key.trim())
}

/// The query string's parameters, decoded, in order; the domain checks them.
pub struct QueryPairs(pub Vec<(String, String)>);

impl<S: Send + Sync> FromRequestParts<S> for QueryPairs {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        let query = parts.uri.query().unwrap_or_default();
        Ok(QueryPairs(
            url::form_urlencoded::parse(query.as_bytes())
                .into_owned()
                .collect(),
        ))
    }
}

/// A request body of at most 256 KiB; a larger one is refused with 413 before
/// it is read further.
pub struct BoundedBody(pub Bytes);

/// How long a request's body may take to arrive, where the server sets it (as
/// a request extension): the local runner does; in AWS, API Gateway buffers it.
#[derive(Debug, Clone, Copy)]
pub struct BodyReadTimeout(pub std::time::Duration);

impl<S: Send + Sync> FromRequest<S> for BoundedBody {
    type Rejection = Response;

    async fn from_request(req: Request, _state: &S) -> Result<Self, Response> {
        let too_large = || {
            ApiError(DomainError::TooLarge {
                limit: MAX_BODY_BYTES,
            })
            .into_response()
        };
        let declared = req
            .headers()
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok());
        if declared.is_some_and(|len| len > MAX_BODY_BYTES) {
            return Err(too_large());
        }
        let timeout = req.extensions().get::<BodyReadTimeout>().copied();
        let body: Body = req.into_body();
        let read = axum::body::to_bytes(body, MAX_BODY_BYTES);
        let read = match timeout {
            Some(BodyReadTimeout(limit)) => match tokio::time::timeout(limit, read).await {
                Ok(read) => read,
                Err(_) => {
                    return Err(error_body(
                        StatusCode::REQUEST_TIMEOUT,
                        "request_timeout",
                        &format!(
                            "the request body did not arrive within {} s",
                            limit.as_secs()
                        ),
                        None,
                    ))
                }
            },
            None => read.await,
        };
        read.map(BoundedBody).map_err(|_| too_large())
    }
}

/// The most a request's headers may hold together. API Gateway allows 10 KB a
/// header; 16 KiB for all of them is generous, and bounds what a client can
/// make the server hold.
pub const MAX_HEADER_BYTES: usize = 16 * 1024;

/// Every request of every function passes here once: its headers are bounded
/// before any route runs, and its answer is put in the error shape if it is an
/// error answer outside it (one layer, not two, on ingestion's hot path).
async fn edge(request: Request, next: axum::middleware::Next) -> Response {
    let size: usize = request
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 4)
        .sum::<usize>()
        + request
            .uri()
            .path_and_query()
            .map_or(0, |p| p.as_str().len());
    if size > MAX_HEADER_BYTES {
        return error_body(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "header_too_large",
            &format!("the request's URL and headers hold more than {MAX_HEADER_BYTES} bytes"),
            None,
        );
    }
    in_error_shape(next.run(request).await).await
}

/// JSON 404 and 405 for anything no route serves, and the error shape for
/// every other error answer too, so clients always get the error shape.
pub fn with_fallbacks(router: Router<AppState>) -> Router<AppState> {
    router
        .layer(axum::middleware::from_fn(edge))
        .fallback(|| async { ApiError(DomainError::NotFound("route")) })
        .method_not_allowed_fallback(|| async {
            error_body(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "this route does not take that method",
                None,
            )
        })
}

/// An error answer that is not yet in the API's JSON shape: an extractor's own
/// rejection, such as a path segment that is not UTF-8 (`%FF`), answers in
/// plain text. Its status stays; its text becomes the message of a 4xx, and
/// nothing of a 5xx's.
async fn in_error_shape(response: Response) -> Response {
    let status = response.status();
    // JSON is the API's shape; HTML is the console's own error page.
    let is_shaped = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| {
            v.as_bytes().starts_with(b"application/json") || v.as_bytes().starts_with(b"text/html")
        });
    if is_shaped || !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let (parts, body) = response.into_parts();
    let text = axum::body::to_bytes(body, 4096).await.unwrap_or_default();
    let text = String::from_utf8_lossy(&text);
    let reason = status.canonical_reason().unwrap_or("error");
    let code = match status {
        StatusCode::BAD_REQUEST => "invalid_input",
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        s if s.is_server_error() => "internal",
        _ => "invalid_request",
    };
    let message = if status.is_server_error() {
        tracing::error!(%status, detail = %text, "an error answer outside the API's shape");
        "internal error".to_owned()
    } else if text.trim().is_empty() {
        reason.to_ascii_lowercase()
    } else {
        text.trim().to_owned()
    };
    let mut shaped = error_body(status, code, &message, None);
    for (name, value) in parts.headers.iter() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            shaped.headers_mut().insert(name.clone(), value.clone());
        }
    }
    shaped
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    #[tokio::test]
    async fn an_extractors_plain_text_rejection_answers_in_the_error_shape() {
        use tower::ServiceExt;
        // The layer with_fallbacks puts on every function's router.
        let app = Router::new()
            .route(
                "/x/{id}",
                axum::routing::get(
                    |axum::extract::Path(id): axum::extract::Path<String>| async move { id },
                ),
            )
            .layer(axum::middleware::from_fn(edge));
        let response = app
            .oneshot(
                Request::builder()
                    .uri("/x/%FF")
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        assert_eq!(response.headers()[header::CONTENT_TYPE], "application/json");
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let body: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(body["error"]["code"], "invalid_input", "{body}");
        assert!(
            body["error"]["message"].as_str().unwrap().len() > 5,
            "{body}"
        );
    }

    #[tokio::test]
    async fn an_unavailable_store_says_when_to_retry() {
        let response =
            ApiError(DomainError::Store(StoreError::Unavailable("full".into()))).into_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()[header::RETRY_AFTER], "1");
    }

    async fn body_of(e: DomainError) -> (StatusCode, serde_json::Value) {
        let resp = ApiError(e).into_response();
        let status = resp.status();
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        (status, serde_json::from_slice(&bytes).unwrap())
    }

    #[tokio::test]
    async fn an_invalid_field_answers_400_naming_the_field() {
        let (status, body) = body_of(DomainError::invalid("payload.order", "required")).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(body["error"]["field"], "payload.order");
        assert_eq!(body["error"]["code"], "invalid_input");
    }

    #[tokio::test]
    async fn an_internal_failure_reveals_nothing_of_its_detail() {
        let (status, body) = body_of(DomainError::Store(StoreError::Internal(
            "sqlite: disk I/O error at /var/secret/path".into(),
        )))
        .await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(!body.to_string().contains("secret"));
        assert_eq!(body["error"]["message"], "internal error");
    }

    #[tokio::test]
    async fn an_unavailable_store_answers_503() {
        let (status, body) = body_of(DomainError::Store(StoreError::Unavailable(
            "timeout to 10.0.0.1".into(),
        )))
        .await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert!(!body.to_string().contains("10.0.0.1"));
    }

    #[test]
    fn a_bearer_key_is_read_case_insensitively_and_other_schemes_are_not() {
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, "bearer iev_abc".parse().unwrap());
        assert_eq!(bearer(&h), Some("iev_abc"));
        h.insert(header::AUTHORIZATION, "Basic abc".parse().unwrap());
        assert_eq!(bearer(&h), None);
    }
}
