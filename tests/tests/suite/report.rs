//! The operator's side over HTTP: the report, its pages, CSV and summary, the
//! events log, resolution with history, alerts, and tenant isolation.

use iev_tests::fixtures::order_json;
use iev_tests::TestApp;
use reqwest::Method;
use serde_json::{json, Value};

fn integration_body(vendor: &str, name: &str) -> Value {
    json!({
        "applicationName": name,
        "importableApplicationUuid": format!("{name}-import"),
        "vendorId": vendor,
        "notificationUrls": {"SUBSCRIPTION_ORDER": "http://127.0.0.1:9/create?eventUrl={eventUrl}"},
        "oauth": {"consumerKey": format!("{name}-key"), "consumerSecret": "s3cret"}
    })
}

/// A runner that does not deliver, with app-1 (vendor v-1) and app-2 (vendor v-2).
struct Setup {
    app: TestApp,
    admin: String,
    manager: String,
    _dir: tempfile::TempDir,
}

async fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let app = TestApp::start_with(dir.path(), |c| c.workers = 0).await;
    let admin = app.running.admin_key.clone();
    for (id, vendor) in [("app-1", "v-1"), ("app-2", "v-2")] {
        let (status, body) = app
            .send(
                Method::PUT,
                &format!("/v1/integrations/{id}"),
                Some(&admin),
                Some(integration_body(vendor, id)),
            )
            .await;
        assert_eq!(status, 200, "{body}");
    }
    let manager = app.key("manager", None).await;
    Setup {
        app,
        admin,
        manager,
        _dir: dir,
    }
}

impl Setup {
    /// Records a failure through the external-create route; answers its id.
    async fn failure(&self, body: Value) -> String {
        let (status, record) = self
            .app
            .send(
                Method::POST,
                "/api/integration_errors",
                Some(&self.admin),
                Some(body),
            )
            .await;
        assert_eq!(status, 201, "{record}");
        // Creation dates have millisecond precision; keep them apart so order is certain.
        tokio::time::sleep(std::time::Duration::from_millis(3)).await;
        record["id"].as_str().unwrap().to_owned()
    }

    async fn get(&self, path: &str, key: &str) -> (u16, Value) {
        self.app.send(Method::GET, path, Some(key), None).await
    }

    async fn raw(&self, path: &str, key: &str) -> reqwest::Response {
        self.app
            .client
            .get(self.app.url(path))
            .bearer_auth(key)
            .send()
            .await
            .unwrap()
    }
}

fn failure(app: &str, code: &str, message: &str) -> Value {
    json!({"applicationId": app, "errorCode": code, "message": message,
           "eventType": "SUBSCRIPTION_ORDER", "companyId": "c-1", "userEmail": "ann@example.com"})
}

fn ids(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn the_default_view_shows_the_twelve_fields_in_order_newest_first() {
    let s = setup().await;
    let first = s
        .failure(failure("app-1", "ACCOUNT_NOT_FOUND", "one"))
        .await;
    let second = s.failure(failure("app-2", "UNAUTHORIZED", "two")).await;
    let (status, page) = s.get("/api/integration_errors", &s.manager).await;
    assert_eq!(status, 200, "{page}");
    let items = page["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    let keys: Vec<&str> = items[0]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "creationDate",
            "applicationId",
            "importableApplicationUuid",
            "applicationName",
            "userId",
            "userEmail",
            "companyId",
            "companyName",
            "eventType",
            "errorCode",
            "message",
            "manuallyResolved"
        ]
    );
    assert_eq!(items[0]["message"], "two");
    assert_eq!(items[1]["message"], "one");
    assert_eq!(page["nextCursor"], Value::Null);
    let (_, page) = s
        .get("/api/integration_errors?fields=id,category", &s.manager)
        .await;
    assert_eq!(ids(&page), [second, first]);
    assert_eq!(
        page["items"][1]["category"],
        "integration.missingaccountmapping.error"
    );
}

