//! The AppDirect-compatible event model and its parsing at the edge.

use crate::error::DomainError;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum EventType {
    SubscriptionOrder,
    SubscriptionChange,
    SubscriptionCancel,
    SubscriptionNotice,
    UserUpdated,
    UserAssignment,
    UserUnassignment,
}

impl EventType {
    pub const ALL: [EventType; 7] = [
        EventType::SubscriptionOrder,
        EventType::SubscriptionChange,
        EventType::SubscriptionCancel,
        EventType::SubscriptionNotice,
        EventType::UserUpdated,
        EventType::UserAssignment,
        EventType::UserUnassignment,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventType::SubscriptionOrder => "SUBSCRIPTION_ORDER",
            EventType::SubscriptionChange => "SUBSCRIPTION_CHANGE",
            EventType::SubscriptionCancel => "SUBSCRIPTION_CANCEL",
            EventType::SubscriptionNotice => "SUBSCRIPTION_NOTICE",
            EventType::UserUpdated => "USER_UPDATED",
            EventType::UserAssignment => "USER_ASSIGNMENT",
            EventType::UserUnassignment => "USER_UNASSIGNMENT",
        }
    }

    /// The payload parts an event of this type cannot do without.
    fn required_parts(self) -> &'static [&'static str] {
        match self {
            EventType::SubscriptionOrder => &["company", "order"],
            EventType::SubscriptionChange => &["account", "order"],
            EventType::SubscriptionCancel => &["account"],
            EventType::SubscriptionNotice => &["account", "notice"],
            EventType::UserUpdated => &["user"],
            EventType::UserAssignment | EventType::UserUnassignment => &["account", "user"],
        }
    }

    /// Events about one user name that user in `payload.user`; the rest are about their creator.
    pub fn is_about_a_user(self) -> bool {
        matches!(
            self,
            EventType::UserAssignment | EventType::UserUnassignment | EventType::UserUpdated
        )
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for EventType {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        EventType::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| format!("unknown event type '{s}'"))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum EventFlag {
    /// A ping: the vendor must not persist it.
    Stateless,
    /// From an unpublished product.
    Development,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum NoticeType {
    Deactivated,
    Reactivated,
    Closed,
    UpcomingInvoice,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Marketplace {
    pub partner: String,
    pub base_url: String,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Person {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uuid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locale: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub open_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<Value>,
    /// AppDirect adds attributes over time; vendors still expect to see them.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Company {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uuid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone_number: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub website: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Account {
    pub account_identifier: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderItem {
    pub unit: String,
    pub quantity: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Order {
    pub edition_code: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pricing_duration: Option<String>,
    #[serde(default)]
    pub items: Vec<OrderItem>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Notice {
    #[serde(rename = "type")]
    pub kind: NoticeType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Payload {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub company: Option<Company>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<Account>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order: Option<Order>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<Person>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notice: Option<Notice>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub configuration: Option<Map<String, Value>>,
}

impl Payload {
    fn has(&self, part: &str) -> bool {
        match part {
            "company" => self.company.is_some(),
            "account" => self.account.is_some(),
            "order" => self.order.is_some(),
            "user" => self.user.is_some(),
            "notice" => self.notice.is_some(),
            _ => false,
        }
    }
}

/// The event as a vendor sees it when it fetches the event URL: AppDirect's JSON shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EventBody {
    #[serde(rename = "type")]
    pub kind: EventType,
    pub marketplace: Marketplace,
    pub application_uuid: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flag: Option<EventFlag>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub creator: Option<Person>,
    pub payload: Payload,
}

impl EventBody {
    /// The user the event is about: `payload.user` for user events when present, else the creator.
    pub fn subject_user(&self) -> Option<&Person> {
        if self.kind.is_about_a_user() {
            if let Some(user) = &self.payload.user {
                return Some(user);
            }
        }
        self.creator.as_ref()
    }

    pub fn counts_toward_disabling(&self) -> bool {
        self.flag.is_none()
    }
}

/// What the marketplace posts to `POST /v1/events`: the AppDirect event plus the
/// application it is for.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct EventSubmission {
    application_id: String,
    #[serde(rename = "type")]
    kind: EventType,
    marketplace: Marketplace,
    #[serde(default)]
    application_uuid: Option<String>,
    #[serde(default)]
    flag: Option<EventFlag>,
    #[serde(default)]
    creator: Option<Person>,
    #[serde(default)]
    payload: Payload,
}

/// A submission that passed every check: the only way to get one is [`NewEvent::parse`].
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    pub application_id: crate::integration::ApplicationId,
    pub body: EventBody,
}

impl NewEvent {
    pub fn parse(json: &[u8]) -> Result<NewEvent, DomainError> {
        let sub: EventSubmission = crate::error::parse_json(json, "event")?;
        let application_id = crate::integration::ApplicationId::parse(&sub.application_id)
            .map_err(|m| DomainError::invalid("applicationId", m))?;
        if sub.marketplace.partner.trim().is_empty() {
            return Err(DomainError::invalid(
                "marketplace.partner",
                "must not be empty",
            ));
        }
        crate::integration::parse_http_url(&sub.marketplace.base_url)
            .map_err(|m| DomainError::invalid("marketplace.baseUrl", m))?;
        for part in sub.kind.required_parts() {
            if !sub.payload.has(part) {
                return Err(DomainError::invalid(
                    format!("payload.{part}"),
                    format!("{} requires payload.{part}", sub.kind),
                ));
            }
        }
        if let Some(creator) = &sub.creator {
            check_person(creator, "creator")?;
        }
        if let Some(user) = &sub.payload.user {
            check_person(user, "payload.user")?;
        }
        if let Some(account) = &sub.payload.account {
            if account.account_identifier.trim().is_empty() {
                return Err(DomainError::invalid(
                    "payload.account.accountIdentifier",
                    "must not be empty",
                ));
            }
        }
        if let Some(order) = &sub.payload.order {
            if order.edition_code.trim().is_empty() {
                return Err(DomainError::invalid(
                    "payload.order.editionCode",
                    "must not be empty",
                ));
            }
        }
        let application_uuid = sub
            .application_uuid
            .unwrap_or_else(|| application_id.as_str().to_owned());
        Ok(NewEvent {
            application_id,
            body: EventBody {
                kind: sub.kind,
                marketplace: sub.marketplace,
                application_uuid,
                flag: sub.flag,
                creator: sub.creator,
                payload: sub.payload,
            },
        })
    }
}

fn check_person(p: &Person, at: &str) -> Result<(), DomainError> {
    if let Some(email) = &p.email {
        let valid = email
            .split_once('@')
            .is_some_and(|(local, domain)| !local.is_empty() && domain.contains('.'))
            && !email.chars().any(char::is_whitespace);
        if !valid {
            return Err(DomainError::invalid(
                format!("{at}.email"),
                format!("'{email}' is not an email address"),
            ));
        }
    }
    Ok(())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum EventStatus {
    Pending,
    AsyncPending,
    Complete,
    Failed,
}

impl EventStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            EventStatus::Pending => "PENDING",
            EventStatus::AsyncPending => "ASYNC_PENDING",
            EventStatus::Complete => "COMPLETE",
            EventStatus::Failed => "FAILED",
        }
    }
}

/// A query of the events log, newest first. The vendor scope is set from the
/// caller's key, never from input.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct EventQuery {
    pub vendor: Option<crate::auth::VendorId>,
    pub application_id: Option<crate::integration::ApplicationId>,
    pub status: Option<EventStatus>,
    pub event_type: Option<EventType>,
    /// Inclusive lower bound on `createdAt`.
    pub from: Option<DateTime<Utc>>,
    /// Exclusive upper bound.
    pub to: Option<DateTime<Utc>>,
    pub limit: usize,
    pub after: Option<crate::record::Position>,
}

impl EventQuery {
    /// Whether an event belongs in this query's result; both stores use it.
    pub fn matches(&self, e: &EventSummary) -> bool {
        self.matches_listing(e) && self.status.is_none_or(|s| s == e.status)
    }

    /// The same, but for the status: what an event's listing entry, written
    /// once when it was accepted, can answer.
    pub fn matches_listing(&self, e: &EventSummary) -> bool {
        self.vendor.as_ref().is_none_or(|v| *v == e.vendor_id)
            && self
                .application_id
                .as_ref()
                .is_none_or(|a| *a == e.application_id)
            && self.event_type.is_none_or(|t| t == e.kind)
            && self.from.is_none_or(|f| e.created_at >= f)
            && self.to.is_none_or(|t| e.created_at < t)
            && self
                .after
                .as_ref()
                .is_none_or(|p| crate::record::Position::at(e.created_at, &e.id) < *p)
    }
}

/// An event as the events log lists it; `GET /v1/events/{id}` has the rest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EventSummary {
    pub id: String,
    pub application_id: crate::integration::ApplicationId,
    pub vendor_id: crate::auth::VendorId,
    #[serde(rename = "type")]
    pub kind: EventType,
    pub status: EventStatus,
    pub round: u32,
    pub attempts: usize,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<&Event> for EventSummary {
    fn from(e: &Event) -> Self {
        EventSummary {
            id: e.id.clone(),
            application_id: e.application_id.clone(),
            vendor_id: e.vendor_id.clone(),
            kind: e.body.kind,
            status: e.status,
            round: e.round,
            attempts: e.attempts.len(),
            created_at: e.created_at,
            updated_at: e.updated_at,
        }
    }
}

/// One page of the events log.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct EventPage {
    pub items: Vec<EventSummary>,
    /// Set when more events may follow.
    pub next: Option<crate::record::Position>,
}

impl EventPage {
    /// A page from events read one past `limit`, newest first.
    pub fn from_overfetch(mut items: Vec<EventSummary>, limit: usize) -> Self {
        let next = if items.len() > limit {
            items.truncate(limit);
            items
                .last()
                .map(|e| crate::record::Position::at(e.created_at, &e.id))
        } else {
            None
        };
        EventPage { items, next }
    }
}

impl FromStr for EventStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [
            EventStatus::Pending,
            EventStatus::AsyncPending,
            EventStatus::Complete,
            EventStatus::Failed,
        ]
        .into_iter()
        .find(|v| v.as_str() == s)
        .ok_or_else(|| format!("unknown status '{s}'"))
    }
}

