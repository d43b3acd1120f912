//! Reading what happened: the Failed Integration Events report (one page, as
//! JSON or CSV), its summary, one failure record, and the events log.

use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use iev_domain::record::{ErrorRecord, SummaryRow};
use iev_domain::report::{EventList, Format};
use iev_domain::service::EventView;
use iev_http::{schema, ApiError, AppState, Authenticated, QueryPairs};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// This function's routes, each with its part of the OpenAPI document.
pub fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_events))
        .routes(routes!(get_event))
        .routes(routes!(list_errors))
        .routes(routes!(summary))
        .routes(routes!(get_error))
}

pub fn router() -> Router<AppState> {
    api().into()
}

/// Which records by their resolved state: `false` the unresolved, `true` the
/// resolved (manually or by a later successful delivery), `all` both.
#[derive(ToSchema)]
#[allow(dead_code)]
enum Resolved {
    #[serde(rename = "false")]
    False,
    #[serde(rename = "true")]
    True,
    #[serde(rename = "all")]
    All,
}

#[derive(ToSchema)]
#[serde(rename_all = "lowercase")]
#[allow(dead_code)]
enum ReportFormat {
    Json,
    Csv,
}

/// `GET /api/integration_errors`'s query; each parameter at most once, no others.
#[derive(IntoParams)]
#[into_params(parameter_in = Query, rename_all = "camelCase")]
#[allow(dead_code)]
struct ReportQuery {
    /// Created at or after: RFC 3339, or `YYYY-MM-DD` (midnight UTC).
    #[param(inline)]
    from: Option<schema::TimeInput>,
    /// Created before (exclusive); later than `from`.
    #[param(inline)]
    to: Option<schema::TimeInput>,
    application_id: Option<String>,
    #[param(inline)]
    event_type: Option<schema::EventType>,
    #[param(inline)]
    error_code: Option<schema::ErrorCode>,
    #[param(inline)]
    category: Option<schema::Category>,
    company_id: Option<String>,
    user_email: Option<String>,
    /// 1 to 100 characters.
    #[param(min_length = 1, max_length = 100)]
    document_type: Option<String>,
    /// 1 to 256 characters.
    #[param(min_length = 1, max_length = 256)]
    document_id: Option<String>,
    /// 1 to 256 characters.
    #[param(min_length = 1, max_length = 256)]
    integration_run_id: Option<String>,
    /// Default `false`: actioned records are hidden.
    #[param(inline)]
    resolved: Option<Resolved>,
    /// A comma list of fields, each once: the record's fields (see
    /// `ReportRow`) or `customAttributes.<name>`. Default: creationDate,
    /// applicationId, importableApplicationUuid, applicationName, userId,
    /// userEmail, companyId, companyName, eventType, errorCode, message,
    /// manuallyResolved.
    #[param(example = "creationDate,applicationId,errorCode,customAttributes.ticket")]
    fields: Option<String>,
    /// `json` (default) or `csv` (a header row of headings; the next cursor in `X-Next-Cursor`).
    #[param(inline)]
    format: Option<ReportFormat>,
    /// 1 to 1000; default 50.
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<u32>,
    /// The `nextCursor` of the previous page, with the same filters.
    cursor: Option<String>,
}

/// One page of the report as JSON, newest first.
#[derive(ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[allow(dead_code)]
struct ReportPage {
    items: Vec<schema::ReportRow>,
    /// Pass back as `cursor` for the next page; null on the last.
    next_cursor: Option<String>,
}

/// `GET /api/integration_errors/summary`'s query.
#[derive(IntoParams)]
#[into_params(parameter_in = Query, rename_all = "camelCase")]
#[allow(dead_code)]
struct SummaryQuery {
    /// Created at or after: RFC 3339, or `YYYY-MM-DD` (midnight UTC).
    #[param(inline)]
    from: Option<schema::TimeInput>,
    /// Created before (exclusive).
    #[param(inline)]
    to: Option<schema::TimeInput>,
    /// Default `all`.
    #[param(inline)]
    resolved: Option<Resolved>,
    application_id: Option<String>,
}

/// How many failures one application had with one error code.
#[derive(ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(as = SummaryRow)]
#[allow(dead_code)]
struct SummaryRowDoc {
    application_id: String,
    error_code: schema::ErrorCode,
    count: u64,
}

