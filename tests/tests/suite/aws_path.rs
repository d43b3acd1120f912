//! The AWS path: the ingest function's handler over DynamoDB Local and SQS.

use aws_lambda_events::event::sqs::SqsEvent;
use aws_sdk_sqs::types::Message;
use axum::body::Body;
use http_body_util::BodyExt;
use iev_aws::SqsQueue;
use iev_domain::clock::{FixedClock, SequentialIds};
use iev_domain::event::{EventStatus, EventType};
use iev_domain::integration::NotificationUrl;
use iev_domain::ports::ErrorStore;
use iev_domain::ports::{DispatchMessage, DispatchQueue, EventStore, IntegrationStore};
use iev_domain::record::ErrorCode;
use iev_domain::service::{Service, ServiceConfig};
use iev_tests::aws::{dynamo_store, receive_messages, sqs_queue};
use iev_tests::fixtures::{at, integration, order_json};
use iev_tests::vendor::{Reply, Vendor};
use lambda_runtime::LambdaEvent;
use std::sync::Arc;
use tower::ServiceExt;

async fn service(queue: SqsQueue) -> (Arc<Service>, iev_aws::DynamoStore) {
    service_with(queue, integration("app-1", "v-1")).await
}

async fn service_with(
    queue: SqsQueue,
    integration: iev_domain::integration::Integration,
) -> (Arc<Service>, iev_aws::DynamoStore) {
    service_over(dynamo_store().await, queue, integration).await
}

async fn service_over(
    store: iev_aws::DynamoStore,
    queue: SqsQueue,
    integration: iev_domain::integration::Integration,
) -> (Arc<Service>, iev_aws::DynamoStore) {
    service_configured(store, queue, integration, |_| {}).await
}

async fn service_configured(
    store: iev_aws::DynamoStore,
    queue: SqsQueue,
    integration: iev_domain::integration::Integration,
    configure: impl FnOnce(&mut ServiceConfig),
) -> (Arc<Service>, iev_aws::DynamoStore) {
    store.save_integration(&integration, None).await.unwrap();
    let outbound = iev_outbound::HttpOutbound::new(iev_outbound::OutboundConfig {
        policy: iev_outbound::AddressPolicy::WITH_LOOPBACK,
        timeout: std::time::Duration::from_secs(2),
        ..Default::default()
    })
    .unwrap();
    let mut config = ServiceConfig::new("https://iev.example".parse().unwrap());
    config.dispatch.base_delay = std::time::Duration::from_millis(10);
    config.dispatch.max_attempts = 3;
    configure(&mut config);
    let service = Arc::new(Service {
        store: Arc::new(store.clone()),
        queue: Arc::new(queue),
        outbound: Arc::new(outbound),
        exports: Arc::new(iev_tests::aws::s3_exports().await.0),
        clock: Arc::new(FixedClock::new(at(0))),
        ids: Arc::new(SequentialIds::default()),
        caches: Default::default(),
        config,
    });
    service.ensure_admin_key("iev_admin").await.unwrap();
    (service, store)
}

async fn receive(queue: &SqsQueue) -> Vec<DispatchMessage> {
    receive_messages(queue, 1)
        .await
        .iter()
        .map(|m| serde_json::from_str(m.body().unwrap()).unwrap())
        .collect()
}

fn post_event(body: serde_json::Value) -> axum::http::Request<Body> {
    axum::http::Request::post("/v1/events")
        .header("authorization", "Bearer iev_admin")
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .unwrap()
}

fn router(service: Arc<Service>) -> axum::Router {
    iev_http::with_fallbacks(iev_ingest::router()).with_state(service)
}

#[tokio::test]
async fn a_message_sent_to_sqs_is_received_intact() {
    let queue = sqs_queue().await;
    let message = DispatchMessage::new("e-1");
    queue.enqueue(&message).await.unwrap();
    assert_eq!(receive(&queue).await, vec![message]);
}

