//! Acting on failures: resolving, unresolving and annotating failure records
//! (one or many), raising alerts about them, one more delivery of an event,
//! re-enabling an integration, redelivering what failed in a window.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Json, Router};
use iev_domain::record::{Alert, ErrorRecord};
use iev_domain::service::{Enabled, EventView};
use iev_http::{schema, ApiError, AppState, Authenticated, BoundedBody};
use serde_json::{json, Value};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// This function's routes, each with its part of the OpenAPI document.
pub fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(retry_event))
        .routes(routes!(enable))
        .routes(routes!(recover))
        .routes(routes!(patch_error, put_error))
        .routes(routes!(resolve))
        .routes(routes!(unresolve))
        .routes(routes!(resolve_many))
        .routes(routes!(create_alert))
}

pub fn router() -> Router<AppState> {
    api().into()
}

/// `PUT .../resolve`; the body may be empty.
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"note": "user created"}))]
#[allow(dead_code)]
struct ResolveInput {
    /// At most 4,000 characters.
    note: Option<String>,
}

/// `POST /api/integration_errors/resolve`.
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct BulkInput {
    /// 1 to 100 record ids.
    #[schema(min_items = 1, max_items = 100)]
    ids: Vec<schema::RecordId>,
    note: Option<String>,
}

#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
enum BulkStatus {
    Resolved,
    AlreadyResolved,
    /// Unknown, or not this caller's: the two are not told apart.
    NotFound,
    /// Could not be written now; retrying may succeed.
    Failed,
}

#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct BulkResult {
    id: String,
    status: BulkStatus,
}

#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct BulkResults {
    results: Vec<BulkResult>,
}

/// `PATCH` or `PUT /api/integration_errors/{id}`: an absent field stays as
/// it is, `null` clears it. Text fields are not empty when given.
#[derive(ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(example = json!({"note": "ticket opened", "externalId": "T-42", "customAttributes": {"ticket": "T-42"}}))]
#[allow(dead_code)]
struct PatchInput {
    /// At most 4,000 characters.
    note: Option<String>,
    /// At most 256 characters.
    external_id: Option<String>,
    /// Custom attributes to set (a string) or remove (`null`). Names are 1 to
    /// 64 letters, digits, `_`, `-` or `.`; values at most 1,024 characters;
    /// a record holds at most 50.
    #[schema(required = false)]
    custom_attributes: std::collections::BTreeMap<String, Option<String>>,
    /// At most 100 characters.
    document_type: Option<String>,
    /// At most 256 characters.
    document_id: Option<String>,
    /// At most 100 characters.
    document_revision: Option<String>,
    /// At most 100 characters.
    document_status: Option<String>,
    /// At most 256 characters.
    integration_run_id: Option<String>,
    /// At most 1,024 characters.
    integration_filename: Option<String>,
    /// At most 100 characters.
    status: Option<String>,
    /// At most 100 characters.
    creation_method: Option<String>,
    /// Replaces the record's responses (at most 20); `null` clears them.
    responses: Option<Vec<schema::ResponseInput>>,
}

/// `POST /api/integration_errors/create_alert`.
#[derive(ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(example = json!({"ids": ["r-1"], "contactAlertType": "EMAIL", "recipients": ["ops@example.com"]}))]
#[allow(dead_code)]
struct AlertInput {
    /// 1 to 100 record ids.
    #[schema(min_items = 1, max_items = 100)]
    ids: Vec<schema::RecordId>,
    /// `WEBHOOK`, `EMAIL` or `SMS`, in any case.
    contact_alert_type: String,
    /// 1 to 20: URLs for `WEBHOOK`, email addresses for `EMAIL`, numbers in
    /// international form (`+` and 8 to 15 digits) for `SMS`.
    #[schema(min_items = 1, max_items = 20)]
    recipients: Vec<String>,
    message: Option<String>,
}

#[derive(ToSchema)]
#[serde(rename_all = "UPPERCASE")]
#[allow(dead_code)]
enum ContactAlertType {
    Email,
    Sms,
    Webhook,
}

