//! Reading many records at once: the Failed Integration Events report, its
//! summary, and the events log. Query parameters are parsed here, so every
//! route rejects the same mistakes the same way.

use crate::auth::{Caller, Role, VendorId};
use crate::error::DomainError;
use crate::event::{EventQuery, EventStatus, EventSummary, EventType};
use crate::integration::{ApplicationId, IntegrationView};
use crate::ports::IntegrationQuery;
use crate::record::{
    Category, DocumentField, ErrorCode, ErrorQuery, ErrorRecord, Position, ResolvedFilter,
    SummaryRow,
};
use crate::service::Service;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use hmac::{Hmac, Mac};
use serde::Serialize;
use serde_json::Value;
use sha2::Sha256;
use std::borrow::Cow;
use std::collections::BTreeMap;

pub const DEFAULT_LIMIT: usize = 50;
pub const MAX_LIMIT: usize = 1000;

/// A column of the report: one of the record's fields, or a custom attribute
/// (`customAttributes.<name>`), which becomes a column of its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReportField {
    Named(&'static str, &'static str),
    Custom(String),
}

/// Every selectable field with its heading; the first twelve are the default view.
const FIELDS: [(&str, &str); 35] = [
    ("creationDate", "Creation Date"),
    ("applicationId", "Application Id"),
    ("importableApplicationUuid", "Importable Application Uuid"),
    ("applicationName", "Application Name"),
    ("userId", "User Id"),
    ("userEmail", "User email"),
    ("companyId", "Company Id"),
    ("companyName", "Company Name"),
    ("eventType", "Event Type"),
    ("errorCode", "Error Code"),
    ("message", "Message"),
    ("manuallyResolved", "Manually Resolved"),
    ("id", "id"),
    ("eventId", "eventId"),
    ("eventToken", "eventToken"),
    ("category", "category"),
    ("attempts", "attempts"),
    ("lastHttpStatus", "lastHttpStatus"),
    ("resolvedAt", "resolvedAt"),
    ("resolvedBy", "resolvedBy"),
    ("note", "note"),
    ("source", "source"),
    ("externalId", "externalId"),
    ("customAttributes", "customAttributes"),
    ("documentType", "documentType"),
    ("documentId", "documentId"),
    ("documentRevision", "documentRevision"),
    ("documentStatus", "documentStatus"),
    ("integrationRunId", "integrationRunId"),
    ("integrationFilename", "integrationFilename"),
    ("status", "status"),
    ("creationMethod", "creationMethod"),
    ("responses", "responses"),
    ("createdBy", "createdBy"),
    ("updatedBy", "updatedBy"),
];
const DEFAULT_FIELDS: usize = 12;
const CUSTOM_PREFIX: &str = "customAttributes.";

impl ReportField {
    pub fn defaults() -> Vec<ReportField> {
        FIELDS[..DEFAULT_FIELDS]
            .iter()
            .map(|(n, h)| ReportField::Named(n, h))
            .collect()
    }

    /// Every named field, the twelve defaults first, in the report's order;
    /// custom attributes come on top, one per name.
    pub fn all() -> Vec<ReportField> {
        FIELDS
            .iter()
            .map(|(n, h)| ReportField::Named(n, h))
            .collect()
    }

    pub fn parse(name: &str) -> Result<Self, String> {
        if let Some((n, h)) = FIELDS.iter().find(|(n, _)| *n == name) {
            return Ok(ReportField::Named(n, h));
        }
        match name.strip_prefix(CUSTOM_PREFIX) {
            Some(attr) if !attr.is_empty() => Ok(ReportField::Custom(attr.to_owned())),
            _ => Err(format!(
                "unknown field '{name}'; fields are {} or {CUSTOM_PREFIX}<name>",
                FIELDS.map(|(n, _)| n).join(", ")
            )),
        }
    }

