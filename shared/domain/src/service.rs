//! The use cases behind the API, written against the ports. Handlers turn HTTP
//! into calls on [`Service`]; the adapters behind it are chosen at start-up.

use crate::auth::{format_key, key_id_of, ApiKeyRecord, Caller, KeyHash, Role, VendorId};
use crate::clock::{Clock, IdSource};
use crate::error::{parse_json, DomainError, StoreError};
use crate::event::{Event, EventBody, EventStatus, NewEvent};
use crate::integration::{ApplicationId, Integration, IntegrationSettings, IntegrationView};
use crate::oauth;
use crate::ports::{DispatchMessage, DispatchQueue, IdempotencyRecord, InsertOutcome, Store};
use base64::Engine;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::sync::Arc;

/// Request bodies above this size are refused before they are parsed.
pub const MAX_BODY_BYTES: usize = 256 * 1024;
const TOKEN_BYTES: usize = 32;
const KEY_BYTES: usize = 32;

#[derive(Debug, Clone)]
pub struct ServiceConfig {
    /// Where vendors reach this service: event URLs are built from it.
    pub public_url: url::Url,
    pub retention: chrono::Duration,
}

impl ServiceConfig {
    pub fn new(public_url: url::Url) -> Self {
        ServiceConfig {
            public_url,
            retention: chrono::Duration::days(365),
        }
    }
}

