//! Writing the report as CSV: the daily export the schedule triggers, and
//! `POST /v1/exports`.

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use axum::extract::State;
use axum::http::StatusCode;
use axum::{Json, Router};
use iev_domain::export::Exported;
use iev_domain::service::Service;
use iev_http::{schema, ApiError, AppState, Authenticated, BoundedBody};
use lambda_runtime::LambdaEvent;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// This function's routes, each with its part of the OpenAPI document.
pub fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(request_export))
}

pub fn router() -> Router<AppState> {
    api().into()
}

/// What to export; an empty body exports everything unresolved.
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"from": "2026-11-01", "to": "2026-11-02", "resolved": "all"}))]
#[allow(dead_code)]
struct ExportInput {
    /// Created at or after.
    from: Option<schema::TimeInput>,
    /// Created before (exclusive); later than `from`.
    to: Option<schema::TimeInput>,
    /// `false` (default), `true` or `all`.
    resolved: Option<String>,
}

/// Where the CSV was written, and how many rows it holds.
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = Exported)]
#[allow(dead_code)]
struct ExportedDoc {
    /// An S3 URI in AWS; a path under `<data dir>/exports/` locally.
    location: String,
    rows: u64,
}

#[utoipa::path(
    post,
    path = "/v1/exports",
    tag = "exports",
    operation_id = "requestExport",
    summary = "Export the report as CSV (admin, manager)",
    description = "The report's default fields, for a window and resolved state, written to S3 \
        in AWS and to `<data dir>/exports/` locally. A daily export runs on its own.",
    request_body(content = Option<ExportInput>, description = "Optional."),
    responses((status = 201, description = "Written.", body = ExportedDoc))
)]

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
