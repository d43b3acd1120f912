//! One black-box flow, run against the local runner and against
//! `template.yaml` deployed to an AWS emulator (`tests/deploy/`): only HTTP
//! requests to the API, a vendor on loopback that fetches each event with
//! OAuth 1.0a and answers by company name, and, for the export, the place the
//! CSV is written to.

use crate::vendor::{Reply, Route, Vendor};
use reqwest::Method;
use serde_json::{json, Value};
use std::path::PathBuf;
use std::time::Duration;

/// Where the flow runs.
pub struct Target {
    pub name: &'static str,
    client: reqwest::Client,
    /// Where requests connect to.
    base: String,
    /// The Host header an emulated API Gateway routes by.
    host: Option<String>,
    pub admin_key: String,
    pub kind: Kind,
}

pub enum Kind {
    /// The local runner: exports land in this folder.
    Local { exports: PathBuf },
    /// A deployed stack: its emulator's endpoint and what `tests/deploy/deploy.py` printed.
    Deployed(Deployed),
}

pub struct Deployed {
    /// The emulator's own endpoint, for the operator's steps (S3, Lambda).
    pub endpoint: String,
    /// deploy.py's JSON: outputs, functions, apis.
    pub stack: Value,
    /// The port the emulated API answers on, and the API's id.
    pub port: u16,
    pub api_id: String,
}

impl Target {
    pub fn local(base: String, admin_key: String, data_dir: &std::path::Path) -> Target {
        Target {
            name: "local runner",
            client: reqwest::Client::new(),
            base,
            host: None,
            admin_key,
            kind: Kind::Local {
                exports: data_dir.join("exports"),
            },
        }
    }

    /// The stack that `tests/run.sh` deployed: `IEV_DEPLOYED` names deploy.py's
    /// JSON, `IEV_DEPLOYED_ADMIN_KEY` holds the admin key read from Secrets Manager
    /// the way docs/DEPLOY.md says.
    pub fn deployed_from_env() -> Target {
        let path = std::env::var("IEV_DEPLOYED").expect(
            "the deployed-stack flow needs template.yaml deployed to ministack: run it with \
             tests/run.sh, which deploys it and sets IEV_DEPLOYED",
        );
        let text = std::fs::read_to_string(&path).expect("deploy.py's output");
        let stack: Value = serde_json::from_str(&text).expect("deploy.py printed JSON");
        let api = &stack["apis"][0];
        let api_id = api["api_id"].as_str().expect("an API id").to_owned();
        let endpoint = stack["endpoint"].as_str().expect("an endpoint").to_owned();
        let port = endpoint
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .expect("the endpoint's port");
        Target {
            name: "deployed stack",
            client: reqwest::Client::new(),
            base: endpoint.clone(),
            host: Some(
                api["host_header"]
                    .as_str()
                    .expect("a Host header")
                    .to_owned(),
            ),
            admin_key: std::env::var("IEV_DEPLOYED_ADMIN_KEY")
                .expect("IEV_DEPLOYED_ADMIN_KEY: the admin key read from Secrets Manager"),
            kind: Kind::Deployed(Deployed {
                endpoint,
                stack,
                port,
                api_id,
            }),
        }
    }

    /// Where a vendor's fetch of an event URL goes. The deployed stack hands out
    /// `https://<api>.execute-api.<region>.amazonaws.com/...`, its real address;
    /// here that host is the emulator on loopback.
    fn vendor_route(&self) -> Option<Box<Route>> {
        let Kind::Deployed(d) = &self.kind else {
            return None;
        };
        let (port, api_id) = (d.port, d.api_id.clone());
        Some(Box::new(move |url: &str| {
            let parsed = url::Url::parse(url).expect("an event URL");
            assert!(
                parsed
                    .host_str()
                    .is_some_and(|h| h.starts_with(&format!("{api_id}.execute-api."))),
                "event URLs point at the stack's own API: {url}"
            );
            let mut connect = format!("http://127.0.0.1:{port}{}", parsed.path());
            if let Some(q) = parsed.query() {
                connect.push('?');
                connect.push_str(q);
            }
            (
                connect,
                Some(format!("{api_id}.execute-api.localhost:{port}")),
            )
        }))
    }

