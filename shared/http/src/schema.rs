//! The shapes of the API's bodies, for its OpenAPI document: those several
//! functions share (the error shape, events, integrations, failure records).
//! Each function's own request and response bodies are described beside its
//! handlers.
//!
//! These types describe JSON; nothing builds them. The domain's types stay
//! free of HTTP, and its parsers stay the judges of what is accepted: where
//! a rule is more than a type (an id's characters, a URL holding
//! `{eventUrl}`), the description says it and the service answers 400. The
//! lists of names (event types, error codes, categories) are read from the
//! domain's own lists, so they cannot drift apart; the test command's
//! schemathesis run checks every answer against these shapes.

#![allow(dead_code)]

use iev_domain::event::EventType as DomainEventType;
use iev_domain::record::{
    AlertKind as DomainAlertKind, Category as DomainCategory, ErrorCode as DomainErrorCode,
    Source as DomainSource,
};
use std::borrow::Cow;
use std::collections::BTreeMap;
use utoipa::openapi::schema::{
    AnyOfBuilder, KnownFormat, ObjectBuilder, OneOfBuilder, Schema, SchemaFormat, SchemaType, Type,
};
use utoipa::openapi::RefOr;
use utoipa::{PartialSchema, ToSchema};

/// A schema `{"type": "string", "enum": [...]}` named `name`, from a domain list.
macro_rules! name_list {
    ($(#[$m:meta])* $ty:ident, $name:literal, $values:expr) => {
        $(#[$m])*
        pub struct $ty;

        impl PartialSchema for $ty {
            fn schema() -> RefOr<Schema> {
                RefOr::T(Schema::Object(
                    ObjectBuilder::new()
                        .schema_type(SchemaType::Type(Type::String))
                        .enum_values(Some($values))
                        .build(),
                ))
            }
        }

        impl ToSchema for $ty {
            fn name() -> Cow<'static, str> {
                Cow::Borrowed($name)
            }
        }
    };
}

name_list!(
    /// The AppDirect event types.
    EventType,
    "EventType",
    DomainEventType::ALL.iter().map(|t| t.as_str())
);
name_list!(
    /// The error codes a vendor may answer, and those the service assigns itself.
    ErrorCode,
    "ErrorCode",
    DomainErrorCode::ALL.iter().map(|c| c.as_str())
);
name_list!(
    /// A failure's category; each comes with its follow-up action.
    Category,
    "Category",
    DomainCategory::ALL.iter().map(|c| c.as_str())
);
name_list!(
    /// Where a failure record came from.
    Source,
    "Source",
    DomainSource::ALL.iter().map(|s| s.as_str())
);
name_list!(
    /// Why an alert was raised.
    AlertKind,
    "AlertKind",
    DomainAlertKind::ALL.iter().map(|k| k.as_str())
);

/// A time in a query or a request body: RFC 3339, or a plain `YYYY-MM-DD`
/// (its midnight UTC). In a query, an empty value is the parameter left out.
pub struct TimeInput;

impl PartialSchema for TimeInput {
    fn schema() -> RefOr<Schema> {
        let format = |f: KnownFormat| {
            ObjectBuilder::new()
                .schema_type(SchemaType::Type(Type::String))
                .format(Some(SchemaFormat::KnownFormat(f)))
        };
        RefOr::T(Schema::AnyOf(
            AnyOfBuilder::new()
                .item(format(KnownFormat::DateTime))
                .item(format(KnownFormat::Date))
                .description(Some(
                    "RFC 3339, or a plain `YYYY-MM-DD` (its midnight UTC).",
                ))
                .build(),
        ))
    }
}

impl ToSchema for TimeInput {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("TimeInput")
    }
}

/// Every error answer, whatever its status: a machine-readable `code`, a
/// message for people, and `field` where one input is at fault. 5xx
/// messages reveal nothing internal.
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"error": {"code": "invalid_input", "message": "must not be empty", "field": "applicationName"}}))]
pub struct ErrorBody {
    error: ErrorDetail,
}

