//! The use cases behind the API, written against the ports. Handlers turn HTTP
//! into calls on [`Service`]; the adapters behind it are chosen at start-up.

use crate::auth::{
    format_key, is_key_id, key_id_of, ApiKeyRecord, Caller, KeyHash, Role, VendorId,
};
use crate::clock::{Clock, IdSource};
use crate::error::{parse_json, parse_json_or_default, DomainError, StoreError};
use crate::event::{Event, EventBody, EventStatus, NewEvent};
use crate::integration::{ApplicationId, Integration, IntegrationSettings, IntegrationView};
use crate::oauth;
use crate::ports::{
    DispatchMessage, DispatchQueue, IdempotencyRecord, InsertOutcome, Outbound, Store,
};
use crate::record::{Category, ErrorQuery, ResolvedFilter};
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
    pub dispatch: crate::dispatch::DispatchConfig,
    /// Signs page cursors; every function of a deployment must share it.
    pub cursor_key: crate::report::CursorKey,
    /// A deployment's admin key, known here only by its hash: the Lambda
    /// functions read it from a secret at start instead of from the store.
    pub admin_key: Option<KeyHash>,
}

impl ServiceConfig {
    pub fn new(public_url: url::Url) -> Self {
        ServiceConfig {
            public_url,
            retention: chrono::Duration::days(365),
            dispatch: Default::default(),
            cursor_key: crate::report::CursorKey::new(crate::clock::RandomIds.secret(32)),
            admin_key: None,
        }
    }
}

#[derive(Clone)]
pub struct Service {
    pub store: Arc<dyn Store>,
    pub queue: Arc<dyn DispatchQueue>,
    pub outbound: Arc<dyn Outbound>,
    pub exports: Arc<dyn crate::ports::ExportSink>,
    pub clock: Arc<dyn Clock>,
    pub ids: Arc<dyn IdSource>,
    pub config: ServiceConfig,
    pub caches: Caches,
}

/// What an instance keeps in memory. Lookups on ingestion's hot path, kept
/// briefly so that accepting an event costs one store write and no reads (a
/// revoked key is refused elsewhere within `CALLER_TTL`; an application's new
/// vendor is followed within `VENDOR_TTL`); and each integration's calls in
/// flight and circuit.
#[derive(Clone)]
pub struct Caches {
    callers: moka::sync::Cache<KeyHash, Caller>,
    vendors: moka::sync::Cache<ApplicationId, VendorId>,
    /// Integrations as dispatch read them, and when (see `integration_cache`).
    pub(crate) integrations:
        moka::sync::Cache<ApplicationId, (std::time::Instant, Option<Integration>)>,
    pub isolation: Arc<crate::isolation::Isolation>,
}

/// How long a revoked key may still work on another instance (API.md says 60 s).
pub const CALLER_TTL: std::time::Duration = std::time::Duration::from_secs(60);
/// How finely a key's `lastUsedAt` is kept: at most one write a key this often.
const KEY_USE_GRANULARITY: chrono::TimeDelta = chrono::TimeDelta::minutes(10);
const VENDOR_TTL: std::time::Duration = std::time::Duration::from_secs(2);
/// The longest an integration stays cached, whatever the configured period.
const INTEGRATION_TTL: std::time::Duration = std::time::Duration::from_secs(600);

impl Default for Caches {
    fn default() -> Self {
        Caches {
            callers: moka::sync::Cache::builder()
                .max_capacity(10_000)
                .time_to_live(CALLER_TTL)
                .build(),
            vendors: moka::sync::Cache::builder()
                .max_capacity(100_000)
                .time_to_live(VENDOR_TTL)
                .build(),
            integrations: moka::sync::Cache::builder()
                .max_capacity(100_000)
                .time_to_live(INTEGRATION_TTL)
                .build(),
            isolation: Default::default(),
        }
    }
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
    /// The key's id, as `GET /v1/api-keys` lists it and `DELETE` takes it.
    pub id: String,
    pub key: String,
    pub role: Role,
    pub vendor_id: Option<VendorId>,
}