#[tokio::test]
async fn a_resolved_record_leaves_the_default_view_and_comes_back_with_resolved_all() {
    let s = setup().await;
    let id = s.failure(failure("app-1", "USER_NOT_FOUND", "gone")).await;
    let other = s
        .failure(failure("app-1", "USER_NOT_FOUND", "still open"))
        .await;
    let (status, resolved) = s
        .app
        .send(
            Method::PUT,
            &format!("/api/integration_errors/{id}/resolve"),
            Some(&s.manager),
            Some(json!({"note": "mapped the account"})),
        )
        .await;
    assert_eq!(status, 200, "{resolved}");
    assert_eq!(resolved["manuallyResolved"], true);
    assert_eq!(resolved["note"], "mapped the account");
    assert!(resolved["resolvedBy"].as_str().unwrap().len() > 4);
    let page = |q: &'static str| s.get(q, &s.manager);
    assert_eq!(
        ids(&page("/api/integration_errors?fields=id").await.1),
        std::slice::from_ref(&other)
    );
    assert_eq!(
        ids(&page("/api/integration_errors?fields=id&resolved=true")
            .await
            .1),
        std::slice::from_ref(&id)
    );
    assert_eq!(
        ids(&page("/api/integration_errors?fields=id&resolved=all")
            .await
            .1),
        [other, id.clone()]
    );

    // Resolving twice changes nothing the second time.
    let (status, again) = s
        .app
        .send(
            Method::PUT,
            &format!("/api/integration_errors/{id}/resolve"),
            Some(&s.admin),
            Some(json!({"note": "second try"})),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(again, resolved);

    let (status, reopened) = s
        .app
        .send(
            Method::PUT,
            &format!("/api/integration_errors/{id}/unresolve"),
            Some(&s.admin),
            None,
        )
        .await;
    assert_eq!(status, 200, "{reopened}");
    assert_eq!(reopened["manuallyResolved"], false);
    assert_eq!(reopened["resolvedAt"], Value::Null);
    let history = reopened["history"].as_array().unwrap();
    assert_eq!(history.len(), 2);
    assert_eq!(history[0]["action"], "resolve");
    assert_eq!(history[0]["fields"]["manuallyResolved"]["to"], true);
    assert_eq!(history[1]["action"], "unresolve");
    assert_ne!(history[0]["by"], history[1]["by"]);
}

#[tokio::test]
async fn pages_follow_the_cursor_without_gaps_or_repeats_and_the_cursor_is_bound_to_its_query() {
    let s = setup().await;
    let mut made = Vec::new();
    for i in 0..5 {
        made.push(
            s.failure(failure("app-1", "PENDING", &format!("m{i}")))
                .await,
        );
    }
    made.reverse();
    let mut seen = Vec::new();
    let mut path = "/api/integration_errors?fields=id&limit=2".to_owned();
    let mut cursors = Vec::new();
    loop {
        let (status, page) = s.get(&path, &s.manager).await;
        assert_eq!(status, 200, "{page}");
        seen.extend(ids(&page));
        match page["nextCursor"].as_str() {
            Some(c) => {
                cursors.push(c.to_owned());
                path = format!("/api/integration_errors?fields=id&limit=2&cursor={c}");
            }
            None => break,
        }
    }
    assert_eq!(seen, made);
    assert_eq!(cursors.len(), 2);
    // The same cursor under another filter, altered, or made up: refused alike.
    for bad in [
        format!(
            "/api/integration_errors?limit=2&resolved=all&cursor={}",
            cursors[0]
        ),
        format!("/api/integration_errors?cursor={}x", cursors[0]),
        "/api/integration_errors?cursor=bm90LWEtY3Vyc29y.AAAA".to_owned(),
    ] {
        let (status, body) = s.get(&bad, &s.manager).await;
        assert_eq!(status, 400, "{bad}: {body}");
        assert_eq!(body["error"]["field"], "cursor");
    }
}

#[tokio::test]
async fn every_filter_narrows_the_report_and_bad_values_are_named() {
    let s = setup().await;
    let a = s.failure(failure("app-1", "ACCOUNT_NOT_FOUND", "a")).await;
    let b = s
        .failure(json!({"applicationId": "app-2", "errorCode": "FORBIDDEN", "message": "b",
                        "eventType": "USER_ASSIGNMENT", "companyId": "c-2", "userEmail": "bob@example.com"}))
        .await;
    let cases = [
        ("applicationId=app-1", vec![a.clone()]),
        ("errorCode=FORBIDDEN", vec![b.clone()]),
        ("category=integration.authentication.error", vec![b.clone()]),
        ("eventType=USER_ASSIGNMENT", vec![b.clone()]),
        ("companyId=c-1", vec![a.clone()]),
        ("userEmail=bob%40example.com", vec![b.clone()]),
        ("applicationId=app-1&errorCode=FORBIDDEN", vec![]),
        ("from=2000-01-01&to=2100-01-01", vec![b.clone(), a.clone()]),
        ("to=2000-01-01", vec![]),
        ("applicationId=no-such-app", vec![]),
    ];
    for (query, expected) in cases {
        let (status, page) = s
            .get(
                &format!("/api/integration_errors?fields=id&{query}"),
                &s.manager,
            )
            .await;
        assert_eq!(status, 200, "{query}: {page}");
        assert_eq!(ids(&page), expected, "{query}");
    }
    for (query, field) in [
        ("errorCode=NOPE", "errorCode"),
        ("category=bad", "category"),
        ("eventType=ORDER", "eventType"),
        ("resolved=maybe", "resolved"),
        ("limit=0", "limit"),
        ("limit=1001", "limit"),
        ("from=yesterday", "from"),
        ("from=2026-02-01&to=2026-01-01", "to"),
        ("fields=id,password", "fields"),
        ("format=xml", "format"),
        ("colour=red", "colour"),
        ("limit=5&limit=6", "limit"),
    ] {
        let (status, body) = s
            .get(&format!("/api/integration_errors?{query}"), &s.manager)
            .await;
        assert_eq!(status, 400, "{query}: {body}");
        assert_eq!(body["error"]["field"], field, "{query}");
    }
}

#[tokio::test]
async fn the_csv_report_has_the_headings_as_header_row_and_quotes_awkward_messages() {
    let s = setup().await;
    let awkward = "failed, said \"the vendor\"\nthen gave up";
    s.failure(failure("app-1", "UNKNOWN_ERROR", awkward)).await;
    s.failure(failure("app-1", "UNKNOWN_ERROR", "plain")).await;
    let response = s
        .raw("/api/integration_errors?format=csv&limit=1", &s.manager)
        .await;
    assert_eq!(response.status(), 200);
    assert!(response.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/csv"));
    let cursor = response.headers()["x-next-cursor"]
        .to_str()
        .unwrap()
        .to_owned();
    let text = response.text().await.unwrap();
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let headers: Vec<String> = reader.headers().unwrap().iter().map(String::from).collect();
    assert_eq!(headers[0], "Creation Date");
    assert_eq!(headers[5], "User email");
    assert_eq!(headers[11], "Manually Resolved");
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 1);
    assert_eq!(&rows[0][10], "plain");
    let response = s
        .raw(
            &format!("/api/integration_errors?format=csv&limit=1&cursor={cursor}"),
            &s.manager,
        )
        .await;
    let text = response.text().await.unwrap();
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let row = reader.records().next().unwrap().unwrap();
    assert_eq!(&row[10], awkward);
    assert_eq!(&row[1], "app-1");
    assert_eq!(&row[11], "false");
}

#[tokio::test]
async fn a_patch_sets_note_external_id_and_custom_attributes_that_become_report_fields() {
    let s = setup().await;
    let id = s.failure(failure("app-1", "PENDING", "p")).await;
    let (status, patched) = s
        .app
        .send(
            Method::PATCH,
            &format!("/api/integration_errors/{id}"),
            Some(&s.manager),
            Some(json!({"note": "looking", "externalId": "JIRA-7", "customAttributes": {"ticket": "T-1", "team": "core"}})),
        )
        .await;
    assert_eq!(status, 200, "{patched}");
    assert_eq!(patched["externalId"], "JIRA-7");
    assert_eq!(patched["history"][0]["action"], "update");
    let (_, page) = s
        .get(
            "/api/integration_errors?fields=id,customAttributes.ticket,externalId,note",
            &s.manager,
        )
        .await;
    assert_eq!(
        page["items"][0],
        json!({"id": id, "customAttributes.ticket": "T-1", "externalId": "JIRA-7", "note": "looking"})
    );
    // null removes an attribute and clears a field; absent fields stay.
    let (_, patched) = s
        .app
        .send(
            Method::PATCH,
            &format!("/api/integration_errors/{id}"),
            Some(&s.manager),
            Some(json!({"note": null, "customAttributes": {"team": null}})),
        )
        .await;
    assert_eq!(patched["note"], Value::Null);
    assert_eq!(patched["externalId"], "JIRA-7");
    assert_eq!(patched["customAttributes"], json!({"ticket": "T-1"}));
    assert_eq!(patched["history"].as_array().unwrap().len(), 2);
    let (status, body) = s
        .app
        .send(
            Method::PATCH,
            &format!("/api/integration_errors/{id}"),
            Some(&s.manager),
            Some(json!({"customAttributes": {"bad name": "x"}})),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["field"], "customAttributes.bad name");
}

#[tokio::test]
async fn bulk_resolve_answers_each_id_and_refuses_more_than_a_hundred() {
    let s = setup().await;
    let a = s.failure(failure("app-1", "PENDING", "a")).await;
    let b = s.failure(failure("app-1", "PENDING", "b")).await;
    s.app
        .send(
            Method::PUT,
            &format!("/api/integration_errors/{b}/resolve"),
            Some(&s.manager),
            None,
        )
        .await;
    let (status, body) = s
        .app
        .send(
            Method::POST,
            "/api/integration_errors/resolve",
            Some(&s.manager),
            Some(json!({"ids": [a, b, "nope", a]})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["results"],
        json!([{"id": a, "status": "resolved"}, {"id": b, "status": "alreadyResolved"},
               {"id": "nope", "status": "notFound"}])
    );
    let (_, page) = s.get("/api/integration_errors", &s.manager).await;
    assert_eq!(page["items"], json!([]));
    let many: Vec<String> = (0..101).map(|i| format!("id-{i}")).collect();
    let (status, body) = s
        .app
        .send(
            Method::POST,
            "/api/integration_errors/resolve",
            Some(&s.manager),
            Some(json!({ "ids": many })),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["field"], "ids");
}

#[tokio::test]
async fn the_summary_counts_failures_per_application_and_error_code() {
    let s = setup().await;
    s.failure(failure("app-1", "PENDING", "a")).await;
    s.failure(failure("app-1", "PENDING", "b")).await;
    s.failure(failure("app-1", "FORBIDDEN", "c")).await;
    s.failure(failure("app-2", "PENDING", "d")).await;
    let (status, rows) = s
        .get(
            "/api/integration_errors/summary?from=2000-01-01&to=2100-01-01",
            &s.manager,
        )
        .await;
    assert_eq!(status, 200, "{rows}");
    assert_eq!(
        rows,
        json!([
            {"applicationId": "app-1", "errorCode": "FORBIDDEN", "count": 1},
            {"applicationId": "app-1", "errorCode": "PENDING", "count": 2},
            {"applicationId": "app-2", "errorCode": "PENDING", "count": 1}
        ])
    );
    let (_, rows) = s
        .get("/api/integration_errors/summary?to=2000-01-01", &s.manager)
        .await;
    assert_eq!(rows, json!([]));
}

/// A webhook that keeps what it is sent.
async fn webhook() -> (String, tokio::sync::mpsc::UnboundedReceiver<Value>) {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |axum::Json(body): axum::Json<Value>| {
            let tx = tx.clone();
            async move {
                let _ = tx.send(body);
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}/hook"), rx)
}

#[tokio::test]
async fn an_alert_is_stored_posted_to_webhooks_and_queued_for_email() {
    let s = setup().await;
    let id = s.failure(failure("app-1", "PENDING", "stuck")).await;
    let (url, mut received) = webhook().await;
    let (status, alert) = s
        .app
        .send(
            Method::POST,
            "/api/integration_errors/create_alert",
            Some(&s.manager),
            Some(json!({"ids": [id], "contactAlertType": "WEBHOOK", "recipients": [url]})),
        )
        .await;
    assert_eq!(status, 201, "{alert}");
    assert_eq!(alert["deliveries"][0]["status"], "delivered");
    let posted = received.recv().await.unwrap();
    assert_eq!(posted["records"][0]["id"], id);
    assert_eq!(posted["alert"]["id"], alert["id"]);

    let (status, alert) = s
        .app
        .send(
            Method::POST,
            "/api/integration_errors/create_alert",
            Some(&s.manager),
            Some(json!({"ids": [id], "contactAlertType": "EMAIL", "recipients": ["ops@market.example"]})),
        )
        .await;
    assert_eq!(status, 201, "{alert}");
    assert_eq!(alert["deliveries"][0]["status"], "queued");
    let (status, body) = s
        .app
        .send(
            Method::POST,
            "/api/integration_errors/create_alert",
            Some(&s.manager),
            Some(
                json!({"ids": [id], "contactAlertType": "EMAIL", "recipients": ["not-an-address"]}),
            ),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["field"], "recipients[0]");
    let vendor = s.app.key("vendor", Some("v-1")).await;
    let (status, _) = s
        .app
        .send(
            Method::POST,
            "/api/integration_errors/create_alert",
            Some(&vendor),
            Some(json!({"ids": [id], "contactAlertType": "EMAIL", "recipients": ["ops@market.example"]})),
        )
        .await;
    assert_eq!(status, 403);
}

#[tokio::test]
async fn the_events_log_lists_newest_first_with_its_filters_and_pages() {
    let s = setup().await;
    let marketplace = s.app.key("marketplace", None).await;
    let mut made = Vec::new();
    for app in ["app-1", "app-2", "app-1"] {
        let (status, accepted) = s
            .app
            .send(
                Method::POST,
                "/v1/events",
                Some(&marketplace),
                Some(order_json(app)),
            )
            .await;
        assert_eq!(status, 202, "{accepted}");
        made.push(accepted["id"].as_str().unwrap().to_owned());
        tokio::time::sleep(std::time::Duration::from_millis(3)).await;
    }
    let (status, page) = s.get("/v1/events", &s.manager).await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(
        ids(&page),
        [made[2].clone(), made[1].clone(), made[0].clone()]
    );
    assert_eq!(page["items"][0]["status"], "PENDING");
    assert_eq!(page["items"][0]["type"], "SUBSCRIPTION_ORDER");
    let (_, page) = s
        .get("/v1/events?applicationId=app-1&limit=1", &s.manager)
        .await;
    assert_eq!(ids(&page), [made[2].clone()]);
    let cursor = page["nextCursor"].as_str().unwrap();
    let (_, page) = s
        .get(
            &format!("/v1/events?applicationId=app-1&limit=1&cursor={cursor}"),
            &s.manager,
        )
        .await;
    assert_eq!(ids(&page), [made[0].clone()]);
    assert_eq!(page["nextCursor"], Value::Null);
    let (_, page) = s.get("/v1/events?status=COMPLETE", &s.manager).await;
    assert_eq!(ids(&page), Vec::<String>::new());
    let (_, page) = s.get("/v1/events?type=USER_UPDATED", &s.manager).await;
    assert_eq!(ids(&page), Vec::<String>::new());
    let (status, body) = s.get("/v1/events?status=LOST", &s.manager).await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["field"], "status");
    let v2 = s.app.key("vendor", Some("v-2")).await;
    let (_, page) = s.get("/v1/events", &v2).await;
    assert_eq!(ids(&page), [made[1].clone()]);
}

/// What a route answers, for comparing a foreign id's answer with an unknown one's.
async fn answer(
    s: &Setup,
    method: Method,
    path: &str,
    key: &str,
    body: Option<Value>,
) -> (u16, Value) {
    s.app.send(method, path, Some(key), body).await
}

#[tokio::test]
async fn a_vendor_reaches_nothing_of_another_vendors_on_any_route() {
    let s = setup().await;
    let marketplace = s.app.key("marketplace", None).await;
    let theirs = s
        .failure(failure("app-2", "PENDING", "v-2's failure"))
        .await;
    let mine = s
        .failure(failure("app-1", "PENDING", "v-1's failure"))
        .await;
    let (_, accepted) = s
        .app
        .send(
            Method::POST,
            "/v1/events",
            Some(&marketplace),
            Some(order_json("app-2")),
        )
        .await;
    let their_event = accepted["id"].as_str().unwrap().to_owned();
    let v1 = s.app.key("vendor", Some("v-1")).await;
    let v2 = s.app.key("vendor", Some("v-2")).await;

    // Every route that takes an id answers for theirs exactly as for an unknown one.
    let by_id: Vec<(Method, &str, &str, Option<Value>)> = vec![
        (Method::GET, "/api/integration_errors/{}", &theirs, None),
        (
            Method::PATCH,
            "/api/integration_errors/{}",
            &theirs,
            Some(json!({"note": "x"})),
        ),
        (
            Method::PUT,
            "/api/integration_errors/{}/resolve",
            &theirs,
            None,
        ),
        (
            Method::PUT,
            "/api/integration_errors/{}/unresolve",
            &theirs,
            None,
        ),
        (Method::GET, "/v1/events/{}", &their_event, None),
        (Method::POST, "/v1/events/{}/retry", &their_event, None),
    ];
    for (method, path, id, body) in by_id {
        let mut answers = Vec::new();
        for id in [id, "no-such-id"] {
            let path = path.replace("{}", id);
            answers.push(answer(&s, method.clone(), &path, &v1, body.clone()).await);
        }
        assert_eq!(answers[0].0, 404, "{method} {path}: {:?}", answers[0]);
        assert_eq!(answers[0], answers[1], "{method} {path}");
    }
    for (method, body) in [
        (Method::GET, None),
        (Method::PUT, Some(integration_body("v-1", "app-2"))),
    ] {
        let foreign = answer(
            &s,
            method.clone(),
            "/v1/integrations/app-2",
            &v1,
            body.clone(),
        )
        .await;
        let unknown = answer(
            &s,
            method.clone(),
            "/v1/integrations/app-9",
            &v1,
            body.clone(),
        )
        .await;
        // A PUT to an unknown id configures a new application of the caller's own.
        assert_eq!(foreign.0, 404, "{method}: {foreign:?}");
        if method == Method::GET {
            assert_eq!(foreign, unknown);
        }
    }
    // Re-enabling and recovery are a manager's: a vendor is refused whatever the id.
    for path in [
        "/v1/integrations/app-2/enable",
        "/v1/integrations/app-2/recover",
    ] {
        let (status, _) = answer(&s, Method::POST, path, &v1, Some(json!({}))).await;
        assert_eq!(status, 403, "{path}");
    }

    // Bulk resolve: theirs is notFound like an unknown id, and stays open.
    let (_, body) = answer(
        &s,
        Method::POST,
        "/api/integration_errors/resolve",
        &v1,
        Some(json!({"ids": [theirs, "no-such-id"]})),
    )
    .await;
    assert_eq!(body["results"][0]["status"], "notFound");
    assert_eq!(body["results"][1]["status"], "notFound");
    let (_, record) = s
        .get(&format!("/api/integration_errors/{theirs}"), &s.manager)
        .await;
    assert_eq!(record["manuallyResolved"], false);
    assert!(record.get("history").is_none());

    // Lists, CSV, summary and events log hold only their own, whatever the filter.
    let (_, page) = s
        .get("/api/integration_errors?fields=id&resolved=all", &v1)
        .await;
    assert_eq!(ids(&page), std::slice::from_ref(&mine));
    let (_, foreign) = s
        .get("/api/integration_errors?applicationId=app-2", &v1)
        .await;
    let (_, unknown) = s
        .get("/api/integration_errors?applicationId=app-9", &v1)
        .await;
    assert_eq!(foreign, unknown);
    assert_eq!(foreign["items"], json!([]));
    let csv = s
        .raw("/api/integration_errors?format=csv&fields=id,message", &v1)
        .await
        .text()
        .await
        .unwrap();
    assert!(csv.contains(&mine) && !csv.contains(&theirs), "{csv}");
    let (_, summary) = s.get("/api/integration_errors/summary", &v1).await;
    assert_eq!(
        summary,
        json!([{"applicationId": "app-1", "errorCode": "PENDING", "count": 1}])
    );
    let (_, events) = s.get("/v1/events?applicationId=app-2", &v1).await;
    assert_eq!(events["items"], json!([]));

    // A cursor made for another vendor is refused exactly like a made-up one.
    s.failure(failure("app-2", "PENDING", "another")).await;
    let (_, page) = s.get("/api/integration_errors?limit=1", &v2).await;
    let their_cursor = page["nextCursor"].as_str().unwrap();
    let foreign = s
        .get(
            &format!("/api/integration_errors?limit=1&cursor={their_cursor}"),
            &v1,
        )
        .await;
    let made_up = s
        .get(
            "/api/integration_errors?limit=1&cursor=bm9wZQ.AAAAAAAAAAAAAAAAAAAAAA",
            &v1,
        )
        .await;
    assert_eq!(foreign.0, 400);
    assert_eq!(foreign, made_up);
}
