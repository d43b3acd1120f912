//! AWS adapters: the DynamoDB store, the SQS dispatch queue, S3 exports.

pub mod config;
mod dynamo;
pub mod logging;
mod s3;
mod sqs;

pub use dynamo::{create_table, indexes, layout, shard, DynamoStore, SHARDS};
pub use s3::S3Exports;
pub use sqs::SqsQueue;

use iev_domain::StoreError;

/// Maps an SDK failure to the domain's words: network trouble and throttling are
/// worth retrying (`Unavailable`), the rest is a bug or misconfiguration.
pub(crate) fn sdk_error<E, R>(op: &str, e: aws_sdk_dynamodb::error::SdkError<E, R>) -> StoreError
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    use aws_sdk_dynamodb::error::SdkError;
    let detail = format!("{op}: {}", aws_sdk_dynamodb::error::DisplayErrorContext(&e));
    match &e {
        SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) => StoreError::Unavailable(detail),
        SdkError::ServiceError(s) => match s.err().code() {
            Some(
                "ProvisionedThroughputExceededException"
                | "ThrottlingException"
                | "RequestLimitExceeded"
                | "InternalServerError"
                | "ServiceUnavailable"
                | "TransactionConflictException",
            ) => StoreError::Unavailable(detail),
            _ => StoreError::Internal(detail),
        },
        _ => StoreError::Internal(detail),
    }
}

/// The answer to an SQS-triggered invocation: the messages that must come back.
pub fn batch_response(
    failed_message_ids: impl IntoIterator<Item = String>,
) -> aws_lambda_events::event::sqs::SqsBatchResponse {
    use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse};
    // Both types are non-exhaustive: built from their defaults, field by field.
    let mut response = SqsBatchResponse::default();
    response.batch_item_failures = failed_message_ids
        .into_iter()
        .map(|id| {
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = id;
            failure
        })
        .collect();
    response
}
