//! A newcomer's first session, as the README tells it: the runner with the
//! demo vendor delivers one event, fails two, and a failure is resolved.

use iev_tests::TestApp;
use reqwest::Method;
use serde_json::{json, Value};

fn order(company: &str) -> Value {
    json!({
        "applicationId": "demo-app", "type": "SUBSCRIPTION_ORDER",
        "marketplace": {"partner": "ACME", "baseUrl": "https://marketplace.example"},
        "creator": {"uuid": "u-1", "email": "ann@example.com"},
        "payload": {"company": {"uuid": format!("c-{}", company.len()), "name": company},
                    "order": {"editionCode": "BASIC"}}
    })
}

#[tokio::test]
async fn the_demo_vendor_delivers_one_event_and_fails_two_that_the_report_shows_and_resolves() {
    let dir = tempfile::tempdir().unwrap();
    let app = TestApp::start_with(dir.path(), |c| c.demo_vendor = true).await;
    let key = app.running.admin_key.clone();
    let mut settled = Vec::new();
    for company in ["Acme Corp", "Unknown Widgets", "Closed Shop"] {
        let (status, accepted) = app
            .send(Method::POST, "/v1/events", Some(&key), Some(order(company)))
            .await;
        assert_eq!(status, 202, "{accepted}");
        settled.push(app.wait_settled(accepted["id"].as_str().unwrap()).await);
    }
    assert_eq!(settled[0]["status"], "COMPLETE", "{}", settled[0]);
    let code = |e: &Value| e["attempts"][0]["errorCode"].clone();
    assert_eq!(code(&settled[1]), "USER_NOT_FOUND", "{}", settled[1]);
    assert_eq!(code(&settled[2]), "ACCOUNT_NOT_FOUND", "{}", settled[2]);

    let (_, report) = app
        .send(
            Method::GET,
            "/api/integration_errors?fields=id,companyName,errorCode",
            Some(&key),
            None,
        )
        .await;
    let items = report["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "{report}");
    let id = items[0]["id"].as_str().unwrap();
    let (status, resolved) = app
        .send(
            Method::PUT,
            &format!("/api/integration_errors/{id}/resolve"),
            Some(&key),
            Some(json!({"note": "account created"})),
        )
        .await;
    assert_eq!(status, 200, "{resolved}");
    let (_, report) = app
        .send(Method::GET, "/api/integration_errors", Some(&key), None)
        .await;
    assert_eq!(report["items"].as_array().unwrap().len(), 1);
}
