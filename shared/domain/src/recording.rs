//! Failures that reach the record by other paths than a vendor's answer: the
//! dead-letter queue, and other systems reporting through the API.

use crate::auth::{Caller, Role};
use crate::error::{parse_json, DomainError};
use crate::event::{Attempt, AttemptOutcome, EventStatus, EventType};
use crate::integration::ApplicationId;
use crate::record::{Category, ErrorCode, ErrorRecord, Source};
use crate::service::Service;
use serde::Deserialize;
use std::collections::BTreeMap;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ExternalError {
    application_id: String,
    error_code: String,
    message: String,
    #[serde(default)]
    event_type: Option<EventType>,
    #[serde(default)]
    category: Option<Category>,
    #[serde(default)]
    user_id: Option<String>,
    #[serde(default)]
    user_email: Option<String>,
    #[serde(default)]
    company_id: Option<String>,
    #[serde(default)]
    company_name: Option<String>,
    #[serde(default)]
    external_id: Option<String>,
    #[serde(default)]
    note: Option<String>,
    #[serde(default)]
    custom_attributes: BTreeMap<String, String>,
}

impl Service {
    /// `POST /api/integration_errors`: a failure another system reports.
    pub async fn create_error(
        &self,
        caller: &Caller,
        body: &[u8],
    ) -> Result<ErrorRecord, DomainError> {
        caller.require(&[Role::Admin, Role::Manager])?;
        let input: ExternalError = parse_json(body, "integration error")?;
        let application_id = ApplicationId::parse(&input.application_id)
            .map_err(|m| DomainError::invalid("applicationId", m))?;
        let error_code: ErrorCode = input
            .error_code
            .parse()
            .map_err(|m: String| DomainError::invalid("errorCode", m))?;
        if input.message.trim().is_empty() {
            return Err(DomainError::invalid("message", "must not be empty"));
        }
        let integration = self
            .store
            .get_integration(&application_id)
            .await?
            .ok_or_else(|| {
                DomainError::invalid(
                    "applicationId",
                    format!("no integration is configured for '{application_id}'"),
                )
            })?;
        let now = self.clock.now();
        let record = ErrorRecord {
            id: self.ids.new_id(),
            creation_date: now,
            application_id,
            importable_application_uuid: integration.importable_application_uuid.clone(),
            application_name: integration.application_name.clone(),
            vendor_id: integration.vendor_id.clone(),
            user_id: input.user_id,
            user_email: input.user_email,
            company_id: input.company_id,
            company_name: input.company_name,
            event_type: input.event_type,
            error_code,
            message: input.message,
            manually_resolved: false,
            event_id: None,
            event_token: None,
            category: input.category.unwrap_or_else(|| error_code.category()),
            attempts: 0,
            last_http_status: None,
            resolved_at: None,
            resolved_by: None,
            note: input.note,
            source: Source::Api,
            external_id: input.external_id,
            custom_attributes: input.custom_attributes,
            history: Vec::new(),
            expires_at: now + self.config.retention,
            version: 1,
        };
        self.store.insert_error(&record).await?;
        tracing::info!(error_id = %record.id, by = %caller.key_id, "external failure recorded");
        Ok(record)
    }

    /// A failure record this caller may see; others' answer 404 like missing ones.
    pub async fn get_error(&self, caller: &Caller, id: &str) -> Result<ErrorRecord, DomainError> {
        caller.require(&[Role::Admin, Role::Manager, Role::Vendor])?;
        self.store
            .get_error(id)
            .await?
            .filter(|r| caller.sees_vendor(&r.vendor_id))
            .ok_or(DomainError::NotFound("integration error"))
    }

    /// A dispatch message that SQS gave up on: its event, if not yet settled,
    /// fails with TRANSPORT_ERROR, so that nothing vanishes.
    pub async fn record_dead_letter(&self, event_id: &str) -> Result<(), DomainError> {
        let Some(event) = self.store.get_event(event_id).await? else {
            tracing::warn!(event_id, "dead-lettered event not found");
            return Ok(());
        };
        if matches!(event.status, EventStatus::Complete | EventStatus::Failed) {
            return Ok(());
        }
        let integration = self.store.get_integration(&event.application_id).await?;
        let message = "delivery abandoned: the dispatch message reached the dead-letter queue";
        let attempt = Attempt {
            at: self.clock.now(),
            round: event.round,
            http_status: None,
            latency_ms: 0,
            outcome: AttemptOutcome::NotSent,
            error_code: Some(ErrorCode::TransportError.as_str().to_owned()),
            message: Some(message.into()),
            response_excerpt: None,
        };
        self.settle_failure(
            event,
            integration.as_ref(),
            ErrorCode::TransportError,
            message,
            attempt,
        )
        .await
    }
}