    /// The field list of `fields=a,b,c`; empty names and repeats are refused.
    pub fn parse_list(list: &str) -> Result<Vec<Self>, String> {
        let mut out: Vec<ReportField> = Vec::new();
        for name in list.split(',').map(str::trim) {
            if name.is_empty() {
                return Err("a field name is empty".into());
            }
            let field = ReportField::parse(name)?;
            if out.contains(&field) {
                return Err(format!("field '{name}' is given twice"));
            }
            out.push(field);
        }
        Ok(out)
    }

    pub fn name(&self) -> Cow<'_, str> {
        match self {
            ReportField::Named(n, _) => Cow::Borrowed(n),
            ReportField::Custom(a) => Cow::Owned(format!("{CUSTOM_PREFIX}{a}")),
        }
    }

    pub fn heading(&self) -> &str {
        match self {
            ReportField::Named(_, h) => h,
            ReportField::Custom(a) => a,
        }
    }

    /// This field of `record`, from the record's JSON form (`full`).
    fn value(&self, full: &Value) -> Value {
        match self {
            ReportField::Named(n, _) => full.get(*n).cloned().unwrap_or(Value::Null),
            ReportField::Custom(a) => full
                .get("customAttributes")
                .and_then(|c| c.get(a))
                .cloned()
                .unwrap_or(Value::Null),
        }
    }
}

/// One report row: the chosen fields of `record`, in order.
pub fn report_row(fields: &[ReportField], record: &ErrorRecord) -> serde_json::Map<String, Value> {
    let full = serde_json::to_value(record).unwrap_or_default();
    fields
        .iter()
        .map(|f| (f.name().into_owned(), f.value(&full)))
        .collect()
}

/// Writes report rows as CSV, the header row of headings first; page after page.
pub struct CsvReport {
    fields: Vec<ReportField>,
    header_written: bool,
}

impl CsvReport {
    pub fn new(fields: Vec<ReportField>) -> Self {
        CsvReport {
            fields,
            header_written: false,
        }
    }

    /// The CSV text of `records`, preceded by the header row the first time.
    pub fn page(&mut self, records: &[ErrorRecord]) -> Result<Vec<u8>, DomainError> {
        let internal = |e: csv::Error| DomainError::internal(format!("csv: {e}"));
        let mut out = csv::Writer::from_writer(Vec::new());
        if !self.header_written {
            out.write_record(
                self.fields
                    .iter()
                    .map(|f| neutralised(f.heading().to_owned())),
            )
            .map_err(internal)?;
            self.header_written = true;
        }
        for record in records {
            let full = serde_json::to_value(record).unwrap_or_default();
            out.write_record(self.fields.iter().map(|f| cell(f.value(&full))))
                .map_err(internal)?;
        }
        out.into_inner()
            .map_err(|e| DomainError::internal(format!("csv: {e}")))
    }
}

fn cell(v: Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => neutralised(s),
        other => other.to_string(),
    }
}

/// A text cell a spreadsheet would run as a formula (it starts with `=`, `+`,
/// `-`, `@`, a tab or a carriage return) gets a leading `'`, as OWASP advises
/// against CSV injection: the spreadsheet then shows it as text. Vendors and
/// other systems write messages, company names and attributes; a manager opens
/// the file.
fn neutralised(s: String) -> String {
    if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}")
    } else {
        s
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Csv,
}

/// One page of the report, as the caller asked for it.
#[derive(Debug, Clone)]
pub struct ReportPage {
    pub fields: Vec<ReportField>,
    pub items: Vec<ErrorRecord>,
    pub next_cursor: Option<String>,
    pub format: Format,
}

impl ReportPage {
    pub fn to_json(&self) -> Value {
        let items: Vec<Value> = self
            .items
            .iter()
            .map(|r| Value::Object(report_row(&self.fields, r)))
            .collect();
        serde_json::json!({ "items": items, "nextCursor": self.next_cursor })
    }

    pub fn to_csv(&self) -> Result<Vec<u8>, DomainError> {
        CsvReport::new(self.fields.clone()).page(&self.items)
    }
}

/// `from` and `to`, each optional.
type Window = (Option<DateTime<Utc>>, Option<DateTime<Utc>>);

/// Query parameters, each at most once, from a fixed list.
pub struct Params(BTreeMap<String, String>);

