//! Delivery to a real vendor over HTTP through the local runner: each answer
//! a vendor can give, and what lands in the record.

use iev_tests::fixtures::order_json;
use iev_tests::vendor::{oauth_post, Reply, Vendor};
use iev_tests::TestApp;
use reqwest::Method;
use serde_json::{json, Value};
use std::time::Duration;

const KEY: &str = "widget-key";
const SECRET: &str = "widget-secret";

struct Setup {
    app: TestApp,
    vendor: Vendor,
    admin: String,
    _dir: tempfile::TempDir,
}

async fn setup(
    configure: impl FnOnce(&mut iev_runner::RunnerConfig),
    script: impl Fn(usize, &Value) -> Reply + Send + Sync + 'static,
) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let app = TestApp::start_with(dir.path(), configure).await;
    let vendor = Vendor::start(KEY, SECRET, script).await;
    let admin = app.running.admin_key.clone();
    let url = vendor.notification_url();
    let body = json!({
        "applicationName": "Widget",
        "importableApplicationUuid": "imp-1",
        "vendorId": "v-1",
        "notificationUrls": {
            "SUBSCRIPTION_ORDER": url, "SUBSCRIPTION_CANCEL": url,
            "SUBSCRIPTION_NOTICE": url, "USER_ASSIGNMENT": url
        },
        "oauth": {"consumerKey": KEY, "consumerSecret": SECRET},
        "alertUrl": vendor.alert_url()
    });
    let (status, resp) = app
        .send(
            Method::PUT,
            "/v1/integrations/app-1",
            Some(&admin),
            Some(body),
        )
        .await;
    assert_eq!(status, 200, "{resp}");
    Setup {
        app,
        vendor,
        admin,
        _dir: dir,
    }
}

impl Setup {
    async fn post(&self, event: Value) -> String {
        let (status, body) = self
            .app
            .send(Method::POST, "/v1/events", Some(&self.admin), Some(event))
            .await;
        assert_eq!(status, 202, "{body}");
        body["id"].as_str().unwrap().to_owned()
    }

    async fn error(&self, id: &str) -> (u16, Value) {
        self.app
            .send(
                Method::GET,
                &format!("/api/integration_errors/{id}"),
                Some(&self.admin),
                None,
            )
            .await
    }

    async fn integration(&self) -> Value {
        self.app
            .send(
                Method::GET,
                "/v1/integrations/app-1",
                Some(&self.admin),
                None,
            )
            .await
            .1
    }
}

/// Polls `check` for up to 5 seconds.
async fn eventually<F, Fut>(check: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..250 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("the condition did not come true within 5 seconds");
}

fn cancel_json() -> Value {
    json!({
        "applicationId": "app-1",
        "type": "SUBSCRIPTION_CANCEL",
        "marketplace": {"partner": "ACME", "baseUrl": "https://marketplace.example"},
        "creator": {"uuid": "user-1", "email": "ann@example.com"},
        "payload": {"account": {"accountIdentifier": "acct-1"}}
    })
}

