//! The failure record behind the Failed Integration Events report.

use crate::auth::VendorId;
use crate::event::EventType;
use crate::integration::ApplicationId;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::str::FromStr;

macro_rules! string_enum {
    ($(#[$m:meta])* $name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        impl FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                $name::ALL.iter().copied().find(|v| v.as_str() == s)
                    .ok_or_else(|| format!("unknown {} '{s}'", stringify!($name)))
            }
        }

        impl Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

string_enum!(
    /// The error codes a vendor may answer, and those the system assigns itself.
    ErrorCode {
        UserAlreadyExists => "USER_ALREADY_EXISTS",
        UserNotFound => "USER_NOT_FOUND",
        AccountNotFound => "ACCOUNT_NOT_FOUND",
        MaxUsersReached => "MAX_USERS_REACHED",
        Unauthorized => "UNAUTHORIZED",
        OperationCancelled => "OPERATION_CANCELLED",
        ConfigurationError => "CONFIGURATION_ERROR",
        InvalidResponse => "INVALID_RESPONSE",
        Pending => "PENDING",
        Forbidden => "FORBIDDEN",
        BindingNotFound => "BINDING_NOT_FOUND",
        TransportError => "TRANSPORT_ERROR",
        UnknownError => "UNKNOWN_ERROR",
        NotFound => "NOT_FOUND",
        EventNotFound => "EVENT_NOT_FOUND",
    }
);

string_enum!(
    /// One per recorded error; each comes with its follow-up action.
    Category {
        Validation => "integration.validation.error",
        MissingAccountMapping => "integration.missingaccountmapping.error",
        Authentication => "integration.authentication.error",
        Perform => "integration.perform.error",
        Disabled => "integration.disabled.error",
    }
);

string_enum!(
    /// Where a record came from.
    Source {
        Dispatch => "dispatch",
        Api => "api",
        DeadLetter => "dead-letter",
    }
);

impl ErrorCode {
    /// The category a vendor's error code falls in.
    pub fn category(self) -> Category {
        match self {
            ErrorCode::Unauthorized | ErrorCode::Forbidden => Category::Authentication,
            ErrorCode::AccountNotFound | ErrorCode::UserNotFound | ErrorCode::BindingNotFound => {
                Category::MissingAccountMapping
            }
            ErrorCode::InvalidResponse => Category::Validation,
            _ => Category::Perform,
        }
    }
}

impl Category {
    pub fn follow_up(self) -> &'static str {
        match self {
            Category::Validation | Category::Perform => "view the delivery attempts",
            Category::MissingAccountMapping => "add the account mapping",
            Category::Authentication => "configure authorization",
            Category::Disabled => "re-enable the integration",
        }
    }
}

/// One failure, as the report shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorRecord {
    pub id: String,
    pub creation_date: DateTime<Utc>,
    pub application_id: ApplicationId,
    pub importable_application_uuid: Option<String>,
    pub application_name: String,
    pub vendor_id: VendorId,
    pub user_id: Option<String>,
    pub user_email: Option<String>,
    pub company_id: Option<String>,
    pub company_name: Option<String>,
    pub event_type: Option<EventType>,
    pub error_code: ErrorCode,
    pub message: String,
    pub manually_resolved: bool,
    pub event_id: Option<String>,
    pub event_token: Option<String>,
    pub category: Category,
    pub attempts: u32,
    pub last_http_status: Option<u16>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub resolved_by: Option<String>,
    pub note: Option<String>,
    pub source: Source,
    pub external_id: Option<String>,
    pub custom_attributes: BTreeMap<String, String>,
    /// Coupa's fields, for failures that other systems report (an ERP, a
    /// billing run, a file import): the document and the run they concern.
    /// Records written before these fields existed read them as empty.
    #[serde(default)]
    pub document_type: Option<String>,
    #[serde(default)]
    pub document_id: Option<String>,
    #[serde(default)]
    pub document_revision: Option<String>,
    #[serde(default)]
    pub document_status: Option<String>,
    #[serde(default)]
    pub integration_run_id: Option<String>,
    #[serde(default)]
    pub integration_filename: Option<String>,
    /// The status of the transaction, in the reporting system's words.
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub creation_method: Option<String>,
    /// What the external system answered, oldest first.
    #[serde(default)]
    pub responses: Vec<ExternalResponse>,
    /// The key id that made the record (`system` for the service's own).
    #[serde(default)]
    pub created_by: Option<String>,
    /// The key id that changed it last.
    #[serde(default)]
    pub updated_by: Option<String>,
    /// Every change made to the record after it was created, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<Change>,
    /// When retention lets the record expire.
    pub expires_at: DateTime<Utc>,
    pub version: u64,
}

