//! Defects found by probing (issue 11), each shown fixed over HTTP.

use iev_tests::fixtures::order_json;
use iev_tests::TestApp;
use reqwest::Method;
use serde_json::{json, Value};

/// A runner that does not deliver, with app-1 (vendor v-1).
async fn runner() -> (TestApp, tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let app = TestApp::start_with(dir.path(), |c| c.workers = 0).await;
    app.integrate("app-1", "v-1", "http://127.0.0.1:9/n?eventUrl={eventUrl}")
        .await;
    let admin = app.running.admin_key.clone();
    (app, dir, admin)
}

async fn failure(app: &TestApp, admin: &str) -> String {
    let (status, record) = app
        .send(
            Method::POST,
            "/api/integration_errors",
            Some(admin),
            Some(json!({"applicationId": "app-1", "errorCode": "UNKNOWN_ERROR", "message": "no"})),
        )
        .await;
    assert_eq!(status, 201, "{record}");
    record["id"].as_str().unwrap().to_owned()
}

fn refused_as_not_an_object(status: u16, body: &Value) {
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["code"], "invalid_input", "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("JSON object"),
        "{body}"
    );
}

#[tokio::test]
async fn a_json_array_where_an_object_is_required_is_refused_and_changes_nothing() {
    let (app, _dir, admin) = runner().await;
    let (status, body) = app
        .send(
            Method::POST,
            "/v1/api-keys",
            Some(&admin),
            Some(json!(["vendor", "v-arr"])),
        )
        .await;
    refused_as_not_an_object(status, &body);

    // The positional form of an event: every field of the struct, in order.
    let event = order_json("app-1");
    let positional = json!([
        event["applicationId"],
        event["type"],
        event["marketplace"],
        Value::Null,
        event["creator"],
        event["payload"],
        Value::Null
    ]);
    let (status, body) = app
        .send(Method::POST, "/v1/events", Some(&admin), Some(positional))
        .await;
    refused_as_not_an_object(status, &body);
    let (_, events) = app
        .send(Method::GET, "/v1/events", Some(&admin), None)
        .await;
    assert_eq!(events["items"], json!([]), "nothing was stored");

    let id = failure(&app, &admin).await;
    let (status, body) = app
        .send(
            Method::PUT,
            &format!("/api/integration_errors/{id}/resolve"),
            Some(&admin),
            Some(json!(["note"])),
        )
        .await;
    refused_as_not_an_object(status, &body);
    let (_, record) = app
        .send(
            Method::GET,
            &format!("/api/integration_errors/{id}"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(record["manuallyResolved"], false);
}

#[tokio::test]
async fn recovery_takes_plain_dates_like_the_report_and_names_the_field_of_a_bad_time() {
    let (app, _dir, admin) = runner().await;
    let recover = |body: Value| {
        let (app, admin) = (&app, &admin);
        async move {
            app.send(
                Method::POST,
                "/v1/integrations/app-1/recover",
                Some(admin),
                Some(body),
            )
            .await
        }
    };
    let (status, body) = recover(json!({"since": "2026-11-01", "until": "2026-12-01"})).await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["queued"], 0);
    let (status, body) = recover(json!({"since": "yesterday", "until": "2026-12-01"})).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["field"], "since");
    let (status, body) =
        recover(json!({"since": "2026-12-01", "until": "2026-11-01T00:00:00Z"})).await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["field"], "until");
}

