use async_trait::async_trait;
use iev_domain::ports::{DispatchMessage, DispatchQueue};
use iev_domain::StoreError;

/// The dispatch queue in AWS. SQS keeps each message until the dispatch
/// function deletes it; after too many receives it moves to the dead-letter queue.
#[derive(Clone)]
pub struct SqsQueue {
    client: aws_sdk_sqs::Client,
    queue_url: String,
}

impl SqsQueue {
    /// The longest SQS delays a new message.
    pub const MAX_DELAY: std::time::Duration = std::time::Duration::from_secs(900);

    pub fn new(client: aws_sdk_sqs::Client, queue_url: impl Into<String>) -> Self {
        SqsQueue {
            client,
            queue_url: queue_url.into(),
        }
    }

    pub fn client(&self) -> &aws_sdk_sqs::Client {
        &self.client
    }

    pub fn queue_url(&self) -> &str {
        &self.queue_url
    }

    /// Hides a received message for `delay` before SQS offers it again: the
    /// dispatch retry schedule, within SQS's 12-hour visibility limit.
    pub async fn postpone(
        &self,
        receipt_handle: &str,
        delay: std::time::Duration,
    ) -> Result<(), StoreError> {
        let seconds = delay.as_secs().clamp(1, 12 * 3600 - 1) as i32;
        self.client
            .change_message_visibility()
            .queue_url(&self.queue_url)
            .receipt_handle(receipt_handle)
            .visibility_timeout(seconds)
            .send()
            .await
            .map_err(|e| crate::sdk_error("ChangeMessageVisibility", e))?;
        Ok(())
    }

    /// Sends `message` again as a new message that SQS offers after `delay`
    /// (at most its 15-minute delay): a retry, or a message held back by an
    /// integration's bound or circuit, waits as a delayed message, not one in
    /// flight, and starts again at no receives, so that waiting never brings
    /// it closer to the dead-letter queue.
    pub async fn send_later(
        &self,
        message: &DispatchMessage,
        delay: std::time::Duration,
    ) -> Result<(), StoreError> {
        let body =
            serde_json::to_string(message).map_err(|e| StoreError::Internal(e.to_string()))?;
        let seconds = delay.as_secs_f64().ceil().clamp(1.0, 900.0) as i32;
        self.client
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(body)
            .set_message_group_id(message.application_id.clone())
            .delay_seconds(seconds)
            .send()
            .await
            .map_err(|e| crate::sdk_error("SendMessage", e))?;
        Ok(())
    }
}

#[async_trait]
impl DispatchQueue for SqsQueue {
    async fn enqueue(&self, message: &DispatchMessage) -> Result<(), StoreError> {
        let body =
            serde_json::to_string(message).map_err(|e| StoreError::Internal(e.to_string()))?;
        self.client
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(body)
            // SQS fair queues: on a standard queue the group is the tenant,
            // so one application's backlog does not hold up the others'
            // messages' dwell time (ordering and throughput stay standard).
            .set_message_group_id(message.application_id.clone())
            .send()
            .await
            .map_err(|e| crate::sdk_error("SendMessage", e))?;
        Ok(())
    }
}