/// One answer of the external system a failure record concerns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExternalResponse {
    pub at: DateTime<Utc>,
    pub status: String,
    pub body: String,
}

/// Coupa's free-text fields of a failure record: set on create, changed by
/// PATCH or PUT (`null` clears one), each bounded in length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum DocumentField {
    DocumentType,
    DocumentId,
    DocumentRevision,
    DocumentStatus,
    IntegrationRunId,
    IntegrationFilename,
    Status,
    CreationMethod,
}

impl DocumentField {
    pub const ALL: [DocumentField; 8] = [
        DocumentField::DocumentType,
        DocumentField::DocumentId,
        DocumentField::DocumentRevision,
        DocumentField::DocumentStatus,
        DocumentField::IntegrationRunId,
        DocumentField::IntegrationFilename,
        DocumentField::Status,
        DocumentField::CreationMethod,
    ];

    /// The field's name in JSON, in `fields=` and in error messages.
    pub fn name(self) -> &'static str {
        match self {
            DocumentField::DocumentType => "documentType",
            DocumentField::DocumentId => "documentId",
            DocumentField::DocumentRevision => "documentRevision",
            DocumentField::DocumentStatus => "documentStatus",
            DocumentField::IntegrationRunId => "integrationRunId",
            DocumentField::IntegrationFilename => "integrationFilename",
            DocumentField::Status => "status",
            DocumentField::CreationMethod => "creationMethod",
        }
    }

    /// The longest value accepted, in characters. Those the report filters
    /// on are index keys in both stores, and stay well inside their limits.
    pub fn max_chars(self) -> usize {
        match self {
            DocumentField::DocumentType => 100,
            DocumentField::DocumentId | DocumentField::IntegrationRunId => 256,
            DocumentField::IntegrationFilename => 1024,
            DocumentField::DocumentRevision
            | DocumentField::DocumentStatus
            | DocumentField::Status
            | DocumentField::CreationMethod => 100,
        }
    }

    pub fn of(self, r: &ErrorRecord) -> &Option<String> {
        match self {
            DocumentField::DocumentType => &r.document_type,
            DocumentField::DocumentId => &r.document_id,
            DocumentField::DocumentRevision => &r.document_revision,
            DocumentField::DocumentStatus => &r.document_status,
            DocumentField::IntegrationRunId => &r.integration_run_id,
            DocumentField::IntegrationFilename => &r.integration_filename,
            DocumentField::Status => &r.status,
            DocumentField::CreationMethod => &r.creation_method,
        }
    }

    pub fn of_mut(self, r: &mut ErrorRecord) -> &mut Option<String> {
        match self {
            DocumentField::DocumentType => &mut r.document_type,
            DocumentField::DocumentId => &mut r.document_id,
            DocumentField::DocumentRevision => &mut r.document_revision,
            DocumentField::DocumentStatus => &mut r.document_status,
            DocumentField::IntegrationRunId => &mut r.integration_run_id,
            DocumentField::IntegrationFilename => &mut r.integration_filename,
            DocumentField::Status => &mut r.status,
            DocumentField::CreationMethod => &mut r.creation_method,
        }
    }
}

