//! A vendor's product to try the service with (`IEV_DEMO_VENDOR=1`): it speaks
//! the AppDirect protocol as a real product does. Called at its notification
//! URL, it fetches the event from the event URL, signed with OAuth 1.0a
//! (HMAC-SHA1) and its consumer key and secret, and answers by the company:
//! one whose name holds "Unknown" has no such user (USER_NOT_FOUND), one whose
//! name holds "Closed" has no account (ACCOUNT_NOT_FOUND), any other is
//! provisioned.

use axum::extract::{Query, State};
use axum::Json;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::Arc;

pub const APPLICATION_ID: &str = "demo-app";
pub const VENDOR_ID: &str = "demo-vendor";
const CONSUMER_KEY: &str = "demo-key";

struct Demo {
    secret: String,
    client: reqwest::Client,
}

/// Starts the demo vendor on a loopback port; answers the integration that
/// points at it, for `PUT /v1/integrations/demo-app`.
pub async fn start(secret: String) -> std::io::Result<Value> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let demo = Arc::new(Demo {
        secret: secret.clone(),
        client: reqwest::Client::new(),
    });
    let app = axum::Router::new()
        .route("/appdirect/event", axum::routing::get(notification))
        .with_state(demo);
    tokio::spawn(async move { axum::serve(listener, app).await });
    let url = format!("{base}/appdirect/event?eventUrl={{eventUrl}}");
    let urls: serde_json::Map<String, Value> = [
        "SUBSCRIPTION_ORDER",
        "SUBSCRIPTION_CHANGE",
        "SUBSCRIPTION_CANCEL",
        "SUBSCRIPTION_NOTICE",
        "USER_ASSIGNMENT",
        "USER_UNASSIGNMENT",
        "USER_UPDATED",
    ]
    .into_iter()
    .map(|t| (t.to_owned(), json!(url)))
    .collect();
    Ok(json!({
        "applicationName": "Demo Product",
        "vendorId": VENDOR_ID,
        "notificationUrls": urls,
        "oauth": {"consumerKey": CONSUMER_KEY, "consumerSecret": secret},
    }))
}

async fn notification(
    State(demo): State<Arc<Demo>>,
    Query(params): Query<HashMap<String, String>>,
) -> Json<Value> {
    let Some(event_url) = params.get("eventUrl") else {
        return failure("INVALID_RESPONSE", "no eventUrl in the notification");
    };
    let event = match fetch(&demo, event_url).await {
        Ok(event) => event,
        Err(why) => {
            return failure(
                "UNKNOWN_ERROR",
                &format!("could not fetch the event: {why}"),
            )
        }
    };
    let company = event["payload"]["company"]["name"]
        .as_str()
        .unwrap_or_default();
    if company.contains("Unknown") {
        failure(
            "USER_NOT_FOUND",
            &format!("{company} has no such user here"),
        )
    } else if company.contains("Closed") {
        failure(
            "ACCOUNT_NOT_FOUND",
            &format!("{company} has no account here"),
        )
    } else {
        let account = event["payload"]["company"]["uuid"]
            .as_str()
            .unwrap_or("demo-account");
        Json(json!({"success": true, "accountIdentifier": format!("acct-{account}")}))
    }
}

async fn fetch(demo: &Demo, event_url: &str) -> Result<Value, String> {
    let url = url::Url::parse(event_url).map_err(|e| e.to_string())?;
    let nonce = uuid_like();
    let authorization = iev_domain::oauth::authorization_header(
        "GET",
        &url,
        None,
        CONSUMER_KEY,
        &demo.secret,
        &nonce,
        chrono::Utc::now().timestamp(),
    );
    let response = demo
        .client
        .get(url)
        .header("authorization", authorization)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if !response.status().is_success() {
        return Err(format!("HTTP {}", response.status()));
    }
    response.json().await.map_err(|e| e.to_string())
}

fn uuid_like() -> String {
    use iev_domain::clock::IdSource;
    hex_of(&iev_domain::clock::RandomIds.secret(16))
}

fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn failure(code: &str, message: &str) -> Json<Value> {
    Json(json!({"success": false, "errorCode": code, "message": message}))
}
