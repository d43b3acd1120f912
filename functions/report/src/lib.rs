//! Reading what happened: one event with its delivery attempts, one failure record.

use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Json, Router};
use iev_domain::record::ErrorRecord;
use iev_domain::service::EventView;
use iev_http::{ApiError, AppState, Authenticated};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/events/{id}", get(get_event))
        .route("/api/integration_errors/{id}", get(get_error))
}

pub async fn get_event(
    State(service): State<AppState>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
) -> Result<Json<EventView>, ApiError> {
    Ok(Json(service.get_event(&caller, &id).await?))
}

pub async fn get_error(
    State(service): State<AppState>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
) -> Result<Json<ErrorRecord>, ApiError> {
    Ok(Json(service.get_error(&caller, &id).await?))
}