#[tokio::test]
async fn the_ingest_handler_stores_the_event_in_dynamodb_and_queues_it_in_sqs() {
    let queue = sqs_queue().await;
    let (service, store) = service(queue.clone()).await;
    let resp = router(service)
        .oneshot(post_event(order_json("app-1")))
        .await
        .unwrap();
    assert_eq!(resp.status(), 202);
    let body: serde_json::Value =
        serde_json::from_slice(&resp.into_body().collect().await.unwrap().to_bytes()).unwrap();
    let id = body["id"].as_str().unwrap();
    let stored = store
        .get_event(id)
        .await
        .unwrap()
        .expect("the event is stored");
    assert_eq!(stored.token, body["token"].as_str().unwrap());
    let received = receive_messages(&queue, 1).await;
    let message = received.first().expect("a dispatch message");
    let queued = DispatchMessage {
        application_id: Some("app-1".into()),
        ..DispatchMessage::new(id)
    };
    assert_eq!(
        serde_json::from_str::<DispatchMessage>(message.body().unwrap()).unwrap(),
        queued
    );
    // The application is the message's group: SQS fair queues keep one
    // application's backlog from holding up the others' messages.
    let group = message
        .attributes()
        .and_then(|a| a.get(&aws_sdk_sqs::types::MessageSystemAttributeName::MessageGroupId));
    assert_eq!(group.map(String::as_str), Some("app-1"));
}

#[tokio::test]
async fn an_api_gateway_request_reaches_the_ingest_handler_through_lambda_http() {
    let queue = sqs_queue().await;
    let (service, _store) = service(queue.clone()).await;
    let fixture = serde_json::json!({
        "version": "2.0",
        "routeKey": "POST /v1/events",
        "rawPath": "/v1/events",
        "rawQueryString": "",
        "headers": {"authorization": "Bearer iev_admin", "content-type": "application/json"},
        "requestContext": {
            "accountId": "123456789012", "apiId": "api", "domainName": "iev.example",
            "domainPrefix": "iev", "http": {"method": "POST", "path": "/v1/events",
            "protocol": "HTTP/1.1", "sourceIp": "192.0.2.1", "userAgent": "test"},
            "requestId": "r-1", "routeKey": "POST /v1/events", "stage": "$default",
            "time": "22/Nov/2026:12:00:00 +0000", "timeEpoch": 1795000000000i64
        },
        "body": order_json("app-1").to_string(),
        "isBase64Encoded": false
    });
    let request = lambda_http::request::from_str(&fixture.to_string()).unwrap();
    let resp = router(service).oneshot(request).await.unwrap();
    assert_eq!(resp.status(), 202);
    assert_eq!(receive(&queue).await.len(), 1);
}

#[tokio::test]
async fn when_sqs_cannot_be_reached_the_event_is_not_kept_and_the_answer_is_503() {
    let config = iev_tests::aws::sdk_config().await;
    let unreachable = aws_sdk_sqs::config::Builder::from(&config)
        .endpoint_url("http://127.0.0.1:1")
        .build();
    let queue = SqsQueue::new(
        aws_sdk_sqs::Client::from_conf(unreachable),
        "http://127.0.0.1:1/000000000000/dispatch",
    );
    let (service, store) = service(queue).await;
    let resp = router(service)
        .oneshot(post_event(order_json("app-1")))
        .await
        .unwrap();
    assert_eq!(resp.status(), 503);
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    assert!(!String::from_utf8_lossy(&body).contains("127.0.0.1"));
    // SequentialIds numbered the event id-1.
    assert_eq!(store.get_event("id-1").await.unwrap(), None);
}

/// A vendor that answers without fetching (the AWS tests' public URL is not served).
async fn vendor(script: impl Fn(usize) -> Reply + Send + Sync + 'static) -> Vendor {
    Vendor::start("app-1-key", "app-1-secret", move |n, _| Reply {
        fetch_event: false,
        ..script(n)
    })
    .await
}

fn integration_for(vendor: &Vendor) -> iev_domain::integration::Integration {
    let mut i = integration("app-1", "v-1");
    let url = NotificationUrl::parse(&vendor.notification_url()).unwrap();
    i.notification_urls
        .insert(EventType::SubscriptionOrder, url);
    i
}

/// Ingests one event through the handler and receives its SQS message.
async fn ingest_and_receive(service: &Arc<Service>, queue: &SqsQueue) -> (String, Message) {
    let resp = router(service.clone())
        .oneshot(post_event(order_json("app-1")))
        .await
        .unwrap();
    assert_eq!(resp.status(), 202);
    let body: serde_json::Value =
        serde_json::from_slice(&resp.into_body().collect().await.unwrap().to_bytes()).unwrap();
    let message = receive_messages(queue, 1)
        .await
        .first()
        .expect("a dispatch message")
        .clone();
    (body["id"].as_str().unwrap().to_owned(), message)
}

