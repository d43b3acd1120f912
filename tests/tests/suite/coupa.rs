//! Coupa's integration errors API, as a Coupa client drives it against the
//! local runner: every field of Coupa's list through create, show, PATCH and
//! PUT, resolve and unresolve, listing by document and by run, CSV, export,
//! and create_alert's contact types.

use iev_tests::TestApp;
use reqwest::Method;
use serde_json::{json, Value};

const COUPA_TEXT_FIELDS: [&str; 8] = [
    "documentType",
    "documentId",
    "documentRevision",
    "documentStatus",
    "integrationRunId",
    "integrationFilename",
    "status",
    "creationMethod",
];

/// A runner that does not deliver, with erp-1 (vendor v-erp).
async fn runner() -> (TestApp, tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let app = TestApp::start_with(dir.path(), |c| c.workers = 0).await;
    app.integrate("erp-1", "v-erp", "http://127.0.0.1:9/n?eventUrl={eventUrl}")
        .await;
    let admin = app.running.admin_key.clone();
    (app, dir, admin)
}

fn invoice_failure(document_id: &str, run: &str) -> Value {
    json!({
        "applicationId": "erp-1",
        "errorCode": "UNKNOWN_ERROR",
        "message": "the ERP rejected the invoice",
        "documentType": "InvoiceHeader",
        "documentId": document_id,
        "documentRevision": "3",
        "documentStatus": "pending_receipt",
        "integrationRunId": run,
        "integrationFilename": "invoices_2026-11-29.csv",
        "status": "error",
        "creationMethod": "integration",
        "responses": [{"at": "2026-11-29T10:00:00Z", "status": 500, "body": "ERP timed out"}]
    })
}

/// The key id behind a key, as the key list would show it.
async fn key_id(app: &TestApp, key: &str) -> String {
    let caller = app
        .running
        .service
        .authenticate(Some(key))
        .await
        .expect("a known key");
    caller.key_id
}

