//! What the domain needs from storage and queues. Each capability is a narrow
//! trait, so a function asks only for what it uses.

use crate::auth::{ApiKeyRecord, KeyHash};
use crate::error::StoreError;
use crate::event::Event;
use crate::integration::{ApplicationId, Integration};
use crate::record::{ErrorPage, ErrorQuery, ErrorRecord};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};

#[async_trait]
pub trait KeyStore: Send + Sync {
    /// Fails with `Conflict` if a key with that hash exists.
    async fn insert_key(&self, key: &ApiKeyRecord) -> Result<(), StoreError>;
    async fn get_key(&self, hash: &KeyHash) -> Result<Option<ApiKeyRecord>, StoreError>;
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
    async fn get_event_by_token(&self, token: &str) -> Result<Option<Event>, StoreError>;
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
}

/// Everything a store offers; both adapters implement all of it.
pub trait Store: KeyStore + IntegrationStore + EventStore + ErrorStore {}
impl<T: KeyStore + IntegrationStore + EventStore + ErrorStore> Store for T {}

/// A request to deliver one event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DispatchMessage {
    pub event_id: String,
}

#[async_trait]
pub trait DispatchQueue: Send + Sync {
    async fn enqueue(&self, message: &DispatchMessage) -> Result<(), StoreError>;
}