/// How many times SQS has handed out `message` (received with its attributes).
fn receive_count(message: &Message) -> Option<String> {
    message
        .attributes()
        .and_then(|a| {
            a.get(&aws_sdk_sqs::types::MessageSystemAttributeName::ApproximateReceiveCount)
        })
        .cloned()
}

/// The event SQS hands the function for `messages`.
fn sqs_event(messages: &[&Message]) -> LambdaEvent<SqsEvent> {
    let records: Vec<serde_json::Value> = messages
        .iter()
        .map(|m| {
            serde_json::json!({
                "messageId": m.message_id(), "receiptHandle": m.receipt_handle(),
                "body": m.body(), "md5OfBody": "", "attributes": {}, "messageAttributes": {},
                "eventSource": "aws:sqs", "eventSourceARN": "arn:aws:sqs:us-east-1:000000000000:q",
                "awsRegion": "us-east-1"
            })
        })
        .collect();
    let payload: SqsEvent =
        serde_json::from_value(serde_json::json!({ "Records": records })).unwrap();
    LambdaEvent::new(payload, lambda_runtime::Context::default())
}

fn failed_ids(response: &aws_lambda_events::event::sqs::SqsBatchResponse) -> Vec<String> {
    response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.clone())
        .collect()
}

#[tokio::test]
async fn a_message_from_sqs_is_delivered_and_its_failure_recorded_once_under_redelivery() {
    let vendor = vendor(|_| Reply::error("ACCOUNT_NOT_FOUND", "no account")).await;
    let queue = sqs_queue().await;
    let (service, store) = service_with(queue.clone(), integration_for(&vendor)).await;
    let (id, message) = ingest_and_receive(&service, &queue).await;
    let response = iev_dispatch::handle(&service, &queue, sqs_event(&[&message]))
        .await
        .unwrap();
    assert!(failed_ids(&response).is_empty());
    let event = store.get_event(&id).await.unwrap().unwrap();
    assert_eq!(event.status, EventStatus::Failed);
    let record = store.get_error(&format!("{id}.1")).await.unwrap().unwrap();
    assert_eq!(record.error_code, ErrorCode::AccountNotFound);
    // SQS delivers at least once: the same message, twice more, even at once.
    let (a, b) = tokio::join!(
        iev_dispatch::handle(&service, &queue, sqs_event(&[&message])),
        iev_dispatch::handle(&service, &queue, sqs_event(&[&message])),
    );
    assert!(failed_ids(&a.unwrap()).is_empty());
    assert!(failed_ids(&b.unwrap()).is_empty());
    assert_eq!(vendor.calls().len(), 1, "the vendor is called once");
    let again = store.get_event(&id).await.unwrap().unwrap();
    assert_eq!(again.attempts, event.attempts, "no second attempt entry");
    assert_eq!(
        store.get_error(&format!("{id}.1")).await.unwrap(),
        Some(record)
    );
    let integration = store
        .get_integration(&iev_tests::fixtures::app("app-1"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(integration.successive_failures, 1, "counted once");
}

/// A retry waits as a new, delayed message, not as the received one hidden
/// in flight: SQS allows a queue 120,000 messages in flight, which a vendor
/// failing fast under load would fill, stopping delivery to every vendor.
#[tokio::test]
async fn a_transient_failure_is_retried_as_a_new_delayed_message_and_the_received_one_acknowledged()
{
    let vendor = vendor(|n| {
        if n == 0 {
            Reply::raw(503, "busy")
        } else {
            Reply::success()
        }
    })
    .await;
    let queue = sqs_queue().await;
    let (service, store) = service_with(queue.clone(), integration_for(&vendor)).await;
    let (id, message) = ingest_and_receive(&service, &queue).await;
    let response = iev_dispatch::handle(&service, &queue, sqs_event(&[&message]))
        .await
        .unwrap();
    assert!(failed_ids(&response).is_empty(), "the received one is done");
    let event = store.get_event(&id).await.unwrap().unwrap();
    assert_eq!(event.status, EventStatus::Pending);
    assert_eq!(event.transient_failures, 1);
    let again = receive_messages(&queue, 5)
        .await
        .first()
        .expect("the retry's message")
        .clone();
    assert_ne!(again.message_id(), message.message_id());
    assert_eq!(
        receive_count(&again).as_deref(),
        Some("1"),
        "a new message, never received before"
    );
    let response = iev_dispatch::handle(&service, &queue, sqs_event(&[&again]))
        .await
        .unwrap();
    assert!(failed_ids(&response).is_empty());
    let event = store.get_event(&id).await.unwrap().unwrap();
    assert_eq!(event.status, EventStatus::Complete);
    assert_eq!(event.attempts.len(), 2);
}

#[tokio::test]
async fn a_concurrent_redelivery_waits_for_the_lease_instead_of_calling_the_vendor_again() {
    let vendor = vendor(|_| Reply {
        delay: std::time::Duration::from_millis(300),
        ..Reply::success()
    })
    .await;
    let queue = sqs_queue().await;
    let (service, store) = service_with(queue.clone(), integration_for(&vendor)).await;
    let (id, message) = ingest_and_receive(&service, &queue).await;
    let first = iev_dispatch::handle(&service, &queue, sqs_event(&[&message]));
    let second = async {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        iev_dispatch::handle(&service, &queue, sqs_event(&[&message])).await
    };
    let (first, second) = tokio::join!(first, second);
    assert!(failed_ids(&first.unwrap()).is_empty());
    assert!(failed_ids(&second.unwrap()).is_empty());
    assert_eq!(vendor.calls().len(), 1);
    assert_eq!(
        store.get_event(&id).await.unwrap().unwrap().status,
        EventStatus::Complete
    );
    // The second comes back when the lease would have run out, as a new
    // message delayed until then (where it will find the event settled).
    let delayed = queue
        .client()
        .get_queue_attributes()
        .queue_url(queue.queue_url())
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessagesDelayed)
        .send()
        .await
        .unwrap();
    let delayed = delayed
        .attributes()
        .and_then(|a| {
            a.get(&aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessagesDelayed)
        })
        .cloned();
    assert_eq!(delayed.as_deref(), Some("1"));
}

#[tokio::test]
async fn a_dead_letter_is_recorded_as_a_transport_error_exactly_once() {
    let vendor = vendor(|_| Reply::success()).await;
    let queue = sqs_queue().await;
    let (service, store) = service_with(queue.clone(), integration_for(&vendor)).await;
    let (id, message) = ingest_and_receive(&service, &queue).await;
    for _ in 0..2 {
        let response = iev_record_error::handle_dead_letters(&service, sqs_event(&[&message]))
            .await
            .unwrap();
        assert!(failed_ids(&response).is_empty());
    }
    let event = store.get_event(&id).await.unwrap().unwrap();
    assert_eq!(event.status, EventStatus::Failed);
    assert_eq!(event.attempts.len(), 1);
    let record = store.get_error(&format!("{id}.1")).await.unwrap().unwrap();
    assert_eq!(record.error_code, ErrorCode::TransportError);
    assert_eq!(record.version, 1, "recorded once, never rewritten");
    assert!(vendor.calls().is_empty());
}

/// Reads of the report and the events log on DynamoDB are Queries on an
/// index (never a Scan): one per shard of each partition a page reads, all
/// sent side by side, so that a page of the report takes one round trip
/// and a page of the events log two (its entries, then the events' states).
#[tokio::test]
async fn report_and_event_pages_on_dynamodb_are_parallel_queries_in_one_round_trip_never_a_scan() {
    let (store, log) = iev_tests::aws::dynamo_store_logged().await;
    let (service, store) =
        service_over(store, sqs_queue().await, integration("app-1", "v-1")).await;
    let day = 86_400_000;
    let codes = [
        ErrorCode::AccountNotFound,
        ErrorCode::TransportError,
        ErrorCode::Unauthorized,
    ];
    let writes = (0..180).map(|i: i64| {
        let store = store.clone();
        async move {
            let app = if i % 2 == 0 { "app-1" } else { "app-2" };
            let mut r =
                iev_tests::fixtures::error_record(&format!("r-{i:03}"), i * day / 10, app, "v-1");
            r.error_code = codes[i as usize % 3];
            r.manually_resolved = i % 5 == 0;
            r.document_type = Some(["InvoiceHeader", "OrderHeader"][i as usize % 2].into());
            r.document_id = Some(format!("INV-{}", i % 3));
            r.integration_run_id = Some(format!("run-{}", i % 4));
            store.insert_error(&r).await.unwrap();
        }
    });
    futures::future::join_all(writes).await;
    log.take();
    let caller = service.authenticate(Some("iev_admin")).await.unwrap();
    let list = |q: &str| {
        let pairs: Vec<(String, String)> = url::form_urlencoded::parse(q.as_bytes())
            .into_owned()
            .collect();
        let (service, caller) = (service.clone(), caller.clone());
        async move { service.list_errors(&caller, pairs).await.unwrap() }
    };
    let week = format!(
        "errorCode=TRANSPORT_ERROR&from={}&to={}",
        at(3 * day).to_rfc3339(),
        at(10 * day).to_rfc3339()
    );
    let first = list("limit=50").await;
    assert_eq!(first.items.len(), 50);
    let cursor = first.next_cursor.clone().unwrap();
    let views = [
        ("default view".to_owned(), "limit=50".to_owned(), 1),
        (
            "one application".to_owned(),
            "limit=50&applicationId=app-2".to_owned(),
            1,
        ),
        (
            "error code in 7 days".to_owned(),
            format!("limit=50&{week}"),
            1,
        ),
        (
            "next page".to_owned(),
            format!("limit=50&cursor={cursor}"),
            1,
        ),
        (
            "resolved=all".to_owned(),
            "limit=50&resolved=all".to_owned(),
            2,
        ),
        (
            "one document type".to_owned(),
            "limit=50&documentType=OrderHeader".to_owned(),
            1,
        ),
        (
            "one document".to_owned(),
            "limit=50&documentId=INV-1".to_owned(),
            1,
        ),
        (
            "one integration run".to_owned(),
            "limit=50&integrationRunId=run-2".to_owned(),
            1,
        ),
    ];
    log.take();
    let shards = iev_aws::SHARDS as usize;
    for (name, query, partitions) in views {
        let page = list(&query).await;
        assert!(!page.items.is_empty(), "{name}");
        let (sent, round_trips) = log.take_with_round_trips();
        assert_eq!(sent, vec!["Query"; partitions * shards], "{name}");
        assert_eq!(round_trips, 1, "{name}");
    }
    // The events log: its entries, then the page's states in one batch.
    for (i, app) in ["app-1", "app-2"].iter().cycle().take(120).enumerate() {
        let mut e = iev_tests::fixtures::event(&format!("e-{i:03}"), app, "v-1");
        e.created_at = at(i as i64 * 1000);
        e.updated_at = e.created_at;
        store.insert_event(&e, None).await.unwrap();
    }
    log.take();
    let events = service
        .list_events(&caller, vec![("limit".into(), "50".into())])
        .await
        .unwrap();
    assert_eq!(events.items.len(), 50);
    let (sent, round_trips) = log.take_with_round_trips();
    let mut expected = vec!["Query".to_owned(); shards];
    expected.push("BatchGetItem".into());
    assert_eq!(sent, expected);
    assert_eq!(round_trips, 2);
    // Everything else that reads many records: summary, events log, export.
    service
        .error_summary(&caller, vec![("from".into(), at(0).to_rfc3339())])
        .await
        .unwrap();
    service
        .daily_export(at(5 * day).date_naive())
        .await
        .unwrap();
    let sent = log.take();
    assert!(!sent.is_empty());
    assert!(sent.iter().all(|op| op == "Query"), "{sent:?}");
}

#[tokio::test]
async fn a_record_that_cannot_be_read_back_is_left_out_of_report_pages_on_dynamodb() {
    let sdk = iev_tests::aws::sdk_config().await;
    let client = aws_sdk_dynamodb::Client::new(&sdk);
    let table = format!("iev-test-{}", uuid::Uuid::new_v4());
    iev_aws::create_table(&client, &table).await.unwrap();
    let store = iev_aws::DynamoStore::new(client.clone(), &table);
    for (id, ms) in [("r-1", 10), ("r-3", 30)] {
        store
            .insert_error(&iev_tests::fixtures::error_record(id, ms, "app-1", "v-1"))
            .await
            .unwrap();
    }
    use aws_sdk_dynamodb::types::AttributeValue::S;
    client
        .put_item()
        .table_name(&table)
        .item("PK", S("ERR#r-2".into()))
        .item("SK", S("ERR".into()))
        .item("G1PK", S("OPEN".into()))
        .item("G1SK", S("0000000000020#r-2".into()))
        .item(
            "data",
            S(r#"{"id":"r-2","creationDate":"not a time"}"#.into()),
        )
        .send()
        .await
        .unwrap();
    let page = store
        .query_errors(&iev_domain::record::ErrorQuery {
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    let ids: Vec<&str> = page.items.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, ["r-3", "r-1"]);
}

#[tokio::test]
async fn an_event_held_back_by_an_open_circuit_is_sent_again_later_as_a_new_message_with_no_attempt(
) {
    let queue = sqs_queue().await;
    // Nothing listens on the discard port: every call finds the vendor unreachable.
    let mut unreachable = integration("app-1", "v-1");
    unreachable.notification_urls.insert(
        EventType::SubscriptionOrder,
        NotificationUrl::parse("http://127.0.0.1:9/notify?eventUrl={eventUrl}").unwrap(),
    );
    let (service, store) =
        service_configured(dynamo_store().await, queue.clone(), unreachable, |c| {
            c.dispatch.circuit_trip_after = 1;
            c.dispatch.circuit_cool_down = std::time::Duration::from_secs(1);
        })
        .await;
    let (first, message) = ingest_and_receive(&service, &queue).await;
    let response = iev_dispatch::handle(&service, &queue, sqs_event(&[&message]))
        .await
        .unwrap();
    assert!(
        failed_ids(&response).is_empty(),
        "a transient failure comes back as a new message"
    );
    assert_eq!(
        store
            .get_event(&first)
            .await
            .unwrap()
            .unwrap()
            .attempts
            .len(),
        1
    );

    // The circuit is open: the next event is not claimed, and its message is
    // acknowledged and sent again, delayed, as a new one.
    let (second, message) = ingest_and_receive(&service, &queue).await;
    let response = iev_dispatch::handle(&service, &queue, sqs_event(&[&message]))
        .await
        .unwrap();
    assert!(
        failed_ids(&response).is_empty(),
        "not a receive that counts"
    );
    let held = store.get_event(&second).await.unwrap().unwrap();
    assert_eq!(held.status, EventStatus::Pending);
    assert!(
        held.attempts.is_empty(),
        "no attempt: the vendor did nothing"
    );
    assert_eq!(held.lease_until, None, "not claimed");
    let mut resent = None;
    for _ in 0..10 {
        resent = receive_messages(&queue, 1)
            .await
            .iter()
            .find(|m| m.body().is_some_and(|b| b.contains(&second)))
            .cloned();
        if resent.is_some() {
            break;
        }
    }
    let resent = resent.expect("the held-back event comes back as a new message");
    assert_ne!(resent.message_id(), message.message_id());
    assert_eq!(
        receive_count(&resent).as_deref(),
        Some("1"),
        "it starts again at one receive"
    );
}

/// One application's deliveries on DynamoDB would all read its one
/// integration item; with the cache the template sets, an instance reads it
/// once a period, and again after it moved the integration's failure count.
#[tokio::test]
async fn with_the_integration_cache_deliveries_to_one_integration_read_it_once_a_period() {
    let mut reads = Vec::new();
    for period in [
        std::time::Duration::ZERO,
        std::time::Duration::from_secs(60),
    ] {
        // The fourth call fails, and with one attempt allowed, is counted.
        let vendor = vendor(|n| {
            if n == 3 {
                Reply::json(503, serde_json::json!({}))
            } else {
                Reply::success()
            }
        })
        .await;
        let (store, log) = iev_tests::aws::dynamo_store_logged().await;
        let (service, store) =
            service_configured(store, sqs_queue().await, integration_for(&vendor), |c| {
                c.dispatch.integration_cache = period;
                c.dispatch.max_attempts = 1;
            })
            .await;
        let mut ids = Vec::new();
        for i in 0..6 {
            let e = iev_tests::fixtures::event(&format!("e-{i}"), "app-1", "v-1");
            store.insert_event(&e, None).await.unwrap();
            ids.push(e.id);
        }
        log.take();
        let mut get_items = Vec::new();
        for id in &ids {
            service.dispatch(id).await.unwrap();
            get_items.push(log.take().iter().filter(|op| *op == "GetItem").count());
        }
        assert_eq!(vendor.calls().len(), 6);
        let failures: Vec<EventStatus> =
            futures::future::join_all(ids.iter().map(|id| store.get_event(id)))
                .await
                .into_iter()
                .map(|e| e.unwrap().unwrap().status)
                .collect();
        assert_eq!(failures[3], EventStatus::Failed);
        reads.push(get_items);
    }
    // Without the cache: a read for every delivery, and one more after the
    // counted failure (whether to disable goes by a fresh count). With it:
    // the first delivery reads; the fourth's failure reads only for that
    // decision; the fifth reads again, the count having moved (and resets
    // it); the sixth reads after that reset.
    assert_eq!(reads[0], vec![1, 1, 1, 2, 1, 1]);
    assert_eq!(reads[1], vec![1, 0, 0, 1, 1, 1]);
}

/// What one delivered event costs in DynamoDB requests on the AWS path, as
/// docs/SCALE.md counts it: accepted with one PutItem (and one SQS message);
/// the vendor's signed fetch, one Query of the event and its state (and the
/// integration's GetItem); the delivery, one Query, the integration's
/// GetItem (cached in AWS), and two PutItems of the small state item: the
/// claim and the settlement, none of them a transaction.
#[tokio::test]
async fn one_delivered_event_costs_one_put_one_query_and_two_state_writes_on_dynamodb() {
    let vendor = vendor(|_| Reply::success()).await;
    let (store, log) = iev_tests::aws::dynamo_store_logged().await;
    let queue = sqs_queue().await;
    let (service, _) =
        service_configured(store, queue.clone(), integration_for(&vendor), |_| {}).await;
    // The vendor's signature carries the time of day.
    let service = Arc::new(Service {
        clock: Arc::new(iev_domain::clock::SystemClock),
        ..(*service).clone()
    });
    // The caller's key is read once, then kept (see `Caches`).
    let warm = router(service.clone())
        .oneshot(post_event(order_json("app-1")))
        .await
        .unwrap();
    assert_eq!(warm.status(), 202);
    receive(&queue).await;
    log.take();

    let (id, message) = ingest_and_receive(&service, &queue).await;
    assert_eq!(log.take(), ["PutItem"], "accepting");

    let event = service.store.get_event(&id).await.unwrap().unwrap();
    log.take();
    let url = service.event_url(&event.token);
    let authorization = iev_tests::vendor::oauth_get(url.as_str(), "app-1-key", "app-1-secret");
    service
        .vendor_fetch(&event.token, None, Some(&authorization))
        .await
        .unwrap();
    assert_eq!(log.take(), ["Query", "GetItem"], "the vendor's fetch");

    let response = iev_dispatch::handle(&service, &queue, sqs_event(&[&message]))
        .await
        .unwrap();
    assert!(failed_ids(&response).is_empty());
    assert_eq!(
        log.take(),
        ["Query", "GetItem", "PutItem", "PutItem"],
        "delivering"
    );
    let delivered = service.store.get_event(&id).await.unwrap().unwrap();
    assert_eq!(delivered.status, EventStatus::Complete);
    assert_eq!(vendor.calls().len(), 1);
}

/// A shard far denser than the others runs dry before a page is full and is
/// read again, further on: the pages stay exact, newest first, for events
/// (with and without a status filter) and failure records alike.
#[tokio::test]
async fn a_shard_denser_than_the_others_is_read_again_and_pages_stay_exact() {
    use iev_domain::event::{EventQuery, EventSummary};
    use iev_domain::record::{ErrorQuery, Position};
    let (store, log) = iev_tests::aws::dynamo_store_logged().await;
    // 40 ids in shard 0, and 20 spread over the others.
    let dense = (0..)
        .map(|n| format!("d-{n}"))
        .filter(|id| iev_aws::shard(id) == 0)
        .take(40);
    let spread = (0..20).map(|n| format!("s-{n}"));
    let ids: Vec<String> = dense.chain(spread).collect();
    let mut events = Vec::new();
    for (i, id) in ids.iter().enumerate() {
        let mut e = iev_tests::fixtures::event(id, "app-1", "v-1");
        // Interleaved in time, so that the dense shard's items are spread
        // through every page.
        e.created_at = at((i as i64 * 7919) % 60 * 1000);
        e.updated_at = e.created_at;
        if i % 3 == 0 {
            e.status = EventStatus::Complete;
        }
        store.insert_event(&e, None).await.unwrap();
        events.push(e);
        let record = iev_tests::fixtures::error_record(
            &format!("{id}.1"),
            (i as i64 * 7919) % 60 * 1000,
            "app-1",
            "v-1",
        );
        store.insert_error(&record).await.unwrap();
    }
    // A page of 20 holds some 13 of the dense shard's events; its first read
    // asked for 6: it was read again.
    log.take();
    let page = store
        .query_events(&EventQuery {
            limit: 20,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(page.items.len(), 20);
    let (sent, round_trips) = log.take_with_round_trips();
    let queries = sent.iter().filter(|op| *op == "Query").count();
    assert!(queries > iev_aws::SHARDS as usize, "{queries} Queries");
    assert!(round_trips > 2, "{round_trips} round trips");
    for (status, limit) in [(None, 7), (None, 20), (Some(EventStatus::Complete), 7)] {
        let mut expected: Vec<EventSummary> = events
            .iter()
            .map(EventSummary::from)
            .filter(|e| status.is_none_or(|s| e.status == s))
            .collect();
        expected.sort_by_key(|e| std::cmp::Reverse(Position::at(e.created_at, &e.id)));
        let mut query = EventQuery {
            status,
            limit,
            ..Default::default()
        };
        let mut seen = Vec::new();
        loop {
            let page = store.query_events(&query).await.unwrap();
            assert!(page.items.len() <= limit);
            seen.extend(page.items);
            match page.next {
                Some(next) => query.after = Some(next),
                None => break,
            }
        }
        assert_eq!(seen, expected, "status {status:?}, limit {limit}");
    }
    let mut expected: Vec<String> = ids.iter().map(|id| format!("{id}.1")).collect();
    let position = |id: &str| {
        let i = ids.iter().position(|x| format!("{x}.1") == id).unwrap() as i64;
        Position::at(at((i * 7919) % 60 * 1000), id)
    };
    expected.sort_by_key(|id| std::cmp::Reverse(position(id)));
    let mut query = ErrorQuery {
        limit: 9,
        ..Default::default()
    };
    let mut seen = Vec::new();
    loop {
        let page = store.query_errors(&query).await.unwrap();
        seen.extend(page.items.iter().map(|r| r.id.clone()));
        match page.next {
            Some(next) => query.after = Some(next),
            None => break,
        }
    }
    assert_eq!(seen, expected);
}

/// Enabled on another instance, an integration this instance cached as
/// disabled is read again within a quarter of a second, however long the
/// cache keeps an enabled one: its events are not failed as disabled for
/// the cache's whole period.
#[tokio::test]
async fn a_cached_disabled_integration_is_read_again_within_a_quarter_of_a_second() {
    let vendor = vendor(|_| Reply::success()).await;
    let (service, store) = service_configured(
        dynamo_store().await,
        sqs_queue().await,
        integration_for(&vendor),
        |c| c.dispatch.integration_cache = std::time::Duration::from_secs(60),
    )
    .await;
    let app = iev_tests::fixtures::app("app-1");
    store
        .set_integration_enabled(&app, false, at(1))
        .await
        .unwrap();
    let before = iev_tests::fixtures::event("e-before", "app-1", "v-1");
    store.insert_event(&before, None).await.unwrap();
    service.dispatch(&before.id).await.unwrap();
    let failed = store.get_event(&before.id).await.unwrap().unwrap();
    assert_eq!(failed.status, EventStatus::Failed, "disabled: {failed:?}");
    // Enabled elsewhere: this instance's copy still says disabled.
    store
        .set_integration_enabled(&app, true, at(2))
        .await
        .unwrap();
    tokio::time::sleep(
        iev_domain::dispatch::DISABLED_RECHECK + std::time::Duration::from_millis(50),
    )
    .await;
    let after = iev_tests::fixtures::event("e-after", "app-1", "v-1");
    store.insert_event(&after, None).await.unwrap();
    service.dispatch(&after.id).await.unwrap();
    let delivered = store.get_event(&after.id).await.unwrap().unwrap();
    assert_eq!(delivered.status, EventStatus::Complete);
    assert_eq!(vendor.calls().len(), 1);
}