#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
enum DeliveryStatus {
    /// Waiting for the sender a deployment wires in.
    Queued,
    Delivered,
    Failed,
}

#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct AlertDelivery {
    recipient: String,
    status: DeliveryStatus,
    #[schema(required = false)]
    detail: String,
}

/// A notice about failures: stored, and sent to its recipients.
#[derive(ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(as = Alert)]
#[allow(dead_code)]
struct AlertDoc {
    id: String,
    kind: schema::AlertKind,
    application_id: Option<String>,
    vendor_id: Option<String>,
    error_ids: Vec<String>,
    message: String,
    recipients: Vec<String>,
    #[schema(required = false)]
    contact_alert_type: ContactAlertType,
    /// What became of each recipient (absent when none).
    #[schema(required = false)]
    deliveries: Vec<AlertDelivery>,
    #[schema(format = DateTime)]
    created_at: String,
    created_by: String,
}

/// `POST .../enable`; the body may be empty.
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct EnableInput {
    /// Also queue again the events refused while it was disabled (default false).
    #[schema(required = false)]
    redeliver: bool,
}

/// The integration, enabled, and how many events were queued again.
#[derive(ToSchema)]
#[schema(as = Enabled)]
#[allow(dead_code)]
struct EnabledDoc {
    #[serde(flatten)]
    integration: schema::Integration,
    redelivered: u64,
}

/// `POST .../recover`: the window of failures to redeliver.
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"since": "2026-11-01", "until": "2026-11-02"}))]
#[allow(dead_code)]
struct RecoverInput {
    since: schema::TimeInput,
    /// Later than `since`.
    until: schema::TimeInput,
}

#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct Queued {
    /// Events queued for a new delivery round (at most 10,000).
    queued: u64,
}

const RECORD_ID: &str = "The failure record's id.";
const APPLICATION_ID: &str = "The application's id.";

#[utoipa::path(
    put,
    path = "/api/integration_errors/{id}/resolve",
    tag = "integration errors",
    operation_id = "resolveIntegrationError",
    summary = "Mark a failure record actioned (admin, manager, vendor)",
    description = "Idempotent: a second call changes nothing, not even the note.",
    params(("id" = String, Path, description = RECORD_ID)),
    request_body(content = Option<ResolveInput>, description = "Optional; an empty body is no note."),
    responses((status = 200, description = "The record.", body = schema::ErrorRecord))
)]
pub async fn resolve(
    State(service): State<AppState>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
    BoundedBody(body): BoundedBody,
) -> Result<Json<ErrorRecord>, ApiError> {
    Ok(Json(service.resolve_error(&caller, &id, &body).await?))
}

#[utoipa::path(
    put,
    path = "/api/integration_errors/{id}/unresolve",
    tag = "integration errors",
    operation_id = "unresolveIntegrationError",
    summary = "Mark a failure record not actioned (admin, manager, vendor)",
    params(("id" = String, Path, description = RECORD_ID)),
    responses((status = 200, description = "The record.", body = schema::ErrorRecord))
)]
pub async fn unresolve(
    State(service): State<AppState>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
) -> Result<Json<ErrorRecord>, ApiError> {
    Ok(Json(service.unresolve_error(&caller, &id).await?))
}

#[utoipa::path(
    patch,
    path = "/api/integration_errors/{id}",
    tag = "integration errors",
    operation_id = "patchIntegrationError",
    summary = "Change a failure record's note, external id, custom attributes, Coupa's fields (admin, manager, vendor)",
    description = "Every change is kept in the record's `history`. A change that would make the \
        record larger than 300 KiB of JSON is refused whole (400).",
    params(("id" = String, Path, description = RECORD_ID)),
    request_body = PatchInput,
    responses((status = 200, description = "The record as changed.", body = schema::ErrorRecord))
)]
pub async fn patch_error(
    State(service): State<AppState>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
    BoundedBody(body): BoundedBody,
) -> Result<Json<ErrorRecord>, ApiError> {
    Ok(Json(service.patch_error(&caller, &id, &body).await?))
}