#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ErrorDetail {
    code: ErrorKind,
    message: String,
    /// The input at fault (a body field such as `payload.order`, a query
    /// parameter, or a header), when one is.
    #[schema(required = false)]
    field: String,
}

/// What went wrong, by status: 400 `invalid_input`, 401 `unauthenticated` or
/// `bad_signature`, 403 `forbidden`, 404 `not_found`, 405
/// `method_not_allowed`, 408 `request_timeout`, 409 `conflict`, 413
/// `payload_too_large`, 415 `unsupported_media_type`, 431
/// `header_too_large`, 500 `internal`, 503 `unavailable` (with
/// `Retry-After`); `invalid_request` for another 4xx.
#[derive(ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    InvalidInput,
    Unauthenticated,
    BadSignature,
    Forbidden,
    NotFound,
    MethodNotAllowed,
    RequestTimeout,
    Conflict,
    PayloadTooLarge,
    UnsupportedMediaType,
    HeaderTooLarge,
    InvalidRequest,
    Internal,
    Unavailable,
}

/// Where an event stands.
#[derive(ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum EventStatus {
    Pending,
    AsyncPending,
    Complete,
    Failed,
}

/// A key's role.
#[derive(ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Admin,
    Marketplace,
    Manager,
    Vendor,
}

/// Marks an event that must not count toward disabling an integration.
#[derive(ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum EventFlag {
    /// A ping: the vendor must not persist it.
    Stateless,
    /// From an unpublished product.
    Development,
}

#[derive(ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum NoticeType {
    Deactivated,
    Reactivated,
    Closed,
    UpcomingInvoice,
}

/// The marketplace an event comes from.
#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Marketplace {
    /// Not empty.
    #[schema(example = "ACME", pattern = r"\S")]
    partner: String,
    /// An absolute http(s) URL.
    #[schema(format = Uri, example = "https://marketplace.example")]
    base_url: String,
}

/// A person (the event's creator, or the user it is about). AppDirect adds
/// attributes over time; any other member is kept and passed on.
#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Person {
    #[schema(required = false)]
    uuid: String,
    /// An email address (`local@domain.tld`).
    #[schema(required = false, format = Email)]
    email: String,
    #[schema(required = false)]
    first_name: String,
    #[schema(required = false)]
    last_name: String,
    #[schema(required = false)]
    language: String,
    #[schema(required = false)]
    locale: String,
    #[schema(required = false)]
    open_id: String,
    #[schema(required = false)]
    address: serde_json::Value,
}

/// The company an event concerns; other members are kept and passed on.
#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Company {
    #[schema(required = false)]
    uuid: String,
    #[schema(required = false)]
    name: String,
    #[schema(required = false)]
    country: String,
    #[schema(required = false)]
    phone_number: String,
    #[schema(required = false)]
    website: String,
}

#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Account {
    /// Not empty.
    #[schema(pattern = r"\S")]
    account_identifier: String,
    #[schema(required = false)]
    status: String,
}

#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OrderItem {
    unit: String,
    quantity: u64,
}

#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Order {
    /// Not empty.
    #[schema(pattern = r"\S")]
    edition_code: String,
    #[schema(required = false)]
    pricing_duration: String,
    #[schema(required = false)]
    items: Vec<OrderItem>,
}

#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Notice {
    #[serde(rename = "type")]
    kind: NoticeType,
    #[schema(required = false)]
    message: String,
}

/// What the event is about. Each type requires some parts:
/// SUBSCRIPTION_ORDER `company` and `order`; SUBSCRIPTION_CHANGE `account`
/// and `order`; SUBSCRIPTION_CANCEL `account`; SUBSCRIPTION_NOTICE `account`
/// and `notice`; USER_UPDATED `user`; USER_ASSIGNMENT and USER_UNASSIGNMENT
/// `account` and `user`.
#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Payload {
    #[schema(required = false)]
    company: Company,
    #[schema(required = false)]
    account: Account,
    #[schema(required = false)]
    order: Order,
    #[schema(required = false)]
    user: Person,
    #[schema(required = false)]
    notice: Notice,
    #[schema(required = false)]
    configuration: BTreeMap<String, serde_json::Value>,
}