/// Who changed a record, when, and what.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Change {
    pub at: DateTime<Utc>,
    pub by: String,
    pub action: ChangeAction,
    /// Each changed field's value before and after.
    pub fields: BTreeMap<String, FieldChange>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldChange {
    pub from: serde_json::Value,
    pub to: serde_json::Value,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChangeAction {
    Resolve,
    Unresolve,
    Update,
}

/// What `PATCH` may change; absent fields stay as they are, `null` clears.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RecordPatch {
    pub note: Option<Option<String>>,
    pub external_id: Option<Option<String>>,
    /// Each attribute set to a value, or removed with `None`.
    pub custom_attributes: BTreeMap<String, Option<String>>,
    /// Coupa's text fields to set (`Some`) or clear (`None`).
    pub documents: BTreeMap<DocumentField, Option<String>>,
    /// The external system's answers, replacing those kept.
    pub responses: Option<Vec<ExternalResponse>>,
}

impl ErrorRecord {
    /// The record as `caller` may read it: an event's token is a vendor's
    /// credential, which after ingestion only an admin ever sees.
    pub fn shown_to(mut self, caller: &crate::auth::Caller) -> Self {
        if caller.role != crate::auth::Role::Admin {
            self.event_token = None;
        }
        self
    }

    /// Refuses a record too large for either store, before it is written.
    pub fn check_size(&self) -> Result<(), crate::DomainError> {
        let size = serde_json::to_vec(self).map_or(0, |json| json.len());
        if size > MAX_RECORD_BYTES {
            return Err(crate::DomainError::Invalid {
                field: None,
                message: format!(
                    "the record would hold {size} bytes, more than the {MAX_RECORD_BYTES} a record may hold"
                ),
            });
        }
        Ok(())
    }

    /// The event and delivery round a dispatch failure belongs to, from its
    /// id `<eventId>.<round>`; `None` for records not made by dispatch.
    pub fn failed_round(&self) -> Option<(&str, u32)> {
        let event_id = self.event_id.as_deref()?;
        let round = self.id.strip_prefix(event_id)?.strip_prefix('.')?;
        Some((event_id, round.parse().ok()?))
    }

    /// The record marked actioned, or `None` if it already was: resolving
    /// twice changes nothing the second time.
    pub fn resolved(&self, by: &str, at: DateTime<Utc>, note: Option<String>) -> Option<Self> {
        if self.manually_resolved {
            return None;
        }
        let mut next = self.clone();
        next.manually_resolved = true;
        next.resolved_at = Some(at);
        next.resolved_by = Some(by.to_owned());
        if note.is_some() {
            next.note = note;
        }
        Some(next.changed_from(self, by, at, ChangeAction::Resolve))
    }

    /// The record back in the default view, or `None` if it was not resolved.
    pub fn unresolved(&self, by: &str, at: DateTime<Utc>) -> Option<Self> {
        if !self.manually_resolved {
            return None;
        }
        let mut next = self.clone();
        next.manually_resolved = false;
        next.resolved_at = None;
        next.resolved_by = None;
        Some(next.changed_from(self, by, at, ChangeAction::Unresolve))
    }

    /// The record with `patch` applied, or `None` if it changes nothing.
    pub fn patched(&self, patch: &RecordPatch, by: &str, at: DateTime<Utc>) -> Option<Self> {
        let mut next = self.clone();
        if let Some(note) = &patch.note {
            next.note = note.clone();
        }
        if let Some(external_id) = &patch.external_id {
            next.external_id = external_id.clone();
        }
        for (name, value) in &patch.custom_attributes {
            match value {
                Some(v) => next.custom_attributes.insert(name.clone(), v.clone()),
                None => next.custom_attributes.remove(name),
            };
        }
        for (field, value) in &patch.documents {
            *field.of_mut(&mut next) = value.clone();
        }
        if let Some(responses) = &patch.responses {
            next.responses = responses.clone();
        }
        let changed = next.changed_from(self, by, at, ChangeAction::Update);
        (changed.version != self.version).then_some(changed)
    }

