//! A store whose delivery-settling writes fail for a while, as a full disk or
//! a throttled table makes them fail; everything else goes to the store inside.

use async_trait::async_trait;
use iev_domain::auth::{ApiKeyRecord, KeyHash};
use iev_domain::event::{Event, EventPage, EventQuery};
use iev_domain::integration::{ApplicationId, Integration};
use iev_domain::ports::*;
use iev_domain::record::{Alert, ErrorPage, ErrorQuery, ErrorRecord, SummaryRow};
use iev_domain::StoreError;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

pub struct FlakySettles {
    pub inner: Arc<dyn Store>,
    /// How many more `finish_delivery` calls answer Unavailable.
    pub failing: AtomicUsize,
    /// How many `finish_delivery` calls were made.
    pub settles: AtomicUsize,
    /// How each settle moved its integration's count.
    pub counts: std::sync::Mutex<Vec<FailureCount>>,
}

impl FlakySettles {
    pub fn new(inner: Arc<dyn Store>, failing: usize) -> Self {
        FlakySettles {
            inner,
            failing: AtomicUsize::new(failing),
            settles: AtomicUsize::new(0),
            counts: Default::default(),
        }
    }
}

#[async_trait]
impl KeyStore for FlakySettles {
    async fn insert_key(&self, key: &ApiKeyRecord) -> Result<(), StoreError> {
        self.inner.insert_key(key).await
    }
    async fn get_key(&self, hash: &KeyHash) -> Result<Option<ApiKeyRecord>, StoreError> {
        self.inner.get_key(hash).await
    }
    async fn list_keys(&self) -> Result<Vec<ApiKeyRecord>, StoreError> {
        self.inner.list_keys().await
    }
    async fn revoke_key(
        &self,
        key_id: &str,
        at: chrono::DateTime<chrono::Utc>,
    ) -> Result<Option<ApiKeyRecord>, StoreError> {
        self.inner.revoke_key(key_id, at).await
    }
    async fn touch_key(
        &self,
        hash: &KeyHash,
        at: chrono::DateTime<chrono::Utc>,
    ) -> Result<(), StoreError> {
        self.inner.touch_key(hash, at).await
    }
}

#[async_trait]
impl IntegrationStore for FlakySettles {
    async fn get_integration(&self, id: &ApplicationId) -> Result<Option<Integration>, StoreError> {
        self.inner.get_integration(id).await
    }
    async fn save_integration(
        &self,
        i: &Integration,
        expected: Option<u64>,
    ) -> Result<(), StoreError> {
        self.inner.save_integration(i, expected).await
    }
    async fn set_integration_enabled(
        &self,
        id: &ApplicationId,
        enabled: bool,
        at: chrono::DateTime<chrono::Utc>,
    ) -> Result<bool, StoreError> {
        self.inner.set_integration_enabled(id, enabled, at).await
    }
    async fn list_integrations(
        &self,
        query: &IntegrationQuery,
    ) -> Result<IntegrationPage, StoreError> {
        self.inner.list_integrations(query).await
    }
}

#[async_trait]
impl EventStore for FlakySettles {
    async fn insert_event(
        &self,
        event: &Event,
        idempotency: Option<&IdempotencyRecord>,
    ) -> Result<InsertOutcome, StoreError> {
        self.inner.insert_event(event, idempotency).await
    }
    async fn remove_event(
        &self,
        event: &Event,
        idempotency: Option<&IdempotencyRecord>,
    ) -> Result<(), StoreError> {
        self.inner.remove_event(event, idempotency).await
    }
    async fn get_event(&self, id: &str) -> Result<Option<Event>, StoreError> {
        self.inner.get_event(id).await
    }
    async fn update_event(&self, event: &Event, expected: u64) -> Result<(), StoreError> {
        self.inner.update_event(event, expected).await
    }
    async fn finish_delivery(
        &self,
        event: &Event,
        expected: u64,
        error: Option<&ErrorRecord>,
        count: FailureCount,
    ) -> Result<(), StoreError> {
        self.settles.fetch_add(1, Ordering::SeqCst);
        self.counts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(count);
        let failing = self.failing.load(Ordering::SeqCst);
        if failing > 0 {
            self.failing.store(failing - 1, Ordering::SeqCst);
            return Err(StoreError::Unavailable("the disk is full".into()));
        }
        self.inner
            .finish_delivery(event, expected, error, count)
            .await
    }
    async fn get_event_by_token(&self, token: &str) -> Result<Option<Event>, StoreError> {
        self.inner.get_event_by_token(token).await
    }
    async fn query_events(&self, query: &EventQuery) -> Result<EventPage, StoreError> {
        self.inner.query_events(query).await
    }
}

#[async_trait]
impl ErrorStore for FlakySettles {
    async fn insert_error(&self, record: &ErrorRecord) -> Result<(), StoreError> {
        self.inner.insert_error(record).await
    }
    async fn get_error(&self, id: &str) -> Result<Option<ErrorRecord>, StoreError> {
        self.inner.get_error(id).await
    }
    async fn update_error(&self, record: &ErrorRecord, expected: u64) -> Result<(), StoreError> {
        self.inner.update_error(record, expected).await
    }
    async fn query_errors(&self, query: &ErrorQuery) -> Result<ErrorPage, StoreError> {
        self.inner.query_errors(query).await
    }
    async fn summarize_errors(&self, query: &ErrorQuery) -> Result<Vec<SummaryRow>, StoreError> {
        self.inner.summarize_errors(query).await
    }
}

#[async_trait]
impl AlertStore for FlakySettles {
    async fn insert_alert(&self, alert: &Alert) -> Result<bool, StoreError> {
        self.inner.insert_alert(alert).await
    }
    async fn get_alert(&self, id: &str) -> Result<Option<Alert>, StoreError> {
        self.inner.get_alert(id).await
    }
}
