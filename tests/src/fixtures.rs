//! Records built for tests: valid unless a test changes them.

use chrono::{DateTime, TimeZone, Utc};
use iev_domain::auth::VendorId;
use iev_domain::event::{Event, EventStatus, EventType, NewEvent};
use iev_domain::integration::{ApplicationId, Integration, NotificationUrl, OAuthCredentials};
use iev_domain::record::{Category, ErrorCode, ErrorRecord, Source};
use serde_json::{json, Value};
use std::collections::BTreeMap;

pub fn at(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(1_790_000_000_000 + ms).unwrap()
}

pub fn app(id: &str) -> ApplicationId {
    ApplicationId::parse(id).unwrap()
}

pub fn vendor(id: &str) -> VendorId {
    VendorId::parse(id).unwrap()
}

pub fn integration(app_id: &str, vendor_id: &str) -> Integration {
    Integration {
        application_id: app(app_id),
        application_name: format!("{app_id} app"),
        importable_application_uuid: Some(format!("{app_id}-import")),
        vendor_id: vendor(vendor_id),
        notification_urls: BTreeMap::from([(
            EventType::SubscriptionOrder,
            NotificationUrl::parse("https://vendor.example/create?eventUrl={eventUrl}").unwrap(),
        )]),
        oauth: OAuthCredentials {
            consumer_key: format!("{app_id}-key"),
            consumer_secret: format!("{app_id}-secret"),
        },
        alert_url: None,
        enabled: true,
        successive_failures: 0,
        disabled_at: None,
        created_at: at(0),
        updated_at: at(0),
        version: 1,
    }
}

/// The JSON a marketplace posts for a subscription order.
pub fn order_json(app_id: &str) -> Value {
    json!({
        "applicationId": app_id,
        "type": "SUBSCRIPTION_ORDER",
        "marketplace": {"partner": "ACME", "baseUrl": "https://marketplace.example"},
        "creator": {"uuid": "user-1", "email": "ann@example.com", "firstName": "Ann", "lastName": "Lee"},
        "payload": {
            "company": {"uuid": "company-1", "name": "Widgets, \"Inc\"", "country": "CA"},
            "order": {"editionCode": "BASIC", "pricingDuration": "MONTHLY", "items": [{"unit": "USER", "quantity": 10}]}
        }
    })
}

pub fn event(id: &str, app_id: &str, vendor_id: &str) -> Event {
    let new = NewEvent::parse(order_json(app_id).to_string().as_bytes()).unwrap();
    Event {
        id: id.to_owned(),
        token: iev_domain::event::new_token(id, b"fixture secret"),
        application_id: new.application_id,
        vendor_id: vendor(vendor_id),
        body: new.body,
        status: EventStatus::Pending,
        attempts: vec![],
        created_at: at(0),
        updated_at: at(0),
        round: 1,
        transient_failures: 0,
        lease_until: None,
        version: 1,
    }
}

pub fn error_record(id: &str, ms: i64, app_id: &str, vendor_id: &str) -> ErrorRecord {
    ErrorRecord {
        id: id.to_owned(),
        creation_date: at(ms),
        application_id: app(app_id),
        importable_application_uuid: None,
        application_name: format!("{app_id} app"),
        vendor_id: vendor(vendor_id),
        user_id: Some("user-1".into()),
        user_email: Some("ann@example.com".into()),
        company_id: Some("company-1".into()),
        company_name: Some("Widgets".into()),
        event_type: Some(EventType::SubscriptionOrder),
        error_code: ErrorCode::AccountNotFound,
        message: "account not found".into(),
        manually_resolved: false,
        event_id: Some(format!("event-{id}")),
        event_token: None,
        category: Category::MissingAccountMapping,
        attempts: 1,
        last_http_status: Some(200),
        resolved_at: None,
        resolved_by: None,
        note: None,
        source: Source::Dispatch,
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
        created_by: Some("system".into()),
        updated_by: None,
        history: Vec::new(),
        expires_at: at(ms) + chrono::Duration::days(365),
        version: 1,
    }
}
