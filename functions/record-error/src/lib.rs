//! Recording failures that no vendor answer decided: dispatch messages SQS gave
//! up on (the dead-letter queue), and failures other systems report by API.

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use axum::extract::State;
use axum::http::StatusCode;
use axum::{Json, Router};
use iev_domain::ports::DispatchMessage;
use iev_domain::record::ErrorRecord;
use iev_domain::service::Service;
use iev_http::{schema, ApiError, AppState, Authenticated, BoundedBody};
use lambda_runtime::LambdaEvent;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// This function's routes, each with its part of the OpenAPI document.
pub fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(create_error))
}

pub fn router() -> Router<AppState> {
    api().into()
}

/// A failure another system reports (an ERP, a billing run, a file import).
#[derive(ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(example = json!({
    "applicationId": "app-1", "errorCode": "UNKNOWN_ERROR", "message": "the invoice import failed",
    "documentType": "invoice", "documentId": "INV-7"
}))]
#[allow(dead_code)]
struct ExternalError {
    /// 1 to 128 characters, no whitespace, `/`, `#`, `?` or `%`.
    #[schema(min_length = 1, max_length = 128, pattern = r"^[^\s/#?%]+$")]
    application_id: String,
    error_code: schema::ErrorCode,
    /// Not empty.
    #[schema(pattern = r"\S")]
    message: String,
    event_type: Option<schema::EventType>,
    /// The error code's own category when absent.
    category: Option<schema::Category>,
    user_id: Option<String>,
    user_email: Option<String>,
    company_id: Option<String>,
    company_name: Option<String>,
    external_id: Option<String>,
    note: Option<String>,
    /// At most 50; names are 1 to 64 letters, digits, `_`, `-` or `.`, values
    /// at most 1,024 characters.
    #[schema(required = false)]
    custom_attributes: std::collections::BTreeMap<String, String>,
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
    /// What the external system answered, oldest first (at most 20).
    #[schema(required = false)]
    responses: Vec<schema::ResponseInput>,
}

#[utoipa::path(
    post,
    path = "/api/integration_errors",
    tag = "integration errors",
    operation_id = "createIntegrationError",
    summary = "Record a failure another system reports (admin, manager)",
    description = "Stored with `source: \"api\"`, for an application with an integration. \
        `createdBy` and `updatedBy` are set by the service.",
    request_body = ExternalError,
    responses((
        status = 201,
        description = "The record.",
        body = schema::ErrorRecord,
        links(
            ("record" = (
                operation_id = "getIntegrationError",
                parameters(("id" = "$response.body#/id")),
                description = "The record."
            )),
            ("patch" = (
                operation_id = "patchIntegrationError",
                parameters(("id" = "$response.body#/id")),
                description = "Change it."
            )),
            ("put" = (
                operation_id = "putIntegrationError",
                parameters(("id" = "$response.body#/id")),
                description = "Change it, as Coupa does."
            )),
            ("resolve" = (
                operation_id = "resolveIntegrationError",
                parameters(("id" = "$response.body#/id")),
                description = "Mark it actioned."
            )),
            ("unresolve" = (
                operation_id = "unresolveIntegrationError",
                parameters(("id" = "$response.body#/id")),
                description = "Mark it not actioned."
            ))
        )
    ))
)]

pub async fn create_error(
    State(service): State<AppState>,
    Authenticated(caller): Authenticated,
    BoundedBody(body): BoundedBody,
) -> Result<(StatusCode, Json<ErrorRecord>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(service.create_error(&caller, &body).await?),
    ))
}

/// Each dead letter's event is settled as a TRANSPORT_ERROR failure unless it
/// already was; a message that names no event is logged in full and dropped.
pub async fn handle_dead_letters(
    service: &Service,
    event: LambdaEvent<SqsEvent>,
) -> Result<SqsBatchResponse, lambda_runtime::Error> {
    let mut failures = Vec::new();
    for message in &event.payload.records {
        let parsed = message
            .body
            .as_deref()
            .and_then(|b| serde_json::from_str::<DispatchMessage>(b).ok());
        let Some(parsed) = parsed else {
            tracing::error!(message_id = ?message.message_id, body = ?message.body, "dead letter names no event");
            continue;
        };
        if let Err(e) = service.record_dead_letter(&parsed.event_id).await {
            tracing::error!(event_id = %parsed.event_id, error = %e, "could not record a dead letter");
            failures.extend(message.message_id.clone());
        }
    }
    Ok(iev_aws::batch_response(failures))
}
