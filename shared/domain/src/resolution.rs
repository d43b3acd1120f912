//! Acting on failure records: resolving and unresolving them, one by one or in
//! bulk, annotating them, and raising alerts about them. Every change is kept
//! in the record's history.

use crate::auth::{Caller, Role};
use crate::error::{parse_json, parse_json_or_default, DomainError, StoreError};
use crate::ports::{OutboundRequest, OutboundResult};
use crate::record::{
    document_value, refuse_authorship, responses, Alert, AlertDelivery, AlertKind,
    ContactAlertType, DeliveryStatus, DocumentField, ErrorRecord, RecordPatch, ResponseInput,
};
use crate::service::Service;
use serde::{Deserialize, Deserializer, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// Bulk requests name at most this many records.
pub const MAX_BULK: usize = 100;
const MAX_NOTE: usize = 4000;
const MAX_EXTERNAL_ID: usize = 256;
pub(crate) const MAX_ATTRIBUTES: usize = 50;
const MAX_ATTRIBUTE_NAME: usize = 64;
const MAX_ATTRIBUTE_VALUE: usize = 1024;
const MAX_RECIPIENTS: usize = 20;
/// A write that lost a race is applied again to the fresh record this many times.
const WRITE_TRIES: usize = 3;

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct ResolveInput {
    #[serde(default)]
    note: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct BulkInput {
    ids: Vec<String>,
    #[serde(default)]
    note: Option<String>,
}

/// `null` clears a field; an absent field stays as it is.
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

fn present_list<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<Option<Vec<ResponseInput>>>, D::Error> {
    Option::<Vec<ResponseInput>>::deserialize(d).map(Some)
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct PatchInput {
    #[serde(default, deserialize_with = "present")]
    note: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    external_id: Option<Option<String>>,
    #[serde(default)]
    custom_attributes: BTreeMap<String, Option<String>>,
    #[serde(default, deserialize_with = "present")]
    document_type: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    document_id: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    document_revision: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    document_status: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    integration_run_id: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    integration_filename: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    status: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    creation_method: Option<Option<String>>,
    #[serde(default, deserialize_with = "present_list")]
    responses: Option<Option<Vec<ResponseInput>>>,
    #[serde(default)]
    created_by: Option<serde_json::Value>,
    #[serde(default)]
    updated_by: Option<serde_json::Value>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct AlertInput {
    ids: Vec<String>,
    contact_alert_type: String,
    recipients: Vec<String>,
    #[serde(default)]
    message: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum BulkStatus {
    Resolved,
    AlreadyResolved,
    /// Unknown, or not this caller's: the two are not told apart.
    NotFound,
    /// Could not be written now; retrying the request may succeed.
    Failed,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BulkResult {
    pub id: String,
    pub status: BulkStatus,
}

/// A custom attribute's name becomes a report field (`customAttributes.<name>`);
/// its value is bounded like every other field.
pub(crate) fn check_custom_attribute(name: &str, value: Option<&str>) -> Result<(), DomainError> {
    let field = format!("customAttributes.{name}");
    let name_ok = !name.is_empty()
        && name.len() <= MAX_ATTRIBUTE_NAME
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c));
    if !name_ok {
        return Err(DomainError::invalid(
            field,
            format!(
                "attribute names are 1 to {MAX_ATTRIBUTE_NAME} letters, digits, '_', '-' or '.'"
            ),
        ));
    }
    if value.is_some_and(|v| v.chars().count() > MAX_ATTRIBUTE_VALUE) {
        return Err(DomainError::invalid(
            field,
            format!("must be at most {MAX_ATTRIBUTE_VALUE} characters"),
        ));
    }
    Ok(())
}

fn check_note(note: &Option<String>, field: &str) -> Result<(), DomainError> {
    match note {
        Some(n) if n.chars().count() > MAX_NOTE => Err(DomainError::invalid(
            field,
            format!("must be at most {MAX_NOTE} characters"),
        )),
        _ => Ok(()),
    }
}

fn check_ids(ids: &[String]) -> Result<(), DomainError> {
    if ids.is_empty() || ids.len() > MAX_BULK {
        return Err(DomainError::invalid(
            "ids",
            format!("must name 1 to {MAX_BULK} records"),
        ));
    }
    if let Some(i) = ids.iter().position(|id| id.is_empty() || id.len() > 200) {
        return Err(DomainError::invalid(
            format!("ids[{i}]"),
            "must be a record id",
        ));
    }
    Ok(())
}

impl RecordPatch {
    fn parse(body: &[u8], now: chrono::DateTime<chrono::Utc>) -> Result<Self, DomainError> {
        let input: PatchInput = parse_json(body, "patch")?;
        refuse_authorship(&input.created_by, &input.updated_by)?;
        let mut documents = BTreeMap::new();
        let given = [
            (DocumentField::DocumentType, input.document_type),
            (DocumentField::DocumentId, input.document_id),
            (DocumentField::DocumentRevision, input.document_revision),
            (DocumentField::DocumentStatus, input.document_status),
            (DocumentField::IntegrationRunId, input.integration_run_id),
            (
                DocumentField::IntegrationFilename,
                input.integration_filename,
            ),
            (DocumentField::Status, input.status),
            (DocumentField::CreationMethod, input.creation_method),
        ];
        for (field, value) in given {
            if let Some(value) = value {
                documents.insert(field, document_value(field, value)?);
            }
        }
        let responses = match input.responses {
            Some(list) => Some(responses(list.unwrap_or_default(), now)?),
            None => None,
        };
        check_note(&input.note.clone().flatten(), "note")?;
        if let Some(Some(x)) = &input.external_id {
            if x.is_empty() || x.chars().count() > MAX_EXTERNAL_ID {
                return Err(DomainError::invalid(
                    "externalId",
                    format!("must be 1 to {MAX_EXTERNAL_ID} characters, or null to clear it"),
                ));
            }
        }
        for (name, value) in &input.custom_attributes {
            check_custom_attribute(name, value.as_deref())?;
        }
        Ok(RecordPatch {
            note: input.note,
            external_id: input.external_id,
            custom_attributes: input.custom_attributes,
            documents,
            responses,
        })
    }
}

impl Service {
    /// Applies `change` to the record this caller may see and stores the result;
    /// a change that lost a race is applied again to the fresh record. `change`
    /// answers `None` when there is nothing to do; then the record is returned as is.
    async fn change_error(
        &self,
        caller: &Caller,
        id: &str,
        change: impl Fn(&ErrorRecord) -> Result<Option<ErrorRecord>, DomainError>,
    ) -> Result<(ErrorRecord, bool), DomainError> {
        for _ in 0..WRITE_TRIES {
            let record = self.visible_error(caller, id).await?;
            let Some(next) = change(&record)? else {
                return Ok((record, false));
            };
            next.check_size()?;
            match self.store.update_error(&next, record.version).await {
                Ok(()) => return Ok((next, true)),
                Err(StoreError::Conflict(_)) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(DomainError::Conflict(
            "the record is being changed by others; try again".into(),
        ))
    }

    /// `PUT /api/integration_errors/{id}/resolve`: marks the record actioned.
    pub async fn resolve_error(
        &self,
        caller: &Caller,
        id: &str,
        body: &[u8],
    ) -> Result<ErrorRecord, DomainError> {
        caller.require(&[Role::Admin, Role::Manager, Role::Vendor])?;
        let input: ResolveInput = parse_json_or_default(body, "resolve request")?;
        check_note(&input.note, "note")?;
        // Each attempt stamps its own time, so that an entry written after a
        // lost race never carries a time before the entry it follows.
        let (record, changed) = self
            .change_error(caller, id, |r| {
                Ok(r.resolved(&caller.key_id, self.clock.now(), input.note.clone()))
            })
            .await?;
        if changed {
            tracing::info!(error_id = %id, by = %caller.key_id, "failure resolved");
        }
        Ok(record.shown_to(caller))
    }

    /// `PUT /api/integration_errors/{id}/unresolve`: back into the default view.
    pub async fn unresolve_error(
        &self,
        caller: &Caller,
        id: &str,
    ) -> Result<ErrorRecord, DomainError> {
        caller.require(&[Role::Admin, Role::Manager, Role::Vendor])?;
        let (record, changed) = self
            .change_error(caller, id, |r| {
                Ok(r.unresolved(&caller.key_id, self.clock.now()))
            })
            .await?;
        if changed {
            tracing::info!(error_id = %id, by = %caller.key_id, "failure unresolved");
        }
        Ok(record.shown_to(caller))
    }

    /// `PATCH` or `PUT /api/integration_errors/{id}` (Coupa treats them
    /// alike): note, external id, custom attributes, Coupa's document and run
    /// fields and the external system's responses.
    pub async fn patch_error(
        &self,
        caller: &Caller,
        id: &str,
        body: &[u8],
    ) -> Result<ErrorRecord, DomainError> {
        caller.require(&[Role::Admin, Role::Manager, Role::Vendor])?;
        let patch = RecordPatch::parse(body, self.clock.now())?;
        let (record, _) = self
            .change_error(caller, id, |r| {
                let next = r.patched(&patch, &caller.key_id, self.clock.now());
                if next
                    .as_ref()
                    .is_some_and(|n| n.custom_attributes.len() > MAX_ATTRIBUTES)
                {
                    return Err(DomainError::invalid(
                        "customAttributes",
                        format!("a record holds at most {MAX_ATTRIBUTES} attributes"),
                    ));
                }
                Ok(next)
            })
            .await?;
        Ok(record.shown_to(caller))
    }

    /// `POST /api/integration_errors/resolve`: up to 100 records, each answered
    /// on its own; another caller's records answer `notFound`, like unknown ones.
    pub async fn resolve_many(
        &self,
        caller: &Caller,
        body: &[u8],
    ) -> Result<Vec<BulkResult>, DomainError> {
        caller.require(&[Role::Admin, Role::Manager, Role::Vendor])?;
        let input: BulkInput = parse_json(body, "bulk resolve request")?;
        check_ids(&input.ids)?;
        check_note(&input.note, "note")?;
        let mut seen = BTreeSet::new();
        let mut results = Vec::new();
        for id in input.ids.iter().filter(|id| seen.insert(id.as_str())) {
            let outcome = self
                .change_error(caller, id, |r| {
                    Ok(r.resolved(&caller.key_id, self.clock.now(), input.note.clone()))
                })
                .await;
            let status = match outcome {
                Ok((_, true)) => BulkStatus::Resolved,
                Ok((_, false)) => BulkStatus::AlreadyResolved,
                Err(DomainError::NotFound(_)) => BulkStatus::NotFound,
                Err(e) => {
                    tracing::warn!(error_id = %id, error = %e, "bulk resolve could not write a record");
                    BulkStatus::Failed
                }
            };
            results.push(BulkResult {
                id: id.clone(),
                status,
            });
        }
        tracing::info!(count = results.len(), by = %caller.key_id, "bulk resolve");
        Ok(results)
    }

    /// `POST /api/integration_errors/create_alert`: stores an alert about some
    /// failures; webhook recipients get it POSTed now, email and SMS recipients
    /// wait for the senders a deployment wires in.
    pub async fn create_alert(&self, caller: &Caller, body: &[u8]) -> Result<Alert, DomainError> {
        caller.require(&[Role::Admin, Role::Manager])?;
        let input: AlertInput = parse_json(body, "alert")?;
        check_ids(&input.ids)?;
        // Coupa spells them in lower case; any case is taken.
        let kind = match input.contact_alert_type.to_ascii_uppercase().as_str() {
            "EMAIL" => ContactAlertType::Email,
            "SMS" => ContactAlertType::Sms,
            "WEBHOOK" => ContactAlertType::Webhook,
            _ => {
                return Err(DomainError::invalid(
                    "contactAlertType",
                    "must be EMAIL, SMS or WEBHOOK",
                ))
            }
        };
        if input.recipients.is_empty() || input.recipients.len() > MAX_RECIPIENTS {
            return Err(DomainError::invalid(
                "recipients",
                format!("must name 1 to {MAX_RECIPIENTS} recipients"),
            ));
        }
        for (i, r) in input.recipients.iter().enumerate() {
            let ok = match kind {
                ContactAlertType::Email => is_email(r),
                ContactAlertType::Sms => is_phone_number(r),
                ContactAlertType::Webhook => crate::integration::parse_http_url(r).is_ok(),
            };
            if !ok {
                return Err(DomainError::invalid(
                    format!("recipients[{i}]"),
                    match kind {
                        ContactAlertType::Email => "must be an email address",
                        ContactAlertType::Sms => {
                            "must be a phone number in international form (+ and 8 to 15 digits)"
                        }
                        ContactAlertType::Webhook => "must be an absolute http(s) URL",
                    },
                ));
            }
        }
        check_note(&input.message, "message")?;
        let mut records = Vec::new();
        for id in input.ids.iter().collect::<BTreeSet<_>>() {
            // What a webhook recipient gets is outside the service: no tokens.
            let mut record = self.visible_error(caller, id).await?;
            record.event_token = None;
            records.push(record);
        }
        let message = input.message.unwrap_or_else(|| {
            format!(
                "{} integration failure(s) need attention: {}",
                records.len(),
                records
                    .iter()
                    .map(|r| format!("{} {} ({})", r.application_id, r.error_code, r.id))
                    .collect::<Vec<_>>()
                    .join("; ")
            )
        });
        let mut alert = Alert {
            id: self.ids.new_id(),
            kind: AlertKind::Manual,
            application_id: None,
            vendor_id: None,
            error_ids: records.iter().map(|r| r.id.clone()).collect(),
            message,
            recipients: input.recipients.clone(),
            contact_alert_type: Some(kind),
            deliveries: Vec::new(),
            created_at: self.clock.now(),
            created_by: caller.key_id.clone(),
        };
        alert.deliveries = match kind {
            ContactAlertType::Email | ContactAlertType::Sms => input
                .recipients
                .iter()
                .map(|r| AlertDelivery {
                    recipient: r.clone(),
                    status: DeliveryStatus::Queued,
                    detail: None,
                })
                .collect(),
            ContactAlertType::Webhook => self.post_alert(&alert, &records).await,
        };
        self.store.insert_alert(&alert).await?;
        tracing::info!(alert_id = %alert.id, by = %caller.key_id, records = alert.error_ids.len(), "alert raised");
        Ok(alert)
    }

    /// POSTs the alert and its records to every recipient at once.
    async fn post_alert(&self, alert: &Alert, records: &[ErrorRecord]) -> Vec<AlertDelivery> {
        let body = serde_json::to_vec(&serde_json::json!({ "alert": alert, "records": records }))
            .unwrap_or_default();
        let sends = alert.recipients.iter().map(|url| {
            let request = OutboundRequest {
                method: "POST",
                url: url.clone(),
                authorization: None,
                json_body: Some(body.clone()),
            };
            async move {
                let (status, detail) = match self.outbound.send(request).await {
                    OutboundResult::Response { status, .. } if (200..300).contains(&status) => {
                        (DeliveryStatus::Delivered, None)
                    }
                    OutboundResult::Response { status, .. } => {
                        (DeliveryStatus::Failed, Some(format!("HTTP {status}")))
                    }
                    OutboundResult::Timeout => (DeliveryStatus::Failed, Some("timed out".into())),
                    OutboundResult::Unreachable(why) | OutboundResult::Refused(why) => {
                        (DeliveryStatus::Failed, Some(why))
                    }
                };
                AlertDelivery {
                    recipient: url.clone(),
                    status,
                    detail,
                }
            }
        });
        futures::future::join_all(sends).await
    }
}

/// A number in E.164 form: `+`, then 8 to 15 digits, the first not 0.
fn is_phone_number(s: &str) -> bool {
    let Some(digits) = s.strip_prefix('+') else {
        return false;
    };
    (8..=15).contains(&digits.len())
        && digits.bytes().all(|b| b.is_ascii_digit())
        && !digits.starts_with('0')
}

fn is_email(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !s.chars().any(|c| c.is_whitespace() || c.is_control())
        && !domain.contains('@')
        && s.len() <= 254
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_recipients_need_one_at_sign_and_a_dotted_domain() {
        assert!(is_email("ops@vendor.example"));
        assert!(!is_email("ops"));
        assert!(!is_email("ops@localhost"));
        assert!(!is_email("a@b@c.d"));
        assert!(!is_email("o ps@vendor.example"));
    }

    fn now() -> chrono::DateTime<chrono::Utc> {
        "2026-11-29T12:00:00Z".parse().unwrap()
    }

    #[test]
    fn phone_recipients_are_in_international_form() {
        assert!(is_phone_number("+14155550100"));
        assert!(!is_phone_number("14155550100"));
        assert!(!is_phone_number("+0155550100"));
        assert!(!is_phone_number("+1415"));
        assert!(!is_phone_number("+1 415 555 0100"));
    }

    #[test]
    fn a_patch_sets_and_clears_coupas_fields_and_takes_a_numeric_response_status() {
        let p = RecordPatch::parse(
            br#"{"documentType": "InvoiceHeader", "documentId": null,
                 "responses": [{"status": 500, "body": "timeout"}, {"at": "2026-11-28T10:00:00Z", "status": "REJECTED"}]}"#,
            now(),
        )
        .unwrap();
        assert_eq!(
            p.documents[&DocumentField::DocumentType],
            Some("InvoiceHeader".into())
        );
        assert_eq!(p.documents[&DocumentField::DocumentId], None);
        assert!(!p.documents.contains_key(&DocumentField::Status));
        let responses = p.responses.unwrap();
        assert_eq!(responses[0].status, "500");
        assert_eq!(
            responses[0].at,
            now(),
            "an answer without a time is stamped now"
        );
        assert_eq!(responses[1].body, "");
        let p = RecordPatch::parse(br#"{"responses": null}"#, now()).unwrap();
        assert_eq!(p.responses, Some(Vec::new()), "null clears the responses");
    }

    #[test]
    fn a_patch_refuses_empty_or_overlong_coupa_fields_and_authorship() {
        let field_of = |body: &[u8]| match RecordPatch::parse(body, now()) {
            Err(DomainError::Invalid { field: Some(f), .. }) => f,
            other => panic!("{other:?}"),
        };
        assert_eq!(field_of(br#"{"documentType": " "}"#), "documentType");
        let long = format!(r#"{{"integrationRunId": "{}"}}"#, "r".repeat(257));
        assert_eq!(field_of(long.as_bytes()), "integrationRunId");
        let many = format!(
            r#"{{"responses": [{}]}}"#,
            vec![r#"{"status": 200}"#; 21].join(",")
        );
        assert_eq!(field_of(many.as_bytes()), "responses");
        assert_eq!(
            field_of(br#"{"responses": [{"status": ""}]}"#),
            "responses[0].status"
        );
        assert_eq!(field_of(br#"{"createdBy": "k-1"}"#), "createdBy");
        assert_eq!(field_of(br#"{"updatedBy": "k-1"}"#), "updatedBy");
    }

    #[test]
    fn a_patch_tells_a_cleared_field_from_an_absent_one() {
        let p = RecordPatch::parse(br#"{"note": null}"#, now()).unwrap();
        assert_eq!(p.note, Some(None));
        assert_eq!(p.external_id, None);
        let p = RecordPatch::parse(
            br#"{"customAttributes": {"ticket": "T-1", "old": null}}"#,
            now(),
        )
        .unwrap();
        assert_eq!(p.custom_attributes["ticket"], Some("T-1".into()));
        assert_eq!(p.custom_attributes["old"], None);
    }

    #[test]
    fn a_patch_refuses_attribute_names_that_cannot_be_report_fields() {
        let e = RecordPatch::parse(br#"{"customAttributes": {"a,b": "x"}}"#, now()).unwrap_err();
        assert!(
            matches!(e, DomainError::Invalid { field: Some(f), .. } if f == "customAttributes.a,b")
        );
        assert!(RecordPatch::parse(br#"{"priority": 1}"#, now()).is_err());
    }
}
