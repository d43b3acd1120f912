//! Recording failures that no vendor answer decided: dispatch messages SQS gave
//! up on (the dead-letter queue), and failures other systems report by API.

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use iev_domain::ports::DispatchMessage;
use iev_domain::record::ErrorRecord;
use iev_domain::service::Service;
use iev_http::{ApiError, AppState, Authenticated, BoundedBody};
use lambda_runtime::LambdaEvent;

pub fn router() -> Router<AppState> {
    Router::new().route("/api/integration_errors", post(create_error))
}

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
