//! Helpers shared by the test suites and the benchmark: fixtures, stores on
//! both backends, and a local runner started on a free port.

pub mod aws;
pub mod blackbox;
pub mod fixtures;
pub mod flaky;
pub mod table;
pub mod vendor;

use iev_domain::ports::Store;
use iev_domain::service::{Service, ServiceConfig};
use iev_runner::{RunnerConfig, Running};
use std::sync::Arc;

/// A service over `store` for measuring reads: an in-process queue nobody
/// drains, the default outbound policy, exports under `dir`.
pub fn service_over(store: Arc<dyn Store>, dir: &std::path::Path) -> Service {
    Service {
        store,
        queue: Arc::new(iev_local::LocalQueue::new().0),
        outbound: Arc::new(
            iev_outbound::HttpOutbound::new(Default::default()).expect("an HTTP client"),
        ),
        exports: Arc::new(iev_local::LocalExports::new(dir.join("exports"))),
        clock: Arc::new(iev_domain::clock::SystemClock),
        ids: Arc::new(iev_domain::clock::RandomIds),
        caches: Default::default(),
        config: ServiceConfig::new("http://127.0.0.1:8080".parse().expect("a URL")),
    }
}

/// A local runner on 127.0.0.1:0 over its own data directory.
pub struct TestApp {
    pub running: Running,
    pub base: String,
    pub data_dir: std::path::PathBuf,
    pub client: reqwest::Client,
}

impl TestApp {
    pub async fn start_in(data_dir: &std::path::Path) -> TestApp {
        Self::start_with(data_dir, |_| {}).await
    }

    /// Starts with the defaults changed by `configure`; retries are fast by default here.
    pub async fn start_with(
        data_dir: &std::path::Path,
        configure: impl FnOnce(&mut RunnerConfig),
    ) -> TestApp {
        let mut config = RunnerConfig::new("127.0.0.1:0", data_dir);
        config.dispatch.base_delay = std::time::Duration::from_millis(20);
        config.dispatch.max_delay = std::time::Duration::from_millis(200);
        config.dispatch.max_attempts = 3;
        config.outbound.timeout = std::time::Duration::from_secs(2);
        configure(&mut config);
        let running = iev_runner::start(config)
            .await
            .expect("the local runner starts");
        TestApp {
            base: format!("http://{}", running.addr),
            running,
            data_dir: data_dir.to_owned(),
            client: reqwest::Client::new(),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Stops serving, as a crash would: nothing is flushed beyond what the store committed.
    pub async fn stop(self) {
        self.running.stop().await;
    }

    /// Polls until `done` holds for the event (up to 10 s); answers the last view.
    pub async fn wait_for_event(
        &self,
        id: &str,
        done: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        let admin = self.running.admin_key.clone();
        let mut last = serde_json::Value::Null;
        for _ in 0..500 {
            let (status, body) = self
                .send(
                    reqwest::Method::GET,
                    &format!("/v1/events/{id}"),
                    Some(&admin),
                    None,
                )
                .await;
            assert_eq!(status, 200, "{body}");
            if done(&body) {
                return body;
            }
            last = body;
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        panic!("event {id} did not reach the expected state; last seen: {last}");
    }

    /// Waits until the event is COMPLETE or FAILED.
    pub async fn wait_settled(&self, id: &str) -> serde_json::Value {
        self.wait_for_event(id, |e| e["status"] == "COMPLETE" || e["status"] == "FAILED")
            .await
    }

    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        key: Option<&str>,
        body: Option<serde_json::Value>,
    ) -> (u16, serde_json::Value) {
        let mut req = self.client.request(method, self.url(path));
        if let Some(k) = key {
            req = req.bearer_auth(k);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("the runner answers");
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap_or_default();
        let json = serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text));
        (status, json)
    }

    /// Configures `app`'s integration as the admin: vendor `vendor`, its
    /// SUBSCRIPTION_ORDER notifications to `notification_url`, consumer key
    /// and secret `k` and `s`.
    pub async fn integrate(&self, app: &str, vendor: &str, notification_url: &str) {
        let admin = self.running.admin_key.clone();
        let (status, body) = self
            .send(
                reqwest::Method::PUT,
                &format!("/v1/integrations/{app}"),
                Some(&admin),
                Some(serde_json::json!({
                    "applicationName": format!("{app} product"), "vendorId": vendor,
                    "notificationUrls": {"SUBSCRIPTION_ORDER": notification_url},
                    "oauth": {"consumerKey": "k", "consumerSecret": "s"}
                })),
            )
            .await;
        assert_eq!(status, 200, "{body}");
    }

    /// A new key of `role` (and vendor), made with the admin key.
    pub async fn key(&self, role: &str, vendor: Option<&str>) -> String {
        let mut body = serde_json::json!({ "role": role });
        if let Some(v) = vendor {
            body["vendorId"] = v.into();
        }
        let admin = self.running.admin_key.clone();
        let (status, json) = self
            .send(
                reqwest::Method::POST,
                "/v1/api-keys",
                Some(&admin),
                Some(body),
            )
            .await;
        assert_eq!(status, 201, "{json}");
        json["key"].as_str().unwrap().to_owned()
    }
}
