//! A vendor's product, as a test plays it: an HTTP server on 127.0.0.1:0 that
//! takes notification calls, fetches the event through the signed event URL
//! with a standard OAuth 1.0a library, and answers as the test scripts it.

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What the vendor does with one notification call.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub body: String,
    pub delay: Duration,
    pub retry_after: Option<u64>,
    /// Fetch the event through its URL before answering, as a real vendor does.
    pub fetch_event: bool,
}

impl Reply {
    pub fn json(status: u16, body: Value) -> Reply {
        Reply {
            status,
            body: body.to_string(),
            delay: Duration::ZERO,
            retry_after: None,
            fetch_event: true,
        }
    }

    pub fn success() -> Reply {
        Reply::json(
            200,
            serde_json::json!({"success": true, "accountIdentifier": "acct-1"}),
        )
    }

    pub fn error(code: &str, message: &str) -> Reply {
        Reply::json(
            200,
            serde_json::json!({"success": false, "errorCode": code, "message": message}),
        )
    }

    pub fn raw(status: u16, body: impl Into<String>) -> Reply {
        Reply {
            status,
            body: body.into(),
            delay: Duration::ZERO,
            retry_after: None,
            fetch_event: false,
        }
    }
}

type Script = dyn Fn(usize, &Value) -> Reply + Send + Sync;

/// Where a fetch of an event URL really goes: `(connect to, Host header)`. An
/// emulated API Gateway is reached on loopback under a host name that does not
/// resolve here, while the URL the vendor signs stays the one it was given.
pub type Route = dyn Fn(&str) -> (String, Option<String>) + Send + Sync;

/// What the vendor saw.
#[derive(Debug, Clone)]
pub struct Call {
    pub event_url: String,
    pub authorization: Option<String>,
    /// The event JSON fetched through `event_url`, with the fetch's HTTP status.
    pub fetched: Option<(u16, Value)>,
}

struct VendorState {
    script: Box<Script>,
    calls: Mutex<Vec<Call>>,
    alerts: Mutex<Vec<(Option<String>, Value)>>,
    key: String,
    secret: String,
    client: reqwest::Client,
    route: Option<Box<Route>>,
}

#[derive(Clone)]
pub struct Vendor {
    state: Arc<VendorState>,
    pub base: String,
}

pub fn oauth_get(url: &str, key: &str, secret: &str) -> String {
    let credentials = oauth1_request::Credentials::new(key, secret);
    oauth1_request::Builder::<_, _>::new(credentials, oauth1_request::HmacSha1::new()).get(url, &())
}

pub fn oauth_post(url: &str, key: &str, secret: &str) -> String {
    let credentials = oauth1_request::Credentials::new(key, secret);
    oauth1_request::Builder::<_, _>::new(credentials, oauth1_request::HmacSha1::new())
        .post(url, &())
}

async fn notification(
    State(state): State<Arc<VendorState>>,
    Query(params): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let event_url = params.get("eventUrl").cloned().unwrap_or_default();
    let authorization = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let n = state.calls.lock().unwrap().len();
    let mut fetched = None;
    let mut event = Value::Null;
    // The script may want the event to decide; fetch it first when asked.
    let preview = (state.script)(n, &Value::Null);
    if preview.fetch_event {
        let auth = oauth_get(&event_url, &state.key, &state.secret);
        let (connect, host) = match &state.route {
            Some(route) => route(&event_url),
            None => (event_url.clone(), None),
        };
        let mut request = state.client.get(&connect).header("authorization", auth);
        if let Some(host) = host {
            request = request.header("host", host);
        }
        if let Ok(resp) = request.send().await {
            let status = resp.status().as_u16();
            event = resp.json().await.unwrap_or(Value::Null);
            fetched = Some((status, event.clone()));
        }
    }
    let reply = (state.script)(n, &event);
    state.calls.lock().unwrap().push(Call {
        event_url,
        authorization,
        fetched,
    });
    tokio::time::sleep(reply.delay).await;
    let mut resp = (
        StatusCode::from_u16(reply.status).unwrap(),
        [("content-type", "application/json")],
        reply.body,
    )
        .into_response();
    if let Some(secs) = reply.retry_after {
        resp.headers_mut()
            .insert("retry-after", secs.to_string().parse().unwrap());
    }
    resp
}

async fn alert(
    State(state): State<Arc<VendorState>>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let authorization = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let json = serde_json::from_slice(&body).unwrap_or(Value::Null);
    state.alerts.lock().unwrap().push((authorization, json));
    StatusCode::OK
}

impl Vendor {
    /// A vendor whose integration uses `key` and `secret`, answering call `n` as `script` says.
    pub async fn start(
        key: &str,
        secret: &str,
        script: impl Fn(usize, &Value) -> Reply + Send + Sync + 'static,
    ) -> Vendor {
        Vendor::start_routed(key, secret, script, None).await
    }

    /// Like `start`, with event fetches sent where `route` says.
    pub async fn start_routed(
        key: &str,
        secret: &str,
        script: impl Fn(usize, &Value) -> Reply + Send + Sync + 'static,
        route: Option<Box<Route>>,
    ) -> Vendor {
        let state = Arc::new(VendorState {
            route,
            script: Box::new(script),
            calls: Mutex::new(Vec::new()),
            alerts: Mutex::new(Vec::new()),
            key: key.into(),
            secret: secret.into(),
            client: reqwest::Client::new(),
        });
        let app = Router::new()
            .route("/notify", get(notification))
            .route("/alerts", post(alert))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Vendor { state, base }
    }

    pub fn notification_url(&self) -> String {
        format!("{}/notify?eventUrl={{eventUrl}}", self.base)
    }

    pub fn alert_url(&self) -> String {
        format!("{}/alerts", self.base)
    }

    pub fn calls(&self) -> Vec<Call> {
        self.state.calls.lock().unwrap().clone()
    }

    pub fn alerts(&self) -> Vec<(Option<String>, Value)> {
        self.state.alerts.lock().unwrap().clone()
    }
}
