//! Event ingestion and what it needs: the events a marketplace posts, the
//! signed fetch by which a vendor reads one, integrations and API keys.

use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::routing::{delete, get, post, put};
use axum::{Json, Router};
use iev_domain::event::EventBody;
use iev_domain::integration::IntegrationView;
use iev_domain::report::IntegrationList;
use iev_domain::service::{Accepted, KeyList, NewKey};
use iev_http::{ApiError, AppState, Authenticated, BoundedBody, QueryPairs};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/events", post(ingest_event))
        .route("/api/integration/v1/events/{token}", get(vendor_fetch))
        .route(
            "/api/integration/v1/events/{token}/result",
            post(vendor_result),
        )
        .route("/v1/integrations", get(list_integrations))
        .route(
            "/v1/integrations/{application_id}",
            put(put_integration).get(get_integration),
        )
        .route("/v1/api-keys", post(create_key).get(list_keys))
        .route("/v1/api-keys/{id}", delete(revoke_key))
}

pub async fn ingest_event(
    State(service): State<AppState>,
    Authenticated(caller): Authenticated,
    headers: HeaderMap,
    BoundedBody(body): BoundedBody,
) -> Result<(StatusCode, Json<Accepted>), ApiError> {
    let key = match headers.get("idempotency-key") {
        Some(v) => Some(v.to_str().map_err(|_| {
            iev_domain::DomainError::invalid("Idempotency-Key", "must be visible ASCII")
        })?),
        None => None,
    };
    let accepted = service.ingest(&caller, key, &body).await?;
    Ok((StatusCode::ACCEPTED, Json(accepted)))
}

pub async fn vendor_fetch(
    State(service): State<AppState>,
    Path(token): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Json<EventBody>, ApiError> {
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let event = service
        .vendor_fetch(&token, query.as_deref(), authorization)
        .await?;
    Ok(Json(event))
}

/// The vendor's asynchronous answer to an event it acknowledged with 202.
pub async fn vendor_result(
    State(service): State<AppState>,
    Path(token): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    BoundedBody(body): BoundedBody,
) -> Result<Json<serde_json::Value>, ApiError> {
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    service
        .vendor_result(&token, query.as_deref(), authorization, &body)
        .await?;
    Ok(Json(serde_json::json!({ "success": true })))
}

pub async fn put_integration(
    State(service): State<AppState>,
    Authenticated(caller): Authenticated,
    Path(application_id): Path<String>,
    BoundedBody(body): BoundedBody,
) -> Result<Json<IntegrationView>, ApiError> {
    Ok(Json(
        service
            .put_integration(&caller, &application_id, &body)
            .await?,
    ))
}

pub async fn get_integration(
    State(service): State<AppState>,
    Authenticated(caller): Authenticated,
    Path(application_id): Path<String>,
) -> Result<Json<IntegrationView>, ApiError> {
    Ok(Json(
        service.get_integration(&caller, &application_id).await?,
    ))
}

pub async fn create_key(
    State(service): State<AppState>,
    Authenticated(caller): Authenticated,
    BoundedBody(body): BoundedBody,
) -> Result<(StatusCode, Json<NewKey>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(service.create_key(&caller, &body).await?),
    ))
}

pub async fn list_integrations(
    State(service): State<AppState>,
    Authenticated(caller): Authenticated,
    QueryPairs(pairs): QueryPairs,
) -> Result<Json<IntegrationList>, ApiError> {
    Ok(Json(service.list_integrations(&caller, pairs).await?))
}

pub async fn list_keys(
    State(service): State<AppState>,
    Authenticated(caller): Authenticated,
) -> Result<Json<KeyList>, ApiError> {
    Ok(Json(service.list_keys(&caller).await?))
}

pub async fn revoke_key(
    State(service): State<AppState>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    service.revoke_key(&caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
