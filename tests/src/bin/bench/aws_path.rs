//! The AWS path beside the local runner: the ingest and dispatch functions'
//! handlers, called in this process over DynamoDB Local and the SQS server,
//! with this module in the places of API Gateway (it builds the requests) and
//! of Lambda's SQS event source (a poller loop that receives, invokes and
//! deletes). DynamoDB Local and moto are no model of DynamoDB's and SQS's
//! speed, so the figures are shown as a ratio to the local runner's of the
//! same run on the same machine, never as a forecast for AWS.

use super::{ms, vendor_stub, Row};
use aws_lambda_events::event::sqs::SqsEvent;
use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, Message};
use futures::StreamExt;
use hdrhistogram::Histogram;
use iev_aws::{DynamoStore, SqsQueue};
use iev_domain::auth::KeyHash;
use iev_domain::event::{EventStatus, EventType};
use iev_domain::integration::NotificationUrl;
use iev_domain::ports::{EventStore, IntegrationStore, NotWired};
use iev_domain::service::{Service, ServiceConfig};
use lambda_runtime::LambdaEvent;
use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tower::ServiceExt;

/// Rounds measured, each ingesting `ROUND` events and then draining them.
/// moto's SQS scans its whole queue on every call (its queue attributes and
/// visible messages are lists it walks), so a call costs more the longer the
/// backlog: with 500 queued messages its SendMessage rate is a third of an
/// empty queue's, and a backlog of 3,000 takes ingestion under 30 events/s.
/// Rounds keep the backlog short, so that the figure is this path's cost and
/// not the emulator's growth with the count chosen here.
const ROUNDS: usize = 8;
const ROUND: usize = 250;
/// A first round, not measured: it opens connections and fills each
/// instance's caches. Its events are delivered and checked like the rest.
const WARMUP: usize = 200;
/// Ingest function instances invoked at once, each one request at a time as
/// Lambda runs them.
const INGEST_INSTANCES: usize = 8;
/// Dispatch function instances, each fed batches of up to 10 messages by its
/// own poller. Each instance has its own per-integration bound (32 calls in
/// flight), which a batch of 10 never reaches: no event is held back.
const POLLERS: usize = 4;
/// The AWS path has stalled if it takes longer: the bench fails instead of waiting.
const LIMIT: Duration = Duration::from_secs(180);

/// What the AWS path measured, and the events it left unsettled.
pub struct AwsPath {
    pub ingest: Row,
    pub delivery: Row,
    /// Every event not COMPLETE after the drain, each with what was found.
    pub unsettled: Vec<String>,
}

/// One Lambda instance's service, assembled as `iev_aws::config::Assembly`
/// does in AWS but without the environment: its own caches, isolation lanes
/// and vendor connections. The store and queue clients are shared; on
/// loopback a client of each per instance would change nothing measured.
fn instance(store: &DynamoStore, queue: &SqsQueue) -> Arc<Service> {
    let outbound = iev_outbound::HttpOutbound::new(iev_outbound::OutboundConfig {
        // The vendor stub listens on loopback, which AWS's policy refuses.
        policy: iev_outbound::AddressPolicy::WITH_LOOPBACK,
        ..Default::default()
    })
    .expect("an HTTP client");
    // Event URLs are built from it; the vendor stub never fetches them.
    let mut config = ServiceConfig::new("https://iev.example".parse().expect("a URL"));
    config.admin_key = Some(KeyHash::of(super::ADMIN));
    Arc::new(Service {
        store: Arc::new(store.clone()),
        queue: Arc::new(queue.clone()),
        outbound: Arc::new(outbound),
        exports: Arc::new(NotWired("bench")),
        clock: Arc::new(iev_domain::clock::SystemClock),
        ids: Arc::new(iev_domain::clock::RandomIds),
        caches: Default::default(),
        config,
    })
}

