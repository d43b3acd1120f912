//! Writing the report as CSV: the daily export the schedule triggers, and
//! `POST /v1/exports`.

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use iev_domain::export::Exported;
use iev_domain::service::Service;
use iev_http::{ApiError, AppState, Authenticated, BoundedBody};
use lambda_runtime::LambdaEvent;

pub fn router() -> Router<AppState> {
    Router::new().route("/v1/exports", post(request_export))
}

pub async fn request_export(
    State(service): State<AppState>,
    Authenticated(caller): Authenticated,
    BoundedBody(body): BoundedBody,
) -> Result<(StatusCode, Json<Exported>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(service.request_export(&caller, &body).await?),
    ))
}

/// The day a scheduled run exports: the one before the schedule fired.
pub fn day_before(fired: chrono::DateTime<chrono::Utc>) -> chrono::NaiveDate {
    fired.date_naive() - chrono::Duration::days(1)
}

/// The schedule's event: exports the day before it fired.
pub async fn handle_schedule(
    service: &Service,
    event: LambdaEvent<EventBridgeEvent<serde_json::Value>>,
) -> Result<Exported, lambda_runtime::Error> {
    let fired = event.payload.time.unwrap_or_else(|| service.clock.now());
    Ok(service.daily_export(day_before(fired)).await?)
}
