//! An application's integration: where and how its events are delivered.

use crate::auth::VendorId;
use crate::error::DomainError;
use crate::event::EventType;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub const EVENT_URL_PLACEHOLDER: &str = "{eventUrl}";

/// An application id: 1 to 128 visible characters, none of them `/`, `#` or
/// whitespace, so it is safe inside a URL path and a storage key.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ApplicationId(String);

impl ApplicationId {
    pub fn parse(s: &str) -> Result<Self, String> {
        parse_key_part(s).map(|s| ApplicationId(s.to_owned()))
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for ApplicationId {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        ApplicationId::parse(&s)
    }
}

impl From<ApplicationId> for String {
    fn from(v: ApplicationId) -> String {
        v.0
    }
}

impl std::fmt::Display for ApplicationId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

pub(crate) fn parse_key_part(s: &str) -> Result<&str, String> {
    if s.is_empty() {
        return Err("must not be empty".into());
    }
    if s.len() > 128 {
        return Err("must be at most 128 characters".into());
    }
    if s.chars()
        .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '/' | '#' | '?' | '%'))
    {
        return Err(format!(
            "'{s}' may not contain whitespace, '/', '#', '?' or '%'"
        ));
    }
    Ok(s)
}

/// An absolute http(s) URL.
pub fn parse_http_url(s: &str) -> Result<url::Url, String> {
    let url = url::Url::parse(s).map_err(|e| format!("'{s}' is not an absolute URL: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(format!("'{s}' must be an http or https URL with a host"));
    }
    Ok(url)
}

/// A vendor endpoint for one event type; it holds `{eventUrl}` exactly where the
/// event's address goes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct NotificationUrl(String);

impl NotificationUrl {
    pub fn parse(s: &str) -> Result<Self, String> {
        if !s.contains(EVENT_URL_PLACEHOLDER) {
            return Err(format!("'{s}' must contain {EVENT_URL_PLACEHOLDER}"));
        }
        parse_http_url(&s.replace(EVENT_URL_PLACEHOLDER, "x"))?;
        Ok(NotificationUrl(s.to_owned()))
    }

    /// The URL to call for one event: the placeholder replaced by the URL-encoded event address.
    pub fn for_event(&self, event_url: &str) -> String {
        let encoded: String = url::form_urlencoded::byte_serialize(event_url.as_bytes()).collect();
        self.0.replace(EVENT_URL_PLACEHOLDER, &encoded)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for NotificationUrl {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        NotificationUrl::parse(&s)
    }
}

impl From<NotificationUrl> for String {
    fn from(v: NotificationUrl) -> String {
        v.0
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OAuthCredentials {
    pub consumer_key: String,
    pub consumer_secret: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Integration {
    pub application_id: ApplicationId,
    pub application_name: String,
    pub importable_application_uuid: Option<String>,
    pub vendor_id: VendorId,
    pub notification_urls: BTreeMap<EventType, NotificationUrl>,
    pub oauth: OAuthCredentials,
    pub alert_url: Option<String>,
    pub enabled: bool,
    pub successive_failures: u32,
    pub disabled_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Bumped on every write; a write names the version it read so that two
    /// writers cannot silently overwrite each other.
    pub version: u64,
}

/// The settings a caller may set with `PUT /v1/integrations/{applicationId}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct IntegrationInput {
    application_name: String,
    #[serde(default)]
    importable_application_uuid: Option<String>,
    vendor_id: String,
    notification_urls: BTreeMap<String, String>,
    oauth: OAuthInput,
    #[serde(default)]
    alert_url: Option<String>,
}

/// The consumer secret may be left out of an update: the kept one stays (it
/// is never shown, so a form that edits the URLs cannot send it back).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct OAuthInput {
    consumer_key: String,
    #[serde(default)]
    consumer_secret: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct IntegrationSettings {
    pub application_name: String,
    pub importable_application_uuid: Option<String>,
    pub vendor_id: VendorId,
    pub notification_urls: BTreeMap<EventType, NotificationUrl>,
    pub consumer_key: String,
    /// `None`: keep the integration's secret (refused for a new integration).
    pub consumer_secret: Option<String>,
    pub alert_url: Option<String>,
}

impl IntegrationSettings {
    /// The credentials to store: the new secret, or the one `existing` keeps.
    pub fn oauth(&self, existing: Option<&Integration>) -> Result<OAuthCredentials, DomainError> {
        let consumer_secret = match (&self.consumer_secret, existing) {
            (Some(secret), _) => secret.clone(),
            (None, Some(e)) => e.oauth.consumer_secret.clone(),
            (None, None) => {
                return Err(DomainError::invalid(
                    "oauth.consumerSecret",
                    "a new integration needs a consumer secret",
                ))
            }
        };
        Ok(OAuthCredentials {
            consumer_key: self.consumer_key.clone(),
            consumer_secret,
        })
    }

    pub fn parse(json: &[u8]) -> Result<Self, DomainError> {
        let input: IntegrationInput = crate::error::parse_json(json, "integration")?;
        if input.application_name.trim().is_empty() {
            return Err(DomainError::invalid("applicationName", "must not be empty"));
        }
        let vendor_id =
            VendorId::parse(&input.vendor_id).map_err(|m| DomainError::invalid("vendorId", m))?;
        let mut urls = BTreeMap::new();
        for (kind, url) in input.notification_urls {
            let field = format!("notificationUrls.{kind}");
            let kind: EventType = kind
                .parse()
                .map_err(|m: String| DomainError::invalid(&field, m))?;
            let url = NotificationUrl::parse(&url).map_err(|m| DomainError::invalid(&field, m))?;
            urls.insert(kind, url);
        }
        if input.oauth.consumer_key.trim().is_empty() {
            return Err(DomainError::invalid(
                "oauth.consumerKey",
                "must not be empty",
            ));
        }
        if input.oauth.consumer_secret.as_deref() == Some("") {
            return Err(DomainError::invalid(
                "oauth.consumerSecret",
                "must not be empty",
            ));
        }
        if let Some(alert) = &input.alert_url {
            parse_http_url(alert).map_err(|m| DomainError::invalid("alertUrl", m))?;
        }
        Ok(IntegrationSettings {
            application_name: input.application_name,
            importable_application_uuid: input.importable_application_uuid,
            vendor_id,
            notification_urls: urls,
            consumer_key: input.oauth.consumer_key,
            consumer_secret: input.oauth.consumer_secret,
            alert_url: input.alert_url,
        })
    }
}

/// What callers see of an integration: everything but the consumer secret.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IntegrationView {
    pub application_id: ApplicationId,
    pub application_name: String,
    pub importable_application_uuid: Option<String>,
    pub vendor_id: VendorId,
    pub notification_urls: BTreeMap<EventType, NotificationUrl>,
    pub consumer_key: String,
    pub alert_url: Option<String>,
    pub enabled: bool,
    pub successive_failures: u32,
    pub disabled_at: Option<DateTime<Utc>>,
}

impl From<&Integration> for IntegrationView {
    fn from(i: &Integration) -> Self {
        IntegrationView {
            application_id: i.application_id.clone(),
            application_name: i.application_name.clone(),
            importable_application_uuid: i.importable_application_uuid.clone(),
            vendor_id: i.vendor_id.clone(),
            notification_urls: i.notification_urls.clone(),
            consumer_key: i.oauth.consumer_key.clone(),
            alert_url: i.alert_url.clone(),
            enabled: i.enabled,
            successive_failures: i.successive_failures,
            disabled_at: i.disabled_at,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_notification_url_without_the_placeholder_is_refused() {
        assert!(NotificationUrl::parse("https://v.example/create").is_err());
    }

    #[test]
    fn a_relative_or_non_http_notification_url_is_refused() {
        assert!(NotificationUrl::parse("/create?eventUrl={eventUrl}").is_err());
        assert!(NotificationUrl::parse("ftp://v.example/?e={eventUrl}").is_err());
    }

    #[test]
    fn the_event_address_is_url_encoded_into_the_placeholder() {
        let url = NotificationUrl::parse("https://v.example/create?eventUrl={eventUrl}").unwrap();
        assert_eq!(
            url.for_event("https://m.example/api/integration/v1/events/abc?x=1"),
            "https://v.example/create?eventUrl=https%3A%2F%2Fm.example%2Fapi%2Fintegration%2Fv1%2Fevents%2Fabc%3Fx%3D1"
        );
    }

    #[test]
    fn settings_with_a_bad_url_name_the_event_type_field() {
        let body = serde_json::json!({
            "applicationName": "Widget", "vendorId": "v-1",
            "notificationUrls": {"SUBSCRIPTION_ORDER": "https://v.example/no-placeholder"},
            "oauth": {"consumerKey": "k", "consumerSecret": "s"}
        });
        match IntegrationSettings::parse(body.to_string().as_bytes()) {
            Err(DomainError::Invalid { field, .. }) => {
                assert_eq!(
                    field.as_deref(),
                    Some("notificationUrls.SUBSCRIPTION_ORDER")
                )
            }
            other => panic!("expected Invalid, got {other:?}"),
        }
    }

    #[test]
    fn settings_with_an_unknown_event_type_name_it() {
        let body = serde_json::json!({
            "applicationName": "Widget", "vendorId": "v-1",
            "notificationUrls": {"SUBSCRIPTION_PING": "https://v.example/?e={eventUrl}"},
            "oauth": {"consumerKey": "k", "consumerSecret": "s"}
        });
        match IntegrationSettings::parse(body.to_string().as_bytes()) {
            Err(DomainError::Invalid { field, .. }) => {
                assert_eq!(field.as_deref(), Some("notificationUrls.SUBSCRIPTION_PING"))
            }
            other => panic!("expected Invalid, got {other:?}"),
        }
    }

    #[test]
    fn an_update_without_a_consumer_secret_keeps_the_kept_one_and_a_new_integration_needs_one() {
        let body = serde_json::json!({
            "applicationName": "Widget", "vendorId": "v-1",
            "notificationUrls": {},
            "oauth": {"consumerKey": "k2"}
        });
        let settings = IntegrationSettings::parse(body.to_string().as_bytes()).unwrap();
        assert!(matches!(
            settings.oauth(None),
            Err(DomainError::Invalid { field: Some(f), .. }) if f == "oauth.consumerSecret"
        ));
        let now = chrono::Utc::now();
        let existing = Integration {
            application_id: ApplicationId::parse("app-1").unwrap(),
            application_name: "Widget".into(),
            importable_application_uuid: None,
            vendor_id: VendorId::parse("v-1").unwrap(),
            notification_urls: BTreeMap::new(),
            oauth: OAuthCredentials {
                consumer_key: "k".into(),
                consumer_secret: "kept".into(),
            },
            alert_url: None,
            enabled: true,
            successive_failures: 0,
            disabled_at: None,
            created_at: now,
            updated_at: now,
            version: 1,
        };
        let oauth = settings.oauth(Some(&existing)).unwrap();
        assert_eq!(
            (oauth.consumer_key.as_str(), oauth.consumer_secret.as_str()),
            ("k2", "kept")
        );
        let empty = serde_json::json!({
            "applicationName": "Widget", "vendorId": "v-1", "notificationUrls": {},
            "oauth": {"consumerKey": "k", "consumerSecret": ""}
        });
        assert!(IntegrationSettings::parse(empty.to_string().as_bytes()).is_err());
    }

    #[test]
    fn an_application_id_with_a_slash_is_refused() {
        assert!(ApplicationId::parse("a/b").is_err());
        assert!(ApplicationId::parse("").is_err());
        assert!(ApplicationId::parse("app-1").is_ok());
    }
}