#[tokio::test]
async fn resolve_and_unresolve_racing_on_one_record_keep_its_history_in_time_order() {
    let (app, _dir, admin) = runner().await;
    let id = failure(&app, &admin).await;
    let calls = (0..150).map(|i| {
        let (app, admin, id) = (&app, &admin, &id);
        async move {
            let action = if i % 2 == 0 { "resolve" } else { "unresolve" };
            app.send(
                Method::PUT,
                &format!("/api/integration_errors/{id}/{action}"),
                Some(admin),
                None,
            )
            .await
        }
    });
    for (status, body) in futures::future::join_all(calls).await {
        // A call that lost every retry to others answers 409; none may fail otherwise.
        assert!(status == 200 || status == 409, "{status} {body}");
    }
    let (_, record) = app
        .send(
            Method::GET,
            &format!("/api/integration_errors/{id}"),
            Some(&admin),
            None,
        )
        .await;
    let times: Vec<chrono::DateTime<chrono::Utc>> = record["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["at"].as_str().unwrap().parse().unwrap())
        .collect();
    assert!(times.len() > 10, "{record}");
    assert!(
        times.windows(2).all(|w| w[0] <= w[1]),
        "every entry is at or after the one before: {times:?}"
    );
}

#[tokio::test]
async fn what_each_role_reads_of_an_event_and_its_failure_follows_the_contract() {
    use iev_tests::vendor::{Reply, Vendor};
    let dir = tempfile::tempdir().unwrap();
    let app = TestApp::start_in(dir.path()).await;
    let admin = app.running.admin_key.clone();
    let vendor = Vendor::start("k", "s", |_, _| {
        Reply::error("USER_NOT_FOUND", "no such user here")
    })
    .await;
    app.integrate("app-1", "v-1", &vendor.notification_url())
        .await;
    let marketplace = app.key("marketplace", None).await;
    let manager = app.key("manager", None).await;
    let own_vendor = app.key("vendor", Some("v-1")).await;
    let other_vendor = app.key("vendor", Some("v-2")).await;
    let (status, accepted) = app
        .send(
            Method::POST,
            "/v1/events",
            Some(&marketplace),
            Some(order_json("app-1")),
        )
        .await;
    assert_eq!(status, 202, "{accepted}");
    assert!(
        accepted["token"].is_string(),
        "its producer gets the token once"
    );
    let id = accepted["id"].as_str().unwrap().to_owned();
    let settled = app.wait_settled(&id).await;
    assert_eq!(settled["status"], "FAILED", "{settled}");

    let event_path = format!("/v1/events/{id}");
    let read = |key: String| {
        let (app, path) = (&app, &event_path);
        async move { app.send(Method::GET, path, Some(&key), None).await }
    };
    let (_, as_admin) = read(admin.clone()).await;
    assert_eq!(as_admin["token"], accepted["token"]);
    assert!(
        as_admin["attempts"][0]["responseExcerpt"].is_string(),
        "{as_admin}"
    );
    for key in [manager.clone(), own_vendor.clone()] {
        let (status, view) = read(key).await;
        assert_eq!(status, 200, "{view}");
        assert!(view.get("token").is_none(), "{view}");
        assert!(view["attempts"][0]["responseExcerpt"].is_string(), "{view}");
    }
    let (status, _) = read(other_vendor.clone()).await;
    assert_eq!(status, 404);
    let (status, view) = read(marketplace.clone()).await;
    assert_eq!(status, 200, "{view}");
    assert_eq!(view["status"], "FAILED");
    assert_eq!(view["attempts"][0]["outcome"], "error");
    assert_eq!(view["attempts"][0]["errorCode"], "USER_NOT_FOUND");
    assert!(view.get("token").is_none(), "{view}");
    assert!(view["attempts"][0]["responseExcerpt"].is_null(), "{view}");
    assert!(
        view["attempts"][0]["message"].is_null(),
        "the vendor's words: {view}"
    );
    let (status, _) = app
        .send(Method::GET, "/v1/events", Some(&marketplace), None)
        .await;
    assert_eq!(status, 403, "the marketplace reads one event at a time");

    // The failure record's eventToken: an admin's to read, nobody else's.
    let list = "/api/integration_errors?fields=id,eventId,eventToken";
    let (_, page) = app.send(Method::GET, list, Some(&admin), None).await;
    assert_eq!(page["items"][0]["eventToken"], accepted["token"], "{page}");
    let record_id = page["items"][0]["id"].as_str().unwrap().to_owned();
    for key in [manager.clone(), own_vendor.clone()] {
        let (_, page) = app.send(Method::GET, list, Some(&key), None).await;
        assert_eq!(page["items"][0]["eventId"], id.as_str(), "{page}");
        assert_eq!(page["items"][0]["eventToken"], Value::Null, "{page}");
        let (_, record) = app
            .send(
                Method::GET,
                &format!("/api/integration_errors/{record_id}"),
                Some(&key),
                None,
            )
            .await;
        assert_eq!(record["eventToken"], Value::Null, "{record}");
        let (_, resolved) = app
            .send(
                Method::PUT,
                &format!("/api/integration_errors/{record_id}/unresolve"),
                Some(&key),
                None,
            )
            .await;
        assert_eq!(resolved["eventToken"], Value::Null, "{resolved}");
    }
    let (_, record) = app
        .send(
            Method::GET,
            &format!("/api/integration_errors/{record_id}"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(
        record["eventToken"], accepted["token"],
        "acting on a record keeps its token"
    );
}

#[tokio::test]
async fn an_event_nested_too_deep_to_read_back_is_refused_at_the_edge_and_not_stored() {
    let (app, _dir, admin) = runner().await;
    let mut event = order_json("app-1");
    let mut address = json!("the innermost line");
    for _ in 0..125 {
        address = json!([address]);
    }
    event["creator"]["address"] = address;
    let (status, body) = app
        .send(Method::POST, "/v1/events", Some(&admin), Some(event))
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["field"], "creator", "{body}");
    let (_, events) = app
        .send(Method::GET, "/v1/events", Some(&admin), None)
        .await;
    assert_eq!(events["items"], json!([]), "nothing was stored");
}

#[tokio::test]
async fn a_path_segment_that_is_not_utf8_answers_400_in_the_error_shape_on_every_route() {
    let (app, _dir, admin) = runner().await;
    for (method, path) in [
        (Method::GET, "/api/integration_errors/%FF"),
        (Method::GET, "/v1/events/%FF"),
        (Method::PUT, "/v1/integrations/%FF"),
        (Method::PUT, "/api/integration_errors/%FF/resolve"),
        (Method::GET, "/api/integration/v1/events/%FF"),
    ] {
        let response = app
            .client
            .request(method.clone(), app.url(path))
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "{method} {path}");
        assert_eq!(
            response.headers()["content-type"],
            "application/json",
            "{method} {path}"
        );
        let body: Value = response.json().await.unwrap();
        assert_eq!(
            body["error"]["code"], "invalid_input",
            "{method} {path}: {body}"
        );
    }
}

mod slow_clients {
    use super::*;
    use std::time::Duration;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;

    async fn runner_with(
        configure: impl FnOnce(&mut iev_runner::ServerLimits),
    ) -> (TestApp, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let app = TestApp::start_with(dir.path(), |c| {
            c.workers = 0;
            configure(&mut c.limits);
        })
        .await;
        (app, dir)
    }

    fn addr(app: &TestApp) -> String {
        app.base.trim_start_matches("http://").to_owned()
    }

    /// Reads until the server closes the connection (or `within` passes): the bytes read.
    async fn read_until_closed(stream: &mut TcpStream, within: Duration) -> Option<Vec<u8>> {
        let mut out = Vec::new();
        let mut buf = [0u8; 4096];
        let deadline = tokio::time::Instant::now() + within;
        loop {
            match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
                Ok(Ok(0)) | Ok(Err(_)) => return Some(out),
                Ok(Ok(n)) => out.extend_from_slice(&buf[..n]),
                Err(_) => return None,
            }
        }
    }

    #[tokio::test]
    async fn a_client_that_sends_half_its_headers_or_nothing_is_dropped() {
        let (app, _dir) = runner_with(|l| l.header_read = Duration::from_millis(300)).await;
        let mut half = TcpStream::connect(addr(&app)).await.unwrap();
        half.write_all(b"GET /v1/events HTTP/1.1\r\nHost: x\r\n")
            .await
            .unwrap();
        let mut silent = TcpStream::connect(addr(&app)).await.unwrap();
        // A keep-alive connection, idle after its first answer.
        let mut idle = TcpStream::connect(addr(&app)).await.unwrap();
        idle.write_all(b"GET /v1/events HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let mut first = [0u8; 12];
        idle.read_exact(&mut first).await.unwrap();
        assert_eq!(&first, b"HTTP/1.1 401");
        for (name, stream) in [
            ("half a request", &mut half),
            ("nothing", &mut silent),
            ("nothing after its first request", &mut idle),
        ] {
            assert!(
                read_until_closed(stream, Duration::from_secs(5))
                    .await
                    .is_some(),
                "the server closes a connection that sent {name}"
            );
        }
    }

    #[tokio::test]
    async fn a_body_that_does_not_arrive_in_time_answers_408_in_the_error_shape() {
        let (app, _dir) = runner_with(|l| l.body_read = Duration::from_millis(300)).await;
        let key = app.running.admin_key.clone();
        let mut stream = TcpStream::connect(addr(&app)).await.unwrap();
        let head = format!(
            "POST /v1/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {key}\r\n\
             Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"applicationId\""
        );
        stream.write_all(head.as_bytes()).await.unwrap();
        let answer = read_until_closed(&mut stream, Duration::from_secs(5))
            .await
            .expect("an answer");
        let text = String::from_utf8_lossy(&answer);
        assert!(text.starts_with("HTTP/1.1 408"), "{text}");
        assert!(text.contains(r#""code":"request_timeout""#), "{text}");
    }

    #[tokio::test]
    async fn headers_over_16_kib_answer_431_in_the_error_shape() {
        let (app, _dir) = runner_with(|_| {}).await;
        let response = app
            .client
            .get(app.url("/v1/events"))
            .header("x-filler", "a".repeat(20 * 1024))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 431);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["error"]["code"], "header_too_large", "{body}");
        let fine = app
            .client
            .get(app.url("/v1/events"))
            .header("x-filler", "a".repeat(8 * 1024))
            .send()
            .await
            .unwrap();
        assert_eq!(
            fine.status(),
            401,
            "a large but allowed header reaches the route"
        );
    }

    #[tokio::test]
    async fn requests_hyper_cannot_parse_answer_in_the_error_shape_too() {
        let (app, _dir) = runner_with(|_| {}).await;
        let huge = format!(
            "GET /v1/events HTTP/1.1\r\nHost: x\r\nX-Filler: {}\r\n\r\n",
            "a".repeat(300 * 1024)
        );
        let cases: [(&str, &[u8], &str); 4] = [
            (
                "a bad Content-Length",
                b"POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Length: ten\r\n\r\n",
                "HTTP/1.1 400",
            ),
            (
                "two Content-Lengths that disagree",
                b"POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
                "HTTP/1.1 400",
            ),
            ("a malformed request line", b"GET\x01 / HTTP/1.1\r\n\r\n", "HTTP/1.1 400"),
            ("headers past hyper's buffer", huge.as_bytes(), "HTTP/1.1 431"),
        ];
        for (name, request, status) in cases {
            let mut stream = TcpStream::connect(addr(&app)).await.unwrap();
            // The server may answer and close before it has read everything.
            let _ = stream.write_all(request).await;
            let answer = read_until_closed(&mut stream, Duration::from_secs(5))
                .await
                .unwrap_or_else(|| panic!("{name}: no answer"));
            let text = String::from_utf8_lossy(&answer);
            assert!(text.starts_with(status), "{name}: {text}");
            let (head, body) = text.split_once("\r\n\r\n").expect("a whole answer");
            assert!(
                head.to_ascii_lowercase()
                    .contains("content-type: application/json"),
                "{name}: {head}"
            );
            let body: Value =
                serde_json::from_str(body).unwrap_or_else(|e| panic!("{name}: {e}: {body}"));
            assert!(body["error"]["code"].is_string(), "{name}: {body}");
            assert!(body["error"]["message"].is_string(), "{name}: {body}");
        }
    }

    #[tokio::test]
    async fn connections_past_the_cap_wait_until_one_closes() {
        let (app, _dir) = runner_with(|l| {
            l.max_connections = 2;
            l.header_read = Duration::from_secs(30);
        })
        .await;
        let first = TcpStream::connect(addr(&app)).await.unwrap();
        let _second = TcpStream::connect(addr(&app)).await.unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        let mut third = TcpStream::connect(addr(&app)).await.unwrap();
        third
            .write_all(b"GET /v1/events HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        assert!(
            read_until_closed(&mut third, Duration::from_millis(500))
                .await
                .is_none(),
            "a third connection is not served while two are open"
        );
        drop(first);
        let answer = read_until_closed(&mut third, Duration::from_secs(5))
            .await
            .expect("served once a connection closed");
        assert!(String::from_utf8_lossy(&answer).starts_with("HTTP/1.1 401"));
    }
}

#[tokio::test]
async fn a_record_patched_again_and_again_stays_bounded_and_its_history_names_each_attribute() {
    let (app, _dir, admin) = runner().await;
    let id = failure(&app, &admin).await;
    let path = format!("/api/integration_errors/{id}");
    for round in 0..30 {
        let attributes: serde_json::Map<String, Value> = (0..50)
            .map(|i| {
                (
                    format!("attr{i}"),
                    json!(format!("{round}-{}", "x".repeat(1000))),
                )
            })
            .collect();
        let (status, body) = app
            .send(
                Method::PATCH,
                &path,
                Some(&admin),
                Some(json!({"customAttributes": attributes})),
            )
            .await;
        assert_eq!(status, 200, "round {round}: {body}");
    }
    let (_, one) = app
        .send(
            Method::PATCH,
            &path,
            Some(&admin),
            Some(json!({"customAttributes": {"attr7": "short"}})),
        )
        .await;
    let last = one["history"].as_array().unwrap().last().unwrap().clone();
    let changed: Vec<&String> = last["fields"].as_object().unwrap().keys().collect();
    assert_eq!(
        changed,
        ["customAttributes.attr7"],
        "only what changed is kept"
    );
    assert_eq!(last["fields"]["customAttributes.attr7"]["to"], "short");
    let size = serde_json::to_vec(&one).unwrap().len();
    assert!(
        size < 400_000,
        "the record stays inside a DynamoDB item's 400 KB: {size} bytes"
    );

    let too_many: serde_json::Map<String, Value> =
        (0..51).map(|i| (format!("a{i}"), json!("v"))).collect();
    let (status, body) = app
        .send(
            Method::POST,
            "/api/integration_errors",
            Some(&admin),
            Some(
                json!({"applicationId": "app-1", "errorCode": "UNKNOWN_ERROR", "message": "m",
                        "customAttributes": too_many}),
            ),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["field"], "customAttributes");
    let (status, body) = app
        .send(
            Method::POST,
            "/api/integration_errors",
            Some(&admin),
            Some(
                json!({"applicationId": "app-1", "errorCode": "UNKNOWN_ERROR", "message": "m",
                        "customAttributes": {"big": "x".repeat(1025)}}),
            ),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["field"], "customAttributes.big");
}

#[tokio::test]
async fn a_change_that_would_make_a_record_too_large_for_its_store_is_refused_whole() {
    let (app, _dir, admin) = runner().await;
    let id = failure(&app, &admin).await;
    // Within every field's own bound and the body's 256 KiB, but control
    // characters take six bytes each as JSON: ten such answers are 245 KB,
    // and the history entry holds them again.
    let body: String = "\u{1}".repeat(4096);
    let responses: Vec<Value> = (0..10)
        .map(|_| json!({"status": 500, "body": body}))
        .collect();
    let path = format!("/api/integration_errors/{id}");
    let (status, error) = app
        .send(
            Method::PUT,
            &path,
            Some(&admin),
            Some(json!({"responses": responses})),
        )
        .await;
    assert_eq!(status, 400, "{error}");
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .contains("bytes"),
        "{error}"
    );
    let (_, record) = app.send(Method::GET, &path, Some(&admin), None).await;
    assert_eq!(record["responses"], json!([]), "nothing of it was stored");
    assert_eq!(record["version"], 1);
}