#[tokio::test]
async fn a_coupa_client_round_trips_every_field_through_create_show_patch_put_and_resolution() {
    let (app, _dir, admin) = runner().await;
    let manager = app.key("manager", None).await;
    let vendor = app.key("vendor", Some("v-erp")).await;
    let (manager_id, vendor_id) = (key_id(&app, &manager).await, key_id(&app, &vendor).await);

    let (status, created) = app
        .send(
            Method::POST,
            "/api/integration_errors",
            Some(&manager),
            Some(invoice_failure("INV-1001", "run-77")),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let sent = invoice_failure("INV-1001", "run-77");
    for field in COUPA_TEXT_FIELDS {
        assert_eq!(created[field], sent[field], "{field}: {created}");
    }
    assert_eq!(
        created["responses"],
        json!([{"at": "2026-11-29T10:00:00Z", "status": "500", "body": "ERP timed out"}])
    );
    assert_eq!(created["createdBy"], manager_id.as_str());
    assert!(
        !created["createdBy"].as_str().unwrap().contains(&manager),
        "a key id, never the key"
    );
    assert_eq!(created["updatedBy"], Value::Null);
    let id = created["id"].as_str().unwrap().to_owned();
    let path = format!("/api/integration_errors/{id}");

    let (status, shown) = app.send(Method::GET, &path, Some(&vendor), None).await;
    assert_eq!(status, 200, "{shown}");
    assert_eq!(shown, created, "show returns what create returned");

    let (status, patched) = app
        .send(
            Method::PATCH,
            &path,
            Some(&vendor),
            Some(json!({"documentStatus": "approved", "integrationFilename": null})),
        )
        .await;
    assert_eq!(status, 200, "{patched}");
    assert_eq!(patched["documentStatus"], "approved");
    assert_eq!(patched["integrationFilename"], Value::Null);
    assert_eq!(
        patched["documentId"], "INV-1001",
        "what the patch leaves out stays"
    );
    assert_eq!(patched["updatedBy"], vendor_id.as_str());

    let (status, put) = app
        .send(
            Method::PUT,
            &path,
            Some(&manager),
            Some(json!({
                "status": "resolved_in_erp",
                "responses": [{"status": "OK", "body": "re-sent"}]
            })),
        )
        .await;
    assert_eq!(status, 200, "{put}");
    assert_eq!(put["status"], "resolved_in_erp");
    assert_eq!(put["responses"][0]["status"], "OK");
    assert_eq!(
        put["responses"].as_array().unwrap().len(),
        1,
        "PUT replaces the responses"
    );
    assert_eq!(put["updatedBy"], manager_id.as_str());
    let history = put["history"].as_array().unwrap();
    assert_eq!(history.len(), 2, "{put}");
    assert_eq!(history[0]["by"], vendor_id.as_str());
    assert!(history[0]["fields"].get("documentStatus").is_some());
    assert!(history[1]["fields"].get("responses").is_some());
    assert!(
        history
            .iter()
            .all(|h| h["fields"].get("updatedBy").is_none()),
        "who changed it is the entry's `by`, not a changed field"
    );

    let (status, resolved) = app
        .send(
            Method::PUT,
            &format!("{path}/resolve"),
            Some(&manager),
            Some(json!({"note": "fixed"})),
        )
        .await;
    assert_eq!(status, 200, "{resolved}");
    assert_eq!(resolved["manuallyResolved"], true);
    assert_eq!(resolved["documentId"], "INV-1001");
    let (status, unresolved) = app
        .send(
            Method::PUT,
            &format!("{path}/unresolve"),
            Some(&admin),
            None,
        )
        .await;
    assert_eq!(status, 200, "{unresolved}");
    assert_eq!(unresolved["manuallyResolved"], false);
    assert_eq!(unresolved["status"], "resolved_in_erp");

    for (body, field) in [
        (json!({"createdBy": "someone"}), "createdBy"),
        (json!({"documentType": ""}), "documentType"),
        (
            json!({"responses": [{"status": 200, "extra": 1}]}),
            "responses",
        ),
    ] {
        let (status, error) = app
            .send(Method::PUT, &path, Some(&manager), Some(body))
            .await;
        assert_eq!(status, 400, "{error}");
        let named = error["error"]["field"]
            .as_str()
            .map(str::to_owned)
            .unwrap_or_default()
            + error["error"]["message"].as_str().unwrap_or_default();
        assert!(named.contains(field), "{error}");
    }
}

#[tokio::test]
async fn records_are_listed_by_document_type_document_and_run_and_exported_with_coupas_fields() {
    let (app, dir, _admin) = runner().await;
    let manager = app.key("manager", None).await;
    let mut ids = Vec::new();
    for (document, run) in [("INV-1", "run-a"), ("INV-2", "run-a"), ("INV-1", "run-b")] {
        let (status, created) = app
            .send(
                Method::POST,
                "/api/integration_errors",
                Some(&manager),
                Some(invoice_failure(document, run)),
            )
            .await;
        assert_eq!(status, 201, "{created}");
        ids.push(created["id"].as_str().unwrap().to_owned());
        tokio::time::sleep(std::time::Duration::from_millis(3)).await;
    }
    let (status, order) = app
        .send(
            Method::POST,
            "/api/integration_errors",
            Some(&manager),
            Some(
                json!({"applicationId": "erp-1", "errorCode": "UNKNOWN_ERROR",
                        "message": "order failed", "documentType": "OrderHeader"}),
            ),
        )
        .await;
    assert_eq!(status, 201, "{order}");
    let listed = |query: &str| {
        let (app, manager) = (&app, &manager);
        let path = format!("/api/integration_errors?fields=id&{query}");
        async move {
            let (status, page) = app.send(Method::GET, &path, Some(manager), None).await;
            assert_eq!(status, 200, "{page}");
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["id"].as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        listed("documentId=INV-1").await,
        vec![ids[2].clone(), ids[0].clone()]
    );
    assert_eq!(
        listed("integrationRunId=run-a").await,
        vec![ids[1].clone(), ids[0].clone()]
    );
    assert_eq!(listed("documentType=InvoiceHeader").await.len(), 3);
    assert_eq!(
        listed("documentType=OrderHeader").await,
        vec![order["id"].as_str().unwrap().to_owned()]
    );
    assert_eq!(
        listed("documentId=INV-1&integrationRunId=run-b").await,
        vec![ids[2].clone()]
    );
    let (status, error) = app
        .send(
            Method::GET,
            &format!("/api/integration_errors?documentId={}", "x".repeat(300)),
            Some(&manager),
            None,
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(error["error"]["field"], "documentId");

    let fields = "id,documentType,documentId,documentRevision,documentStatus,integrationRunId,\
                  integrationFilename,status,creationMethod,responses,createdBy,updatedBy";
    let csv = app
        .client
        .get(app.url(&format!(
            "/api/integration_errors?format=csv&integrationRunId=run-b&fields={fields}"
        )))
        .bearer_auth(&manager)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let mut reader = csv::Reader::from_reader(csv.as_bytes());
    assert_eq!(
        reader.headers().unwrap().iter().collect::<Vec<_>>(),
        fields.split(',').collect::<Vec<_>>()
    );
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 1, "{csv}");
    assert_eq!(&rows[0][2], "INV-1");
    assert_eq!(&rows[0][5], "run-b");
    assert!(rows[0][9].contains("ERP timed out"), "{csv}");

    let (status, export) = app
        .send(Method::POST, "/v1/exports", Some(&manager), Some(json!({})))
        .await;
    assert_eq!(status, 201, "{export}");
    let exported = std::fs::read_to_string(export["location"].as_str().unwrap()).unwrap();
    assert!(exported.starts_with("Creation Date,"), "{exported}");
    assert!(
        exported.contains(&ids[0]) || exported.contains("ERP"),
        "{exported}"
    );
    drop(dir);
}

#[tokio::test]
async fn create_alert_takes_coupas_contact_types_in_any_case_and_queues_sms() {
    let (app, _dir, _admin) = runner().await;
    let manager = app.key("manager", None).await;
    let (_, created) = app
        .send(
            Method::POST,
            "/api/integration_errors",
            Some(&manager),
            Some(invoice_failure("INV-9", "run-9")),
        )
        .await;
    let id = created["id"].as_str().unwrap();
    let alert = |kind: &str, recipient: &str| json!({"ids": [id], "contactAlertType": kind, "recipients": [recipient]});
    for (kind, recipient) in [
        ("sms", "+14155550100"),
        ("SMS", "+447700900123"),
        ("email", "ap@buyer.example"),
    ] {
        let (status, made) = app
            .send(
                Method::POST,
                "/api/integration_errors/create_alert",
                Some(&manager),
                Some(alert(kind, recipient)),
            )
            .await;
        assert_eq!(status, 201, "{made}");
        assert_eq!(made["contactAlertType"], kind.to_ascii_uppercase());
        assert_eq!(made["deliveries"][0]["status"], "queued");
    }
    let (status, error) = app
        .send(
            Method::POST,
            "/api/integration_errors/create_alert",
            Some(&manager),
            Some(alert("SMS", "555-0100")),
        )
        .await;
    assert_eq!(status, 400, "{error}");
    assert_eq!(error["error"]["field"], "recipients[0]");
    let (status, error) = app
        .send(
            Method::POST,
            "/api/integration_errors/create_alert",
            Some(&manager),
            Some(alert("PAGER", "+14155550100")),
        )
        .await;
    assert_eq!(status, 400, "{error}");
    assert_eq!(error["error"]["field"], "contactAlertType");
}
