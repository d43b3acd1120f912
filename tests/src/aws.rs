//! The AWS stand-ins that `tests/run.sh` starts: DynamoDB Local and moto's SQS.

use aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::error::BoxError;
use iev_aws::{create_table, DynamoStore, S3Exports, SqsQueue};
use std::sync::{Arc, Mutex};

/// Panics with directions when the servers are not there: these suites are never skipped.
pub fn require_services() {
    assert!(
        std::env::var("AWS_ENDPOINT_URL_DYNAMODB").is_ok()
            && std::env::var("AWS_ENDPOINT_URL_SQS").is_ok(),
        "the AWS adapter tests need DynamoDB Local and an SQS server: run them with tests/run.sh, \
         which installs and starts both"
    );
}

pub async fn sdk_config() -> aws_config::SdkConfig {
    require_services();
    iev_aws::config::sdk_config().await
}

/// A DynamoDB store over a fresh table of its own.
pub async fn dynamo_store() -> DynamoStore {
    dynamo_store_logged().await.0
}

/// The DynamoDB operations a client sent, in order (`Query`, `GetItem`, ...),
/// and in how many round trips: a request sent while none is in flight
/// starts a new round trip; one sent while others are in flight, side by
/// side with them, shares theirs.
#[derive(Debug, Clone, Default)]
pub struct RequestLog(Arc<Mutex<Sent>>);

#[derive(Debug, Default)]
struct Sent {
    operations: Vec<String>,
    round_trips: usize,
    in_flight: usize,
}

impl RequestLog {
    fn sent(&self) -> std::sync::MutexGuard<'_, Sent> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The operations logged so far; the log starts again empty.
    pub fn take(&self) -> Vec<String> {
        self.take_with_round_trips().0
    }

    /// The same, and how many round trips they took.
    pub fn take_with_round_trips(&self) -> (Vec<String>, usize) {
        let mut sent = self.sent();
        let round_trips = std::mem::take(&mut sent.round_trips);
        (std::mem::take(&mut sent.operations), round_trips)
    }
}

impl Intercept for RequestLog {
    fn name(&self) -> &'static str {
        "RequestLog"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        // DynamoDB's JSON protocol names the operation in this header.
        let operation = context
            .request()
            .headers()
            .get("x-amz-target")
            .and_then(|t| t.rsplit('.').next())
            .unwrap_or("unknown");
        let mut sent = self.sent();
        if sent.in_flight == 0 {
            sent.round_trips += 1;
        }
        sent.in_flight += 1;
        sent.operations.push(operation.to_owned());
        Ok(())
    }

    fn read_after_transmit(
        &self,
        _context: &aws_sdk_dynamodb::config::interceptors::BeforeDeserializationInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let mut sent = self.sent();
        sent.in_flight = sent.in_flight.saturating_sub(1);
        Ok(())
    }
}

/// A DynamoDB store over a fresh table, with a log of every request it sends.
pub async fn dynamo_store_logged() -> (DynamoStore, RequestLog) {
    let log = RequestLog::default();
    let config = aws_sdk_dynamodb::config::Builder::from(&sdk_config().await)
        .interceptor(log.clone())
        .build();
    let client = aws_sdk_dynamodb::Client::from_conf(config);
    let table = format!("iev-test-{}", uuid::Uuid::new_v4());
    create_table(&client, &table)
        .await
        .expect("the table is created");
    log.take();
    (DynamoStore::new(client, table), log)
}

/// An SQS queue of its own.
pub async fn sqs_queue() -> SqsQueue {
    let client = aws_sdk_sqs::Client::new(&sdk_config().await);
    let name = format!("iev-test-{}", uuid::Uuid::new_v4());
    let out = client
        .create_queue()
        .queue_name(name)
        .send()
        .await
        .expect("the queue is created");
    SqsQueue::new(client, out.queue_url().expect("a queue url"))
}

/// Up to 10 messages from `queue`, waiting at most `wait_seconds` for the
/// first, each with its system attributes (receive count, group).
pub async fn receive_messages(
    queue: &SqsQueue,
    wait_seconds: i32,
) -> Vec<aws_sdk_sqs::types::Message> {
    queue
        .client()
        .receive_message()
        .queue_url(queue.queue_url())
        .max_number_of_messages(10)
        .wait_time_seconds(wait_seconds)
        .message_system_attribute_names(aws_sdk_sqs::types::MessageSystemAttributeName::All)
        .send()
        .await
        .expect("ReceiveMessage")
        .messages
        .unwrap_or_default()
}

/// Exports to a fresh bucket of their own; answers the client and bucket to read them back.
pub async fn s3_exports() -> (S3Exports, aws_sdk_s3::Client, String) {
    // moto serves buckets by path, not by virtual host.
    let config = aws_sdk_s3::config::Builder::from(&sdk_config().await)
        .force_path_style(true)
        .build();
    let client = aws_sdk_s3::Client::from_conf(config);
    let bucket = format!("iev-test-{}", uuid::Uuid::new_v4());
    client
        .create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .expect("the bucket is created");
    (S3Exports::new(client.clone(), &bucket), client, bucket)
}