impl Params {
    pub fn new(pairs: Vec<(String, String)>, allowed: &[&str]) -> Result<Self, DomainError> {
        let mut map = BTreeMap::new();
        for (name, value) in pairs {
            if !allowed.contains(&name.as_str()) {
                return Err(DomainError::invalid(
                    name.clone(),
                    format!(
                        "unknown query parameter; this route takes {}",
                        allowed.join(", ")
                    ),
                ));
            }
            if map.insert(name.clone(), value).is_some() {
                return Err(DomainError::invalid(name, "given more than once"));
            }
        }
        Ok(Params(map))
    }

    /// The parameter parsed by `parse`, if present and not empty.
    pub fn get<T>(
        &self,
        name: &str,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Result<Option<T>, DomainError> {
        match self.0.get(name).map(String::as_str) {
            None | Some("") => Ok(None),
            Some(v) => parse(v)
                .map(Some)
                .map_err(|m| DomainError::invalid(name, m)),
        }
    }

    fn text(&self, name: &str) -> Result<Option<String>, DomainError> {
        self.get(name, |v| Ok(v.to_owned()))
    }

    fn time(&self, name: &str) -> Result<Option<DateTime<Utc>>, DomainError> {
        self.get(name, parse_time)
    }

    fn limit(&self) -> Result<usize, DomainError> {
        Ok(self
            .get("limit", |v| match v.parse::<usize>() {
                Ok(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
                _ => Err(format!("must be a whole number from 1 to {MAX_LIMIT}")),
            })?
            .unwrap_or(DEFAULT_LIMIT))
    }

    /// `from` (inclusive) and `to` (exclusive), in order.
    fn window(&self) -> Result<Window, DomainError> {
        let (from, to) = (self.time("from")?, self.time("to")?);
        if let (Some(f), Some(t)) = (from, to) {
            if t <= f {
                return Err(DomainError::invalid("to", "must be later than from"));
            }
        }
        Ok((from, to))
    }

    fn resolved(&self, default: ResolvedFilter) -> Result<ResolvedFilter, DomainError> {
        Ok(self.get("resolved", parse_resolved)?.unwrap_or(default))
    }
}

pub fn parse_resolved(v: &str) -> Result<ResolvedFilter, String> {
    match v {
        "false" => Ok(ResolvedFilter::Unresolved),
        "true" => Ok(ResolvedFilter::Resolved),
        "all" => Ok(ResolvedFilter::All),
        _ => Err("must be false, true or all".into()),
    }
}

/// An RFC 3339 time, or a date (`2026-11-01`, meaning its midnight UTC).
pub fn parse_time(v: &str) -> Result<DateTime<Utc>, String> {
    // An offset's '+' sent unencoded in a query string arrives as a space.
    let fixed = v.replace(' ', "+");
    if let Ok(t) = DateTime::parse_from_rfc3339(&fixed) {
        return Ok(t.with_timezone(&Utc));
    }
    NaiveDate::parse_from_str(v, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc())
        .ok_or_else(|| format!("'{v}' is not an RFC 3339 time or a YYYY-MM-DD date"))
}

fn parse_with<T: std::str::FromStr<Err = String>>(v: &str) -> Result<T, String> {
    v.parse()
}

/// Seals page positions into opaque cursors. A cursor names the scope it was
/// made for (the caller's vendor and the query's filters) and is signed with a
/// deployment secret, so it cannot be forged, altered, or replayed under
/// another caller or another query.
#[derive(Clone)]
pub struct CursorKey(Vec<u8>);

impl std::fmt::Debug for CursorKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CursorKey(..)")
    }
}

const CURSOR_TAG_BYTES: usize = 16;

impl CursorKey {
    pub fn new(secret: impl Into<Vec<u8>>) -> Self {
        CursorKey(secret.into())
    }