#[derive(Clone)]
pub struct Service {
    pub store: Arc<dyn Store>,
    pub queue: Arc<dyn DispatchQueue>,
    pub clock: Arc<dyn Clock>,
    pub ids: Arc<dyn IdSource>,
    pub config: ServiceConfig,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Accepted {
    pub id: String,
    pub token: String,
    pub status: EventStatus,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NewKey {
    pub key: String,
    pub role: Role,
    pub vendor_id: Option<VendorId>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct NewKeyInput {
    role: String,
    #[serde(default)]
    vendor_id: Option<String>,
}

impl Service {
    /// Who holds this bearer key.
    pub async fn authenticate(&self, bearer: Option<&str>) -> Result<Caller, DomainError> {
        let key = bearer
            .filter(|k| !k.is_empty())
            .ok_or(DomainError::Unauthenticated)?;
        let record = self
            .store
            .get_key(&KeyHash::of(key))
            .await?
            .ok_or(DomainError::Unauthenticated)?;
        Ok(Caller::from_record(&record))
    }

    /// Makes sure `key` is an admin key; used by the local runner at start-up.
    pub async fn ensure_admin_key(&self, key: &str) -> Result<(), DomainError> {
        let hash = KeyHash::of(key);
        if self.store.get_key(&hash).await?.is_some() {
            return Ok(());
        }
        let record = ApiKeyRecord {
            key_id: key_id_of(&hash),
            hash,
            role: Role::Admin,
            vendor_id: None,
            created_at: self.clock.now(),
        };
        match self.store.insert_key(&record).await {
            Ok(()) | Err(StoreError::Conflict(_)) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    pub fn generate_key(&self) -> String {
        format_key(&self.ids.secret(KEY_BYTES))
    }

    pub async fn create_key(&self, caller: &Caller, body: &[u8]) -> Result<NewKey, DomainError> {
        caller.require(&[Role::Admin])?;
        let input: NewKeyInput = parse_json(body, "api key")?;
        let role: Role = input
            .role
            .parse()
            .map_err(|m: String| DomainError::invalid("role", m))?;
        let vendor_id = match (role, input.vendor_id) {
            (Role::Vendor, Some(v)) => {
                Some(VendorId::parse(&v).map_err(|m| DomainError::invalid("vendorId", m))?)
            }
            (Role::Vendor, None) => {
                return Err(DomainError::invalid(
                    "vendorId",
                    "a vendor key needs a vendorId",
                ))
            }
            (_, Some(_)) => {
                return Err(DomainError::invalid(
                    "vendorId",
                    "only vendor keys are bound to a vendorId",
                ))
            }
            (_, None) => None,
        };
        let key = self.generate_key();
        let hash = KeyHash::of(&key);
        let record = ApiKeyRecord {
            key_id: key_id_of(&hash),
            hash,
            role,
            vendor_id: vendor_id.clone(),
            created_at: self.clock.now(),
        };
        self.store.insert_key(&record).await?;
        tracing::info!(key_id = %record.key_id, role = role.as_str(), by = %caller.key_id, "api key created");
        Ok(NewKey {
            key,
            role,
            vendor_id,
        })
    }

    /// The integration if this caller may see it; otherwise the same 404 as a missing one.
    async fn visible_integration(
        &self,
        caller: &Caller,
        application_id: &ApplicationId,
    ) -> Result<Option<Integration>, DomainError> {
        Ok(self
            .store
            .get_integration(application_id)
            .await?
            .filter(|i| caller.sees(i)))
    }

    pub async fn get_integration(
        &self,
        caller: &Caller,
        application_id: &str,
    ) -> Result<IntegrationView, DomainError> {
        caller.require(&[Role::Admin, Role::Manager, Role::Vendor])?;
        let id = ApplicationId::parse(application_id)
            .map_err(|_| DomainError::NotFound("integration"))?;
        let integration = self
            .visible_integration(caller, &id)
            .await?
            .ok_or(DomainError::NotFound("integration"))?;
        Ok(IntegrationView::from(&integration))
    }

    pub async fn put_integration(
        &self,
        caller: &Caller,
        application_id: &str,
        body: &[u8],
    ) -> Result<IntegrationView, DomainError> {
        caller.require(&[Role::Admin, Role::Manager, Role::Vendor])?;
        let id = ApplicationId::parse(application_id)
            .map_err(|m| DomainError::invalid("applicationId", m))?;
        let settings = IntegrationSettings::parse(body)?;
        if !caller.sees_vendor(&settings.vendor_id) {
            return Err(DomainError::invalid(
                "vendorId",
                "a vendor key may only configure its own vendorId",
            ));
        }
        let existing = self.store.get_integration(&id).await?;
        if let Some(e) = &existing {
            if !caller.sees(e) {
                return Err(DomainError::NotFound("integration"));
            }
        }
        let now = self.clock.now();
        let integration = match existing.clone() {
            Some(e) => Integration {
                application_name: settings.application_name,
                importable_application_uuid: settings.importable_application_uuid,
                vendor_id: settings.vendor_id,
                notification_urls: settings.notification_urls,
                oauth: settings.oauth,
                alert_url: settings.alert_url,
                updated_at: now,
                version: e.version + 1,
                ..e
            },
            None => Integration {
                application_id: id,
                application_name: settings.application_name,
                importable_application_uuid: settings.importable_application_uuid,
                vendor_id: settings.vendor_id,
                notification_urls: settings.notification_urls,
                oauth: settings.oauth,
                alert_url: settings.alert_url,
                enabled: true,
                successive_failures: 0,
                disabled_at: None,
                created_at: now,
                updated_at: now,
                version: 1,
            },
        };
        self.store
            .save_integration(&integration, existing.map(|e| e.version))
            .await
            .map_err(|e| match e {
                StoreError::Conflict(_) => DomainError::Conflict(
                    "the integration was changed by another request; read it and try again".into(),
                ),
                other => other.into(),
            })?;
        Ok(IntegrationView::from(&integration))
    }

    /// Accepts an event: stored as PENDING, then queued for delivery.
    pub async fn ingest(
        &self,
        caller: &Caller,
        idempotency_key: Option<&str>,
        body: &[u8],
    ) -> Result<Accepted, DomainError> {
        caller.require(&[Role::Admin, Role::Marketplace])?;
        if body.len() > MAX_BODY_BYTES {
            return Err(DomainError::TooLarge {
                limit: MAX_BODY_BYTES,
            });
        }
        let idempotency_key = idempotency_key
            .map(|k| {
                if k.is_empty() || k.len() > 255 || k.chars().any(|c| c.is_control()) {
                    Err(DomainError::invalid(
                        "Idempotency-Key",
                        "must be 1 to 255 printable characters",
                    ))
                } else {
                    Ok(k)
                }
            })
            .transpose()?;
        let new = NewEvent::parse(body)?;
        let integration = self
            .store
            .get_integration(&new.application_id)
            .await?
            .ok_or_else(|| {
                DomainError::invalid(
                    "applicationId",
                    format!("no integration is configured for '{}'", new.application_id),
                )
            })?;
        let now = self.clock.now();
        let event = Event {
            id: self.ids.new_id(),
            token: base64::engine::general_purpose::URL_SAFE_NO_PAD
                .encode(self.ids.secret(TOKEN_BYTES)),
            application_id: new.application_id,
            vendor_id: integration.vendor_id,
            body: new.body,
            status: EventStatus::Pending,
            attempts: Vec::new(),
            created_at: now,
            updated_at: now,
        };
        let idempotency = idempotency_key.map(|k| IdempotencyRecord {
            scope: format!("{}:{k}", caller.key_id),
            body_sha256: hex_sha256(body),
            event_id: event.id.clone(),
            token: event.token.clone(),
        });
        match self
            .store
            .insert_event(&event, idempotency.as_ref())
            .await?
        {
            InsertOutcome::Inserted => {}
            InsertOutcome::Replay(previous) => {
                return if Some(&previous.body_sha256)
                    == idempotency.as_ref().map(|i| &i.body_sha256)
                {
                    Ok(Accepted {
                        id: previous.event_id,
                        token: previous.token,
                        status: EventStatus::Pending,
                    })
                } else {
                    Err(DomainError::Conflict(
                        "this Idempotency-Key was used with a different body".into(),
                    ))
                };
            }
        }
        let message = DispatchMessage {
            event_id: event.id.clone(),
        };
        if let Err(queue_error) = self.queue.enqueue(&message).await {
            tracing::error!(event_id = %event.id, error = %queue_error, "queueing failed; removing the event");
            if let Err(e) = self.store.remove_event(&event, idempotency.as_ref()).await {
                tracing::error!(event_id = %event.id, error = %e, "could not remove an unqueued event");
            }
            return Err(queue_error.into());
        }
        tracing::info!(event_id = %event.id, application_id = %event.application_id, kind = %event.body.kind, "event accepted");
        Ok(Accepted {
            id: event.id,
            token: event.token,
            status: EventStatus::Pending,
        })
    }

    /// The address a vendor fetches an event from.
    pub fn event_url(&self, token: &str) -> url::Url {
        let mut url = self.config.public_url.clone();
        let base = url.path().trim_end_matches('/').to_owned();
        url.set_path(&format!("{base}/api/integration/v1/events/{token}"));
        url.set_query(None);
        url
    }

    /// The event JSON for a vendor whose request is signed with the integration's credentials.
    /// `query` is the raw query string of the request, which the signature covers.
    pub async fn vendor_fetch(
        &self,
        token: &str,
        query: Option<&str>,
        authorization: Option<&str>,
    ) -> Result<EventBody, DomainError> {
        let event = self
            .store
            .get_event_by_token(token)
            .await?
            .ok_or(DomainError::NotFound("event"))?;
        let integration = self
            .store
            .get_integration(&event.application_id)
            .await?
            .ok_or(DomainError::NotFound("event"))?;
        let mut url = self.event_url(token);
        url.set_query(query.filter(|q| !q.is_empty()));
        let creds = &integration.oauth;
        oauth::verify(
            "GET",
            &url,
            authorization,
            None,
            self.clock.now().timestamp(),
            |key| (key == creds.consumer_key).then(|| creds.consumer_secret.clone()),
        )
        .map_err(|e| DomainError::BadSignature(e.to_string()))?;
        Ok(event.body)
    }
}

fn hex_sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