/// An event as the vendor reads it: AppDirect's JSON shape.
#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EventBody {
    #[serde(rename = "type")]
    kind: EventType,
    marketplace: Marketplace,
    /// The application's uuid on the marketplace (the application id unless given).
    application_uuid: String,
    #[schema(required = false)]
    flag: EventFlag,
    #[schema(required = false)]
    creator: Person,
    payload: Payload,
}

/// What came of one attempt to deliver an event.
#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum AttemptOutcome {
    /// The vendor answered success.
    Success,
    /// The vendor answered 202 and will post its result later.
    Async,
    /// A final failure, recorded at once.
    Error,
    /// A failure worth another try (unreachable, timeout, 5xx, 429).
    Transient,
    /// The vendor was not called (disabled integration, no endpoint, refused address).
    NotSent,
    /// The vendor posted its asynchronous result.
    Result,
    /// The call is under way.
    InFlight,
    /// A call under way when its worker stopped; the event was delivered again.
    Interrupted,
}

/// One call to the vendor and what came of it. The marketplace sees neither
/// `message` nor `responseExcerpt` (both null).
#[derive(ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Attempt {
    #[schema(format = DateTime)]
    at: String,
    /// The delivery round this attempt belongs to.
    round: u32,
    http_status: Option<u16>,
    latency_ms: u64,
    outcome: AttemptOutcome,
    error_code: Option<String>,
    message: Option<String>,
    /// The start of the vendor's answer.
    response_excerpt: Option<String>,
}

/// One event as `GET /v1/events/{id}` shows it.
#[derive(ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EventView {
    id: String,
    /// The vendor's credential for this event: shown to admins only.
    #[schema(required = false)]
    token: String,
    application_id: String,
    vendor_id: String,
    #[serde(rename = "type")]
    kind: EventType,
    status: EventStatus,
    /// 1, and one more for each retry or redelivery.
    round: u32,
    #[schema(format = DateTime)]
    created_at: String,
    #[schema(format = DateTime)]
    updated_at: String,
    attempts: Vec<Attempt>,
    event: EventBody,
}

/// A vendor endpoint per event type; each is an absolute http(s) URL that
/// contains `{eventUrl}`, where the event's URL-encoded address goes.
#[derive(ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE", deny_unknown_fields)]
#[schema(example = json!({"SUBSCRIPTION_ORDER": "https://vendor.example/create?eventUrl={eventUrl}"}))]
pub struct NotificationUrls {
    #[schema(required = false)]
    subscription_order: String,
    #[schema(required = false)]
    subscription_change: String,
    #[schema(required = false)]
    subscription_cancel: String,
    #[schema(required = false)]
    subscription_notice: String,
    #[schema(required = false)]
    user_updated: String,
    #[schema(required = false)]
    user_assignment: String,
    #[schema(required = false)]
    user_unassignment: String,
}

/// An integration as callers see it: everything but the consumer secret.
#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Integration {
    application_id: String,
    application_name: String,
    importable_application_uuid: Option<String>,
    vendor_id: String,
    notification_urls: NotificationUrls,
    /// The OAuth 1.0a consumer key vendor requests are signed with.
    consumer_key: String,
    alert_url: Option<String>,
    /// False once ten successive counted failures disabled it.
    enabled: bool,
    successive_failures: u32,
    #[schema(format = DateTime)]
    disabled_at: Option<String>,
}

/// One answer of the external system a failure record concerns.
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExternalResponse {
    #[schema(format = DateTime)]
    at: String,
    status: String,
    body: String,
}

#[derive(ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ChangeAction {
    Resolve,
    Unresolve,
    Update,
}

/// A changed field's value before and after (any JSON; null when unset).
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FieldChange {
    from: serde_json::Value,
    to: serde_json::Value,
}

/// Who changed a record, when, and what.
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Change {
    #[schema(format = DateTime)]
    at: String,
    /// The id of the key that made the change.
    by: String,
    action: ChangeAction,
    /// Each changed field (a custom attribute as `customAttributes.<name>`).
    fields: BTreeMap<String, FieldChange>,
}