/// What came of one attempt to deliver an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum AttemptOutcome {
    /// The vendor answered success.
    Success,
    /// The vendor answered 202 and will post its result later.
    Async,
    /// A final failure: recorded at once.
    Error,
    /// A failure worth another try (unreachable, timeout, 5xx, 429).
    Transient,
    /// The vendor was not called (disabled integration, no endpoint, refused address).
    NotSent,
    /// The vendor posted its asynchronous result.
    Result,
    /// The call is under way: written with the claim, before the call, so
    /// that a crash mid-call still leaves it in the event's attempts.
    InFlight,
    /// A call under way when its worker stopped (a crash); the event was
    /// delivered again.
    Interrupted,
}

/// One call to the vendor and what came of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Attempt {
    pub at: DateTime<Utc>,
    /// Which delivery this attempt belongs to: 1, and one more for each manual retry.
    pub round: u32,
    pub http_status: Option<u16>,
    pub latency_ms: u64,
    pub outcome: AttemptOutcome,
    pub error_code: Option<String>,
    pub message: Option<String>,
    /// The start of the vendor's answer, for diagnosis.
    pub response_excerpt: Option<String>,
}

/// An accepted event as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    pub id: String,
    pub token: String,
    pub application_id: crate::integration::ApplicationId,
    pub vendor_id: crate::auth::VendorId,
    pub body: EventBody,
    pub status: EventStatus,
    pub attempts: Vec<Attempt>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The delivery round: 1, and one more for each manual retry or redelivery.
    #[serde(default = "first_round")]
    pub round: u32,
    /// Transient failures so far in this round.
    #[serde(default)]
    pub transient_failures: u32,
    /// While set and in the future, one worker is calling the vendor; others wait.
    #[serde(default)]
    pub lease_until: Option<DateTime<Utc>>,
    /// Bumped on every write; writes name the version they read.
    #[serde(default)]
    pub version: u64,
}

