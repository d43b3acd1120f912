//! Reading what happened: the Failed Integration Events report (one page, as
//! JSON or CSV), its summary, one failure record, and the events log.

use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use iev_domain::record::{ErrorRecord, SummaryRow};
use iev_domain::report::{EventList, Format};
use iev_domain::service::EventView;
use iev_http::{ApiError, AppState, Authenticated, QueryPairs};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/v1/events", get(list_events))
        .route("/v1/events/{id}", get(get_event))
        .route("/api/integration_errors", get(list_errors))
        .route("/api/integration_errors/summary", get(summary))
        .route("/api/integration_errors/{id}", get(get_error))
}

/// The next page's cursor travels in this header when the page is CSV.
pub const NEXT_CURSOR_HEADER: &str = "x-next-cursor";

pub async fn list_errors(
    State(service): State<AppState>,
    Authenticated(caller): Authenticated,
    QueryPairs(params): QueryPairs,
) -> Result<Response, ApiError> {
    let page = service.list_errors(&caller, params).await?;
    Ok(match page.format {
        Format::Json => Json(page.to_json()).into_response(),
        Format::Csv => {
            let mut response = (
                [
                    (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
                    (
                        header::CONTENT_DISPOSITION,
                        "attachment; filename=\"integration-errors.csv\"",
                    ),
                ],
                page.to_csv()?,
            )
                .into_response();
            if let Some(cursor) = page.next_cursor.as_deref().and_then(|c| c.parse().ok()) {
                response.headers_mut().insert(NEXT_CURSOR_HEADER, cursor);
            }
            response
        }
    })
}

pub async fn summary(
    State(service): State<AppState>,
    Authenticated(caller): Authenticated,
    QueryPairs(params): QueryPairs,
) -> Result<Json<Vec<SummaryRow>>, ApiError> {
    Ok(Json(service.error_summary(&caller, params).await?))
}

pub async fn list_events(
    State(service): State<AppState>,
    Authenticated(caller): Authenticated,
    QueryPairs(params): QueryPairs,
) -> Result<Json<EventList>, ApiError> {
    Ok(Json(service.list_events(&caller, params).await?))
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