/// `total` events posted to the ingest handler, one instance's router per
/// task, all at once; answers the time taken, each request's latency and the
/// accepted events' ids.
async fn ingest(
    instances: &[axum::Router],
    key: &str,
    total: usize,
) -> (Duration, Histogram<u64>, Vec<String>) {
    let body = serde_json::to_string(&iev_tests::fixtures::order_json("app-1")).expect("JSON");
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let tasks: Vec<_> = instances
        .iter()
        .map(|router| {
            let (router, body, key, next) =
                (router.clone(), body.clone(), key.to_owned(), next.clone());
            tokio::spawn(async move {
                let mut hist = Histogram::<u64>::new(3).unwrap();
                let mut ids = Vec::new();
                while next.fetch_add(1, Ordering::Relaxed) < total {
                    let request = axum::http::Request::post("/v1/events")
                        .header("authorization", format!("Bearer {key}"))
                        .header("content-type", "application/json")
                        .body(axum::body::Body::from(body.clone()))
                        .expect("a request");
                    let t = Instant::now();
                    let resp = router.clone().oneshot(request).await.expect("infallible");
                    let status = resp.status();
                    let answer = axum::body::to_bytes(resp.into_body(), usize::MAX)
                        .await
                        .expect("the answer read");
                    hist.record(t.elapsed().as_micros() as u64).unwrap();
                    assert_eq!(
                        status.as_u16(),
                        202,
                        "every event is accepted: {}",
                        String::from_utf8_lossy(&answer)
                    );
                    let accepted: serde_json::Value =
                        serde_json::from_slice(&answer).expect("a JSON answer");
                    ids.push(accepted["id"].as_str().expect("an event id").to_owned());
                }
                (hist, ids)
            })
        })
        .collect();
    let mut hist = Histogram::<u64>::new(3).unwrap();
    let mut ids = Vec::with_capacity(total);
    for t in tasks {
        let (h, i) = t.await.expect("an ingest task");
        hist.add(h).unwrap();
        ids.extend(i);
    }
    (started.elapsed(), hist, ids)
}

/// The event Lambda's SQS event source hands the function for `messages`.
fn sqs_event(messages: &[Message]) -> LambdaEvent<SqsEvent> {
    let records: Vec<serde_json::Value> = messages
        .iter()
        .map(|m| {
            serde_json::json!({
                "messageId": m.message_id(), "receiptHandle": m.receipt_handle(),
                "body": m.body(), "md5OfBody": m.md5_of_body(), "attributes": {},
                "messageAttributes": {}, "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:000000000000:bench",
                "awsRegion": "us-east-1"
            })
        })
        .collect();
    let payload: SqsEvent =
        serde_json::from_value(serde_json::json!({ "Records": records })).expect("an SQS event");
    LambdaEvent::new(payload, lambda_runtime::Context::default())
}

/// What one poller saw: each invocation's duration, when its last one ended,
/// how many messages its invocations were handed, how many they reported as
/// failures, and how many handled ones SQS did not delete.
struct Polled {
    invocations: Histogram<u64>,
    last: Option<Instant>,
    messages: usize,
    failures: usize,
    undeleted: usize,
}

/// Lambda's event source for one dispatch instance: receives up to 10
/// messages, invokes the handler with them, and deletes those it did not
/// report as failures (a failure stays hidden for its backoff, then comes
/// back). Stops once the vendor has seen `total` calls, or at `deadline`.
async fn poll(
    service: Arc<Service>,
    queue: SqsQueue,
    calls: Arc<AtomicUsize>,
    total: usize,
    deadline: Instant,
) -> Polled {
    let mut polled = Polled {
        invocations: Histogram::new(3).unwrap(),
        last: None,
        messages: 0,
        failures: 0,
        undeleted: 0,
    };
    while calls.load(Ordering::Relaxed) < total && Instant::now() < deadline {
        let received = iev_tests::aws::receive_messages(&queue, 1).await;
        let messages = received.as_slice();
        if messages.is_empty() {
            continue;
        }
        polled.messages += messages.len();
        let t = Instant::now();
        let response = iev_dispatch::handle(&service, &queue, sqs_event(messages))
            .await
            .expect("the dispatch handler answers");
        polled
            .invocations
            .record(t.elapsed().as_micros() as u64)
            .unwrap();
        let failed: HashSet<&str> = response
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.as_str())
            .collect();
        // Expected now and then, not a fault: moto sometimes hands one message
        // to two pollers at once (SQS delivers at least once too), and the
        // second finds the event leased and hands the message back.
        polled.failures += failed.len();
        let done: Vec<DeleteMessageBatchRequestEntry> = messages
            .iter()
            .filter(|m| !m.message_id().is_some_and(|id| failed.contains(id)))
            .enumerate()
            .map(|(i, m)| {
                DeleteMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .set_receipt_handle(m.receipt_handle().map(str::to_owned))
                    .build()
                    .expect("an id and a receipt handle")
            })
            .collect();
        if !done.is_empty() {
            let deleted = queue
                .client()
                .delete_message_batch()
                .queue_url(queue.queue_url())
                .set_entries(Some(done))
                .send()
                .await
                .expect("DeleteMessageBatch");
            // An undeleted message comes back after its visibility timeout
            // and finds its event settled: a cost the figure should show, not a fault.
            polled.undeleted += deleted.failed().len();
        }
        polled.last = Some(Instant::now());
    }
    polled
}