fn first_round() -> u32 {
    1
}

/// An event's token: `<event id>.<secret>`. The secret makes it unguessable;
/// the id lets a store find the event by its own key, so no store keeps an
/// index (or, on DynamoDB, an item) of tokens. Ids never hold a '.'.
pub fn new_token(id: &str, secret: &[u8]) -> String {
    use base64::Engine;
    format!(
        "{id}.{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret)
    )
}

/// The event id a token names, if it is in the form `new_token` makes.
pub fn token_event_id(token: &str) -> Option<&str> {
    match token.rsplit_once('.') {
        Some((id, secret)) if !id.is_empty() && !secret.is_empty() => Some(id),
        _ => None,
    }
}

/// Whether a presented token is the stored one, in time that does not depend
/// on where they first differ: finding the event by id must not turn into a
/// way to guess its secret one byte at a time.
pub fn tokens_match(stored: &str, presented: &str) -> bool {
    use subtle::ConstantTimeEq;
    stored.len() == presented.len() && bool::from(stored.as_bytes().ct_eq(presented.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_token_names_its_event_and_matches_only_itself() {
        let token = new_token("0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b", &[7; 32]);
        assert_eq!(
            token_event_id(&token),
            Some("0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b")
        );
        assert!(tokens_match(&token, &token.clone()));
        let mut forged = token.clone();
        forged.pop();
        forged.push('A');
        assert_ne!(forged, token);
        assert!(!tokens_match(&token, &forged));
        assert!(!tokens_match(&token, &token[..token.len() - 1]));
    }

    #[test]
    fn a_token_without_an_id_and_a_secret_names_no_event() {
        for token in [
            "",
            "no-dot-at-all",
            ".secret",
            "id.",
            "b2xkLXN0eWxlLXRva2Vu",
        ] {
            assert_eq!(token_event_id(token), None, "{token:?}");
        }
    }

    fn order() -> Value {
        json!({
            "applicationId": "app-1",
            "type": "SUBSCRIPTION_ORDER",
            "marketplace": {"partner": "ACME", "baseUrl": "https://marketplace.example"},
            "creator": {"uuid": "u-1", "email": "ann@example.com", "firstName": "Ann"},
            "payload": {
                "company": {"uuid": "c-1", "name": "Widgets Inc", "country": "CA"},
                "order": {"editionCode": "BASIC", "items": [{"unit": "USER", "quantity": 5}]}
            }
        })
    }

    fn parse(v: Value) -> Result<NewEvent, DomainError> {
        NewEvent::parse(v.to_string().as_bytes())
    }

    fn field_of(err: DomainError) -> Option<String> {
        match err {
            DomainError::Invalid { field, .. } => field,
            other => panic!("expected Invalid, got {other:?}"),
        }
    }

    #[test]
    fn a_complete_subscription_order_parses_and_keeps_its_parts() {
        let e = parse(order()).unwrap();
        assert_eq!(e.application_id.as_str(), "app-1");
        assert_eq!(e.body.kind, EventType::SubscriptionOrder);
        assert_eq!(e.body.application_uuid, "app-1");
        assert_eq!(e.body.payload.order.as_ref().unwrap().items[0].quantity, 5);
        assert_eq!(
            e.body.payload.company.as_ref().unwrap().name.as_deref(),
            Some("Widgets Inc")
        );
    }

    #[test]
    fn an_unknown_event_type_is_rejected_naming_the_type_field() {
        let mut v = order();
        v["type"] = json!("SUBSCRIPTION_EXPLODE");
        assert_eq!(field_of(parse(v).unwrap_err()).as_deref(), Some("type"));
    }

    #[test]
    fn a_missing_application_id_is_rejected_naming_it() {
        let mut v = order();
        v.as_object_mut().unwrap().remove("applicationId");
        assert_eq!(
            field_of(parse(v).unwrap_err()).as_deref(),
            Some("applicationId")
        );
    }

    #[test]
    fn an_order_without_its_order_part_is_rejected_naming_payload_order() {
        let mut v = order();
        v["payload"].as_object_mut().unwrap().remove("order");
        assert_eq!(
            field_of(parse(v).unwrap_err()).as_deref(),
            Some("payload.order")
        );
    }

    #[test]
    fn a_negative_quantity_is_rejected_naming_its_path() {
        let mut v = order();
        v["payload"]["order"]["items"][0]["quantity"] = json!(-1);
        assert_eq!(
            field_of(parse(v).unwrap_err()).as_deref(),
            Some("payload.order.items[0].quantity")
        );
    }

    #[test]
    fn a_malformed_creator_email_is_rejected() {
        let mut v = order();
        v["creator"]["email"] = json!("not-an-email");
        assert_eq!(
            field_of(parse(v).unwrap_err()).as_deref(),
            Some("creator.email")
        );
    }

    #[test]
    fn an_unknown_top_level_field_is_rejected_naming_it() {
        let mut v = order();
        v["surprise"] = json!(1);
        assert_eq!(field_of(parse(v).unwrap_err()).as_deref(), Some("surprise"));
    }

    #[test]
    fn a_notice_with_an_unknown_notice_type_is_rejected() {
        let v = json!({
            "applicationId": "app-1",
            "type": "SUBSCRIPTION_NOTICE",
            "marketplace": {"partner": "ACME", "baseUrl": "https://m.example"},
            "payload": {"account": {"accountIdentifier": "a-1"}, "notice": {"type": "EXPLODED"}}
        });
        assert_eq!(
            field_of(parse(v).unwrap_err()).as_deref(),
            Some("payload.notice.type")
        );
    }

    #[test]
    fn the_subject_of_a_user_assignment_is_the_assigned_user_not_the_creator() {
        let v = json!({
            "applicationId": "app-1",
            "type": "USER_ASSIGNMENT",
            "marketplace": {"partner": "ACME", "baseUrl": "https://m.example"},
            "creator": {"uuid": "admin", "email": "admin@example.com"},
            "payload": {"account": {"accountIdentifier": "a-1"}, "user": {"uuid": "u-9", "email": "bob@example.com"}}
        });
        let e = parse(v).unwrap();
        assert_eq!(e.body.subject_user().unwrap().uuid.as_deref(), Some("u-9"));
        let e = parse(order()).unwrap();
        assert_eq!(e.body.subject_user().unwrap().uuid.as_deref(), Some("u-1"));
    }

    #[test]
    fn a_body_that_is_not_json_is_rejected_as_invalid() {
        assert!(matches!(
            NewEvent::parse(b"{not json"),
            Err(DomainError::Invalid { .. })
        ));
    }
}
