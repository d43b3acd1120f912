//! The AWS path: the ingest function's handler over DynamoDB Local and SQS.

use axum::body::Body;
use http_body_util::BodyExt;
use iev_aws::SqsQueue;
use iev_domain::clock::{FixedClock, SequentialIds};
use iev_domain::ports::{DispatchMessage, DispatchQueue, EventStore, IntegrationStore};
use iev_domain::service::{Service, ServiceConfig};
use iev_tests::aws::{dynamo_store, sqs_queue};
use iev_tests::fixtures::{at, integration, order_json};
use std::sync::Arc;
use tower::ServiceExt;

async fn service(queue: SqsQueue) -> (Arc<Service>, iev_aws::DynamoStore) {
    let store = dynamo_store().await;
    store
        .save_integration(&integration("app-1", "v-1"), None)
        .await
        .unwrap();
    let service = Arc::new(Service {
        store: Arc::new(store.clone()),
        queue: Arc::new(queue),
        clock: Arc::new(FixedClock::new(at(0))),
        ids: Arc::new(SequentialIds::default()),
        config: ServiceConfig::new("https://iev.example".parse().unwrap()),
    });
    service.ensure_admin_key("iev_admin").await.unwrap();
    (service, store)
}

async fn receive(queue: &SqsQueue) -> Vec<DispatchMessage> {
    let out = queue
        .client()
        .receive_message()
        .queue_url(queue.queue_url())
        .max_number_of_messages(10)
        .wait_time_seconds(1)
        .send()
        .await
        .unwrap();
    out.messages()
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
    let message = DispatchMessage {
        event_id: "e-1".into(),
    };
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
    assert_eq!(
        receive(&queue).await,
        vec![DispatchMessage {
            event_id: id.to_owned()
        }]
    );
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