    /// `self` with a history entry naming what differs from `before`, and the
    /// next version; unchanged (same version) if nothing differs.
    fn changed_from(
        mut self,
        before: &ErrorRecord,
        by: &str,
        at: DateTime<Utc>,
        action: ChangeAction,
    ) -> Self {
        let (old, new) = (
            serde_json::to_value(before).unwrap_or_default(),
            serde_json::to_value(&self).unwrap_or_default(),
        );
        let mut fields = BTreeMap::new();
        if let (Some(old), Some(new)) = (old.as_object(), new.as_object()) {
            let names: std::collections::BTreeSet<&String> = old.keys().chain(new.keys()).collect();
            for name in names {
                let null = serde_json::Value::Null;
                let (from, to) = (
                    old.get(name).unwrap_or(&null),
                    new.get(name).unwrap_or(&null),
                );
                if from == to || name == "history" || name == "updatedBy" {
                    continue;
                }
                if name == "customAttributes" {
                    // Only the attributes that changed, each on its own: a
                    // change to one of fifty attributes is not fifty copies.
                    let empty = serde_json::Map::new();
                    let (from, to) = (
                        from.as_object().unwrap_or(&empty),
                        to.as_object().unwrap_or(&empty),
                    );
                    let keys: std::collections::BTreeSet<&String> =
                        from.keys().chain(to.keys()).collect();
                    for key in keys {
                        let (f, t) = (from.get(key).unwrap_or(&null), to.get(key).unwrap_or(&null));
                        if f != t {
                            fields.insert(
                                format!("customAttributes.{key}"),
                                FieldChange {
                                    from: f.clone(),
                                    to: t.clone(),
                                },
                            );
                        }
                    }
                    continue;
                }
                fields.insert(
                    name.clone(),
                    FieldChange {
                        from: from.clone(),
                        to: to.clone(),
                    },
                );
            }
        }
        if fields.is_empty() {
            return self;
        }
        self.updated_by = Some(by.to_owned());
        self.history.push(Change {
            at,
            by: by.to_owned(),
            action,
            fields,
        });
        // The oldest entries go once the history passes its bound, so that no
        // record outgrows its store (DynamoDB holds 400 KB an item).
        while self.history.len() > 1
            && serde_json::to_vec(&self.history).map_or(0, |h| h.len()) > MAX_HISTORY_BYTES
        {
            self.history.remove(0);
        }
        self.version = before.version + 1;
        self
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ResolvedFilter {
    /// The default view: what still needs action.
    #[default]
    Unresolved,
    Resolved,
    All,
}

/// Where a page ended: the next page starts strictly after it (newest first).
///
/// Order is by millisecond, then id: the precision both stores' keys hold. A
/// finer time here would order two records of one millisecond differently
/// from the store and drop one of them at a page boundary.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Position {
    pub created_ms: i64,
    pub id: String,
}

impl Position {
    pub fn at(created: DateTime<Utc>, id: &str) -> Self {
        Position {
            created_ms: created.timestamp_millis(),
            id: id.to_owned(),
        }
    }

    pub fn of(r: &ErrorRecord) -> Self {
        Position::at(r.creation_date, &r.id)
    }
}

/// A report query. The vendor scope is set from the caller's key, never from input.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ErrorQuery {
    pub vendor: Option<VendorId>,
    pub resolved: ResolvedFilter,
    pub application_id: Option<ApplicationId>,
    pub event_type: Option<EventType>,
    pub error_code: Option<ErrorCode>,
    pub category: Option<Category>,
    pub company_id: Option<String>,
    pub user_email: Option<String>,
    pub document_type: Option<String>,
    pub document_id: Option<String>,
    pub integration_run_id: Option<String>,
    /// Inclusive lower bound.
    pub from: Option<DateTime<Utc>>,
    /// Exclusive upper bound.
    pub to: Option<DateTime<Utc>>,
    pub limit: usize,
    pub after: Option<Position>,
}

