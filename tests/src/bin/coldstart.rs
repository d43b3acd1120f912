//! Cold starts of the Lambda functions, as built for AWS by
//! `tests/lambda-build.sh`: each function's bootstrap size, zip size, and init
//! time, from process start to its first poll of the Runtime API
//! (`GET /2018-06-01/runtime/invocation/next`), median of ten starts.
//!
//! A minimal Runtime API stub on loopback takes that poll (and never answers
//! it); the same stub answers Secrets Manager's `GetSecretValue`, so that the
//! functions that read secrets at start do so through the AWS SDK, as in AWS,
//! against an endpoint whose own latency is negligible. Every other client is
//! built as at a real start and calls nothing before the first event.
//!
//! Usage: `coldstart <lambda dir>` (default `target/lambda`), where each
//! function has `<name>/bootstrap` and `<name>/bootstrap.zip`.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::Router;
use iev_tests::table::{self, Align};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Notify;

const STARTS: usize = 10;
/// Init goal per function, from issue 9.
const GOAL_MS: f64 = 8.0;
const FUNCTIONS: &[&str] = &[
    "ingest",
    "dispatch",
    "record-error",
    "record-error-http",
    "report",
    "resolve",
    "export",
    "export-http",
];

#[derive(Clone)]
struct Stub {
    polled: Arc<Notify>,
}

async fn next_invocation(State(stub): State<Stub>) -> impl IntoResponse {
    stub.polled.notify_one();
    // Held open: the function waits here, as it would for its first event.
    std::future::pending::<()>().await;
    StatusCode::NO_CONTENT
}

async fn secrets_manager(headers: HeaderMap, body: String) -> impl IntoResponse {
    let target = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if target != "secretsmanager.GetSecretValue" {
        return (StatusCode::BAD_REQUEST, String::new());
    }
    let id = serde_json::from_str::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v["SecretId"].as_str().map(str::to_owned))
        .unwrap_or_default();
    let answer = serde_json::json!({
        "ARN": id,
        "Name": "coldstart",
        "SecretString": "coldstart-secret-of-at-least-thirty-two-characters",
        "VersionId": "v1",
        "VersionStages": ["AWSCURRENT"],
        "CreatedDate": 1.7e9,
    });
    (StatusCode::OK, answer.to_string())
}

async fn start_stub() -> (String, Stub) {
    let stub = Stub {
        polled: Arc::new(Notify::new()),
    };
    let app = Router::new()
        .route("/2018-06-01/runtime/invocation/next", get(next_invocation))
        .route("/", post(secrets_manager))
        .with_state(stub.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a loopback port");
    let addr = listener.local_addr().expect("its address");
    tokio::spawn(async move { axum::serve(listener, app).await });
    (addr.to_string(), stub)
}

/// One start: milliseconds from spawning the bootstrap to its first poll.
async fn one_start(bootstrap: &Path, name: &str, api: &str, stub: &Stub) -> Result<f64, String> {
    let polled = stub.polled.notified();
    tokio::pin!(polled);
    polled.as_mut().enable();
    let mut command = std::process::Command::new(bootstrap);
    command
        .env_clear()
        .env("AWS_LAMBDA_RUNTIME_API", api)
        .env("AWS_LAMBDA_FUNCTION_NAME", name)
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
        .env("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{name}"))
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "coldstart")
        .env("AWS_LAMBDA_LOG_FORMAT", "JSON")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "coldstart")
        .env("AWS_SECRET_ACCESS_KEY", "coldstart")
        .env("AWS_SESSION_TOKEN", "coldstart")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_ENDPOINT_URL_SECRETS_MANAGER", format!("http://{api}"))
        .env("IEV_TABLE", "iev-coldstart")
        .env("IEV_PUBLIC_URL", "https://iev.example")
        .env("IEV_RETENTION_DAYS", "365")
        .env("IEV_QUEUE_URL", "https://sqs.us-east-1.amazonaws.com/1/iev")
        .env("IEV_EXPORT_BUCKET", "iev-coldstart")
        .env(
            "IEV_ADMIN_KEY_SECRET_ARN",
            "arn:aws:secretsmanager:us-east-1:1:secret:admin",
        )
        .env(
            "IEV_CURSOR_SECRET_ARN",
            "arn:aws:secretsmanager:us-east-1:1:secret:cursor",
        )
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let started = Instant::now();
    let mut child = command
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", bootstrap.display()))?;
    let outcome = tokio::select! {
        _ = &mut polled => Ok(started.elapsed().as_secs_f64() * 1000.0),
        status = exited(&mut child) => Err(format!("{name} exited before polling: {status}")),
        _ = tokio::time::sleep(Duration::from_secs(10)) => Err(format!("{name} did not poll within 10 s")),
    };
    let _ = child.kill();
    let _ = child.wait();
    if outcome.is_err() {
        if let Some(mut err) = child.stderr.take() {
            let mut text = String::new();
            let _ = std::io::Read::read_to_string(&mut err, &mut text);
            eprintln!("{name} stderr: {text}");
        }
    }
    outcome
}

/// Resolves when the child has exited on its own.
async fn exited(child: &mut std::process::Child) -> String {
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return status.to_string(),
            Ok(None) => tokio::time::sleep(Duration::from_millis(2)).await,
            Err(e) => return e.to_string(),
        }
    }
}

fn size(path: &Path) -> Result<u64, String> {
    std::fs::metadata(path)
        .map(|m| m.len())
        .map_err(|e| format!("{}: {e} (run tests/lambda-build.sh first)", path.display()))
}

fn mb(bytes: u64) -> String {
    format!("{:.2}", bytes as f64 / 1_000_000.0)
}

#[tokio::main]
async fn main() -> Result<(), String> {
    let dir = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("target/lambda"));
    let (api, stub) = start_stub().await;
    let mut rows = Vec::new();
    let mut over_goal = Vec::new();
    for name in FUNCTIONS {
        let bootstrap = dir.join(name).join("bootstrap");
        let zipped = dir.join(name).join("bootstrap.zip");
        let (bytes, zip_bytes) = (size(&bootstrap)?, size(&zipped)?);
        // One start to warm the page cache, as a Lambda host's would be for a reused image.
        one_start(&bootstrap, name, &api, &stub).await?;
        let mut times = Vec::with_capacity(STARTS);
        for _ in 0..STARTS {
            times.push(one_start(&bootstrap, name, &api, &stub).await?);
        }
        times.sort_by(f64::total_cmp);
        let median = (times[STARTS / 2 - 1] + times[STARTS / 2]) / 2.0;
        if median > GOAL_MS {
            over_goal.push(*name);
        }
        rows.push(vec![
            (*name).to_owned(),
            mb(bytes),
            mb(zip_bytes),
            table::figure(median, 1),
            table::figure(times[0], 1),
            table::figure(times[STARTS - 1], 1),
        ]);
    }
    println!("\nLambda packages and cold starts ({STARTS} starts each; goals: zip <= 5 MB, median init <= {GOAL_MS} ms)");
    table::print(
        &[
            ("function", Align::Left),
            ("bootstrap MB", Align::Right),
            ("zip MB", Align::Right),
            ("init median ms", Align::Right),
            ("min ms", Align::Right),
            ("max ms", Align::Right),
        ],
        &rows,
    );
    if !over_goal.is_empty() {
        println!("\nover the init goal: {}", over_goal.join(", "));
    }
    Ok(())
}