    fn mac(&self, scope: &str, payload: &str) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes any key length");
        mac.update(scope.as_bytes());
        mac.update(&[0]);
        mac.update(payload.as_bytes());
        mac
    }

    /// A secret for another purpose (the console's session cookies), derived
    /// from this one, so that a deployment keeps one secret and a value made
    /// for one purpose never opens as another.
    pub fn derive(&self, purpose: &str) -> Vec<u8> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes any key length");
        mac.update(b"iev derived key\0");
        mac.update(purpose.as_bytes());
        mac.finalize().into_bytes().to_vec()
    }

    pub fn seal(&self, scope: &str, position: &Position) -> String {
        let payload = format!("{}.{}", position.created_ms, position.id);
        format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(&payload),
            URL_SAFE_NO_PAD
                .encode(&self.mac(scope, &payload).finalize().into_bytes()[..CURSOR_TAG_BYTES])
        )
    }

    pub fn open(&self, scope: &str, cursor: &str) -> Result<Position, DomainError> {
        let invalid = || {
            DomainError::invalid(
                "cursor",
                "not a cursor this query issued; start again without it",
            )
        };
        let (payload, tag) = cursor.split_once('.').ok_or_else(invalid)?;
        let payload = URL_SAFE_NO_PAD.decode(payload).map_err(|_| invalid())?;
        let tag = URL_SAFE_NO_PAD.decode(tag).map_err(|_| invalid())?;
        let payload = String::from_utf8(payload).map_err(|_| invalid())?;
        if tag.len() != CURSOR_TAG_BYTES {
            return Err(invalid());
        }
        self.mac(scope, &payload)
            .verify_truncated_left(&tag)
            .map_err(|_| invalid())?;
        let (ms, id) = payload.split_once('.').ok_or_else(invalid)?;
        Ok(Position {
            created_ms: ms.parse().map_err(|_| invalid())?,
            id: id.to_owned(),
        })
    }
}

fn opt<T: std::fmt::Display>(v: &Option<T>) -> String {
    v.as_ref().map(|v| v.to_string()).unwrap_or_default()
}

fn time(v: &Option<DateTime<Utc>>) -> String {
    v.map(|t| t.to_rfc3339_opts(SecondsFormat::Nanos, true))
        .unwrap_or_default()
}

/// Everything that decides which records a report query can return, as a
/// JSON array, so that free text holding a separator cannot make two
/// different queries one scope.
fn error_scope(q: &ErrorQuery) -> String {
    serde_json::json!([
        "errors",
        opt(&q.vendor.as_ref().map(|v| v.as_str())),
        format!("{:?}", q.resolved),
        opt(&q.application_id),
        opt(&q.event_type),
        opt(&q.error_code),
        opt(&q.category),
        opt(&q.company_id),
        opt(&q.user_email),
        opt(&q.document_type),
        opt(&q.document_id),
        opt(&q.integration_run_id),
        time(&q.from),
        time(&q.to),
    ])
    .to_string()
}

fn event_scope(q: &EventQuery) -> String {
    format!(
        "events|{}|{}|{}|{}|{}|{}",
        opt(&q.vendor.as_ref().map(|v| v.as_str())),
        opt(&q.application_id),
        opt(&q.status.map(|s| s.as_str())),
        opt(&q.event_type),
        time(&q.from),
        time(&q.to),
    )
}

pub(crate) const REPORT_PARAMS: &[&str] = &[
    "from",
    "to",
    "applicationId",
    "eventType",
    "errorCode",
    "category",
    "companyId",
    "userEmail",
    "documentType",
    "documentId",
    "integrationRunId",
    "resolved",
    "fields",
    "format",
    "limit",
    "cursor",
];

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EventList {
    pub items: Vec<EventSummary>,
    pub next_cursor: Option<String>,
}

fn application(v: &str) -> Result<ApplicationId, String> {
    ApplicationId::parse(v)
}

/// A filter on one of Coupa's fields: a value a record could hold (the
/// stores key their indexes on these).
fn document_filter(field: DocumentField) -> impl Fn(&str) -> Result<String, String> {
    move |v| {
        if v.is_empty() || v.chars().count() > field.max_chars() {
            Err(format!("must be 1 to {} characters", field.max_chars()))
        } else {
            Ok(v.to_owned())
        }
    }
}