impl ErrorQuery {
    /// Whether a record belongs in this query's result; both stores use it, so they agree.
    pub fn matches(&self, r: &ErrorRecord) -> bool {
        let resolved_ok = match self.resolved {
            ResolvedFilter::Unresolved => !r.manually_resolved,
            ResolvedFilter::Resolved => r.manually_resolved,
            ResolvedFilter::All => true,
        };
        resolved_ok
            && self.vendor.as_ref().is_none_or(|v| *v == r.vendor_id)
            && self
                .application_id
                .as_ref()
                .is_none_or(|a| *a == r.application_id)
            && self.event_type.is_none_or(|t| Some(t) == r.event_type)
            && self.error_code.is_none_or(|c| c == r.error_code)
            && self.category.is_none_or(|c| c == r.category)
            && self
                .company_id
                .as_ref()
                .is_none_or(|c| Some(c) == r.company_id.as_ref())
            && self
                .user_email
                .as_ref()
                .is_none_or(|e| Some(e) == r.user_email.as_ref())
            && self
                .document_type
                .as_ref()
                .is_none_or(|d| Some(d) == r.document_type.as_ref())
            && self
                .document_id
                .as_ref()
                .is_none_or(|d| Some(d) == r.document_id.as_ref())
            && self
                .integration_run_id
                .as_ref()
                .is_none_or(|d| Some(d) == r.integration_run_id.as_ref())
            && self.from.is_none_or(|f| r.creation_date >= f)
            && self.to.is_none_or(|t| r.creation_date < t)
            && self.after.as_ref().is_none_or(|p| Position::of(r) < *p)
    }
}

/// How many failures one application had with one error code.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SummaryRow {
    pub application_id: ApplicationId,
    pub error_code: ErrorCode,
    pub count: u64,
}

impl SummaryRow {
    /// Rows counted from records one by one, in order of application id,
    /// then error code, as text.
    pub fn tally<'a>(
        records: impl IntoIterator<Item = (&'a ApplicationId, ErrorCode)>,
    ) -> Vec<Self> {
        let mut counts: BTreeMap<(&ApplicationId, &str, ErrorCode), u64> = BTreeMap::new();
        for (a, c) in records {
            *counts.entry((a, c.as_str(), c)).or_default() += 1;
        }
        counts
            .into_iter()
            .map(|((a, _, c), count)| SummaryRow {
                application_id: a.clone(),
                error_code: c,
                count,
            })
            .collect()
    }

