//! Report exports: on request and daily, to a folder locally and to S3.

use iev_domain::ports::{ErrorStore, ExportSink};
use iev_tests::fixtures::{at, error_record};
use iev_tests::TestApp;
use reqwest::Method;
use serde_json::json;

fn csv_rows(text: &str) -> Vec<csv::StringRecord> {
    csv::Reader::from_reader(text.as_bytes())
        .records()
        .map(Result::unwrap)
        .collect()
}

#[tokio::test]
async fn an_export_on_request_writes_the_report_as_csv_under_the_data_directory() {
    let dir = tempfile::tempdir().unwrap();
    let app = TestApp::start_with(dir.path(), |c| c.workers = 0).await;
    let store = &app.running.store;
    for (i, resolved) in [false, true, false].into_iter().enumerate() {
        let mut r = error_record(&format!("r-{i}"), i as i64 * 1000, "app-1", "v-1");
        r.manually_resolved = resolved;
        r.message = format!("message {i}, with a comma");
        store.insert_error(&r).await.unwrap();
    }
    let admin = app.running.admin_key.clone();
    let (status, body) = app
        .send(Method::POST, "/v1/exports", Some(&admin), None)
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["rows"], 2);
    let location = body["location"].as_str().unwrap();
    assert!(location.starts_with(&dir.path().join("exports").display().to_string()));
    let text = std::fs::read_to_string(location).unwrap();
    assert!(text.starts_with("Creation Date,Application Id,"));
    let rows = csv_rows(&text);
    assert_eq!(rows.len(), 2);
    assert_eq!(&rows[0][10], "message 2, with a comma");
    assert_eq!(&rows[1][10], "message 0, with a comma");

    let (status, body) = app
        .send(
            Method::POST,
            "/v1/exports",
            Some(&admin),
            Some(json!({"resolved": "all", "from": at(500).to_rfc3339()})),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["rows"], 2);
    let (status, body) = app
        .send(
            Method::POST,
            "/v1/exports",
            Some(&admin),
            Some(json!({"resolved": "sometimes"})),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["field"], "resolved");
    let vendor = app.key("vendor", Some("v-1")).await;
    let (status, _) = app
        .send(Method::POST, "/v1/exports", Some(&vendor), None)
        .await;
    assert_eq!(status, 403);
    let leftovers: Vec<_> = walk(&dir.path().join("exports"))
        .into_iter()
        .filter(|p| p.ends_with(".part"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

fn walk(dir: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path.display().to_string());
        }
    }
    out
}

#[tokio::test]
async fn the_daily_export_holds_the_days_failures_and_everything_still_unresolved() {
    let dir = tempfile::tempdir().unwrap();
    let app = TestApp::start_with(dir.path(), |c| c.workers = 0).await;
    let store = &app.running.store;
    let day_ms = 86_400_000;
    let day = at(0).date_naive();
    let midnight = day.and_hms_opt(0, 0, 0).unwrap().and_utc();
    let offset = (midnight - at(0)).num_milliseconds();
    let cases = [
        ("old-open", offset - 5 * day_ms, false, true),
        ("old-resolved", offset - 5 * day_ms, true, false),
        ("day-open", offset + 1000, false, true),
        ("day-resolved", offset + 2000, true, true),
        ("after-open", offset + day_ms + 1000, false, true),
        ("after-resolved", offset + day_ms + 2000, true, false),
    ];
    for (id, ms, resolved, _) in cases {
        let mut r = error_record(id, ms, "app-1", "v-1");
        r.manually_resolved = resolved;
        r.message = id.to_owned();
        store.insert_error(&r).await.unwrap();
    }
    let exported = app.running.service.daily_export(day).await.unwrap();
    assert!(exported
        .location
        .ends_with(&format!("exports/integration-errors/daily/{day}.csv")));
    let text = std::fs::read_to_string(&exported.location).unwrap();
    let messages: Vec<String> = csv_rows(&text).iter().map(|r| r[10].to_owned()).collect();
    let expected: Vec<&str> = ["after-open", "day-resolved", "day-open", "old-open"].to_vec();
    assert_eq!(messages, expected);
    assert_eq!(cases.iter().filter(|c| c.3).count() as u64, exported.rows);
}

#[test]
fn the_local_schedule_runs_at_a_quarter_past_midnight_utc() {
    let at = |s: &str| s.parse::<chrono::DateTime<chrono::Utc>>().unwrap();
    assert_eq!(
        iev_runner::until_next_export(at("2026-11-26T00:00:00Z")).as_secs(),
        15 * 60
    );
    assert_eq!(
        iev_runner::until_next_export(at("2026-11-26T00:15:00Z")).as_secs(),
        86_400
    );
    assert_eq!(
        iev_runner::until_next_export(at("2026-11-26T23:15:00Z")).as_secs(),
        3600
    );
    assert_eq!(
        iev_export::day_before(at("2026-11-26T00:15:00Z")).to_string(),
        "2026-11-25"
    );
}

#[tokio::test]
async fn a_large_export_reaches_s3_in_parts_and_reads_back_whole() {
    let (exports, client, bucket) = iev_tests::aws::s3_exports().await;
    let mut file = exports
        .create("integration-errors/test/big.csv")
        .await
        .unwrap();
    let mut written = Vec::new();
    // Three parts: two full 8 MiB parts and a small last one.
    for i in 0..17u8 {
        let chunk = vec![b'a' + i; 1024 * 1024];
        written.extend_from_slice(&chunk);
        file.write(chunk).await.unwrap();
    }
    let location = file.finish().await.unwrap();
    assert_eq!(
        location,
        format!("s3://{bucket}/integration-errors/test/big.csv")
    );
    let object = client
        .get_object()
        .bucket(&bucket)
        .key("integration-errors/test/big.csv")
        .send()
        .await
        .unwrap();
    let body = object.body.collect().await.unwrap().into_bytes();
    assert_eq!(body.len(), written.len());
    assert!(body.as_ref() == written.as_slice());

    let mut small = exports
        .create("integration-errors/test/small.csv")
        .await
        .unwrap();
    small.write(b"Creation Date\n".to_vec()).await.unwrap();
    small.finish().await.unwrap();
    let object = client
        .get_object()
        .bucket(&bucket)
        .key("integration-errors/test/small.csv")
        .send()
        .await
        .unwrap();
    let body = object.body.collect().await.unwrap().into_bytes();
    assert_eq!(body.as_ref(), b"Creation Date\n");
}
