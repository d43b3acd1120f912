//! The SQS-triggered dispatch function. Each message names one event; the
//! domain delivers it. A retry (the vendor busy or unreachable) and an event
//! its integration's bound or circuit holds back (see
//! `iev_domain::isolation`) are sent again as a new, delayed message, and
//! the one received is acknowledged: a message waiting in its visibility
//! timeout counts toward the queue's 120,000 messages in flight, and a
//! vendor failing fast at thousands of events a second would reach that in
//! seconds and stop delivery to every vendor (docs/SCALE.md). Only a wait
//! past SQS's 15-minute delay hides the message instead. A message whose
//! handling fails (the store unreachable, a crash) comes back after its
//! visibility timeout; after `maxReceiveCount` receives it moves to the
//! dead-letter queue.

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use iev_aws::SqsQueue;
use iev_domain::dispatch::DispatchOutcome;
use iev_domain::ports::DispatchMessage;
use iev_domain::service::Service;
use lambda_runtime::LambdaEvent;
use tracing::Instrument;

pub async fn handle(
    service: &Service,
    queue: &SqsQueue,
    event: LambdaEvent<SqsEvent>,
) -> Result<SqsBatchResponse, lambda_runtime::Error> {
    let results = futures::future::join_all(
        event
            .payload
            .records
            .iter()
            .map(|m| async move { (m, process(service, queue, m).await) }),
    )
    .await;
    Ok(iev_aws::batch_response(
        results
            .into_iter()
            .filter(|(_, done)| !done)
            .filter_map(|(m, _)| m.message_id.clone()),
    ))
}

/// Whether the message is done with (true) or must come back (false).
async fn process(service: &Service, queue: &SqsQueue, message: &SqsMessage) -> bool {
    let Some(parsed) = message
        .body
        .as_deref()
        .and_then(|b| serde_json::from_str::<DispatchMessage>(b).ok())
    else {
        // Left to fail until the dead-letter queue takes it, where it is logged.
        tracing::error!(message_id = ?message.message_id, "unreadable dispatch message");
        return false;
    };
    let span = tracing::info_span!(
        "delivery",
        event_id = %parsed.event_id,
        application_id = tracing::field::Empty
    );
    match service.handle_message(&parsed).instrument(span).await {
        Ok(DispatchOutcome::Done) => true,
        Ok(DispatchOutcome::RetryAfter(delay) | DispatchOutcome::Deferred(delay))
            if delay <= SqsQueue::MAX_DELAY =>
        {
            // The round a recovery message asked for has started by now.
            let again = DispatchMessage {
                redeliver_after: None,
                ..parsed.clone()
            };
            match queue.send_later(&again, delay).await {
                Ok(()) => true,
                Err(e) => {
                    tracing::warn!(event_id = %parsed.event_id, error = %e, "could not send the message again; it comes back as a receive");
                    postpone(queue, message, delay).await
                }
            }
        }
        Ok(DispatchOutcome::RetryAfter(delay) | DispatchOutcome::Deferred(delay)) => {
            postpone(queue, message, delay).await
        }
        Err(e) => {
            tracing::error!(event_id = %parsed.event_id, error = %e, "dispatch failed; the message will come back");
            false
        }
    }
}

/// Hides the received message for `delay`, and leaves it to come back.
async fn postpone(queue: &SqsQueue, message: &SqsMessage, delay: std::time::Duration) -> bool {
    if let Some(receipt) = &message.receipt_handle {
        if let Err(e) = queue.postpone(receipt, delay).await {
            tracing::warn!(message_id = ?message.message_id, error = %e, "could not postpone; SQS's own visibility timeout applies");
        }
    }
    false
}