/// An answer of the external system a failure record concerns, as a client
/// sends it.
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResponseInput {
    /// When it answered (RFC 3339); when it is recorded if absent.
    #[schema(format = DateTime)]
    at: Option<String>,
    status: StatusInput,
    /// At most 4,096 characters.
    #[schema(required = false)]
    body: String,
}

/// An HTTP status (a number) or 1 to 100 characters of text.
pub struct StatusInput;

impl PartialSchema for StatusInput {
    fn schema() -> RefOr<Schema> {
        RefOr::T(Schema::OneOf(
            OneOfBuilder::new()
                .item(ObjectBuilder::new().schema_type(SchemaType::Type(Type::Integer)))
                .item(text(1, 100).pattern(Some(r"\S")))
                .description(Some(
                    "An HTTP status (a number) or 1 to 100 characters of text.",
                ))
                .build(),
        ))
    }
}

impl ToSchema for StatusInput {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("StatusInput")
    }
}

/// A string schema of `min` to `max` characters.
fn text(min: usize, max: usize) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(SchemaType::Type(Type::String))
        .min_length(Some(min))
        .max_length(Some(max))
}

/// One failure record. Only admins see `eventToken` (null for others).
#[derive(ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ErrorRecord {
    id: String,
    #[schema(format = DateTime)]
    creation_date: String,
    application_id: String,
    importable_application_uuid: Option<String>,
    application_name: String,
    vendor_id: String,
    user_id: Option<String>,
    user_email: Option<String>,
    company_id: Option<String>,
    company_name: Option<String>,
    event_type: Option<EventType>,
    error_code: ErrorCode,
    message: String,
    manually_resolved: bool,
    event_id: Option<String>,
    event_token: Option<String>,
    category: Category,
    attempts: u32,
    last_http_status: Option<u16>,
    #[schema(format = DateTime)]
    resolved_at: Option<String>,
    resolved_by: Option<String>,
    note: Option<String>,
    source: Source,
    external_id: Option<String>,
    custom_attributes: BTreeMap<String, String>,
    document_type: Option<String>,
    document_id: Option<String>,
    document_revision: Option<String>,
    document_status: Option<String>,
    integration_run_id: Option<String>,
    integration_filename: Option<String>,
    status: Option<String>,
    creation_method: Option<String>,
    responses: Vec<ExternalResponse>,
    created_by: Option<String>,
    updated_by: Option<String>,
    /// Every change after creation, oldest first (absent when none).
    #[schema(required = false)]
    history: Vec<Change>,
    #[schema(format = DateTime)]
    expires_at: String,
    version: u64,
}

/// One row of the report: the fields the query's `fields` chose (by default
/// the twelve of the report's default view), each as in `ErrorRecord`, and
/// each chosen custom attribute as `customAttributes.<name>` (null when the
/// record has none by that name).
pub struct ReportRow;

impl PartialSchema for ReportRow {
    fn schema() -> RefOr<Schema> {
        let RefOr::T(Schema::Object(record)) = ErrorRecord::schema() else {
            unreachable!("ErrorRecord is an object")
        };
        let mut row = ObjectBuilder::new().description(Some(
            "The chosen fields of a failure record, and `customAttributes.<name>` for each \
             chosen custom attribute.",
        ));
        for (name, property) in record.properties {
            if iev_domain::report::ReportField::parse(&name).is_ok() {
                row = row.property(name, property);
            }
        }
        row = row.additional_properties(Some(
            ObjectBuilder::new().schema_type(SchemaType::from_iter([Type::String, Type::Null])),
        ));
        RefOr::T(Schema::Object(row.build()))
    }
}

impl ToSchema for ReportRow {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("ReportRow")
    }

    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        schemas.push((ErrorRecord::name().into_owned(), ErrorRecord::schema()));
        <ErrorRecord as ToSchema>::schemas(schemas);
    }
}

/// A failure record's id, as bulk requests name one: 1 to 200 characters.
pub struct RecordId;

impl PartialSchema for RecordId {
    fn schema() -> RefOr<Schema> {
        RefOr::T(Schema::Object(text(1, 200).build()))
    }
}

impl ToSchema for RecordId {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("RecordId")
    }
}
