//! Acting on failures: resolving, unresolving and annotating failure records
//! (one or many), raising alerts about them, one more delivery of an event,
//! re-enabling an integration, redelivering what failed in a window.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{patch, post, put};
use axum::{Json, Router};
use iev_domain::record::{Alert, ErrorRecord};
use iev_domain::service::{Enabled, EventView};
use iev_http::{ApiError, AppState, Authenticated, BoundedBody};
use serde_json::{json, Value};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/events/{id}/retry", post(retry_event))
        .route("/v1/integrations/{application_id}/enable", post(enable))
        .route("/v1/integrations/{application_id}/recover", post(recover))
        .route(
            "/api/integration_errors/{id}",
            patch(patch_error).put(patch_error),
        )
        .route("/api/integration_errors/{id}/resolve", put(resolve))
        .route("/api/integration_errors/{id}/unresolve", put(unresolve))
        .route("/api/integration_errors/resolve", post(resolve_many))
        .route("/api/integration_errors/create_alert", post(create_alert))
}

pub async fn resolve(
    State(service): State<AppState>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
    BoundedBody(body): BoundedBody,
) -> Result<Json<ErrorRecord>, ApiError> {
    Ok(Json(service.resolve_error(&caller, &id, &body).await?))
}

pub async fn unresolve(
    State(service): State<AppState>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
) -> Result<Json<ErrorRecord>, ApiError> {
    Ok(Json(service.unresolve_error(&caller, &id).await?))
}

pub async fn patch_error(
    State(service): State<AppState>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
    BoundedBody(body): BoundedBody,
) -> Result<Json<ErrorRecord>, ApiError> {
    Ok(Json(service.patch_error(&caller, &id, &body).await?))
}

pub async fn resolve_many(
    State(service): State<AppState>,
    Authenticated(caller): Authenticated,
    BoundedBody(body): BoundedBody,
) -> Result<Json<Value>, ApiError> {
    let results = service.resolve_many(&caller, &body).await?;
    Ok(Json(json!({ "results": results })))
}

pub async fn create_alert(
    State(service): State<AppState>,
    Authenticated(caller): Authenticated,
    BoundedBody(body): BoundedBody,
) -> Result<(StatusCode, Json<Alert>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(service.create_alert(&caller, &body).await?),
    ))
}

pub async fn retry_event(
    State(service): State<AppState>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<EventView>), ApiError> {
    Ok((
        StatusCode::ACCEPTED,
        Json(service.retry_event(&caller, &id).await?),
    ))
}

pub async fn enable(
    State(service): State<AppState>,
    Authenticated(caller): Authenticated,
    Path(application_id): Path<String>,
    BoundedBody(body): BoundedBody,
) -> Result<Json<Enabled>, ApiError> {
    Ok(Json(
        service
            .enable_integration(&caller, &application_id, &body)
            .await?,
    ))
}

pub async fn recover(
    State(service): State<AppState>,
    Authenticated(caller): Authenticated,
    Path(application_id): Path<String>,
    BoundedBody(body): BoundedBody,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let queued = service.recover(&caller, &application_id, &body).await?;
    Ok((StatusCode::ACCEPTED, Json(json!({ "queued": queued }))))
}
