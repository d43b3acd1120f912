use async_trait::async_trait;
use iev_domain::ports::{DispatchMessage, DispatchQueue};
use iev_domain::StoreError;
use tokio::sync::mpsc;

/// An in-process queue. It holds nothing durable: the store is the outbox, and
/// the local runner re-queues every event still PENDING when it starts.
#[derive(Clone)]
pub struct LocalQueue {
    tx: mpsc::UnboundedSender<DispatchMessage>,
}

pub struct LocalQueueReceiver {
    rx: mpsc::UnboundedReceiver<DispatchMessage>,
}

impl LocalQueue {
    pub fn new() -> (LocalQueue, LocalQueueReceiver) {
        let (tx, rx) = mpsc::unbounded_channel();
        (LocalQueue { tx }, LocalQueueReceiver { rx })
    }
}

impl LocalQueueReceiver {
    /// The next message, or `None` once every sender is gone.
    pub async fn recv(&mut self) -> Option<DispatchMessage> {
        self.rx.recv().await
    }

    pub fn try_recv(&mut self) -> Option<DispatchMessage> {
        self.rx.try_recv().ok()
    }
}

#[async_trait]
impl DispatchQueue for LocalQueue {
    async fn enqueue(&self, message: &DispatchMessage) -> Result<(), StoreError> {
        self.tx
            .send(message.clone())
            .map_err(|_| StoreError::Unavailable("the dispatch worker has stopped".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_queued_message_comes_out_of_the_receiver_in_order() {
        let (q, mut rx) = LocalQueue::new();
        for id in ["a", "b"] {
            q.enqueue(&DispatchMessage::new(id)).await.unwrap();
        }
        assert_eq!(rx.recv().await.unwrap().event_id, "a");
        assert_eq!(rx.recv().await.unwrap().event_id, "b");
    }

    #[tokio::test]
    async fn enqueueing_after_the_worker_stopped_is_reported_unavailable() {
        let (q, rx) = LocalQueue::new();
        drop(rx);
        let err = q.enqueue(&DispatchMessage::new("a")).await.unwrap_err();
        assert!(matches!(err, StoreError::Unavailable(_)));
    }
}
