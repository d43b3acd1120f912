//! The API's OpenAPI document: generated from the code, served by the local
//! runner, kept in the repository as `docs/openapi.json`; and the defects
//! schemathesis found against it (`tests/run.sh`), each shown fixed.

use iev_tests::TestApp;
use reqwest::Method;
use serde_json::Value;

/// Where the checked-in copy lives, from this crate's directory.
fn checked_in_path() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/openapi.json")
}

/// `IEV_WRITE_OPENAPI=1 cargo nextest run -p iev-tests openapi` writes the
/// generated document over the checked-in copy instead of comparing them.
#[test]
fn the_checked_in_openapi_document_is_the_one_the_code_generates() {
    let generated = iev_runner::openapi_text();
    let path = checked_in_path();
    if std::env::var("IEV_WRITE_OPENAPI").is_ok_and(|v| v == "1") {
        std::fs::write(&path, &generated).expect("docs/openapi.json is writable");
        return;
    }
    let checked_in = std::fs::read_to_string(&path).unwrap_or_default();
    if checked_in != generated {
        let line = checked_in
            .lines()
            .zip(generated.lines())
            .position(|(a, b)| a != b)
            .unwrap_or_else(|| checked_in.lines().count().min(generated.lines().count()));
        panic!(
            "docs/openapi.json differs from the document the code generates (first at line {}); \
             regenerate it with `IEV_WRITE_OPENAPI=1 cargo nextest run -p iev-tests openapi` \
             and commit it",
            line + 1
        );
    }
}

#[test]
fn the_document_is_openapi_3_1_with_every_error_answer_in_the_error_shape() {
    let doc: Value = serde_json::from_str(&iev_runner::openapi_text()).unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    let mut operations = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            operations += 1;
            for (status, response) in operation["responses"].as_object().unwrap() {
                if status.starts_with('4') || status.starts_with('5') {
                    let response = match response["$ref"].as_str() {
                        Some(r) => {
                            &doc["components"]["responses"]
                                [r.trim_start_matches("#/components/responses/")]
                        }
                        None => response,
                    };
                    assert_eq!(
                        response["content"]["application/json"]["schema"]["$ref"],
                        "#/components/schemas/ErrorBody",
                        "{method} {path} {status}"
                    );
                }
            }
        }
    }
    assert!(operations >= 26, "{operations} operations");
}

#[test]
fn every_reference_in_the_openapi_document_resolves() {
    fn refs<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
        match v {
            Value::Object(map) => {
                if let Some(Value::String(r)) = map.get("$ref") {
                    out.push(r);
                }
                map.values().for_each(|v| refs(v, out));
            }
            Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
            _ => {}
        }
    }
    let doc: Value = serde_json::from_str(&iev_runner::openapi_text()).unwrap();
    let mut found = Vec::new();
    refs(&doc, &mut found);
    assert!(!found.is_empty());
    for r in found {
        let pointer = r.strip_prefix('#').expect("a local reference");
        assert!(doc.pointer(pointer).is_some(), "{r} does not resolve");
    }
    // Links name their target as OpenAPI spells it (utoipa 5 writes
    // `operation_id`, which readers ignore), and the target exists.
    let operation_ids: Vec<&Value> = doc["paths"]
        .as_object()
        .unwrap()
        .values()
        .flat_map(|item| item.as_object().unwrap().values())
        .map(|operation| &operation["operationId"])
        .collect();
    let mut links = 0;
    for item in doc["paths"].as_object().unwrap().values() {
        for operation in item.as_object().unwrap().values() {
            for response in operation["responses"].as_object().unwrap().values() {
                for (name, link) in response["links"].as_object().into_iter().flatten() {
                    links += 1;
                    assert!(link.get("operation_id").is_none(), "{name}: {link}");
                    assert!(
                        operation_ids.contains(&&link["operationId"]),
                        "{name}: {link}"
                    );
                }
            }
        }
    }
    assert!(links >= 10, "{links} links");
}

#[tokio::test]
async fn the_runner_serves_its_openapi_document_without_a_credential() {
    let dir = tempfile::tempdir().unwrap();
    let app = TestApp::start_with(dir.path(), |c| c.workers = 0).await;
    let response = app
        .client
        .get(app.url("/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    let served = response.text().await.unwrap();
    assert_eq!(served, iev_runner::openapi_text());
    let (status, _) = app.send(Method::GET, "/openapi.json", None, None).await;
    assert_eq!(status, 200);
}

/// The document's answers for an operation, by status.
fn documented_statuses(path: &str, method: &str) -> Vec<String> {
    let doc: Value = serde_json::from_str(&iev_runner::openapi_text()).unwrap();
    doc["paths"][path][method]["responses"]
        .as_object()
        .unwrap_or_else(|| panic!("{method} {path} is in the document"))
        .keys()
        .cloned()
        .collect()
}

/// schemathesis: create_alert answered 404 for an id that names no record,
/// which the document did not list.
#[tokio::test]
async fn an_alert_about_an_unknown_record_answers_404_as_the_document_says() {
    assert!(
        documented_statuses("/api/integration_errors/create_alert", "post")
            .contains(&"404".to_owned())
    );
    let dir = tempfile::tempdir().unwrap();
    let app = TestApp::start_with(dir.path(), |c| c.workers = 0).await;
    let admin = app.running.admin_key.clone();
    let (status, body) = app
        .send(
            Method::POST,
            "/api/integration_errors/create_alert",
            Some(&admin),
            Some(serde_json::json!({
                "ids": ["no-such-record"], "contactAlertType": "EMAIL",
                "recipients": ["ops@example.com"]
            })),
        )
        .await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["error"]["code"], "not_found", "{body}");
}

/// API.md: `POST /v1/api-keys` answers `{id, key, role, vendorId}`; the id
/// was missing, so a new key could not be revoked without listing them all.
#[tokio::test]
async fn a_new_key_answers_its_id_and_that_id_revokes_it() {
    let dir = tempfile::tempdir().unwrap();
    let app = TestApp::start_with(dir.path(), |c| c.workers = 0).await;
    let admin = app.running.admin_key.clone();
    let (status, made) = app
        .send(
            Method::POST,
            "/v1/api-keys",
            Some(&admin),
            Some(serde_json::json!({"role": "manager"})),
        )
        .await;
    assert_eq!(status, 201, "{made}");
    let id = made["id"].as_str().expect("the new key's id");
    let key = made["key"].as_str().unwrap();
    let (status, list) = app
        .send(Method::GET, "/v1/api-keys", Some(&admin), None)
        .await;
    assert_eq!(status, 200, "{list}");
    assert!(
        list["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|k| k["id"] == id),
        "{list}"
    );
    let (status, _) = app.send(Method::GET, "/v1/events", Some(key), None).await;
    assert_eq!(status, 200);
    let (status, body) = app
        .send(
            Method::DELETE,
            &format!("/v1/api-keys/{id}"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(status, 204, "{body}");
    let (status, _) = app.send(Method::GET, "/v1/events", Some(key), None).await;
    assert_eq!(status, 401);
}