impl Service {
    /// The report query these parameters describe, scoped to what the caller sees.
    pub fn report_query(
        &self,
        caller: &Caller,
        params: &Params,
    ) -> Result<ErrorQuery, DomainError> {
        caller.require(&[Role::Admin, Role::Manager, Role::Vendor])?;
        let (from, to) = params.window()?;
        let mut query = ErrorQuery {
            vendor: caller.vendor_id.clone(),
            resolved: params.resolved(ResolvedFilter::Unresolved)?,
            application_id: params.get("applicationId", application)?,
            event_type: params.get("eventType", parse_with::<EventType>)?,
            error_code: params.get("errorCode", parse_with::<ErrorCode>)?,
            category: params.get("category", parse_with::<Category>)?,
            company_id: params.text("companyId")?,
            user_email: params.text("userEmail")?,
            document_type: params
                .get("documentType", document_filter(DocumentField::DocumentType))?,
            document_id: params.get("documentId", document_filter(DocumentField::DocumentId))?,
            integration_run_id: params.get(
                "integrationRunId",
                document_filter(DocumentField::IntegrationRunId),
            )?,
            from,
            to,
            limit: params.limit()?,
            after: None,
        };
        let scope = error_scope(&query);
        query.after = params
            .get("cursor", |c| Ok(c.to_owned()))?
            .map(|c| self.config.cursor_key.open(&scope, &c))
            .transpose()?;
        Ok(query)
    }

    /// `GET /api/integration_errors`: one page of the report.
    pub async fn list_errors(
        &self,
        caller: &Caller,
        pairs: Vec<(String, String)>,
    ) -> Result<ReportPage, DomainError> {
        let params = Params::new(pairs, REPORT_PARAMS)?;
        let query = self.report_query(caller, &params)?;
        let fields = params
            .get("fields", ReportField::parse_list)?
            .unwrap_or_else(ReportField::defaults);
        let format = params
            .get("format", |v| match v {
                "json" => Ok(Format::Json),
                "csv" => Ok(Format::Csv),
                _ => Err("must be json or csv".into()),
            })?
            .unwrap_or(Format::Json);
        let page = self.store.query_errors(&query).await?;
        let scope = error_scope(&query);
        Ok(ReportPage {
            fields,
            items: page.items.into_iter().map(|r| r.shown_to(caller)).collect(),
            next_cursor: page.next.map(|p| self.config.cursor_key.seal(&scope, &p)),
            format,
        })
    }

    /// `GET /api/integration_errors/summary`: failures counted per application
    /// and error code in a window (all records unless `resolved` says otherwise).
    pub async fn error_summary(
        &self,
        caller: &Caller,
        pairs: Vec<(String, String)>,
    ) -> Result<Vec<SummaryRow>, DomainError> {
        caller.require(&[Role::Admin, Role::Manager, Role::Vendor])?;
        let params = Params::new(pairs, &["from", "to", "resolved", "applicationId"])?;
        let (from, to) = params.window()?;
        let query = ErrorQuery {
            vendor: caller.vendor_id.clone(),
            resolved: params.resolved(ResolvedFilter::All)?,
            application_id: params.get("applicationId", application)?,
            from,
            to,
            ..Default::default()
        };
        Ok(self.store.summarize_errors(&query).await?)
    }

    /// `GET /v1/events`: the events log, newest first.
    pub async fn list_events(
        &self,
        caller: &Caller,
        pairs: Vec<(String, String)>,
    ) -> Result<EventList, DomainError> {
        // The marketplace reads one event at a time (`GET /v1/events/{id}`), not the log.
        caller.require(&[Role::Admin, Role::Manager, Role::Vendor])?;
        let params = Params::new(
            pairs,
            &[
                "applicationId",
                "status",
                "type",
                "from",
                "to",
                "limit",
                "cursor",
            ],
        )?;
        let (from, to) = params.window()?;
        let mut query = EventQuery {
            vendor: caller.vendor_id.clone(),
            application_id: params.get("applicationId", application)?,
            status: params.get("status", |v| v.parse::<EventStatus>())?,
            event_type: params.get("type", parse_with::<EventType>)?,
            from,
            to,
            limit: params.limit()?,
            after: None,
        };
        let scope = event_scope(&query);
        query.after = params
            .get("cursor", |c| Ok(c.to_owned()))?
            .map(|c| self.config.cursor_key.open(&scope, &c))
            .transpose()?;
        let page = self.store.query_events(&query).await?;
        Ok(EventList {
            items: page.items,
            next_cursor: page.next.map(|p| self.config.cursor_key.seal(&scope, &p)),
        })
    }
}