/// Every id whose event is not COMPLETE, with what was found instead.
async fn unsettled(store: &DynamoStore, ids: &[String]) -> Vec<String> {
    futures::stream::iter(ids)
        .map(|id| async move {
            match store.get_event(id).await {
                Ok(Some(e)) if e.status == EventStatus::Complete => None,
                Ok(Some(e)) => Some(format!("{id}: {:?}", e.status)),
                Ok(None) => Some(format!("{id}: not stored")),
                Err(e) => Some(format!("{id}: {e}")),
            }
        })
        .buffer_unordered(16)
        .filter_map(|found| async move { found })
        .collect()
        .await
}

/// The delivery figures of one or more drains.
struct Drained {
    busy: Duration,
    invocations: Histogram<u64>,
    messages: usize,
    failures: usize,
    undeleted: usize,
}

/// Drains the queue with one poller per dispatch instance until the vendor
/// has seen `total` calls in all; answers the time up to the end of the last
/// invocation (the pollers' last, empty long polls are no part of the work).
async fn drain(
    dispatchers: &[Arc<Service>],
    queue: &SqsQueue,
    calls: &Arc<AtomicUsize>,
    total: usize,
    deadline: Instant,
) -> Drained {
    let started = Instant::now();
    let pollers: Vec<_> = dispatchers
        .iter()
        .map(|service| {
            tokio::spawn(poll(
                service.clone(),
                queue.clone(),
                calls.clone(),
                total,
                deadline,
            ))
        })
        .collect();
    let mut drained = Drained {
        busy: Duration::ZERO,
        invocations: Histogram::new(3).unwrap(),
        messages: 0,
        failures: 0,
        undeleted: 0,
    };
    for p in pollers {
        let polled = p.await.expect("a poller");
        drained.invocations.add(&polled.invocations).unwrap();
        let last = polled.last.unwrap_or(started);
        drained.busy = drained.busy.max(last - started);
        drained.messages += polled.messages;
        drained.failures += polled.failures;
        drained.undeleted += polled.undeleted;
    }
    drained
}

