//! The runner's binary, stopped as a service manager stops it.

use std::io::BufRead;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// The runner's process, killed if the test ends before it stops.
struct KillOnDrop(Option<std::process::Child>);

impl KillOnDrop {
    fn get(&mut self) -> &mut std::process::Child {
        self.0.as_mut().unwrap()
    }
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Some(child) = &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A vendor that takes two seconds to answer success, and says when it was called.
async fn slow_vendor() -> (String, Arc<AtomicBool>) {
    let called = Arc::new(AtomicBool::new(false));
    let flag = called.clone();
    let app = axum::Router::new().route(
        "/notify",
        axum::routing::get(move || {
            let flag = flag.clone();
            async move {
                flag.store(true, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_secs(2)).await;
                axum::Json(serde_json::json!({"success": true, "accountIdentifier": "a-1"}))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!(
        "http://{}/notify?eventUrl={{eventUrl}}",
        listener.local_addr().unwrap()
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, called)
}

#[tokio::test]
async fn sigterm_finishes_the_delivery_in_flight_checkpoints_and_exits_0() {
    let dir = tempfile::tempdir().unwrap();
    let (vendor_url, called) = slow_vendor().await;
    let child = Command::new(env!("CARGO_BIN_EXE_iev-local"))
        .env("IEV_LISTEN", "127.0.0.1:0")
        .env("IEV_DATA_DIR", dir.path())
        .env("IEV_ADMIN_KEY", "signals-admin-key")
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("the runner starts");
    let mut child = KillOnDrop(Some(child));
    let (lines_tx, lines) = std::sync::mpsc::channel::<String>();
    let stdout = child.get().stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            let _ = lines_tx.send(line);
        }
    });
    let mut seen = Vec::new();
    let addr = loop {
        let line = lines
            .recv_timeout(Duration::from_secs(30))
            .expect("the runner logs");
        seen.push(line.clone());
        if let Some(rest) = line.split("addr=").nth(1) {
            break rest.split_whitespace().next().unwrap().to_owned();
        }
    };
    let base = format!("http://{addr}");
    let client = reqwest::Client::new();
    let put = client
        .put(format!("{base}/v1/integrations/app-1"))
        .bearer_auth("signals-admin-key")
        .json(&serde_json::json!({
            "applicationName": "Widget", "vendorId": "v-1",
            "notificationUrls": {"SUBSCRIPTION_ORDER": vendor_url},
            "oauth": {"consumerKey": "k", "consumerSecret": "s"}
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(put.status(), 200);
    let accepted: serde_json::Value = client
        .post(format!("{base}/v1/events"))
        .bearer_auth("signals-admin-key")
        .json(&serde_json::json!({
            "applicationId": "app-1", "type": "SUBSCRIPTION_ORDER",
            "marketplace": {"partner": "ACME", "baseUrl": "https://m.example"},
            "creator": {"uuid": "u-1"},
            "payload": {"company": {"uuid": "c-1", "name": "Widgets"}, "order": {"editionCode": "BASIC"}}
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = accepted["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{accepted}"))
        .to_owned();
    for _ in 0..200 {
        if called.load(Ordering::SeqCst) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(called.load(Ordering::SeqCst), "the vendor was called");

    let killed = Command::new("kill")
        .args(["-TERM", &child.get().id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let mut process = child.0.take().unwrap();
    let status = tokio::task::spawn_blocking(move || process.wait())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status.code(), Some(0), "a clean stop exits 0");
    // The reader thread ends at the pipe's end: read until it has, not only
    // what it had forwarded when the process exited.
    while let Ok(line) = lines.recv_timeout(Duration::from_secs(5)) {
        seen.push(line);
    }
    let log = seen.join("\n");
    assert!(log.contains("SIGTERM") && log.contains("stopped"), "{log}");
    assert!(
        log.contains("handed_back=0"),
        "the delivery in flight finished: {log}"
    );
    assert!(!log.contains("could not be checkpointed"), "{log}");

    // The delivery it finished is in the store, and the WAL was checkpointed.
    let wal = dir.path().join("iev.sqlite3-wal");
    assert!(
        std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0) == 0,
        "the WAL is empty after a clean stop"
    );
    use iev_domain::ports::EventStore;
    let store = iev_local::SqliteStore::open(&dir.path().join("iev.sqlite3")).unwrap();
    let event = store.get_event(&id).await.unwrap().expect("the event");
    assert_eq!(event.status.as_str(), "COMPLETE");
}
