//! The same black-box flow against the local runner and against
//! `template.yaml` deployed to ministack by `tests/run.sh`.

use iev_tests::blackbox::{run_flow, Kind, Target};
use iev_tests::TestApp;
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn the_black_box_flow_passes_against_the_local_runner() {
    let dir = tempfile::tempdir().unwrap();
    let app = TestApp::start_in(dir.path()).await;
    let target = Target::local(app.base.clone(), app.running.admin_key.clone(), dir.path());
    let outcome = run_flow(&target).await;
    let (status, record) = target
        .json(
            Method::GET,
            &format!("/api/integration_errors/{}", outcome.unresolved_error_id),
            Some(&target.admin_key),
            None,
        )
        .await;
    assert_eq!(status, 200, "{record}");
    assert!(
        record["message"]
            .as_str()
            .unwrap_or_default()
            .contains("attempts"),
        "locally a transport failure ends after the configured attempts: {record}"
    );
}

#[tokio::test]
async fn the_black_box_flow_passes_against_template_yaml_deployed_to_an_aws_emulator() {
    let target = Target::deployed_from_env();
    let outcome = run_flow(&target).await;
    let Kind::Deployed(stack) = &target.kind else {
        unreachable!("a deployed target");
    };

    // The outage outlasted the attempts the stack allows (3 here), more than
    // the receives a message may have (2): each retry went out as a new,
    // delayed message (a message hidden and received again would have gone
    // to the dead-letter queue after its second receive).
    let (status, record) = target
        .json(
            Method::GET,
            &format!("/api/integration_errors/{}", outcome.unresolved_error_id),
            Some(&target.admin_key),
            None,
        )
        .await;
    assert_eq!(status, 200, "{record}");
    assert!(
        record["message"]
            .as_str()
            .unwrap_or_default()
            .contains("(3 attempts)"),
        "{record}"
    );
    assert_eq!(record["attempts"], 3, "{record}");

    // The scheduled export, invoked as EventBridge would, writes yesterday's
    // file with every unresolved failure in it.
    let out = tempfile::NamedTempFile::new().unwrap();
    let fired = chrono::Utc::now();
    let payload = json!({
        "version": "0", "id": "bb-schedule", "detail-type": "Scheduled Event",
        "source": "aws.events", "account": "000000000000", "region": "us-east-1",
        "time": fired.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "resources": [], "detail": {}
    });
    stack.aws(&[
        "lambda",
        "invoke",
        "--function-name",
        &stack.function("ExportFunction"),
        "--payload",
        &payload.to_string(),
        out.path().to_str().unwrap(),
    ]);
    let exported: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.path()).unwrap()).unwrap();
    let day = iev_export::day_before(fired);
    let key = format!("integration-errors/daily/{day}.csv");
    let bucket = stack.output("ExportBucketName");
    assert_eq!(
        exported["location"],
        format!("s3://{bucket}/{key}"),
        "{exported}"
    );
    let csv = stack.read_object(&bucket, &key).await;
    assert!(csv.contains(&outcome.application_id), "{csv}");

    // The dispatch function's log: JSON lines, each delivery's carrying the
    // invocation's request id and the event and application; and one
    // embedded-metric line per settled delivery.
    let messages: Vec<String> = serde_json::from_str(&stack.aws(&[
        "logs",
        "filter-log-events",
        "--log-group-name",
        "/aws/lambda/iev/dispatch",
        "--query",
        "events[].message",
        "--output",
        "json",
    ]))
    .expect("the log's messages");
    let ours: Vec<serde_json::Value> = messages
        .iter()
        .filter(|m| !m.starts_with("START ") && !m.starts_with("END ") && !m.starts_with("REPORT "))
        .map(|m| serde_json::from_str(m).unwrap_or_else(|_| panic!("a JSON log line: {m}")))
        .filter(|l: &serde_json::Value| {
            l["application_id"] == outcome.application_id.as_str()
                || l["applicationId"] == outcome.application_id.as_str()
        })
        .collect();
    let settled: Vec<_> = ours
        .iter()
        .filter(|l| l["message"] == "delivery attempt settled")
        .collect();
    assert!(settled.len() >= 3, "{ours:#?}");
    for line in &settled {
        let spans = line["spans"].as_array().expect("spans");
        assert!(spans.iter().any(|s| s["requestId"].is_string()), "{line}");
        assert!(
            spans.iter().any(|s| s["event_id"] == line["event_id"]),
            "{line}"
        );
    }
    let metric = |code: &str, counter: &str| {
        ours.iter().any(|l| {
            l["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "IntegrationEvents"
                && l["ErrorCode"] == code
                && l[counter] == 1
        })
    };
    assert!(metric("NONE", "Delivered"), "{ours:#?}");
    assert!(metric("USER_NOT_FOUND", "Failed"), "{ours:#?}");
    assert!(metric("TRANSPORT_ERROR", "Retried"), "{ours:#?}");

    // No key or secret in any function's configuration: only the secrets' ARNs.
    let cursor_secret = stack
        .aws(&[
            "secretsmanager",
            "get-secret-value",
            "--secret-id",
            &stack.output("CursorSecretArn"),
            "--query",
            "SecretString",
            "--output",
            "text",
        ])
        .trim()
        .to_owned();
    let functions = stack.stack["functions"].as_object().expect("functions");
    assert_eq!(functions.len(), 9, "{functions:?}");
    for (logical, name) in functions {
        let config = stack.aws(&[
            "lambda",
            "get-function-configuration",
            "--function-name",
            name.as_str().unwrap(),
        ]);
        assert!(
            !config.contains(&target.admin_key) && !config.contains(&cursor_secret),
            "{logical}'s configuration shows a secret: {config}"
        );
        assert!(config.contains("IEV_TABLE"), "{logical}: {config}");
    }
    // The deployed table has the indexes the store reads, keyed and
    // projected as `create_table` makes them for DynamoDB Local.
    let table = stack
        .aws(&[
            "lambda",
            "get-function-configuration",
            "--function-name",
            &stack.function("ReportFunction"),
            "--query",
            "Environment.Variables.IEV_TABLE",
            "--output",
            "text",
        ])
        .trim()
        .to_owned();
    let described: serde_json::Value = serde_json::from_str(&stack.aws(&[
        "dynamodb",
        "describe-table",
        "--table-name",
        &table,
        "--output",
        "json",
    ]))
    .expect("the table's description");
    let mut deployed: Vec<(String, String, String, Vec<String>)> = described["Table"]
        ["GlobalSecondaryIndexes"]
        .as_array()
        .expect("the table's indexes")
        .iter()
        .map(|i| {
            let key = |kind: &str| {
                i["KeySchema"]
                    .as_array()
                    .and_then(|k| k.iter().find(|e| e["KeyType"] == kind))
                    .and_then(|e| e["AttributeName"].as_str())
                    .unwrap_or_default()
                    .to_owned()
            };
            let mut projected: Vec<String> = i["Projection"]["NonKeyAttributes"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|v| v.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default();
            projected.sort();
            assert_eq!(i["Projection"]["ProjectionType"], "INCLUDE", "{i}");
            (
                i["IndexName"].as_str().unwrap_or_default().to_owned(),
                key("HASH"),
                key("RANGE"),
                projected,
            )
        })
        .collect();
    deployed.sort();
    let mut expected: Vec<(String, String, String, Vec<String>)> = iev_aws::indexes()
        .map(|((name, pk, sk), projected)| {
            let mut projected: Vec<String> = projected.iter().map(|a| a.to_string()).collect();
            projected.sort();
            (name.into(), pk.into(), sk.into(), projected)
        })
        .collect();
    expected.sort();
    assert_eq!(deployed, expected);

    // The console is served by the stack as by the runner.
    let (status, page) = target
        .send(Method::GET, "/console/sign-in", None, None)
        .await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains(">API key</label>"), "{page}");
}
