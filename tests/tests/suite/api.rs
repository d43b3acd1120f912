//! The HTTP API of the local runner, driven as a client would.

use iev_tests::fixtures::order_json;
use iev_tests::vendor::{oauth_get, Reply, Vendor};
use iev_tests::TestApp;
use reqwest::Method;
use serde_json::{json, Value};

fn integration_body(vendor: &str) -> Value {
    json!({
        "applicationName": "Widget",
        "importableApplicationUuid": "imp-1",
        "vendorId": vendor,
        "notificationUrls": {"SUBSCRIPTION_ORDER": "http://127.0.0.1:9/create?eventUrl={eventUrl}"},
        "oauth": {"consumerKey": "widget-key", "consumerSecret": "widget-secret"}
    })
}

/// A runner that accepts but does not deliver, with one integration (app-1,
/// vendor v-1) and a marketplace key.
async fn app_with_integration() -> (TestApp, String, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let app = TestApp::start_with(dir.path(), |c| c.workers = 0).await;
    let admin = app.running.admin_key.clone();
    let (status, body) = app
        .send(
            Method::PUT,
            "/v1/integrations/app-1",
            Some(&admin),
            Some(integration_body("v-1")),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let marketplace = app.key("marketplace", None).await;
    (app, marketplace, dir)
}

/// Fetches an event URL the way a vendor's standard OAuth 1.0a library does.
async fn vendor_fetch(url: &str, key: &str, secret: &str) -> reqwest::Response {
    reqwest::Client::new()
        .get(url)
        .header("authorization", oauth_get(url, key, secret))
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn an_accepted_event_is_readable_through_the_signed_vendor_fetch() {
    let (app, marketplace, _dir) = app_with_integration().await;
    let (status, accepted) = app
        .send(
            Method::POST,
            "/v1/events",
            Some(&marketplace),
            Some(order_json("app-1")),
        )
        .await;
    assert_eq!(status, 202, "{accepted}");
    assert_eq!(accepted["status"], "PENDING");
    let token = accepted["token"].as_str().unwrap();
    assert!(token.len() >= 43, "the token carries 256 random bits");
    let url = app.url(&format!("/api/integration/v1/events/{token}"));
    let resp = vendor_fetch(&url, "widget-key", "widget-secret").await;
    assert_eq!(resp.status(), 200);
    let event: Value = resp.json().await.unwrap();
    assert_eq!(event["type"], "SUBSCRIPTION_ORDER");
    assert_eq!(event["applicationUuid"], "app-1");
    assert_eq!(event["payload"]["company"]["name"], "Widgets, \"Inc\"");
    assert_eq!(event["payload"]["order"]["items"][0]["quantity"], 10);
    assert_eq!(event["creator"]["email"], "ann@example.com");
    assert!(
        event.get("applicationId").is_none(),
        "AppDirect's shape has no applicationId"
    );
}

#[tokio::test]
async fn a_vendor_fetch_that_is_unsigned_or_signed_with_the_wrong_secret_gets_401() {
    let (app, marketplace, _dir) = app_with_integration().await;
    let (_, accepted) = app
        .send(
            Method::POST,
            "/v1/events",
            Some(&marketplace),
            Some(order_json("app-1")),
        )
        .await;
    let url = app.url(&format!(
        "/api/integration/v1/events/{}",
        accepted["token"].as_str().unwrap()
    ));
    let unsigned = reqwest::get(&url).await.unwrap();
    assert_eq!(unsigned.status(), 401);
    let body: Value = unsigned.json().await.unwrap();
    assert_eq!(body["error"]["code"], "bad_signature");
    assert_eq!(
        vendor_fetch(&url, "widget-key", "guess").await.status(),
        401
    );
    assert_eq!(
        vendor_fetch(&url, "other-key", "widget-secret")
            .await
            .status(),
        401
    );
    let unknown = app.url("/api/integration/v1/events/no-such-token");
    assert_eq!(
        vendor_fetch(&unknown, "widget-key", "widget-secret")
            .await
            .status(),
        404
    );
    // The token names its event; the event's id with another secret is unknown.
    let token = accepted["token"].as_str().unwrap();
    let (id, secret) = token.rsplit_once('.').unwrap();
    assert_eq!(id, accepted["id"].as_str().unwrap());
    let forged = app.url(&format!(
        "/api/integration/v1/events/{id}.{}",
        "A".repeat(secret.len())
    ));
    assert_eq!(
        vendor_fetch(&forged, "widget-key", "widget-secret")
            .await
            .status(),
        404
    );
}

#[tokio::test]
async fn a_restart_keeps_accepted_events_and_delivers_the_undelivered() {
    let dir = tempfile::tempdir().unwrap();
    let vendor = Vendor::start("widget-key", "widget-secret", |_, _| Reply::success()).await;
    let mut integration = integration_body("v-1");
    integration["notificationUrls"]["SUBSCRIPTION_ORDER"] = json!(vendor.notification_url());
    let (token, id) = {
        // This runner accepts but does not deliver, then stops as a crash would.
        let app = TestApp::start_with(dir.path(), |c| c.workers = 0).await;
        let admin = app.running.admin_key.clone();
        app.send(
            Method::PUT,
            "/v1/integrations/app-1",
            Some(&admin),
            Some(integration),
        )
        .await;
        let (status, accepted) = app
            .send(
                Method::POST,
                "/v1/events",
                Some(&admin),
                Some(order_json("app-1")),
            )
            .await;
        assert_eq!(status, 202);
        app.stop().await;
        (
            accepted["token"].as_str().unwrap().to_owned(),
            accepted["id"].as_str().unwrap().to_owned(),
        )
    };
    assert!(vendor.calls().is_empty());
    let app = TestApp::start_in(dir.path()).await;
    assert!(
        !app.running.admin_key_generated,
        "the admin key is kept in the data directory"
    );
    let url = app.url(&format!("/api/integration/v1/events/{token}"));
    assert_eq!(
        vendor_fetch(&url, "widget-key", "widget-secret")
            .await
            .status(),
        200
    );
    let settled = app.wait_settled(&id).await;
    assert_eq!(settled["status"], "COMPLETE", "{settled}");
    assert_eq!(vendor.calls().len(), 1);
}

#[tokio::test]
async fn the_same_idempotency_key_answers_the_same_and_another_body_conflicts() {
    let (app, marketplace, _dir) = app_with_integration().await;
    let post = |body: Value| {
        app.client
            .post(app.url("/v1/events"))
            .bearer_auth(&marketplace)
            .header("Idempotency-Key", "order-42")
            .json(&body)
            .send()
    };
    let first = post(order_json("app-1")).await.unwrap();
    assert_eq!(first.status(), 202);
    let first: Value = first.json().await.unwrap();
    let again = post(order_json("app-1")).await.unwrap();
    assert_eq!(again.status(), 202);
    assert_eq!(again.json::<Value>().await.unwrap(), first);
    let mut other = order_json("app-1");
    other["payload"]["order"]["editionCode"] = json!("PREMIUM");
    let conflict = post(other).await.unwrap();
    assert_eq!(conflict.status(), 409);
    let pending = app.running.store.pending_deliveries().await.unwrap();
    assert_eq!(pending.len(), 1, "only the first body was stored");
}

#[tokio::test]
async fn invalid_events_get_400_naming_the_field_and_store_nothing() {
    let (app, marketplace, _dir) = app_with_integration().await;
    let mut no_order = order_json("app-1");
    no_order["payload"].as_object_mut().unwrap().remove("order");
    let mut bad_type = order_json("app-1");
    bad_type["type"] = json!("SUBSCRIPTION_UPSELL");
    let mut bad_email = order_json("app-1");
    bad_email["creator"]["email"] = json!("ann-at-example");
    let cases = [
        (no_order, "payload.order"),
        (bad_type, "type"),
        (bad_email, "creator.email"),
        (order_json("no-such-app"), "applicationId"),
        (order_json("bad/app"), "applicationId"),
    ];
    for (body, field) in cases {
        let (status, err) = app
            .send(Method::POST, "/v1/events", Some(&marketplace), Some(body))
            .await;
        assert_eq!(status, 400, "{err}");
        assert_eq!(err["error"]["field"], field, "{err}");
    }
    let raw = app
        .client
        .post(app.url("/v1/events"))
        .bearer_auth(&marketplace)
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status(), 400);
    assert!(app
        .running
        .store
        .pending_deliveries()
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn a_body_over_256_kib_gets_413() {
    let (app, marketplace, _dir) = app_with_integration().await;
    let mut big = order_json("app-1");
    big["payload"]["configuration"] = json!({"blob": "x".repeat(256 * 1024)});
    let (status, err) = app
        .send(Method::POST, "/v1/events", Some(&marketplace), Some(big))
        .await;
    assert_eq!(status, 413);
    assert_eq!(err["error"]["code"], "payload_too_large");
    assert!(app
        .running
        .store
        .pending_deliveries()
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test]
async fn each_role_may_do_only_what_it_is_for() {
    let (app, marketplace, _dir) = app_with_integration().await;
    let manager = app.key("manager", None).await;
    let vendor = app.key("vendor", Some("v-1")).await;
    let event = || Some(order_json("app-1"));
    assert_eq!(
        app.send(Method::POST, "/v1/events", None, event()).await.0,
        401
    );
    assert_eq!(
        app.send(Method::POST, "/v1/events", Some("iev_unknown"), event())
            .await
            .0,
        401
    );
    assert_eq!(
        app.send(Method::POST, "/v1/events", Some(&vendor), event())
            .await
            .0,
        403
    );
    assert_eq!(
        app.send(Method::POST, "/v1/events", Some(&manager), event())
            .await
            .0,
        403
    );
    assert_eq!(
        app.send(Method::POST, "/v1/events", Some(&marketplace), event())
            .await
            .0,
        202
    );
    let new_key = Some(json!({"role": "manager"}));
    assert_eq!(
        app.send(
            Method::POST,
            "/v1/api-keys",
            Some(&manager),
            new_key.clone()
        )
        .await
        .0,
        403
    );
    assert_eq!(
        app.send(Method::POST, "/v1/api-keys", Some(&marketplace), new_key)
            .await
            .0,
        403
    );
    assert_eq!(
        app.send(
            Method::GET,
            "/v1/integrations/app-1",
            Some(&marketplace),
            None
        )
        .await
        .0,
        403
    );
    assert_eq!(
        app.send(Method::GET, "/v1/integrations/app-1", Some(&manager), None)
            .await
            .0,
        200
    );
}

#[tokio::test]
async fn a_vendor_manages_its_own_integrations_and_cannot_see_anothers() {
    let (app, _marketplace, _dir) = app_with_integration().await;
    let own = app.key("vendor", Some("v-1")).await;
    let other = app.key("vendor", Some("v-2")).await;
    let (status, body) = app
        .send(Method::GET, "/v1/integrations/app-1", Some(&own), None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["vendorId"], "v-1");
    let (status, foreign) = app
        .send(Method::GET, "/v1/integrations/app-1", Some(&other), None)
        .await;
    let (_, missing) = app
        .send(Method::GET, "/v1/integrations/nope", Some(&other), None)
        .await;
    assert_eq!(status, 404);
    assert_eq!(
        foreign, missing,
        "another vendor's integration looks exactly like a missing one"
    );
    let (status, _) = app
        .send(
            Method::PUT,
            "/v1/integrations/app-1",
            Some(&other),
            Some(integration_body("v-2")),
        )
        .await;
    assert_eq!(status, 404, "v-2 cannot take over v-1's application");
    let (status, err) = app
        .send(
            Method::PUT,
            "/v1/integrations/app-2",
            Some(&own),
            Some(integration_body("v-2")),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(err["error"]["field"], "vendorId");
    let (status, _) = app
        .send(
            Method::PUT,
            "/v1/integrations/app-2",
            Some(&own),
            Some(integration_body("v-1")),
        )
        .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn an_integration_never_echoes_its_secret_and_keeps_its_state_across_updates() {
    let (app, _marketplace, _dir) = app_with_integration().await;
    let admin = app.running.admin_key.clone();
    let mut changed = integration_body("v-1");
    changed["applicationName"] = json!("Widget Pro");
    let (status, body) = app
        .send(
            Method::PUT,
            "/v1/integrations/app-1",
            Some(&admin),
            Some(changed),
        )
        .await;
    assert_eq!(status, 200);
    assert!(!body.to_string().contains("widget-secret"));
    assert_eq!(body["applicationName"], "Widget Pro");
    assert_eq!(body["enabled"], true);
    assert_eq!(body["successiveFailures"], 0);
    let (_, read) = app
        .send(Method::GET, "/v1/integrations/app-1", Some(&admin), None)
        .await;
    assert_eq!(read, body);
}

#[tokio::test]
async fn an_integration_with_a_bad_url_gets_400_naming_it() {
    let (app, _marketplace, _dir) = app_with_integration().await;
    let admin = app.running.admin_key.clone();
    let mut bad = integration_body("v-1");
    bad["notificationUrls"]["USER_ASSIGNMENT"] = json!("https://v.example/assign");
    let (status, err) = app
        .send(
            Method::PUT,
            "/v1/integrations/app-1",
            Some(&admin),
            Some(bad),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(err["error"]["field"], "notificationUrls.USER_ASSIGNMENT");
    let mut bad = integration_body("v-1");
    bad["alertUrl"] = json!("not a url");
    let (status, err) = app
        .send(
            Method::PUT,
            "/v1/integrations/app-1",
            Some(&admin),
            Some(bad),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(err["error"]["field"], "alertUrl");
}

#[tokio::test]
async fn a_key_request_with_a_bad_role_or_vendor_binding_gets_400() {
    let dir = tempfile::tempdir().unwrap();
    let app = TestApp::start_in(dir.path()).await;
    let admin = app.running.admin_key.clone();
    for (body, field) in [
        (json!({"role": "root"}), "role"),
        (json!({"role": "vendor"}), "vendorId"),
        (json!({"role": "manager", "vendorId": "v-1"}), "vendorId"),
    ] {
        let (status, err) = app
            .send(Method::POST, "/v1/api-keys", Some(&admin), Some(body))
            .await;
        assert_eq!(status, 400);
        assert_eq!(err["error"]["field"], field);
    }
}

#[tokio::test]
async fn the_generated_admin_key_is_written_readable_only_by_its_owner() {
    let dir = tempfile::tempdir().unwrap();
    let app = TestApp::start_in(dir.path()).await;
    assert!(app.running.admin_key_generated);
    let path = dir.path().join("admin-key");
    assert_eq!(
        std::fs::read_to_string(&path).unwrap().trim(),
        app.running.admin_key
    );
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );
}

#[tokio::test]
async fn a_port_in_use_is_a_clear_start_up_error() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let err = iev_runner::start(iev_runner::RunnerConfig::new(
        taken.local_addr().unwrap().to_string(),
        dir.path(),
    ))
    .await
    .err()
    .expect("binding a taken port fails");
    assert!(
        err.to_string().starts_with("cannot listen on 127.0.0.1:"),
        "{err}"
    );
}

#[tokio::test]
async fn an_admin_lists_keys_without_their_secrets_and_a_revoked_key_stops_working_at_once() {
    let (app, marketplace, _dir) = app_with_integration().await;
    let admin = app.running.admin_key.clone();
    let vendor = app.key("vendor", Some("v-1")).await;
    let (status, listed) = app
        .send(Method::GET, "/v1/api-keys", Some(&admin), None)
        .await;
    assert_eq!(status, 200, "{listed}");
    let items = listed["items"].as_array().unwrap();
    assert_eq!(items.len(), 3, "admin, marketplace and vendor: {listed}");
    let text = listed.to_string();
    for key in [&admin, &marketplace, &vendor] {
        assert!(
            !text.contains(key.as_str()),
            "a key is never listed: {listed}"
        );
    }
    let vendor_entry = items.iter().find(|k| k["role"] == "vendor").unwrap();
    assert_eq!(vendor_entry["vendorId"], "v-1");
    assert!(vendor_entry["createdAt"].is_string());
    assert!(
        vendor_entry["lastUsedAt"].is_null(),
        "not used yet: {vendor_entry}"
    );
    let admin_entry = items.iter().find(|k| k["role"] == "admin").unwrap();
    assert!(admin_entry["lastUsedAt"].is_string(), "{admin_entry}");

    // Only the admin manages keys.
    for other in [&marketplace, &vendor] {
        let (status, _) = app
            .send(Method::GET, "/v1/api-keys", Some(other), None)
            .await;
        assert_eq!(status, 403);
    }
    let (status, _) = app
        .send(Method::GET, "/v1/integrations", Some(&vendor), None)
        .await;
    assert_eq!(status, 200, "the vendor key works before it is revoked");

    let id = vendor_entry["id"].as_str().unwrap();
    let (status, body) = app
        .send(
            Method::DELETE,
            &format!("/v1/api-keys/{id}"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(status, 204, "{body}");
    let (status, body) = app
        .send(Method::GET, "/v1/integrations", Some(&vendor), None)
        .await;
    assert_eq!(status, 401, "{body}");
    let (status, body) = app
        .send(
            Method::DELETE,
            &format!("/v1/api-keys/{id}"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!((status, &body["error"]["code"]), (404, &json!("not_found")));
    let (_, listed) = app
        .send(Method::GET, "/v1/api-keys", Some(&admin), None)
        .await;
    assert_eq!(listed["items"].as_array().unwrap().len(), 2, "{listed}");

    for made_up in ["0123456789ab", "not-a-key-id", "%25"] {
        let (status, body) = app
            .send(
                Method::DELETE,
                &format!("/v1/api-keys/{made_up}"),
                Some(&admin),
                None,
            )
            .await;
        assert_eq!(status, 404, "{made_up}: {body}");
    }
    let own = admin_entry["id"].as_str().unwrap();
    let (status, body) = app
        .send(
            Method::DELETE,
            &format!("/v1/api-keys/{own}"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(
        status, 409,
        "an admin cannot revoke the key it signs in with: {body}"
    );
    app.stop().await;
}

#[tokio::test]
async fn integrations_are_listed_as_each_role_may_see_them_page_by_page() {
    let (app, marketplace, _dir) = app_with_integration().await;
    let admin = app.running.admin_key.clone();
    for (id, vendor) in [("app-2", "v-2"), ("app-3", "v-1")] {
        let (status, body) = app
            .send(
                Method::PUT,
                &format!("/v1/integrations/{id}"),
                Some(&admin),
                Some(integration_body(vendor)),
            )
            .await;
        assert_eq!(status, 200, "{body}");
    }
    let manager = app.key("manager", None).await;
    let vendor = app.key("vendor", Some("v-1")).await;
    let ids = |body: &Value| -> Vec<String> {
        body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["applicationId"].as_str().unwrap().to_owned())
            .collect()
    };
    let (status, page) = app
        .send(
            Method::GET,
            "/v1/integrations?limit=2",
            Some(&manager),
            None,
        )
        .await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(ids(&page), ["app-1", "app-2"]);
    assert!(!page.to_string().contains("widget-secret"), "{page}");
    assert_eq!(page["items"][0]["enabled"], true);
    assert_eq!(page["items"][0]["successiveFailures"], 0);
    let cursor = page["nextCursor"].as_str().unwrap();
    let (_, next) = app
        .send(
            Method::GET,
            &format!("/v1/integrations?limit=2&cursor={cursor}"),
            Some(&manager),
            None,
        )
        .await;
    assert_eq!(ids(&next), ["app-3"]);

    let (_, own) = app
        .send(Method::GET, "/v1/integrations", Some(&vendor), None)
        .await;
    assert_eq!(ids(&own), ["app-1", "app-3"], "a vendor sees its own");
    let (_, others) = app
        .send(
            Method::GET,
            "/v1/integrations?vendorId=v-2",
            Some(&vendor),
            None,
        )
        .await;
    assert!(ids(&others).is_empty(), "{others}");
    let (_, v2) = app
        .send(
            Method::GET,
            "/v1/integrations?vendorId=v-2",
            Some(&manager),
            None,
        )
        .await;
    assert_eq!(ids(&v2), ["app-2"]);
    let (_, disabled) = app
        .send(
            Method::GET,
            "/v1/integrations?enabled=false",
            Some(&manager),
            None,
        )
        .await;
    assert!(ids(&disabled).is_empty());

    // A cursor made for another query, a bad flag, and the marketplace.
    let (status, body) = app
        .send(
            Method::GET,
            &format!("/v1/integrations?enabled=true&cursor={cursor}"),
            Some(&manager),
            None,
        )
        .await;
    assert_eq!((status, &body["error"]["field"]), (400, &json!("cursor")));
    let (status, body) = app
        .send(
            Method::GET,
            "/v1/integrations?enabled=yes",
            Some(&manager),
            None,
        )
        .await;
    assert_eq!((status, &body["error"]["field"]), (400, &json!("enabled")));
    let (status, _) = app
        .send(Method::GET, "/v1/integrations", Some(&marketplace), None)
        .await;
    assert_eq!(status, 403);
    app.stop().await;
}