/// `GET /v1/events`'s query.
#[derive(IntoParams)]
#[into_params(parameter_in = Query, rename_all = "camelCase")]
#[allow(dead_code)]
struct EventsQuery {
    application_id: Option<String>,
    #[param(inline)]
    status: Option<schema::EventStatus>,
    #[param(rename = "type", inline)]
    kind: Option<schema::EventType>,
    /// Created at or after: RFC 3339, or `YYYY-MM-DD` (midnight UTC).
    #[param(inline)]
    from: Option<schema::TimeInput>,
    /// Created before (exclusive).
    #[param(inline)]
    to: Option<schema::TimeInput>,
    /// 1 to 1000; default 50.
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<u32>,
    /// The `nextCursor` of the previous page, with the same filters.
    cursor: Option<String>,
}

/// One page of the events log, newest first.
#[derive(ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(as = EventList)]
#[allow(dead_code)]
struct EventListDoc {
    items: Vec<EventSummary>,
    /// Pass back as `cursor` for the next page; null on the last.
    next_cursor: Option<String>,
}

/// An event as the log lists it; `GET /v1/events/{id}` has the rest.
#[derive(ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[allow(dead_code)]
struct EventSummary {
    id: String,
    application_id: String,
    vendor_id: String,
    #[serde(rename = "type")]
    kind: schema::EventType,
    status: schema::EventStatus,
    round: u32,
    /// How many attempts the event has.
    attempts: u64,
    #[schema(format = DateTime)]
    created_at: String,
    #[schema(format = DateTime)]
    updated_at: String,
}

/// The next page's cursor travels in this header when the page is CSV.
pub const NEXT_CURSOR_HEADER: &str = "x-next-cursor";

#[utoipa::path(
    get,
    path = "/api/integration_errors",
    tag = "integration errors",
    operation_id = "listIntegrationErrors",
    summary = "The Failed Integration Events report, one page (admin, manager, vendor)",
    description = "Newest first. A vendor sees its own applications' records; a filter on \
        another vendor's application answers an empty page. `eventToken` is shown to admins only.",
    params(ReportQuery),
    responses((
        status = 200,
        description = "One page: JSON, or CSV with `format=csv`.",
        content((ReportPage = "application/json"), (String = "text/csv")),
        headers(("X-Next-Cursor" = String, description = "CSV only: the next page's cursor, when there is one."))
    ))
)]
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

#[utoipa::path(
    get,
    path = "/api/integration_errors/summary",
    tag = "integration errors",
    operation_id = "summarizeIntegrationErrors",
    summary = "Failures counted per application and error code (admin, manager, vendor)",
    params(SummaryQuery),
    responses((status = 200, description = "One row per application and error code.", body = Vec<SummaryRowDoc>))
)]
pub async fn summary(
    State(service): State<AppState>,
    Authenticated(caller): Authenticated,
    QueryPairs(params): QueryPairs,
) -> Result<Json<Vec<SummaryRow>>, ApiError> {
    Ok(Json(service.error_summary(&caller, params).await?))
}

#[utoipa::path(
    get,
    path = "/v1/events",
    tag = "events",
    operation_id = "listEvents",
    summary = "The events log, newest first (admin, manager, vendor)",
    description = "A vendor sees its own events. The marketplace reads one event at a time and \
        is answered 403 here.",
    params(EventsQuery),
    responses((status = 200, description = "One page of events.", body = EventListDoc))
)]
pub async fn list_events(
    State(service): State<AppState>,
    Authenticated(caller): Authenticated,
    QueryPairs(params): QueryPairs,
) -> Result<Json<EventList>, ApiError> {
    Ok(Json(service.list_events(&caller, params).await?))
}

#[utoipa::path(
    get,
    path = "/v1/events/{id}",
    tag = "events",
    operation_id = "getEvent",
    summary = "One event with its status and attempts (admin, manager, vendor, marketplace)",
    description = "The token is shown to admins only; the marketplace sees each attempt's \
        outcome but not the vendor's message or response.",
    params(("id" = String, Path, description = "The event's id.")),
    responses((status = 200, description = "The event.", body = schema::EventView))
)]
pub async fn get_event(
    State(service): State<AppState>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
) -> Result<Json<EventView>, ApiError> {
    Ok(Json(service.get_event(&caller, &id).await?))
}

#[utoipa::path(
    get,
    path = "/api/integration_errors/{id}",
    tag = "integration errors",
    operation_id = "getIntegrationError",
    summary = "One failure record (admin, manager, vendor)",
    params(("id" = String, Path, description = "The record's id.")),
    responses((status = 200, description = "The record.", body = schema::ErrorRecord))
)]
pub async fn get_error(
    State(service): State<AppState>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
) -> Result<Json<ErrorRecord>, ApiError> {
    Ok(Json(service.get_error(&caller, &id).await?))
}