    /// Rows of tallies made apart (a store's pages), added up, in the same order.
    pub fn combine(rows: impl IntoIterator<Item = SummaryRow>) -> Vec<Self> {
        let mut counts: BTreeMap<(ApplicationId, &str, ErrorCode), u64> = BTreeMap::new();
        for r in rows {
            *counts
                .entry((r.application_id, r.error_code.as_str(), r.error_code))
                .or_default() += r.count;
        }
        counts
            .into_iter()
            .map(|((application_id, _, error_code), count)| SummaryRow {
                application_id,
                error_code,
                count,
            })
            .collect()
    }
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct ErrorPage {
    pub items: Vec<ErrorRecord>,
    /// Set when more records may follow.
    pub next: Option<Position>,
}

string_enum!(
    /// Why an alert was raised.
    AlertKind {
        IntegrationDisabled => "INTEGRATION_DISABLED",
        EventFailed => "EVENT_FAILED",
        Manual => "MANUAL",
    }
);

/// A notice about failures: stored, and posted to the integration's alert URL
/// (or a manager's webhook recipients).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Alert {
    pub id: String,
    pub kind: AlertKind,
    pub application_id: Option<ApplicationId>,
    pub vendor_id: Option<VendorId>,
    pub error_ids: Vec<String>,
    pub message: String,
    pub recipients: Vec<String>,
    /// How a manager's alert reaches its recipients; notices to vendors have none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact_alert_type: Option<ContactAlertType>,
    /// What became of each recipient.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deliveries: Vec<AlertDelivery>,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum ContactAlertType {
    /// Stored for the mail sender a deployment wires in.
    Email,
    /// Stored for the text-message sender a deployment wires in.
    Sms,
    /// POSTed to each recipient URL at once.
    Webhook,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AlertDelivery {
    pub recipient: String,
    pub status: DeliveryStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum DeliveryStatus {
    /// Waiting for the mail sender.
    Queued,
    Delivered,
    Failed,
}

impl ErrorPage {
    /// A page from records read one past `limit`, newest first: that extra
    /// record is how a store learns another page exists; it is not returned.
    pub fn from_overfetch(mut items: Vec<ErrorRecord>, limit: usize) -> Self {
        let next = if items.len() > limit {
            items.truncate(limit);
            items.last().map(Position::of)
        } else {
            None
        };
        ErrorPage { items, next }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vendor_codes_fall_in_the_categories_the_spec_names() {
        assert_eq!(ErrorCode::Unauthorized.category(), Category::Authentication);
        assert_eq!(ErrorCode::Forbidden.category(), Category::Authentication);
        assert_eq!(
            ErrorCode::AccountNotFound.category(),
            Category::MissingAccountMapping
        );
        assert_eq!(
            ErrorCode::BindingNotFound.category(),
            Category::MissingAccountMapping
        );
        assert_eq!(ErrorCode::InvalidResponse.category(), Category::Validation);
        assert_eq!(ErrorCode::MaxUsersReached.category(), Category::Perform);
        assert_eq!(ErrorCode::TransportError.category(), Category::Perform);
    }

    #[test]
    fn codes_and_categories_round_trip_through_their_names() {
        for c in ErrorCode::ALL {
            assert_eq!(c.as_str().parse::<ErrorCode>().unwrap(), *c);
        }
        for c in Category::ALL {
            let json = serde_json::to_string(c).unwrap();
            assert_eq!(serde_json::from_str::<Category>(&json).unwrap(), *c);
        }
        assert!("NOPE".parse::<ErrorCode>().is_err());
    }
}

/// The most a record may hold as JSON: DynamoDB takes 400 KB an item, index
/// keys and attribute names included.
pub const MAX_RECORD_BYTES: usize = 300 * 1024;

/// A record's history is kept within about this many bytes of JSON, oldest
/// entries dropped first (the newest entry is always kept).
pub const MAX_HISTORY_BYTES: usize = 64 * 1024;

/// At most this many answers of the external system are kept on a record.
pub const MAX_RESPONSES: usize = 20;
const MAX_RESPONSE_BODY: usize = 4096;
const MAX_RESPONSE_STATUS: usize = 100;

/// One of Coupa's text fields as a client sent it: absent or `null` is no
/// value; an empty value is refused (`null` clears a field).
pub(crate) fn document_value(
    field: DocumentField,
    value: Option<String>,
) -> Result<Option<String>, crate::DomainError> {
    match value {
        Some(v) if v.trim().is_empty() => Err(crate::DomainError::invalid(
            field.name(),
            "must not be empty (null clears it)",
        )),
        Some(v) if v.chars().count() > field.max_chars() => Err(crate::DomainError::invalid(
            field.name(),
            format!("must be at most {} characters", field.max_chars()),
        )),
        v => Ok(v),
    }
}

/// An answer of the external system as a client sends it; `status` may be a
/// number (an HTTP status) or text, `at` defaults to when it is recorded.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ResponseInput {
    #[serde(default)]
    at: Option<DateTime<Utc>>,
    status: StatusInput,
    #[serde(default)]
    body: String,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum StatusInput {
    Number(i64),
    Text(String),
}

/// The answers a client sent, checked against their bounds.
pub(crate) fn responses(
    input: Vec<ResponseInput>,
    now: DateTime<Utc>,
) -> Result<Vec<ExternalResponse>, crate::DomainError> {
    if input.len() > MAX_RESPONSES {
        return Err(crate::DomainError::invalid(
            "responses",
            format!("at most {MAX_RESPONSES} responses are kept"),
        ));
    }
    input
        .into_iter()
        .enumerate()
        .map(|(i, r)| {
            let status = match r.status {
                StatusInput::Number(n) => n.to_string(),
                StatusInput::Text(t) => t,
            };
            if status.trim().is_empty() || status.chars().count() > MAX_RESPONSE_STATUS {
                return Err(crate::DomainError::invalid(
                    format!("responses[{i}].status"),
                    format!("must be a number or 1 to {MAX_RESPONSE_STATUS} characters"),
                ));
            }
            if r.body.chars().count() > MAX_RESPONSE_BODY {
                return Err(crate::DomainError::invalid(
                    format!("responses[{i}].body"),
                    format!("must be at most {MAX_RESPONSE_BODY} characters"),
                ));
            }
            Ok(ExternalResponse {
                at: r.at.unwrap_or(now),
                status,
                body: r.body,
            })
        })
        .collect()
}

/// `createdBy` and `updatedBy` name the keys that made and changed a record;
/// a client may not set them.
pub(crate) fn refuse_authorship(
    created_by: &Option<serde_json::Value>,
    updated_by: &Option<serde_json::Value>,
) -> Result<(), crate::DomainError> {
    for (field, value) in [("createdBy", created_by), ("updatedBy", updated_by)] {
        if value.is_some() {
            return Err(crate::DomainError::invalid(
                field,
                "is set by the service: the id of the key that made or changed the record",
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod summary_tests {
    use super::*;

    #[test]
    fn tallies_made_apart_add_up_to_the_tally_of_all_the_records_in_its_order() {
        let (a, b) = (
            ApplicationId::parse("app-a").unwrap(),
            ApplicationId::parse("app-b").unwrap(),
        );
        let all = [
            (&b, ErrorCode::UnknownError),
            (&a, ErrorCode::UnknownError),
            (&a, ErrorCode::TransportError),
            (&b, ErrorCode::UnknownError),
            (&a, ErrorCode::UnknownError),
        ];
        let apart = SummaryRow::combine(
            SummaryRow::tally(all[..2].iter().copied())
                .into_iter()
                .chain(SummaryRow::tally(all[2..].iter().copied())),
        );
        assert_eq!(apart, SummaryRow::tally(all.iter().copied()));
        assert_eq!(
            apart.iter().map(|r| r.count).collect::<Vec<_>>(),
            [1, 2, 2],
            "{apart:?}"
        );
    }
}

#[cfg(test)]
pub(crate) mod tests_support {
    use super::*;

    /// A plain failure record for unit tests.
    pub fn record() -> ErrorRecord {
        let at: DateTime<Utc> = "2026-11-29T12:00:00Z".parse().unwrap();
        ErrorRecord {
            id: "r-1".into(),
            creation_date: at,
            application_id: ApplicationId::parse("app-1").unwrap(),
            importable_application_uuid: None,
            application_name: "Widget".into(),
            vendor_id: VendorId::parse("v-1").unwrap(),
            user_id: None,
            user_email: None,
            company_id: None,
            company_name: None,
            event_type: None,
            error_code: ErrorCode::UnknownError,
            message: "failed".into(),
            manually_resolved: false,
            event_id: None,
            event_token: None,
            category: Category::Perform,
            attempts: 0,
            last_http_status: None,
            resolved_at: None,
            resolved_by: None,
            note: None,
            source: Source::Api,
            external_id: None,
            custom_attributes: BTreeMap::new(),
            document_type: None,
            document_id: None,
            document_revision: None,
            document_status: None,
            integration_run_id: None,
            integration_filename: None,
            status: None,
            creation_method: None,
            responses: Vec::new(),
            created_by: None,
            updated_by: None,
            history: Vec::new(),
            expires_at: at,
            version: 1,
        }
    }
}
