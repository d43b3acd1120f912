//! What the domain needs from storage and queues. Each capability is a narrow
//! trait, so a function asks only for what it uses.

use crate::auth::{ApiKeyRecord, KeyHash};
use crate::error::StoreError;
use crate::event::{Event, EventPage, EventQuery};
use crate::integration::{ApplicationId, Integration};
use crate::record::{Alert, ErrorPage, ErrorQuery, ErrorRecord, SummaryRow};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};

#[async_trait]
pub trait KeyStore: Send + Sync {
    /// Fails with `Conflict` if a key with that hash exists.
    async fn insert_key(&self, key: &ApiKeyRecord) -> Result<(), StoreError>;
    async fn get_key(&self, hash: &KeyHash) -> Result<Option<ApiKeyRecord>, StoreError>;
    /// Every key not revoked, in no particular order (there are few).
    async fn list_keys(&self) -> Result<Vec<ApiKeyRecord>, StoreError>;
    /// Marks the live key with this id revoked and answers it; `None` when no
    /// live key has that id.
    async fn revoke_key(
        &self,
        key_id: &str,
        at: chrono::DateTime<chrono::Utc>,
    ) -> Result<Option<ApiKeyRecord>, StoreError>;
    /// Notes that the key was used at `at`.
    async fn touch_key(
        &self,
        hash: &KeyHash,
        at: chrono::DateTime<chrono::Utc>,
    ) -> Result<(), StoreError>;
}

#[async_trait]
pub trait IntegrationStore: Send + Sync {
    async fn get_integration(&self, id: &ApplicationId) -> Result<Option<Integration>, StoreError>;
    /// Writes `integration` if the stored version is `expected` (`None`: none stored yet),
    /// else fails with `Conflict`. The caller bumps `integration.version`.
    async fn save_integration(
        &self,
        integration: &Integration,
        expected: Option<u64>,
    ) -> Result<(), StoreError>;
    /// Switches delivery on or off if it is not already so; answers whether it changed.
    /// Disabling stamps `disabledAt`; enabling clears it and the failure count.
    async fn set_integration_enabled(
        &self,
        id: &ApplicationId,
        enabled: bool,
        at: chrono::DateTime<chrono::Utc>,
    ) -> Result<bool, StoreError>;
    /// A page of integrations in application id order, after `query.after`.
    async fn list_integrations(
        &self,
        query: &IntegrationQuery,
    ) -> Result<IntegrationPage, StoreError>;
}

/// Which integrations a listing returns.
#[derive(Debug, Clone, PartialEq)]
pub struct IntegrationQuery {
    pub vendor: Option<crate::auth::VendorId>,
    pub enabled: Option<bool>,
    pub after: Option<ApplicationId>,
    pub limit: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub struct IntegrationPage {
    pub items: Vec<Integration>,
    /// The last application id of a full page, when more may follow.
    pub next: Option<ApplicationId>,
}

/// How a finished delivery moves its integration's count of successive failures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureCount {
    Unchanged,
    Increment,
    Reset,
}

/// The answer an idempotent ingestion gave, kept so a replay can give it again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IdempotencyRecord {
    /// The caller's key id and the client's Idempotency-Key.
    pub scope: String,
    pub body_sha256: String,
    pub event_id: String,
    pub token: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InsertOutcome {
    Inserted,
    /// The idempotency scope was taken; here is what it holds.
    Replay(IdempotencyRecord),
}

#[async_trait]
pub trait EventStore: Send + Sync {
    /// Stores a new event, and its idempotency record in the same write, atomically.
    async fn insert_event(
        &self,
        event: &Event,
        idempotency: Option<&IdempotencyRecord>,
    ) -> Result<InsertOutcome, StoreError>;
    /// Undoes `insert_event` when the event could not be queued, so nothing half-done remains.
    async fn remove_event(
        &self,
        event: &Event,
        idempotency: Option<&IdempotencyRecord>,
    ) -> Result<(), StoreError>;
    async fn get_event(&self, id: &str) -> Result<Option<Event>, StoreError>;
    /// Writes `event` if the stored version is `expected`, else `Conflict`.
    async fn update_event(&self, event: &Event, expected: u64) -> Result<(), StoreError>;
    /// Ends a delivery in one atomic write: the event at `expected` becomes `event`,
    /// `error` is recorded unless a record with its id exists, and the integration's
    /// failure count moves. A redelivered message finds the event already settled
    /// (`Conflict`), so nothing is recorded or counted twice.
    async fn finish_delivery(
        &self,
        event: &Event,
        expected: u64,
        error: Option<&ErrorRecord>,
        count: FailureCount,
    ) -> Result<(), StoreError>;
    /// The event a token of the older kind, without its event's id, was issued
    /// for (see `event::new_token`). A store holding no such tokens answers None.
    async fn get_event_by_token(&self, token: &str) -> Result<Option<Event>, StoreError>;
    /// Newest first, at most `query.limit` events, without a full scan.
    async fn query_events(&self, query: &EventQuery) -> Result<EventPage, StoreError>;
}

