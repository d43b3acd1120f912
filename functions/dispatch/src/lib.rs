//! The SQS-triggered dispatch function. Each message names one event; the
//! domain delivers it. A retry is scheduled by hiding the message for the
//! backoff delay and reporting it as a batch item failure, so SQS offers it
//! again then; after `maxReceiveCount` receives it moves to the dead-letter queue.
//! An event its integration's bound or circuit holds back (see
//! `iev_domain::isolation`) is sent again as a new, delayed message instead,
//! so that waiting for a vendor never counts as a receive.

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
        Ok(DispatchOutcome::RetryAfter(delay)) => {
            if let Some(receipt) = &message.receipt_handle {
                if let Err(e) = queue.postpone(receipt, delay).await {
                    tracing::warn!(event_id = %parsed.event_id, error = %e, "could not postpone; SQS's own visibility timeout applies");
                }
            }
            false
        }
        Ok(DispatchOutcome::Deferred(delay)) => match queue.send_later(&parsed, delay).await {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!(event_id = %parsed.event_id, error = %e, "could not send a held-back message again; it comes back as a receive");
                if let Some(receipt) = &message.receipt_handle {
                    let _ = queue.postpone(receipt, delay).await;
                }
                false
            }
        },
        Err(e) => {
            tracing::error!(event_id = %parsed.event_id, error = %e, "dispatch failed; the message will come back");
            false
        }
    }
}
