//! Acting on failures: one more delivery of an event, re-enabling an
//! integration, redelivering what failed in a window.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use iev_domain::service::{Enabled, EventView};
use iev_http::{ApiError, AppState, Authenticated, BoundedBody};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/events/{id}/retry", post(retry_event))
        .route("/v1/integrations/{application_id}/enable", post(enable))
        .route("/v1/integrations/{application_id}/recover", post(recover))
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
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    let queued = service.recover(&caller, &application_id, &body).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(serde_json::json!({ "queued": queued })),
    ))
}