/// A page of `GET /v1/integrations`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IntegrationList {
    pub items: Vec<IntegrationView>,
    pub next_cursor: Option<String>,
}

impl Service {
    /// The integrations this caller may see, in application id order.
    pub async fn list_integrations(
        &self,
        caller: &Caller,
        pairs: Vec<(String, String)>,
    ) -> Result<IntegrationList, DomainError> {
        caller.require(&[Role::Admin, Role::Manager, Role::Vendor])?;
        let params = Params::new(pairs, &["enabled", "vendorId", "limit", "cursor"])?;
        let asked = params.get("vendorId", VendorId::parse)?;
        let vendor = match (&caller.vendor_id, asked) {
            // A vendor asking for another vendor's integrations sees none,
            // as it sees none of them anywhere else.
            (Some(own), Some(asked)) if own != &asked => {
                return Ok(IntegrationList {
                    items: vec![],
                    next_cursor: None,
                })
            }
            (Some(own), _) => Some(own.clone()),
            (None, asked) => asked,
        };
        let enabled = params.get("enabled", |v| match v {
            "true" => Ok(true),
            "false" => Ok(false),
            _ => Err("must be true or false".to_owned()),
        })?;
        let scope = serde_json::json!([
            "integrations",
            opt(&vendor.as_ref().map(|v| v.as_str())),
            opt(&enabled)
        ])
        .to_string();
        let after = params
            .get("cursor", |c| Ok(c.to_owned()))?
            .map(|c| self.config.cursor_key.open(&scope, &c))
            .transpose()?
            .map(|p| ApplicationId::parse(&p.id).map_err(|m| DomainError::invalid("cursor", m)))
            .transpose()?;
        let page = self
            .store
            .list_integrations(&IntegrationQuery {
                vendor,
                enabled,
                after,
                limit: params.limit()?,
            })
            .await?;
        Ok(IntegrationList {
            items: page.items.iter().map(IntegrationView::from).collect(),
            next_cursor: page.next.map(|id| {
                self.config.cursor_key.seal(
                    &scope,
                    &Position {
                        created_ms: 0,
                        id: id.as_str().to_owned(),
                    },
                )
            }),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn position() -> Position {
        Position {
            created_ms: 1_700_000_000_123,
            id: "0192.1".into(),
        }
    }

    #[test]
    fn a_cursor_opens_to_the_position_it_sealed_under_the_same_scope() {
        let key = CursorKey::new(b"secret".to_vec());
        let cursor = key.seal("scope-a", &position());
        assert_eq!(key.open("scope-a", &cursor).unwrap(), position());
    }

    #[test]
    fn a_cursor_is_refused_under_another_scope_or_key_or_when_altered() {
        let key = CursorKey::new(b"secret".to_vec());
        let cursor = key.seal("vendor-a", &position());
        assert!(key.open("vendor-b", &cursor).is_err());
        assert!(CursorKey::new(b"other".to_vec())
            .open("vendor-a", &cursor)
            .is_err());
        let (_, tag) = cursor.split_once('.').unwrap();
        let forged = format!("{}.{tag}", URL_SAFE_NO_PAD.encode("1700000000123.0193.1"));
        assert!(key.open("vendor-a", &forged).is_err());
        assert!(key.open("vendor-a", "garbage").is_err());
        assert!(key.open("vendor-a", "").is_err());
    }

    #[test]
    fn a_cell_a_spreadsheet_would_run_as_a_formula_is_written_as_text() {
        for formula in ["=1+2", "+1", "-2+3", "@SUM(A1)", "\tx", "\rx"] {
            assert_eq!(neutralised(formula.into()), format!("'{formula}"));
        }
        for text in ["Widgets", "a=b", "", "'quoted"] {
            assert_eq!(neutralised(text.into()), text);
        }
        assert_eq!(cell(serde_json::json!(-5)), "-5", "numbers are not text");
    }

    #[test]
    fn the_csv_report_neutralises_formulas_in_every_text_column_and_heading() {
        let mut record = crate::record::tests_support::record();
        record.company_name = Some("=HYPERLINK(\"http://x\")".into());
        record.message = "@cmd".into();
        record.application_name = "+app".into();
        record.custom_attributes.insert("-x".into(), "-1+1".into());
        let fields = ReportField::parse_list(
            "companyName,message,applicationName,customAttributes.-x,attempts",
        )
        .unwrap();
        let text = CsvReport::new(fields).page(&[record]).unwrap();
        let mut reader = csv::Reader::from_reader(text.as_slice());
        assert_eq!(&reader.headers().unwrap()[3], "'-x");
        let row = reader.records().next().unwrap().unwrap();
        assert_eq!(&row[0], "'=HYPERLINK(\"http://x\")");
        assert_eq!(&row[1], "'@cmd");
        assert_eq!(&row[2], "'+app");
        assert_eq!(&row[3], "'-1+1");
        assert_eq!(&row[4], "0");
    }

    #[test]
    fn the_default_fields_are_the_twelve_report_columns_in_order() {
        let headings: Vec<String> = ReportField::defaults()
            .iter()
            .map(|f| f.heading().to_owned())
            .collect();
        assert_eq!(
            headings,
            [
                "Creation Date",
                "Application Id",
                "Importable Application Uuid",
                "Application Name",
                "User Id",
                "User email",
                "Company Id",
                "Company Name",
                "Event Type",
                "Error Code",
                "Message",
                "Manually Resolved"
            ]
        );
    }

    #[test]
    fn a_field_list_names_known_fields_and_custom_attributes_once_each() {
        let fields = ReportField::parse_list("id,customAttributes.ticket").unwrap();
        assert_eq!(fields[1], ReportField::Custom("ticket".into()));
        assert_eq!(fields[1].heading(), "ticket");
        assert!(ReportField::parse_list("id,id").is_err());
        assert!(ReportField::parse_list("id,,note").is_err());
        assert!(ReportField::parse_list("password").is_err());
        assert!(ReportField::parse_list("customAttributes.").is_err());
    }

    #[test]
    fn times_are_rfc_3339_or_a_plain_date_at_midnight_utc() {
        assert_eq!(
            parse_time("2026-11-01").unwrap(),
            parse_time("2026-11-01T00:00:00Z").unwrap()
        );
        assert_eq!(
            parse_time("2026-11-01T01:00:00+01:00").unwrap(),
            parse_time("2026-11-01T00:00:00Z").unwrap()
        );
        assert_eq!(
            parse_time("2026-11-01T01:00:00 01:00").unwrap(),
            parse_time("2026-11-01T00:00:00Z").unwrap()
        );
        assert!(parse_time("yesterday").is_err());
    }

    #[test]
    fn query_parameters_are_known_and_given_once() {
        let pairs = |v: &[(&str, &str)]| {
            v.iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect::<Vec<_>>()
        };
        assert!(Params::new(pairs(&[("limit", "5")]), &["limit"]).is_ok());
        assert!(Params::new(pairs(&[("limt", "5")]), &["limit"]).is_err());
        assert!(Params::new(pairs(&[("limit", "5"), ("limit", "6")]), &["limit"]).is_err());
        let p = Params::new(pairs(&[("limit", "0")]), &["limit"]).unwrap();
        assert!(p.limit().is_err());
        let p = Params::new(pairs(&[("limit", "1001")]), &["limit"]).unwrap();
        assert!(p.limit().is_err());
    }
}