#[async_trait]
pub trait ErrorStore: Send + Sync {
    /// Fails with `Conflict` if a record with that id exists.
    async fn insert_error(&self, record: &ErrorRecord) -> Result<(), StoreError>;
    async fn get_error(&self, id: &str) -> Result<Option<ErrorRecord>, StoreError>;
    /// Writes `record` if the stored version is `expected`, else `Conflict`.
    async fn update_error(&self, record: &ErrorRecord, expected: u64) -> Result<(), StoreError>;
    /// Newest first, at most `query.limit` records, without a full scan.
    async fn query_errors(&self, query: &ErrorQuery) -> Result<ErrorPage, StoreError>;
    /// Counts per application and error code of the records `query` matches
    /// (its `limit` and `after` are ignored), in (application, code) order.
    async fn summarize_errors(&self, query: &ErrorQuery) -> Result<Vec<SummaryRow>, StoreError>;
}

#[async_trait]
pub trait AlertStore: Send + Sync {
    /// Stores `alert` unless one with its id exists; answers whether it was stored,
    /// so that exactly one caller goes on to send it.
    async fn insert_alert(&self, alert: &Alert) -> Result<bool, StoreError>;
    async fn get_alert(&self, id: &str) -> Result<Option<Alert>, StoreError>;
}

/// Everything a store offers; both adapters implement all of it.
pub trait Store: KeyStore + IntegrationStore + EventStore + ErrorStore + AlertStore {}
impl<T: KeyStore + IntegrationStore + EventStore + ErrorStore + AlertStore> Store for T {}

/// A request to deliver one event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DispatchMessage {
    pub event_id: String,
    /// Set by recovery: start a new delivery round if the event is still
    /// FAILED at this round (a second copy of the message then finds it moved on).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redeliver_after: Option<u32>,
    /// Set by a local runner re-queueing its outbox at start: a lease left by
    /// its previous run (which crashed mid-call) is taken over at once
    /// instead of waited out. Nothing else shares a runner's data directory.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub reclaim: bool,
}

impl DispatchMessage {
    pub fn new(event_id: impl Into<String>) -> Self {
        DispatchMessage {
            event_id: event_id.into(),
            redeliver_after: None,
            reclaim: false,
        }
    }
}

#[async_trait]
pub trait DispatchQueue: Send + Sync {
    async fn enqueue(&self, message: &DispatchMessage) -> Result<(), StoreError>;

    /// Queues many messages; answers how many were queued before any failure.
    async fn enqueue_many(&self, messages: &[DispatchMessage]) -> Result<usize, StoreError> {
        for (i, m) in messages.iter().enumerate() {
            if let Err(e) = self.enqueue(m).await {
                tracing::warn!(queued = i, error = %e, "queueing stopped part way");
                return Ok(i);
            }
        }
        Ok(messages.len())
    }
}

/// One outbound HTTP call: to a vendor's notification URL or an alert webhook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundRequest {
    pub method: &'static str,
    pub url: String,
    pub authorization: Option<String>,
    /// JSON body, for POSTs.
    pub json_body: Option<Vec<u8>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutboundResult {
    Response {
        status: u16,
        /// At most the configured cap; `truncated` says whether more was sent.
        body: Vec<u8>,
        truncated: bool,
        retry_after: Option<std::time::Duration>,
    },
    /// No answer within the configured timeout.
    Timeout,
    /// Could not connect, or the connection broke.
    Unreachable(String),
    /// Refused before sending: the address is not one we may call.
    Refused(String),
}

/// Makes outbound HTTP calls, refusing addresses that policy forbids.
#[async_trait]
pub trait Outbound: Send + Sync {
    async fn send(&self, request: OutboundRequest) -> OutboundResult;
}

/// Where report exports are written: a bucket in AWS, a folder locally.
#[async_trait]
pub trait ExportSink: Send + Sync {
    /// Starts the file `name` (a relative path such as `daily/2026-11-25.csv`).
    async fn create(&self, name: &str) -> Result<Box<dyn ExportFile>, StoreError>;
}

/// A file being written, chunk by chunk. Until `finish` succeeds, nothing
/// appears under its name; `abort` discards what was written.
#[async_trait]
pub trait ExportFile: Send {
    async fn write(&mut self, chunk: Vec<u8>) -> Result<(), StoreError>;
    /// Completes the file and answers where it is.
    async fn finish(self: Box<Self>) -> Result<String, StoreError>;
    async fn abort(self: Box<Self>);
}

/// Stands in for a port that a function is built without: the report function
/// has no queue, no outbound client and no export sink, so it links none of
/// them. The template routes to each function only what its ports serve; a
/// call that reaches one of these is a routing mistake and fails loudly.
#[derive(Debug, Clone, Copy)]
pub struct NotWired(pub &'static str);

impl NotWired {
    fn error(&self, port: &str) -> StoreError {
        tracing::error!(
            function = self.0,
            port,
            "this function was built without that port; check the template's routes"
        );
        StoreError::Internal(format!("{} has no {port}", self.0))
    }
}

#[async_trait]
impl DispatchQueue for NotWired {
    async fn enqueue(&self, _message: &DispatchMessage) -> Result<(), StoreError> {
        Err(self.error("dispatch queue"))
    }
}

#[async_trait]
impl Outbound for NotWired {
    async fn send(&self, _request: OutboundRequest) -> OutboundResult {
        OutboundResult::Refused(self.error("outbound client").to_string())
    }
}

#[async_trait]
impl ExportSink for NotWired {
    async fn create(&self, _name: &str) -> Result<Box<dyn ExportFile>, StoreError> {
        Err(self.error("export sink"))
    }
}