/// What `GET /v1/api-keys` shows of a key: never the key, nor its hash.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyView {
    pub id: String,
    pub role: Role,
    pub vendor_id: Option<VendorId>,
    pub created_at: chrono::DateTime<chrono::Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_used_at: Option<chrono::DateTime<chrono::Utc>>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct KeyList {
    pub items: Vec<KeyView>,
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
        self.authenticate_hash(&KeyHash::of(key)).await
    }

    /// Who holds the key with this hash: the console's session carries the
    /// hash (sealed), never the key, and is checked through here on every
    /// request, so a revoked key ends its sessions too.
    pub async fn authenticate_hash(&self, hash: &KeyHash) -> Result<Caller, DomainError> {
        let hash = hash.clone();
        if self.config.admin_key.as_ref() == Some(&hash) {
            return Ok(Caller {
                key_id: key_id_of(&hash),
                role: Role::Admin,
                vendor_id: None,
            });
        }
        if let Some(caller) = self.caches.callers.get(&hash) {
            return Ok(caller);
        }
        let record = self
            .store
            .get_key(&hash)
            .await?
            .filter(|r| r.revoked_at.is_none())
            .ok_or(DomainError::Unauthenticated)?;
        let caller = Caller::from_record(&record);
        let now = self.clock.now();
        // A cache miss happens at most once a `CALLER_TTL` per key and
        // instance, so noting the use here costs no write on the hot path.
        if record
            .last_used_at
            .is_none_or(|at| now - at > KEY_USE_GRANULARITY)
        {
            if let Err(e) = self.store.touch_key(&hash, now).await {
                tracing::warn!(error = %e, key_id = %record.key_id, "could not note a key's use");
            }
        }
        self.caches.callers.insert(hash, caller.clone());
        Ok(caller)
    }

    /// Every live key, newest first; never a key itself (only hashes are stored).
    pub async fn list_keys(&self, caller: &Caller) -> Result<KeyList, DomainError> {
        caller.require(&[Role::Admin])?;
        let mut items: Vec<KeyView> = self
            .store
            .list_keys()
            .await?
            .into_iter()
            .filter(|r| r.revoked_at.is_none())
            .map(|r| KeyView {
                id: r.key_id,
                role: r.role,
                vendor_id: r.vendor_id,
                created_at: r.created_at,
                last_used_at: r.last_used_at,
            })
            .collect();
        items.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(a.id.cmp(&b.id)));
        Ok(KeyList { items })
    }

    /// Revokes a key: this instance refuses it at once, others within
    /// `CALLER_TTL`. The key a caller is signed in with cannot be revoked by
    /// that caller, so that an admin cannot lock themselves out by mistake.
    pub async fn revoke_key(&self, caller: &Caller, key_id: &str) -> Result<(), DomainError> {
        caller.require(&[Role::Admin])?;
        if key_id == caller.key_id {
            return Err(DomainError::Conflict(
                "this is the key this request is signed with; revoke it with another admin key"
                    .into(),
            ));
        }
        if !is_key_id(key_id) {
            return Err(DomainError::NotFound("api key"));
        }
        let revoked = self
            .store
            .revoke_key(key_id, self.clock.now())
            .await?
            .ok_or(DomainError::NotFound("api key"))?;
        self.caches.callers.invalidate(&revoked.hash);
        tracing::info!(key_id, by = %caller.key_id, "api key revoked");
        Ok(())
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
            last_used_at: None,
            revoked_at: None,
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
            last_used_at: None,
            revoked_at: None,
        };
        self.store.insert_key(&record).await?;
        tracing::info!(key_id = %record.key_id, role = role.as_str(), by = %caller.key_id, "api key created");
        Ok(NewKey {
            id: record.key_id,
            key,
            role,
            vendor_id,
        })
    }

    /// The integration if this caller may see it; otherwise the same 404 as a missing one.
    pub(crate) async fn visible_integration(
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
        let oauth = settings.oauth(existing.as_ref())?;
        let now = self.clock.now();
        let integration = match existing.clone() {
            Some(e) => Integration {
                application_name: settings.application_name,
                importable_application_uuid: settings.importable_application_uuid,
                vendor_id: settings.vendor_id,
                notification_urls: settings.notification_urls,
                oauth,
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
                oauth,
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
        self.caches.vendors.invalidate(&integration.application_id);
        self.caches
            .integrations
            .invalidate(&integration.application_id);
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
        let vendor_id = match self.caches.vendors.get(&new.application_id) {
            Some(v) => v,
            None => {
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
                self.caches
                    .vendors
                    .insert(new.application_id.clone(), integration.vendor_id.clone());
                integration.vendor_id
            }
        };
        let now = self.clock.now();
        let id = self.ids.new_id();
        let event = Event {
            token: crate::event::new_token(&id, &self.ids.secret(TOKEN_BYTES)),
            id,
            application_id: new.application_id,
            vendor_id,
            body: new.body,
            status: EventStatus::Pending,
            attempts: Vec::new(),
            created_at: now,
            updated_at: now,
            round: 1,
            transient_failures: 0,
            lease_until: None,
            version: 1,
        };
        let idempotency = idempotency_key.map(|k| IdempotencyRecord {
            scope: format!("{}:{k}", caller.key_id),
            body_sha256: hex::encode(Sha256::digest(body)),
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
        let message = DispatchMessage::for_event(&event);
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

    /// The event and integration behind `token`, if the request is signed with
    /// that integration's consumer key and secret. `query` is the request's raw
    /// query string, which the signature covers.
    pub(crate) async fn verified_vendor_request(
        &self,
        method: &str,
        token: &str,
        query: Option<&str>,
        authorization: Option<&str>,
    ) -> Result<(Event, Integration), DomainError> {
        let found = match crate::event::token_event_id(token) {
            Some(id) => self.store.get_event(id).await?,
            // Tokens issued before they carried their event's id.
            None => self.store.get_event_by_token(token).await?,
        };
        let event = found
            .filter(|e| crate::event::tokens_match(&e.token, token))
            .ok_or(DomainError::NotFound("event"))?;
        let integration = self
            .cached_integration(&event.application_id)
            .await?
            .ok_or(DomainError::NotFound("event"))?;
        let mut url = self.event_url(token);
        if method == "POST" {
            url.set_path(&format!("{}/result", url.path()));
        }
        url.set_query(query.filter(|q| !q.is_empty()));
        let creds = &integration.oauth;
        oauth::verify(
            method,
            &url,
            authorization,
            None,
            self.clock.now().timestamp(),
            |key| (key == creds.consumer_key).then(|| creds.consumer_secret.clone()),
        )
        .map_err(|e| DomainError::BadSignature(e.to_string()))?;
        Ok((event, integration))
    }

    /// The event JSON, for a vendor whose request is signed with the integration's credentials.
    pub async fn vendor_fetch(
        &self,
        token: &str,
        query: Option<&str>,
        authorization: Option<&str>,
    ) -> Result<EventBody, DomainError> {
        let (event, _) = self
            .verified_vendor_request("GET", token, query, authorization)
            .await?;
        Ok(event.body)
    }

    /// An event this caller may see; others' answer 404 like missing ones.
    async fn visible_event(&self, caller: &Caller, id: &str) -> Result<Event, DomainError> {
        caller.require(&[Role::Admin, Role::Manager, Role::Vendor, Role::Marketplace])?;
        self.store
            .get_event(id)
            .await?
            .filter(|e| caller.sees_vendor(&e.vendor_id))
            .ok_or(DomainError::NotFound("event"))
    }

    pub async fn get_event(&self, caller: &Caller, id: &str) -> Result<EventView, DomainError> {
        Ok(EventView::shown_to(
            self.visible_event(caller, id).await?,
            caller,
        ))
    }

    /// Puts a settled event back in the queue for one more delivery round.
    pub async fn retry_event(&self, caller: &Caller, id: &str) -> Result<EventView, DomainError> {
        caller.require(&[Role::Admin, Role::Manager, Role::Vendor])?;
        let event = self.visible_event(caller, id).await?;
        match event.status {
            EventStatus::Failed | EventStatus::AsyncPending => {}
            EventStatus::Pending => {
                return Err(DomainError::Conflict(
                    "the event is already waiting for delivery".into(),
                ))
            }
            EventStatus::Complete => {
                return Err(DomainError::Conflict("the event was delivered".into()))
            }
        }
        Ok(EventView::shown_to(self.redeliver(event).await?, caller))
    }

    /// Starts a new delivery round of `event` and queues it.
    pub(crate) async fn redeliver(&self, event: Event) -> Result<Event, DomainError> {
        let next = self.start_round(&event).await?;
        let message = DispatchMessage::for_event(&next);
        if let Err(e) = self.queue.enqueue(&message).await {
            // Put the event back as it was, so it can be retried again later.
            let restored = Event {
                version: next.version + 1,
                ..event
            };
            if let Err(undo) = self.store.update_event(&restored, next.version).await {
                tracing::error!(event_id = %next.id, error = %undo, "could not restore an unqueued retry");
            }
            return Err(e.into());
        }
        Ok(next)
    }

    /// Moves a settled event into a new delivery round, PENDING again.
    async fn start_round(&self, event: &Event) -> Result<Event, DomainError> {
        let event = event.clone();
        let expected = event.version;
        let next = Event {
            status: EventStatus::Pending,
            round: event.round + 1,
            transient_failures: 0,
            lease_until: None,
            updated_at: self.clock.now(),
            version: expected + 1,
            ..event.clone()
        };
        self.store
            .update_event(&next, expected)
            .await
            .map_err(|e| match e {
                StoreError::Conflict(_) => DomainError::Conflict(
                    "the event changed while it was being retried; try again".into(),
                ),
                other => other.into(),
            })?;
        Ok(next)
    }

    /// Handles one dispatch message: a recovery message first starts the new
    /// round (once: a copy finds the event moved on), then the event is delivered.
    pub async fn handle_message(
        &self,
        message: &DispatchMessage,
    ) -> Result<crate::dispatch::DispatchOutcome, DomainError> {
        if let Some(round) = message.redeliver_after {
            if let Some(event) = self.store.get_event(&message.event_id).await? {
                // Queued by a person who just enabled or fixed the
                // integration: delivered by it as it is now, not as cached.
                self.caches.integrations.invalidate(&event.application_id);
                if event.status == EventStatus::Failed && event.round == round {
                    match self.start_round(&event).await {
                        Ok(_) | Err(DomainError::Conflict(_)) => {}
                        Err(e) => return Err(e),
                    }
                }
            }
        }
        self.claim_and_deliver(&message.event_id, message.reclaim)
            .await
    }

    /// Re-enables an integration; with `redeliver`, queues again the events that
    /// were refused while it was disabled.
    pub async fn enable_integration(
        &self,
        caller: &Caller,
        application_id: &str,
        body: &[u8],
    ) -> Result<Enabled, DomainError> {
        caller.require(&[Role::Admin, Role::Manager])?;
        let input: EnableInput = parse_json_or_default(body, "enable request")?;
        let id = ApplicationId::parse(application_id)
            .map_err(|_| DomainError::NotFound("integration"))?;
        let integration = self
            .visible_integration(caller, &id)
            .await?
            .ok_or(DomainError::NotFound("integration"))?;
        self.store
            .set_integration_enabled(&id, true, self.clock.now())
            .await?;
        self.caches.integrations.invalidate(&id);
        tracing::info!(application_id = %id, by = %caller.key_id, "integration enabled");
        let redelivered = match (input.redeliver, integration.disabled_at) {
            (true, Some(since)) => {
                // Instances that cached the integration disabled may fail a
                // few more events as disabled until their copy is read again:
                // wait that out, so that the redelivery includes them.
                let cached = self
                    .config
                    .dispatch
                    .integration_cache
                    .min(crate::dispatch::DISABLED_RECHECK);
                if !cached.is_zero() {
                    tokio::time::sleep(cached + std::time::Duration::from_millis(100)).await;
                }
                let query = ErrorQuery {
                    application_id: Some(id.clone()),
                    category: Some(Category::Disabled),
                    from: Some(since),
                    ..Default::default()
                };
                self.redeliver_failed(query).await?
            }
            _ => 0,
        };
        let integration = self
            .store
            .get_integration(&id)
            .await?
            .ok_or(DomainError::NotFound("integration"))?;
        Ok(Enabled {
            integration: IntegrationView::from(&integration),
            redelivered,
        })
    }

    /// Queues again an application's failed events whose failures fall in a window.
    pub async fn recover(
        &self,
        caller: &Caller,
        application_id: &str,
        body: &[u8],
    ) -> Result<usize, DomainError> {
        caller.require(&[Role::Admin, Role::Manager])?;
        let input: RecoverInput = parse_json(body, "recover request")?;
        // The same forms as the report's query: RFC 3339 or a plain date.
        let since = crate::report::parse_time(&input.since)
            .map_err(|m| DomainError::invalid("since", m))?;
        let until = crate::report::parse_time(&input.until)
            .map_err(|m| DomainError::invalid("until", m))?;
        if until <= since {
            return Err(DomainError::invalid("until", "must be later than since"));
        }
        let id = ApplicationId::parse(application_id)
            .map_err(|_| DomainError::NotFound("integration"))?;
        self.visible_integration(caller, &id)
            .await?
            .ok_or(DomainError::NotFound("integration"))?;
        let query = ErrorQuery {
            application_id: Some(id),
            from: Some(since),
            to: Some(until),
            ..Default::default()
        };
        self.redeliver_failed(query).await
    }

    /// Queues a new round for the events behind the unresolved failure records
    /// `query` finds, at most [`MAX_RECOVERY`] of them; answers how many were
    /// queued. The rounds start in the background, as the dispatch worker takes
    /// each message, and only for events still FAILED at the recorded round.
    async fn redeliver_failed(&self, mut query: ErrorQuery) -> Result<usize, DomainError> {
        query.resolved = ResolvedFilter::Unresolved;
        query.limit = 500;
        let lane = query.application_id.as_ref().map(|a| a.as_str().to_owned());
        let mut rounds = std::collections::BTreeMap::new();
        loop {
            let page = self.store.query_errors(&query).await?;
            for record in &page.items {
                if let Some((event_id, round)) = record.failed_round() {
                    let latest = rounds.entry(event_id.to_owned()).or_insert(round);
                    *latest = round.max(*latest);
                }
            }
            match page.next {
                Some(next) if rounds.len() < MAX_RECOVERY => query.after = Some(next),
                _ => break,
            }
        }
        let messages: Vec<DispatchMessage> = rounds
            .into_iter()
            .take(MAX_RECOVERY)
            .map(|(event_id, round)| DispatchMessage {
                redeliver_after: Some(round),
                application_id: lane.clone(),
                ..DispatchMessage::new(event_id)
            })
            .collect();
        let queued = self.queue.enqueue_many(&messages).await?;
        if queued == 0 && !messages.is_empty() {
            return Err(
                StoreError::Unavailable("the dispatch queue refused every message".into()).into(),
            );
        }
        Ok(queued)
    }
}

/// Redelivery requests queue at most this many events at once.
pub const MAX_RECOVERY: usize = 10_000;

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct EnableInput {
    #[serde(default)]
    redeliver: bool,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RecoverInput {
    since: String,
    until: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Enabled {
    #[serde(flatten)]
    pub integration: IntegrationView,
    pub redelivered: usize,
}

/// An event as `GET /v1/events/{id}` shows it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EventView {
    pub id: String,
    /// An admin's view only: the token is the vendor's credential.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    pub application_id: ApplicationId,
    pub vendor_id: VendorId,
    #[serde(rename = "type")]
    pub kind: crate::event::EventType,
    pub status: EventStatus,
    pub round: u32,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
    pub attempts: Vec<crate::event::Attempt>,
    pub event: EventBody,
}

impl EventView {
    /// The event as `caller` may read it (docs/API.md): the token for an
    /// admin only; the marketplace, which produced it, sees each attempt's
    /// outcome but not what the vendor's product answered.
    pub fn shown_to(mut e: Event, caller: &Caller) -> Self {
        if caller.role == Role::Marketplace {
            for attempt in &mut e.attempts {
                // The error code stays; the vendor's own words do not.
                attempt.response_excerpt = None;
                attempt.message = None;
            }
        }
        EventView {
            kind: e.body.kind,
            id: e.id,
            token: (caller.role == Role::Admin).then_some(e.token),
            application_id: e.application_id,
            vendor_id: e.vendor_id,
            status: e.status,
            round: e.round,
            created_at: e.created_at,
            updated_at: e.updated_at,
            attempts: e.attempts,
            event: e.body,
        }
    }
}
