//! Failures that reach the record by other paths than a vendor's answer: the
//! dead-letter queue, and other systems reporting through the API.

use crate::auth::{Caller, Role};
use crate::error::{parse_json, DomainError};
use crate::event::{Attempt, AttemptOutcome, EventStatus, EventType};
use crate::integration::ApplicationId;
use crate::record::{
    document_value, refuse_authorship, responses, Category, DocumentField, ErrorCode, ErrorRecord,
    ResponseInput, Source,
};
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
    #[serde(default)]
    document_type: Option<String>,
    #[serde(default)]
    document_id: Option<String>,
    #[serde(default)]
    document_revision: Option<String>,
    #[serde(default)]
    document_status: Option<String>,
    #[serde(default)]
    integration_run_id: Option<String>,
    #[serde(default)]
    integration_filename: Option<String>,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    creation_method: Option<String>,
    #[serde(default)]
    responses: Vec<ResponseInput>,
    #[serde(default)]
    created_by: Option<serde_json::Value>,
    #[serde(default)]
    updated_by: Option<serde_json::Value>,
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
        refuse_authorship(&input.created_by, &input.updated_by)?;
        if input.custom_attributes.len() > crate::resolution::MAX_ATTRIBUTES {
            return Err(DomainError::invalid(
                "customAttributes",
                format!(
                    "a record holds at most {} attributes",
                    crate::resolution::MAX_ATTRIBUTES
                ),
            ));
        }
        for (name, value) in &input.custom_attributes {
            crate::resolution::check_custom_attribute(name, Some(value))?;
        }
        let now = self.clock.now();
        let document = |field, value| document_value(field, value);
        let document_type = document(DocumentField::DocumentType, input.document_type)?;
        let document_id = document(DocumentField::DocumentId, input.document_id)?;
        let document_revision = document(DocumentField::DocumentRevision, input.document_revision)?;
        let document_status = document(DocumentField::DocumentStatus, input.document_status)?;
        let integration_run_id =
            document(DocumentField::IntegrationRunId, input.integration_run_id)?;
        let integration_filename = document(
            DocumentField::IntegrationFilename,
            input.integration_filename,
        )?;
        let status = document(DocumentField::Status, input.status)?;
        let creation_method = document(DocumentField::CreationMethod, input.creation_method)?;
        let responses = responses(input.responses, now)?;
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
            document_type,
            document_id,
            document_revision,
            document_status,
            integration_run_id,
            integration_filename,
            status,
            creation_method,
            responses,
            created_by: Some(caller.key_id.clone()),
            updated_by: None,
            history: Vec::new(),
            expires_at: now + self.config.retention,
            version: 1,
        };
        record.check_size()?;
        self.store.insert_error(&record).await?;
        tracing::info!(error_id = %record.id, by = %caller.key_id, "external failure recorded");
        Ok(record.shown_to(caller))
    }

    /// `GET /api/integration_errors/{id}`: a failure record this caller may
    /// see, as the caller may see it; others' answer 404 like missing ones.
    pub async fn get_error(&self, caller: &Caller, id: &str) -> Result<ErrorRecord, DomainError> {
        Ok(self.visible_error(caller, id).await?.shown_to(caller))
    }

    /// A failure record this caller may see, whole, to act on it.
    pub(crate) async fn visible_error(
        &self,
        caller: &Caller,
        id: &str,
    ) -> Result<ErrorRecord, DomainError> {
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