/// A fresh table and queue; a round of `WARMUP` events, then `ROUNDS`
/// rounds of `ROUND`, each ingested through the ingest handler and then
/// drained through the dispatch handler to a vendor stub that answers
/// success at once. Last, every event's record is read back.
pub async fn bench() -> AwsPath {
    let deadline = Instant::now() + LIMIT;
    let store = iev_tests::aws::dynamo_store().await;
    let queue = iev_tests::aws::sqs_queue().await;
    let (notify, calls) = vendor_stub().await;
    let mut integration = iev_tests::fixtures::integration("app-1", "v-app-1");
    integration.notification_urls.insert(
        EventType::SubscriptionOrder,
        NotificationUrl::parse(&notify).expect("the stub's URL"),
    );
    store
        .save_integration(&integration, None)
        .await
        .expect("the integration is saved");
    let setup = instance(&store, &queue);
    let admin = setup.authenticate(Some(super::ADMIN)).await.expect("admin");
    let key = setup
        .create_key(&admin, br#"{"role": "marketplace"}"#)
        .await
        .expect("a marketplace key")
        .key;
    let ingesters: Vec<axum::Router> = (0..INGEST_INSTANCES)
        .map(|_| {
            iev_http::with_fallbacks(iev_ingest::router()).with_state(instance(&store, &queue))
        })
        .collect();
    let dispatchers: Vec<Arc<Service>> = (0..POLLERS).map(|_| instance(&store, &queue)).collect();

    let mut ids = Vec::with_capacity(WARMUP + ROUNDS * ROUND);
    let mut ingest_time = Duration::ZERO;
    let mut ingest_hist = Histogram::<u64>::new(3).unwrap();
    let mut delivery = Drained {
        busy: Duration::ZERO,
        invocations: Histogram::new(3).unwrap(),
        messages: 0,
        failures: 0,
        undeleted: 0,
    };
    for round in 0..=ROUNDS {
        let size = if round == 0 { WARMUP } else { ROUND };
        let Ok((took, hist, accepted)) =
            tokio::time::timeout_at(deadline.into(), ingest(&ingesters, &key, size)).await
        else {
            panic!(
                "the AWS path stalled: {} events ingested in {} s",
                ids.len(),
                LIMIT.as_secs()
            );
        };
        ids.extend(accepted);
        let drained = drain(&dispatchers, &queue, &calls, ids.len(), deadline).await;
        if round > 0 {
            ingest_time += took;
            ingest_hist.add(hist).unwrap();
            delivery.busy += drained.busy;
            delivery.invocations.add(drained.invocations).unwrap();
            delivery.messages += drained.messages;
            delivery.failures += drained.failures;
            delivery.undeleted += drained.undeleted;
        }
    }
    let measured = ROUNDS * ROUND;
    let vendor_calls = calls.load(Ordering::Relaxed);
    let unsettled = unsettled(&store, &ids).await;

    let rounds = format!("{ROUNDS} rounds of {ROUND} (after {WARMUP} unmeasured)");
    AwsPath {
        ingest: Row {
            what: "ingest, AWS path".into(),
            rate: Some(measured as f64 / ingest_time.as_secs_f64()),
            p50_ms: ms(&ingest_hist, 0.5),
            p99_ms: ms(&ingest_hist, 0.99),
            note: format!(
                "{measured} events to the ingest handler in process, {rounds}, \
                 {INGEST_INSTANCES} instances at once"
            ),
        },
        delivery: Row {
            what: "delivery, AWS path".into(),
            rate: Some(measured as f64 / delivery.busy.as_secs_f64()),
            p50_ms: ms(&delivery.invocations, 0.5),
            p99_ms: ms(&delivery.invocations, 0.99),
            note: format!(
                "each round's backlog drained by {POLLERS} pollers (receive up to 10, invoke \
                 the dispatch handler, delete); latency per invocation ({:.1} messages each); \
                 {vendor_calls} vendor calls for {} events; {} batch item failures, {} not deleted",
                delivery.messages as f64 / delivery.invocations.len().max(1) as f64,
                ids.len(),
                delivery.failures,
                delivery.undeleted,
            ),
        },
        unsettled,
    }
}

/// AWS path / local runner: far below 1 on the emulators, so to two
/// significant figures and as one in so many.
fn ratio(aws: f64, local: f64) -> String {
    let r = aws / local;
    if !r.is_finite() || r <= 0.0 {
        return iev_tests::table::figure(f64::NAN, 0);
    }
    let decimals = (1 - r.log10().floor() as i32).max(0) as usize;
    format!("{r:.decimals$} (1/{:.0})", 1.0 / r)
}

/// The AWS path's figures beside the local runner's from the same run.
pub fn print_beside(local_ingest: &Row, local_delivery: &Row, aws: &AwsPath) {
    use iev_tests::table::{figure, Align};
    let rate = |r: &Row| r.rate.unwrap_or(f64::NAN);
    let cells: Vec<Vec<String>> = [
        ("ingest", local_ingest, &aws.ingest),
        ("delivery", local_delivery, &aws.delivery),
    ]
    .into_iter()
    .map(|(what, local, aws)| {
        vec![
            what.to_owned(),
            figure(rate(local), 0),
            figure(rate(aws), 0),
            ratio(rate(aws), rate(local)),
            figure(aws.p50_ms, 2),
            figure(aws.p99_ms, 2),
            aws.note.clone(),
        ]
    })
    .collect();
    iev_tests::table::print(
        &[
            ("AWS path beside the local runner", Align::Left),
            ("local /s", Align::Right),
            ("AWS path /s", Align::Right),
            ("AWS / local", Align::Right),
            ("AWS p50 ms", Align::Right),
            ("AWS p99 ms", Align::Right),
            (
                "conditions (AWS path; DynamoDB Local and moto's SQS)",
                Align::Left,
            ),
        ],
        &cells,
    );
}