    pub async fn send(
        &self,
        method: Method,
        path: &str,
        key: Option<&str>,
        body: Option<Value>,
    ) -> (u16, String) {
        let mut req = self.client.request(method, format!("{}{path}", self.base));
        if let Some(host) = &self.host {
            req = req.header("host", host);
        }
        if let Some(k) = key {
            req = req.bearer_auth(k);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("the API answers");
        let status = resp.status().as_u16();
        (status, resp.text().await.unwrap_or_default())
    }

    pub async fn json(
        &self,
        method: Method,
        path: &str,
        key: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        let (status, text) = self.send(method.clone(), path, key, body).await;
        let value = serde_json::from_str(&text)
            .unwrap_or_else(|_| panic!("{} {method} {path}: not JSON: {text}", self.name));
        (status, value)
    }

    async fn new_key(&self, role: &str, vendor: Option<&str>) -> String {
        let mut body = json!({ "role": role });
        if let Some(v) = vendor {
            body["vendorId"] = v.into();
        }
        let (status, made) = self
            .json(
                Method::POST,
                "/v1/api-keys",
                Some(&self.admin_key),
                Some(body),
            )
            .await;
        assert_eq!(status, 201, "{}: {made}", self.name);
        made["key"].as_str().expect("the new key").to_owned()
    }

    /// Polls the event until it is COMPLETE or FAILED (up to `within`).
    async fn settled(&self, key: &str, id: &str, within: Duration) -> Value {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let (status, event) = self
                .json(Method::GET, &format!("/v1/events/{id}"), Some(key), None)
                .await;
            assert_eq!(status, 200, "{}: {event}", self.name);
            if event["status"] == "COMPLETE" || event["status"] == "FAILED" {
                return event;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{}: event {id} did not settle within {within:?}: {event}",
                self.name
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// The CSV behind an export's `location`: a file locally, an S3 object when deployed.
    async fn read_export(&self, location: &str) -> String {
        match &self.kind {
            Kind::Local { exports } => {
                let path = PathBuf::from(location);
                assert!(
                    path.starts_with(exports),
                    "{location} is under {}",
                    exports.display()
                );
                std::fs::read_to_string(path).expect("the export file")
            }
            Kind::Deployed(d) => {
                let (bucket, key) = location
                    .strip_prefix("s3://")
                    .and_then(|rest| rest.split_once('/'))
                    .unwrap_or_else(|| panic!("an S3 location: {location}"));
                d.read_object(bucket, key).await
            }
        }
    }
}

impl Deployed {
    async fn s3(&self) -> aws_sdk_s3::Client {
        let config = aws_sdk_s3::config::Builder::from(&iev_aws::config::sdk_config().await)
            .endpoint_url(&self.endpoint)
            .force_path_style(true)
            .region(aws_sdk_s3::config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_s3::config::Credentials::new(
                "test", "test", None, None, "tests",
            ))
            .build();
        aws_sdk_s3::Client::from_conf(config)
    }

    pub async fn read_object(&self, bucket: &str, key: &str) -> String {
        let object = self
            .s3()
            .await
            .get_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .unwrap_or_else(|e| panic!("s3://{bucket}/{key}: {e:?}"));
        let bytes = object.body.collect().await.expect("the object's body");
        String::from_utf8(bytes.to_vec()).expect("UTF-8 CSV")
    }

    /// The physical name of a function of the stack, by its logical id.
    pub fn function(&self, logical: &str) -> String {
        self.stack["functions"][logical]
            .as_str()
            .unwrap_or_else(|| panic!("no function {logical} in the stack"))
            .to_owned()
    }

    pub fn output(&self, key: &str) -> String {
        self.stack["outputs"][key]
            .as_str()
            .unwrap_or_else(|| panic!("no output {key}"))
            .to_owned()
    }

    /// Runs the aws CLI against the emulator, as an operator would against AWS.
    pub fn aws(&self, args: &[&str]) -> String {
        let out = std::process::Command::new("aws")
            .arg("--endpoint-url")
            .arg(&self.endpoint)
            .args(args)
            .output()
            .expect("the aws CLI (tests/run.sh puts it on PATH)");
        assert!(
            out.status.success(),
            "aws {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("UTF-8")
    }
}

fn event_for(app: &str, company: &str) -> Value {
    json!({
        "applicationId": app,
        "type": "SUBSCRIPTION_ORDER",
        "marketplace": {"partner": "ACME", "baseUrl": "https://marketplace.example"},
        "creator": {"uuid": "user-bb", "email": "bea@example.com", "firstName": "Bea"},
        "payload": {
            "company": {"uuid": format!("co-{company}"), "name": company},
            "order": {"editionCode": "BASIC", "items": [{"unit": "USER", "quantity": 3}]}
        }
    })
}

/// A vendor that answers as its product would for each company: Delivered Co
/// is provisioned, Missing Co has no such user, and Flaky Co's calls hit an
/// outage (503) every time.
fn by_company(_n: usize, event: &Value) -> Reply {
    match event["payload"]["company"]["name"].as_str() {
        // Asked before the fetch (no event yet): fetch it, to answer by its company.
        None | Some("Delivered Co") => Reply::success(),
        Some("Missing Co") => Reply::error("USER_NOT_FOUND", "no such user at Missing Co"),
        _ => Reply::raw(503, "down for maintenance"),
    }
}

/// What the flow found, for the target-specific checks after it.
pub struct Outcome {
    pub application_id: String,
    pub unresolved_error_id: String,
}

/// The flow: keys, an integration, three events (delivered, failed with a vendor
/// code, failed in transport), the report for each role, resolving, CSV, export.
fn listed_ids(page: &Value) -> Vec<&str> {
    page["items"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|i| i["applicationId"].as_str().or(i["id"].as_str()))
                .collect()
        })
        .unwrap_or_default()
}

/// The listings (read from indexes, eventually consistent in AWS) and a key's
/// revocation, through the deployed functions' own permissions.
async fn list_and_revoke(target: &Target, app: &str, vendor_key: &str, other_vendor: &str) {
    let name = target.name;
    let path = "/v1/integrations?vendorId=v-bb&limit=1000";
    let mut listed = Value::Null;
    for _ in 0..50 {
        let (status, page) = target.json(Method::GET, path, Some(vendor_key), None).await;
        assert_eq!(status, 200, "{name}: {page}");
        listed = page;
        if listed_ids(&listed).contains(&app) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(listed_ids(&listed).contains(&app), "{name}: {listed}");
    let (status, page) = target
        .json(
            Method::GET,
            "/v1/integrations?limit=1000",
            Some(other_vendor),
            None,
        )
        .await;
    assert_eq!(status, 200, "{name}: {page}");
    assert!(!listed_ids(&page).contains(&app), "{name}: {page}");

    let doomed = target.new_key("manager", None).await;
    let (status, _) = target
        .json(Method::GET, "/v1/integrations", Some(&doomed), None)
        .await;
    assert_eq!(status, 200, "{name}: the new key works");
    let doomed_id = iev_domain::auth::key_id_of(&iev_domain::auth::KeyHash::of(&doomed));
    let mut keys = Value::Null;
    for _ in 0..50 {
        let (status, page) = target
            .json(Method::GET, "/v1/api-keys", Some(&target.admin_key), None)
            .await;
        assert_eq!(status, 200, "{name}: {page}");
        assert!(
            !page.to_string().contains(&doomed),
            "{name}: a key is never listed"
        );
        keys = page;
        let used = keys["items"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|k| k["id"] == doomed_id.as_str() && k["lastUsedAt"].is_string());
        if used {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        keys["items"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|k| k["id"] == doomed_id.as_str() && k["lastUsedAt"].is_string()),
        "{name}: the used key is listed with its use: {keys}"
    );
    let (status, body) = target
        .send(
            Method::DELETE,
            &format!("/v1/api-keys/{doomed_id}"),
            Some(&target.admin_key),
            None,
        )
        .await;
    assert_eq!(status, 204, "{name}: {body}");
}

pub async fn run_flow(target: &Target) -> Outcome {
    let name = target.name;
    let (status, err) = target
        .json(Method::GET, "/api/integration_errors", None, None)
        .await;
    assert_eq!(status, 401, "{name}: {err}");
    assert_eq!(err["error"]["code"], "unauthenticated", "{name}: {err}");

    let marketplace = target.new_key("marketplace", None).await;
    let manager = target.new_key("manager", None).await;
    let vendor_key = target.new_key("vendor", Some("v-bb")).await;
    let other_vendor = target.new_key("vendor", Some("v-other")).await;

    let vendor =
        Vendor::start_routed("bb-key", "bb-secret", by_company, target.vendor_route()).await;
    let app = format!("bb-{}", uuid::Uuid::new_v4().simple());
    let (status, integration) = target
        .json(
            Method::PUT,
            &format!("/v1/integrations/{app}"),
            Some(&manager),
            Some(json!({
                "applicationName": "Black Box",
                "vendorId": "v-bb",
                "notificationUrls": {"SUBSCRIPTION_ORDER": vendor.notification_url()},
                "oauth": {"consumerKey": "bb-key", "consumerSecret": "bb-secret"},
                "alertUrl": vendor.alert_url(),
            })),
        )
        .await;
    assert_eq!(status, 200, "{name}: {integration}");
    assert!(
        integration
            .get("oauth")
            .is_none_or(|o| o.get("consumerSecret").is_none()),
        "{name}: the secret is never echoed: {integration}"
    );

    list_and_revoke(target, &app, &vendor_key, &other_vendor).await;

    let mut ids = Vec::new();
    for company in ["Delivered Co", "Missing Co", "Flaky Co"] {
        let (status, accepted) = target
            .json(
                Method::POST,
                "/v1/events",
                Some(&marketplace),
                Some(event_for(&app, company)),
            )
            .await;
        assert_eq!(status, 202, "{name}: {accepted}");
        assert_eq!(accepted["status"], "PENDING");
        ids.push(accepted["id"].as_str().expect("an event id").to_owned());
    }

    let delivered = target
        .settled(&manager, &ids[0], Duration::from_secs(60))
        .await;
    assert_eq!(delivered["status"], "COMPLETE", "{name}: {delivered}");
    let fetched: Vec<_> = vendor
        .calls()
        .into_iter()
        .filter_map(|c| c.fetched)
        .filter(|(_, e)| e["payload"]["company"]["name"] == "Delivered Co")
        .collect();
    assert_eq!(fetched.len(), 1, "{name}: one call fetched the event");
    assert_eq!(fetched[0].0, 200, "{name}: the signed fetch is accepted");
    assert_eq!(fetched[0].1["applicationUuid"], app.as_str());

    let missing = target
        .settled(&manager, &ids[1], Duration::from_secs(60))
        .await;
    assert_eq!(missing["status"], "FAILED", "{name}: {missing}");
    let last = missing["attempts"]
        .as_array()
        .and_then(|a| a.last())
        .cloned();
    assert_eq!(
        last.as_ref().map(|a| a["errorCode"].clone()),
        Some(json!("USER_NOT_FOUND")),
        "{name}: {missing}"
    );

    let flaky = target
        .settled(&manager, &ids[2], Duration::from_secs(120))
        .await;
    assert_eq!(flaky["status"], "FAILED", "{name}: {flaky}");

    // The report, for each role that may read it.
    let list = format!("/api/integration_errors?applicationId={app}&fields=id,eventId,errorCode,message,companyName");
    let (status, page) = target.json(Method::GET, &list, Some(&manager), None).await;
    assert_eq!(status, 200, "{name}: {page}");
    let rows = page["items"].as_array().expect("items").clone();
    let code_of = |event: &str| {
        rows.iter()
            .find(|r| r["eventId"] == event)
            .map(|r| r["errorCode"].clone())
    };
    assert_eq!(rows.len(), 2, "{name}: two failures: {page}");
    assert_eq!(
        code_of(&ids[1]),
        Some(json!("USER_NOT_FOUND")),
        "{name}: {page}"
    );
    assert_eq!(
        code_of(&ids[2]),
        Some(json!("TRANSPORT_ERROR")),
        "{name}: {page}"
    );
    let (_, as_vendor) = target
        .json(Method::GET, &list, Some(&vendor_key), None)
        .await;
    assert_eq!(
        as_vendor["items"].as_array().map(Vec::len),
        Some(2),
        "{name}: {as_vendor}"
    );
    let (_, as_other) = target
        .json(Method::GET, &list, Some(&other_vendor), None)
        .await;
    assert_eq!(
        as_other["items"].as_array().map(Vec::len),
        Some(0),
        "{name}: {as_other}"
    );

    // Resolve the vendor-code failure; the default view then hides it.
    let id_of = |event: &str| {
        rows.iter()
            .find(|r| r["eventId"] == event)
            .and_then(|r| r["id"].as_str())
            .expect("a record id")
            .to_owned()
    };
    let (missing_record, flaky_record) = (id_of(&ids[1]), id_of(&ids[2]));
    let (status, resolved) = target
        .json(
            Method::PUT,
            &format!("/api/integration_errors/{missing_record}/resolve"),
            Some(&vendor_key),
            Some(json!({"note": "user re-created"})),
        )
        .await;
    assert_eq!(status, 200, "{name}: {resolved}");
    assert_eq!(resolved["manuallyResolved"], true);
    let (_, open) = target.json(Method::GET, &list, Some(&manager), None).await;
    assert_eq!(
        open["items"].as_array().map(Vec::len),
        Some(1),
        "{name}: {open}"
    );
    let (_, all) = target
        .json(
            Method::GET,
            &format!("{list}&resolved=all"),
            Some(&manager),
            None,
        )
        .await;
    assert_eq!(
        all["items"].as_array().map(Vec::len),
        Some(2),
        "{name}: {all}"
    );

    // CSV, as a manager downloads it.
    let (status, csv) = target
        .send(
            Method::GET,
            &format!("/api/integration_errors?applicationId={app}&format=csv"),
            Some(&manager),
            None,
        )
        .await;
    assert_eq!(status, 200, "{name}: {csv}");
    assert!(
        csv.starts_with("Creation Date,Application Id,"),
        "{name}: {csv}"
    );
    assert!(
        csv.contains("TRANSPORT_ERROR") && csv.contains("Flaky Co"),
        "{name}: {csv}"
    );

    // An export on request: the unresolved failure is in it.
    let (status, export) = target
        .json(Method::POST, "/v1/exports", Some(&manager), Some(json!({})))
        .await;
    assert_eq!(status, 201, "{name}: {export}");
    let location = export["location"].as_str().expect("a location");
    let exported = target.read_export(location).await;
    assert!(
        exported.contains(&app) && exported.contains("Flaky Co"),
        "{name}: {exported}"
    );

    Outcome {
        application_id: app,
        unresolved_error_id: flaky_record,
    }
}