#[tokio::test]
async fn a_vendor_that_fetches_the_signed_event_and_answers_success_completes_it() {
    let s = setup(|_| {}, |_, _| Reply::success()).await;
    let id = s.post(order_json("app-1")).await;
    let event = s.app.wait_settled(&id).await;
    assert_eq!(event["status"], "COMPLETE", "{event}");
    let attempts = event["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 1);
    assert_eq!(attempts[0]["httpStatus"], 200);
    assert_eq!(attempts[0]["outcome"], "success");
    let calls = s.vendor.calls();
    assert_eq!(calls.len(), 1);
    let (fetch_status, fetched) = calls[0].fetched.clone().unwrap();
    assert_eq!(fetch_status, 200, "the vendor's signed fetch is accepted");
    assert_eq!(fetched["type"], "SUBSCRIPTION_ORDER");
    assert!(calls[0].event_url.ends_with(&format!(
        "/api/integration/v1/events/{}",
        event["token"].as_str().unwrap()
    )));
    let authorization = calls[0].authorization.clone().unwrap();
    assert!(authorization.starts_with("OAuth "));
    assert!(authorization.contains(&format!("oauth_consumer_key=\"{KEY}\"")));
    assert_eq!(
        s.error(&format!("{id}.1")).await.0,
        404,
        "no failure recorded"
    );
}

#[tokio::test]
async fn each_vendor_error_code_lands_in_the_record_with_its_category() {
    let cases = [
        ("USER_NOT_FOUND", "integration.missingaccountmapping.error"),
        (
            "ACCOUNT_NOT_FOUND",
            "integration.missingaccountmapping.error",
        ),
        ("UNAUTHORIZED", "integration.authentication.error"),
        ("FORBIDDEN", "integration.authentication.error"),
        ("MAX_USERS_REACHED", "integration.perform.error"),
        ("OPERATION_CANCELLED", "integration.perform.error"),
    ];
    let s = setup(
        |_| {},
        move |n, _| Reply::error(cases[n % cases.len()].0, "vendor says no"),
    )
    .await;
    for (code, category) in cases {
        let id = s.post(order_json("app-1")).await;
        let event = s.app.wait_settled(&id).await;
        assert_eq!(event["status"], "FAILED");
        let (status, record) = s.error(&format!("{id}.1")).await;
        assert_eq!(status, 200, "{record}");
        assert_eq!(record["errorCode"], code);
        assert_eq!(record["category"], category);
        assert_eq!(record["message"], "vendor says no");
        assert_eq!(record["eventId"], id.as_str());
        assert_eq!(record["applicationName"], "Widget");
        assert_eq!(record["importableApplicationUuid"], "imp-1");
        assert_eq!(record["userId"], "user-1");
        assert_eq!(record["userEmail"], "ann@example.com");
        assert_eq!(record["companyId"], "company-1");
        assert_eq!(record["eventType"], "SUBSCRIPTION_ORDER");
        assert_eq!(record["manuallyResolved"], false);
        assert_eq!(record["attempts"], 1);
        assert_eq!(record["lastHttpStatus"], 200);
    }
}

#[tokio::test]
async fn an_order_answered_without_an_account_identifier_is_an_invalid_response() {
    let s = setup(|_| {}, |_, _| Reply::json(200, json!({"success": "true"}))).await;
    let id = s.post(order_json("app-1")).await;
    s.app.wait_settled(&id).await;
    let (_, record) = s.error(&format!("{id}.1")).await;
    assert_eq!(record["errorCode"], "INVALID_RESPONSE");
    assert_eq!(record["category"], "integration.validation.error");
}

#[tokio::test]
async fn garbage_and_oversized_answers_are_invalid_responses() {
    let s = setup(
        |_| {},
        |n, _| match n {
            0 => Reply::raw(200, "<html>not json</html>"),
            _ => Reply::raw(
                200,
                format!("{{\"success\": true, \"pad\": \"{}\"}}", "x".repeat(70_000)),
            ),
        },
    )
    .await;
    for _ in 0..2 {
        let id = s.post(cancel_json()).await;
        let event = s.app.wait_settled(&id).await;
        assert_eq!(event["status"], "FAILED");
        let (_, record) = s.error(&format!("{id}.1")).await;
        assert_eq!(record["errorCode"], "INVALID_RESPONSE", "{record}");
        let excerpt = event["attempts"][0]["responseExcerpt"].as_str().unwrap();
        assert!(
            excerpt.len() <= 2048,
            "only an excerpt of the answer is kept"
        );
    }
}

#[tokio::test]
async fn a_202_waits_for_the_vendors_signed_result_post() {
    let s = setup(|_| {}, |_, _| Reply::raw(202, "")).await;
    let id = s.post(order_json("app-1")).await;
    let event = s
        .app
        .wait_for_event(&id, |e| e["status"] == "ASYNC_PENDING")
        .await;
    let token = event["token"].as_str().unwrap();
    let url = s
        .app
        .url(&format!("/api/integration/v1/events/{token}/result"));
    let client = reqwest::Client::new();
    let unsigned = client
        .post(&url)
        .json(&json!({"success": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(unsigned.status(), 401);
    let resp = client
        .post(&url)
        .header("authorization", oauth_post(&url, KEY, SECRET))
        .json(&json!({"success": false, "errorCode": "ACCOUNT_NOT_FOUND", "message": "gone"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let event = s.app.wait_settled(&id).await;
    assert_eq!(event["status"], "FAILED");
    let (_, record) = s.error(&format!("{id}.1")).await;
    assert_eq!(record["errorCode"], "ACCOUNT_NOT_FOUND");
    let again = client
        .post(&url)
        .header("authorization", oauth_post(&url, KEY, SECRET))
        .json(&json!({"success": true, "accountIdentifier": "a"}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        again.status(),
        409,
        "a settled event takes no second result"
    );
}

#[tokio::test]
async fn a_notice_answered_with_202_is_a_failure() {
    let s = setup(|_| {}, |_, _| Reply::raw(202, "")).await;
    let id = s
        .post(json!({
            "applicationId": "app-1",
            "type": "SUBSCRIPTION_NOTICE",
            "marketplace": {"partner": "ACME", "baseUrl": "https://m.example"},
            "payload": {"account": {"accountIdentifier": "a-1"}, "notice": {"type": "DEACTIVATED"}}
        }))
        .await;
    let event = s.app.wait_settled(&id).await;
    assert_eq!(event["status"], "FAILED");
    let (_, record) = s.error(&format!("{id}.1")).await;
    assert_eq!(record["errorCode"], "INVALID_RESPONSE");
}

#[tokio::test]
async fn a_500_then_success_is_retried_and_completes() {
    let s = setup(
        |_| {},
        |n, _| {
            if n == 0 {
                Reply::raw(500, "down")
            } else {
                Reply::success()
            }
        },
    )
    .await;
    let id = s.post(order_json("app-1")).await;
    let event = s.app.wait_settled(&id).await;
    assert_eq!(event["status"], "COMPLETE", "{event}");
    let outcomes: Vec<&str> = event["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes, ["transient", "success"]);
    assert_eq!(event["attempts"][0]["httpStatus"], 500);
    assert_eq!(s.error(&format!("{id}.1")).await.0, 404);
}

#[tokio::test]
async fn a_vendor_that_keeps_timing_out_ends_as_a_transport_error() {
    let s = setup(
        |c| c.outbound.timeout = Duration::from_millis(150),
        |_, _| Reply {
            delay: Duration::from_millis(600),
            ..Reply::success()
        },
    )
    .await;
    let id = s.post(cancel_json()).await;
    let event = s.app.wait_settled(&id).await;
    assert_eq!(event["status"], "FAILED");
    assert_eq!(
        event["attempts"].as_array().unwrap().len(),
        3,
        "max_attempts is 3 in tests"
    );
    let (_, record) = s.error(&format!("{id}.1")).await;
    assert_eq!(record["errorCode"], "TRANSPORT_ERROR");
    assert_eq!(record["attempts"], 3);
}

#[tokio::test]
async fn an_unreachable_vendor_is_retried_then_recorded_as_a_transport_error() {
    let s = setup(|_| {}, |_, _| Reply::success()).await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let body = json!({
        "applicationName": "Widget", "vendorId": "v-1",
        "notificationUrls": {"SUBSCRIPTION_CANCEL": format!("http://127.0.0.1:{port}/n?e={{eventUrl}}")},
        "oauth": {"consumerKey": KEY, "consumerSecret": SECRET}
    });
    s.app
        .send(
            Method::PUT,
            "/v1/integrations/app-1",
            Some(&s.admin),
            Some(body),
        )
        .await;
    let id = s.post(cancel_json()).await;
    let event = s.app.wait_settled(&id).await;
    assert_eq!(event["status"], "FAILED");
    let (_, record) = s.error(&format!("{id}.1")).await;
    assert_eq!(record["errorCode"], "TRANSPORT_ERROR");
    assert_eq!(event["attempts"].as_array().unwrap().len(), 3);
}

#[tokio::test]
async fn an_event_type_without_a_notification_url_is_a_configuration_error_and_not_sent() {
    let s = setup(|_| {}, |_, _| Reply::success()).await;
    let id = s
        .post(json!({
            "applicationId": "app-1",
            "type": "USER_UPDATED",
            "marketplace": {"partner": "ACME", "baseUrl": "https://m.example"},
            "payload": {"user": {"uuid": "u-2", "email": "bob@example.com"}}
        }))
        .await;
    let event = s.app.wait_settled(&id).await;
    assert_eq!(event["status"], "FAILED");
    assert_eq!(event["attempts"][0]["outcome"], "notSent");
    let (_, record) = s.error(&format!("{id}.1")).await;
    assert_eq!(record["errorCode"], "CONFIGURATION_ERROR");
    assert_eq!(record["userId"], "u-2", "a user event is about its user");
    assert!(s.vendor.calls().is_empty());
}

#[tokio::test]
async fn a_loopback_vendor_is_refused_when_policy_allows_only_public_addresses() {
    let s = setup(
        |c| c.outbound.policy = iev_outbound::AddressPolicy::PUBLIC_ONLY,
        |_, _| Reply::success(),
    )
    .await;
    let id = s.post(order_json("app-1")).await;
    let event = s.app.wait_settled(&id).await;
    assert_eq!(event["status"], "FAILED");
    let (_, record) = s.error(&format!("{id}.1")).await;
    assert_eq!(record["errorCode"], "CONFIGURATION_ERROR");
    assert!(
        record["message"].as_str().unwrap().contains("loopback"),
        "{record}"
    );
    assert!(s.vendor.calls().is_empty(), "nothing was sent");
}

#[tokio::test]
async fn the_tenth_successive_failure_disables_and_the_eleventh_event_is_not_sent() {
    let s = setup(|_| {}, |_, _| Reply::error("MAX_USERS_REACHED", "full")).await;
    let stateless = {
        let mut e = order_json("app-1");
        e["flag"] = json!("STATELESS");
        e
    };
    let ping = s.post(stateless).await;
    s.app.wait_settled(&ping).await;
    assert_eq!(
        s.integration().await["successiveFailures"],
        0,
        "pings never count"
    );
    let mut ids = Vec::new();
    for i in 0..10 {
        let id = s.post(order_json("app-1")).await;
        s.app.wait_settled(&id).await;
        ids.push(id);
        let integration = s.integration().await;
        assert_eq!(integration["successiveFailures"], i + 1);
        if i < 9 {
            assert_eq!(integration["enabled"], true, "{integration}");
        }
    }
    // Disabling follows the tenth failure's write; give it a moment.
    eventually(|| async { s.integration().await["enabled"] == false }).await;
    assert!(s.integration().await["disabledAt"].is_string());
    let calls_before = s.vendor.calls().len();
    let eleventh = s.post(order_json("app-1")).await;
    let event = s.app.wait_settled(&eleventh).await;
    assert_eq!(event["status"], "FAILED");
    assert_eq!(
        s.vendor.calls().len(),
        calls_before,
        "the eleventh event is not sent"
    );
    let (_, record) = s.error(&format!("{eleventh}.1")).await;
    assert_eq!(record["category"], "integration.disabled.error");
    eventually(|| async {
        s.vendor
            .alerts()
            .iter()
            .filter(|(_, a)| a["kind"] == "EVENT_FAILED")
            .count()
            == 12
    })
    .await;
    let alerts = s.vendor.alerts();
    let disabled: Vec<_> = alerts
        .iter()
        .filter(|(_, a)| a["kind"] == "INTEGRATION_DISABLED")
        .collect();
    assert_eq!(disabled.len(), 1, "one disabling alert");
    assert!(
        disabled[0].0.as_deref().unwrap_or("").starts_with("OAuth "),
        "alerts are signed"
    );
    let failures = alerts
        .iter()
        .filter(|(_, a)| a["kind"] == "EVENT_FAILED")
        .count();
    assert_eq!(
        failures, 12,
        "one failure notice per failed event, the ping's included"
    );

    // Re-enabling with redelivery sends what failed while disabled.
    let (status, enabled) = s
        .app
        .send(
            Method::POST,
            "/v1/integrations/app-1/enable",
            Some(&s.admin),
            Some(json!({"redeliver": true})),
        )
        .await;
    assert_eq!(status, 200, "{enabled}");
    assert_eq!(enabled["enabled"], true);
    assert_eq!(enabled["successiveFailures"], 0);
    assert_eq!(enabled["redelivered"], 1);
    let event = s
        .app
        .wait_for_event(&eleventh, |e| e["round"] == 2 && e["status"] == "FAILED")
        .await;
    assert_eq!(event["attempts"].as_array().unwrap().len(), 2);
    assert_eq!(s.vendor.calls().len(), calls_before + 1);
}

#[tokio::test]
async fn a_manual_retry_that_succeeds_resolves_the_earlier_failure_automatically() {
    let s = setup(
        |_| {},
        |n, _| {
            if n == 0 {
                Reply::error("ACCOUNT_NOT_FOUND", "no such account")
            } else {
                Reply::success()
            }
        },
    )
    .await;
    let id = s.post(cancel_json()).await;
    s.app.wait_settled(&id).await;
    let (status, retried) = s
        .app
        .send(
            Method::POST,
            &format!("/v1/events/{id}/retry"),
            Some(&s.admin),
            None,
        )
        .await;
    assert_eq!(status, 202, "{retried}");
    assert_eq!(retried["round"], 2);
    let event = s
        .app
        .wait_for_event(&id, |e| e["status"] == "COMPLETE")
        .await;
    assert_eq!(event["attempts"].as_array().unwrap().len(), 2);
    let (_, record) = s.error(&format!("{id}.1")).await;
    assert_eq!(record["manuallyResolved"], true, "{record}");
    assert_eq!(record["resolvedBy"], "system");
    let (status, _) = s
        .app
        .send(
            Method::POST,
            &format!("/v1/events/{id}/retry"),
            Some(&s.admin),
            None,
        )
        .await;
    assert_eq!(status, 409, "a delivered event is not retried");
}

#[tokio::test]
async fn recovery_redelivers_the_failed_events_of_a_window() {
    let s = setup(
        |_| {},
        |n, _| {
            if n < 2 {
                Reply::error("UNKNOWN_ERROR", "oops")
            } else {
                Reply::success()
            }
        },
    )
    .await;
    let a = s.post(cancel_json()).await;
    let b = s.post(cancel_json()).await;
    s.app.wait_settled(&a).await;
    s.app.wait_settled(&b).await;
    let (status, body) = s
        .app
        .send(
            Method::POST,
            "/v1/integrations/app-1/recover",
            Some(&s.admin),
            Some(json!({"since": "2000-01-01T00:00:00Z", "until": "2999-01-01T00:00:00Z"})),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["queued"], 2);
    for id in [a, b] {
        s.app
            .wait_for_event(&id, |e| e["status"] == "COMPLETE")
            .await;
    }
    let (status, err) = s
        .app
        .send(
            Method::POST,
            "/v1/integrations/app-1/recover",
            Some(&s.admin),
            Some(json!({"since": "2030-01-01T00:00:00Z", "until": "2020-01-01T00:00:00Z"})),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(err["error"]["field"], "until");
}

#[tokio::test]
async fn a_recovery_message_delivered_twice_starts_one_new_round() {
    let s = setup(
        |_| {},
        |n, _| {
            if n < 1 {
                Reply::error("UNKNOWN_ERROR", "oops")
            } else {
                Reply::success()
            }
        },
    )
    .await;
    let id = s.post(cancel_json()).await;
    assert_eq!(s.app.wait_settled(&id).await["status"], "FAILED");
    let message = iev_domain::ports::DispatchMessage {
        redeliver_after: Some(1),
        ..iev_domain::ports::DispatchMessage::new(id.clone())
    };
    let service = &s.app.running.service;
    for _ in 0..2 {
        let outcome = service.handle_message(&message).await.unwrap();
        assert_eq!(outcome, iev_domain::dispatch::DispatchOutcome::Done);
    }
    let event = s.app.wait_settled(&id).await;
    assert_eq!(event["status"], "COMPLETE");
    assert_eq!(event["round"], 2);
    assert_eq!(s.vendor.calls().len(), 2);
    // The success closed the first round's failure.
    let (_, record) = s.error(&format!("{id}.1")).await;
    assert_eq!(record["manuallyResolved"], true);
    assert_eq!(record["resolvedBy"], "system");
}

#[tokio::test]
async fn dispatching_a_settled_event_again_calls_nobody_and_records_nothing() {
    let s = setup(|_| {}, |_, _| Reply::error("USER_NOT_FOUND", "who")).await;
    let id = s.post(order_json("app-1")).await;
    let first = s.app.wait_settled(&id).await;
    for _ in 0..3 {
        let outcome = s.app.running.service.dispatch(&id).await.unwrap();
        assert_eq!(outcome, iev_domain::dispatch::DispatchOutcome::Done);
    }
    assert_eq!(s.vendor.calls().len(), 1);
    let again = s.app.wait_settled(&id).await;
    assert_eq!(again["attempts"], first["attempts"]);
    assert_eq!(s.integration().await["successiveFailures"], 1);
}

#[tokio::test]
async fn an_external_failure_is_recorded_with_source_api_for_managers_only() {
    let s = setup(|_| {}, |_, _| Reply::success()).await;
    let body = json!({
        "applicationId": "app-1", "errorCode": "ACCOUNT_NOT_FOUND", "message": "from billing",
        "companyId": "c-9", "externalId": "TICKET-1", "customAttributes": {"region": "eu"}
    });
    let vendor_key = s.app.key("vendor", Some("v-1")).await;
    let (status, _) = s
        .app
        .send(
            Method::POST,
            "/api/integration_errors",
            Some(&vendor_key),
            Some(body.clone()),
        )
        .await;
    assert_eq!(status, 403);
    let (status, record) = s
        .app
        .send(
            Method::POST,
            "/api/integration_errors",
            Some(&s.admin),
            Some(body),
        )
        .await;
    assert_eq!(status, 201, "{record}");
    assert_eq!(record["source"], "api");
    assert_eq!(
        record["category"],
        "integration.missingaccountmapping.error"
    );
    assert_eq!(record["customAttributes"]["region"], "eu");
    let (status, err) = s
        .app
        .send(
            Method::POST,
            "/api/integration_errors",
            Some(&s.admin),
            Some(json!({"applicationId": "app-1", "errorCode": "NOPE", "message": "x"})),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(err["error"]["field"], "errorCode");
}

#[tokio::test]
async fn another_vendors_event_answers_404_on_read_and_retry() {
    let s = setup(|_| {}, |_, _| Reply::error("UNKNOWN_ERROR", "x")).await;
    let id = s.post(cancel_json()).await;
    s.app.wait_settled(&id).await;
    let own = s.app.key("vendor", Some("v-1")).await;
    let other = s.app.key("vendor", Some("v-2")).await;
    assert_eq!(
        s.app
            .send(Method::GET, &format!("/v1/events/{id}"), Some(&own), None)
            .await
            .0,
        200
    );
    assert_eq!(
        s.app
            .send(Method::GET, &format!("/v1/events/{id}"), Some(&other), None)
            .await
            .0,
        404
    );
    assert_eq!(
        s.app
            .send(
                Method::POST,
                &format!("/v1/events/{id}/retry"),
                Some(&other),
                None
            )
            .await
            .0,
        404
    );
    assert_eq!(
        s.app
            .send(
                Method::GET,
                &format!("/api/integration_errors/{id}.1"),
                Some(&other),
                None
            )
            .await
            .0,
        404
    );
}

#[tokio::test]
async fn once_ten_failures_are_counted_no_further_call_starts_even_before_the_integration_is_disabled(
) {
    let s = setup(|_| {}, |_, _| Reply::error("MAX_USERS_REACHED", "full")).await;
    // The moment between the tenth failure's write and the write that
    // disables the integration: ten counted, still enabled.
    rusqlite::Connection::open(s.app.data_dir.join("iev.sqlite3"))
        .unwrap()
        .execute(
            "UPDATE integrations SET successive_failures = 10 WHERE application_id = 'app-1'",
            [],
        )
        .unwrap();
    let integration = s.integration().await;
    assert_eq!(integration["enabled"], true, "{integration}");
    assert_eq!(integration["successiveFailures"], 10, "{integration}");

    let id = s.post(order_json("app-1")).await;
    let event = s.app.wait_settled(&id).await;
    assert_eq!(event["status"], "FAILED", "{event}");
    assert!(
        s.vendor.calls().is_empty(),
        "no call starts after ten failures"
    );
    let (_, record) = s.error(&format!("{id}.1")).await;
    assert_eq!(record["category"], "integration.disabled.error", "{record}");
    assert_eq!(
        s.integration().await["successiveFailures"],
        10,
        "an event not sent counts toward nothing"
    );
    // The disabling write that had not landed is made now.
    eventually(|| async { s.integration().await["enabled"] == false }).await;
}

#[tokio::test]
async fn after_a_crash_mid_call_the_call_is_in_the_attempts_and_the_next_start_delivers_at_once() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    let dir = tempfile::tempdir().unwrap();
    // The first call hangs (the runner crashes during it); later ones succeed.
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = calls.clone();
    let vendor = Vendor::start(KEY, SECRET, move |n, _| {
        counted.store(n + 1, Ordering::SeqCst);
        if n == 0 {
            let mut hang = Reply::success();
            hang.delay = Duration::from_secs(30);
            hang
        } else {
            Reply::success()
        }
    })
    .await;
    let app = TestApp::start_in(dir.path()).await;
    app.integrate("app-1", "v-1", &vendor.notification_url())
        .await;
    let (status, accepted) = app
        .send(
            Method::POST,
            "/v1/events",
            Some(&app.running.admin_key.clone()),
            Some(order_json("app-1")),
        )
        .await;
    assert_eq!(status, 202, "{accepted}");
    let id = accepted["id"].as_str().unwrap().to_owned();
    for _ in 0..250 {
        if calls.load(Ordering::SeqCst) > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let during = app
        .wait_for_event(&id, |e| e["attempts"][0]["outcome"] == "inFlight")
        .await;
    assert_eq!(during["status"], "PENDING", "{during}");
    app.stop().await;

    // The next start takes over its own lease at once, rather than after 60 s.
    let app = TestApp::start_in(dir.path()).await;
    let event = app.wait_settled(&id).await;
    assert_eq!(event["status"], "COMPLETE", "{event}");
    let outcomes: Vec<&str> = event["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes, ["interrupted", "success"], "{event}");
}

#[tokio::test]
async fn a_vendors_answer_the_store_cannot_settle_yet_is_kept_and_settled_later_without_calling_again(
) {
    use iev_domain::ports::EventStore;
    use std::sync::atomic::Ordering;
    // The first two settles meet a full disk.
    let w = watched(2, 0, &["e-1"]).await;
    let outcome = w.service.dispatch("e-1").await.unwrap();
    assert_eq!(outcome, iev_domain::dispatch::DispatchOutcome::Done);
    assert_eq!(w.vendor.calls().len(), 1, "the vendor is called once");
    assert_eq!(
        w.store.settles.load(Ordering::SeqCst),
        3,
        "two refused, the third taken"
    );
    let event = w.sqlite.get_event("e-1").await.unwrap().unwrap();
    assert_eq!(event.status.as_str(), "COMPLETE");
}

#[tokio::test]
async fn a_vendor_failing_every_call_under_load_gets_exactly_ten_calls_before_it_is_disabled() {
    // Slow failures, so that many deliveries would be under way at once.
    let s = setup(
        |c| c.workers = 128,
        |_, _| {
            let mut reply = Reply::error("MAX_USERS_REACHED", "full");
            reply.delay = Duration::from_millis(150);
            reply
        },
    )
    .await;
    let mut ids = Vec::new();
    for _ in 0..60 {
        ids.push(s.post(order_json("app-1")).await);
    }
    for id in &ids {
        let event = s.app.wait_settled(id).await;
        assert_eq!(event["status"], "FAILED", "{event}");
    }
    eventually(|| async { s.integration().await["enabled"] == false }).await;
    assert_eq!(
        s.vendor.calls().len(),
        10,
        "ten successive failures, and no call beyond them"
    );
    assert_eq!(s.integration().await["successiveFailures"], 10);
}

#[tokio::test]
async fn a_vendor_that_hangs_holds_only_its_own_bound_of_workers_and_then_its_circuit_opens() {
    let hanging = Vendor::start("k", "s", |_, _| {
        let mut hang = Reply::success();
        hang.delay = Duration::from_secs(30);
        hang
    })
    .await;
    let quick = Vendor::start("k", "s", |_, _| Reply::success()).await;
    let dir = tempfile::tempdir().unwrap();
    let app = TestApp::start_with(dir.path(), |c| {
        c.workers = 6;
        c.dispatch.max_in_flight = 2;
        c.dispatch.circuit_trip_after = 2;
        c.dispatch.circuit_cool_down = Duration::from_secs(60);
        c.outbound.timeout = Duration::from_secs(2);
    })
    .await;
    app.integrate("app-slow", "v-1", &hanging.notification_url())
        .await;
    app.integrate("app-quick", "v-2", &quick.notification_url())
        .await;
    let admin = app.running.admin_key.clone();
    let post = |application: &'static str| {
        let (app, admin) = (&app, admin.clone());
        async move {
            let (status, accepted) = app
                .send(
                    Method::POST,
                    "/v1/events",
                    Some(&admin),
                    Some(order_json(application)),
                )
                .await;
            assert_eq!(status, 202, "{accepted}");
            accepted["id"].as_str().unwrap().to_owned()
        }
    };
    // A backlog for the hanging vendor, queued first, more than all workers.
    let mut slow = Vec::new();
    for _ in 0..20 {
        slow.push(post("app-slow").await);
    }
    let started = std::time::Instant::now();
    let mut fast = Vec::new();
    for _ in 0..10 {
        fast.push(post("app-quick").await);
    }
    for id in &fast {
        assert_eq!(app.wait_settled(id).await["status"], "COMPLETE");
    }
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "the quick vendor's events never wait for the hanging one's: {:?}",
        started.elapsed()
    );
    // Two calls at a time timed out twice in a row: the circuit is open, and
    // the rest wait without being sent or counted.
    tokio::time::sleep(Duration::from_millis(3000)).await;
    let calls = hanging.calls().len();
    assert!(
        (2..=4).contains(&calls),
        "at most its bound in flight, and no calls once the circuit opened: {calls}"
    );
    let (_, waiting) = app
        .send(
            Method::GET,
            &format!("/v1/events/{}", slow[19]),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(waiting["status"], "PENDING", "{waiting}");
    assert_eq!(waiting["attempts"], json!([]), "{waiting}");
    let (_, integration) = app
        .send(Method::GET, "/v1/integrations/app-slow", Some(&admin), None)
        .await;
    assert_eq!(integration["successiveFailures"], 0, "{integration}");
    app.stop().await;
}

#[tokio::test]
async fn a_delivery_writes_the_failure_count_only_when_it_has_one_to_reset() {
    use iev_domain::ports::{FailureCount, IntegrationStore};
    let w = watched(0, 3, &["e-1", "e-2"]).await;
    w.service.dispatch("e-1").await.unwrap();
    let app = iev_tests::fixtures::app("app-1");
    assert_eq!(
        w.sqlite
            .get_integration(&app)
            .await
            .unwrap()
            .unwrap()
            .successive_failures,
        0,
        "a delivery ends a run of failures"
    );
    // With nothing to reset, the integration is not written at all: that
    // write would land on one item for every event an application sends.
    w.service.dispatch("e-2").await.unwrap();
    assert_eq!(
        *w.store.counts.lock().unwrap(),
        vec![FailureCount::Reset, FailureCount::Unchanged]
    );
}

/// A service over the embedded store seen through `FlakySettles` (its first
/// `failing` settles refused), app-1's integration delivering to a vendor that
/// answers success, and `events` of app-1 stored PENDING.
struct Watched {
    service: iev_domain::service::Service,
    store: std::sync::Arc<iev_tests::flaky::FlakySettles>,
    sqlite: iev_local::SqliteStore,
    vendor: Vendor,
    _dir: tempfile::TempDir,
}

async fn watched(failing: usize, failures_counted: u32, events: &[&str]) -> Watched {
    use iev_domain::integration::NotificationUrl;
    use iev_domain::ports::{EventStore, IntegrationStore};
    use std::sync::Arc;
    let dir = tempfile::tempdir().unwrap();
    let sqlite = iev_local::SqliteStore::open(&dir.path().join("s.sqlite3")).unwrap();
    let store = Arc::new(iev_tests::flaky::FlakySettles::new(
        Arc::new(sqlite.clone()),
        failing,
    ));
    let vendor = Vendor::start("app-1-key", "app-1-secret", |_, _| Reply::success()).await;
    let mut integration = iev_tests::fixtures::integration("app-1", "v-1");
    integration.notification_urls.insert(
        iev_domain::event::EventType::SubscriptionOrder,
        NotificationUrl::parse(&vendor.notification_url()).unwrap(),
    );
    integration.successive_failures = failures_counted;
    sqlite.save_integration(&integration, None).await.unwrap();
    for id in events {
        sqlite
            .insert_event(&iev_tests::fixtures::event(id, "app-1", "v-1"), None)
            .await
            .unwrap();
    }
    let mut service = iev_tests::service_over(store.clone(), dir.path());
    service.outbound = Arc::new(
        iev_outbound::HttpOutbound::new(iev_outbound::OutboundConfig {
            policy: iev_outbound::AddressPolicy::WITH_LOOPBACK,
            ..Default::default()
        })
        .unwrap(),
    );
    Watched {
        service,
        store,
        sqlite,
        vendor,
        _dir: dir,
    }
}