/// Coupa sends its updates with PUT: the same change as PATCH.
#[utoipa::path(
    put,
    path = "/api/integration_errors/{id}",
    tag = "integration errors",
    operation_id = "putIntegrationError",
    summary = "Change a failure record, as PATCH does (admin, manager, vendor)",
    params(("id" = String, Path, description = RECORD_ID)),
    request_body = PatchInput,
    responses((status = 200, description = "The record as changed.", body = schema::ErrorRecord))
)]
pub async fn put_error(
    state: State<AppState>,
    caller: Authenticated,
    id: Path<String>,
    body: BoundedBody,
) -> Result<Json<ErrorRecord>, ApiError> {
    patch_error(state, caller, id, body).await
}

#[utoipa::path(
    post,
    path = "/api/integration_errors/resolve",
    tag = "integration errors",
    operation_id = "resolveIntegrationErrors",
    summary = "Mark several failure records actioned (admin, manager, vendor)",
    request_body = BulkInput,
    responses((status = 200, description = "Each id's outcome.", body = BulkResults))
)]
pub async fn resolve_many(
    State(service): State<AppState>,
    Authenticated(caller): Authenticated,
    BoundedBody(body): BoundedBody,
) -> Result<Json<Value>, ApiError> {
    let results = service.resolve_many(&caller, &body).await?;
    Ok(Json(json!({ "results": results })))
}

#[utoipa::path(
    post,
    path = "/api/integration_errors/create_alert",
    tag = "integration errors",
    operation_id = "createAlert",
    summary = "Raise an alert about failure records (admin, manager)",
    description = "`WEBHOOK` recipients are POSTed the alert and its records at once (the \
        outcome is in `deliveries`); `EMAIL` and `SMS` are stored as `queued` for the senders a \
        deployment wires in.",
    request_body = AlertInput,
    responses(
        (status = 201, description = "The alert.", body = AlertDoc),
        (status = 404, description = "An id names no record this caller may see.", body = schema::ErrorBody)
    )
)]
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

#[utoipa::path(
    post,
    path = "/v1/events/{id}/retry",
    tag = "events",
    operation_id = "retryEvent",
    summary = "One more delivery of a FAILED or ASYNC_PENDING event, now (admin, manager, vendor)",
    description = "409 if the event is PENDING or was delivered.",
    params(("id" = String, Path, description = "The event's id.")),
    responses((status = 202, description = "Queued for a new delivery round.", body = schema::EventView))
)]
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

#[utoipa::path(
    post,
    path = "/v1/integrations/{applicationId}/enable",
    tag = "integrations",
    operation_id = "enableIntegration",
    summary = "Re-enable an integration (admin, manager)",
    params(("applicationId" = String, Path, description = APPLICATION_ID)),
    request_body(content = Option<EnableInput>, description = "Optional; an empty body does not redeliver."),
    responses((status = 200, description = "The integration, enabled.", body = EnabledDoc))
)]
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

#[utoipa::path(
    post,
    path = "/v1/integrations/{applicationId}/recover",
    tag = "integrations",
    operation_id = "recoverIntegration",
    summary = "Redeliver an application's failed events in a window (admin, manager)",
    description = "Finds the failed events behind the window's unresolved records (at most \
        10,000) and queues a new round for each; answers at once.",
    params(("applicationId" = String, Path, description = APPLICATION_ID)),
    request_body = RecoverInput,
    responses((status = 202, description = "How many were queued.", body = Queued))
)]
pub async fn recover(
    State(service): State<AppState>,
    Authenticated(caller): Authenticated,
    Path(application_id): Path<String>,
    BoundedBody(body): BoundedBody,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let queued = service.recover(&caller, &application_id, &body).await?;
    Ok((StatusCode::ACCEPTED, Json(json!({ "queued": queued }))))
}
