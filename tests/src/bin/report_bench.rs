//! The report's benchmark: loads 1,000,000 failure records into the embedded
//! store and 100,000 into DynamoDB Local (generated here, with a progress bar),
//! then measures the report's pages through the service, and a 100,000-row
//! CSV export's time and peak heap. Prints one table.
//!
//! Run it through `tests/bench.sh`, which starts DynamoDB Local.

use futures::StreamExt;
use hdrhistogram::Histogram;
use iev_domain::auth::{Caller, Role};
use iev_domain::event::EventType;
use iev_domain::ports::Store;
use iev_domain::record::ErrorCode;
use iev_domain::service::Service;
use iev_tests::fixtures::error_record;
use indicatif::{ProgressBar, ProgressStyle};
use peak_alloc::PeakAlloc;
use rand::{Rng, SeedableRng};
use std::sync::Arc;
use std::time::Instant;

#[global_allocator]
static HEAP: PeakAlloc = PeakAlloc;

const SQLITE_RECORDS: usize = 1_000_000;
const DYNAMO_RECORDS: usize = 100_000;
const APPS: usize = 50;
const SAMPLES: usize = 200;
const DYNAMO_SAMPLES: usize = 100;
const EXPORT_ROWS: usize = 100_000;
const DAY_MS: i64 = 86_400_000;

struct Row {
    what: String,
    p50_ms: f64,
    p99_ms: f64,
    note: String,
}

/// Records spread over the year before `now`, across 50 applications and
/// every code and type; one in five resolved. The newest `EXPORT_ROWS` are
/// all within the last `export_days` days (see `export_window`).
async fn load(store: Arc<dyn Store>, count: usize, label: &str, concurrency: usize) {
    let bar = ProgressBar::new(count as u64);
    bar.set_style(
        ProgressStyle::with_template(&format!(
            "{label:<28} [{{bar:40}}] {{pos}}/{{len}} ({{per_sec}}, eta {{eta}})"
        ))
        .unwrap()
        .progress_chars("=> "),
    );
    let span_ms = 365 * DAY_MS;
    let step = span_ms / count as i64;
    // Records end at `fixtures::at(0)`, the newest.
    let now_ms = 0;
    let retained_until = chrono::Utc::now() + chrono::Duration::days(365);
    futures::stream::iter(0..count)
        .map(|i| {
            let store = store.clone();
            async move {
                let mut rng = rand::rngs::StdRng::seed_from_u64(i as u64);
                let app = format!("app-{}", i % APPS);
                let vendor = format!("v-{}", i % APPS % 10);
                let ms = now_ms - span_ms + i as i64 * step;
                let mut r = error_record(&format!("r-{i:08}"), ms, &app, &vendor);
                r.error_code = ErrorCode::ALL[rng.gen_range(0..ErrorCode::ALL.len())];
                r.category = r.error_code.category();
                r.event_type = Some(EventType::ALL[rng.gen_range(0..EventType::ALL.len())]);
                r.manually_resolved = rng.gen_ratio(1, 5);
                r.message = format!("delivery failed: vendor said \"no\", attempt {}", i % 7);
                // The generated year ends at a fixed date that is already past:
                // retention runs from the bench's own start, or DynamoDB Local's
                // TTL sweeper deletes the oldest records while the bench runs.
                r.expires_at = retained_until;
                store.insert_error(&r).await.expect("insert");
            }
        })
        .buffer_unordered(concurrency)
        .for_each(|_| {
            bar.inc(1);
            async {}
        })
        .await;
    bar.finish();
}

fn ms(h: &Histogram<u64>, q: f64) -> f64 {
    h.value_at_quantile(q) as f64 / 1000.0
}

fn pairs(q: &str) -> Vec<(String, String)> {
    url::form_urlencoded::parse(q.as_bytes())
        .into_owned()
        .collect()
}

/// Times `samples` calls of the report with the queries `make` builds.
async fn time_pages(
    service: &Service,
    caller: &Caller,
    samples: usize,
    mut make: impl FnMut(usize, Option<String>) -> String,
) -> (Histogram<u64>, usize) {
    let mut hist = Histogram::<u64>::new(3).unwrap();
    let mut cursor = None;
    let mut rows = 0;
    for i in 0..samples {
        let query = make(i, cursor.take());
        let t = Instant::now();
        let page = service
            .list_errors(caller, pairs(&query))
            .await
            .expect("page");
        hist.record(t.elapsed().as_micros() as u64).unwrap();
        rows += page.items.len();
        cursor = page.next_cursor;
    }
    (hist, rows / samples.max(1))
}

fn week(rng: &mut impl Rng) -> String {
    let start = iev_tests::fixtures::at(-rng.gen_range(7..360) * DAY_MS);
    let end = start + chrono::Duration::days(7);
    format!(
        "from={}&to={}",
        start.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        end.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
    )
}

/// Builds the i-th query of a view, given the previous page's cursor.
type MakeQuery = Box<dyn FnMut(usize, Option<String>) -> String>;

/// The report views the issue names, each `samples` times.
async fn bench_views(
    rows: &mut Vec<Row>,
    store_name: &str,
    service: &Service,
    samples: usize,
    requests: Option<&iev_tests::aws::RequestLog>,
) {
    let caller = Caller {
        key_id: "bench".into(),
        role: Role::Manager,
        vendor_id: None,
    };
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let codes = ErrorCode::ALL;
    let views: Vec<(&str, MakeQuery)> = vec![
        ("default view", Box::new(|_, _| "limit=50".to_owned())),
        (
            "one application",
            Box::new(|i, _| format!("limit=50&applicationId=app-{}", i % APPS)),
        ),
        (
            "error code within 7 days",
            Box::new(move |i, _| {
                format!(
                    "limit=50&errorCode={}&{}",
                    codes[i % codes.len()],
                    week(&mut rng)
                )
            }),
        ),
        (
            "next page through the cursor",
            Box::new(|_, cursor| match cursor {
                Some(c) => format!("limit=50&cursor={c}"),
                None => "limit=50".to_owned(),
            }),
        ),
    ];
    for (name, make) in views {
        if let Some(log) = requests {
            log.take();
        }
        let (hist, per_page) = time_pages(service, &caller, samples, make).await;
        let mut note = format!("{samples} pages, {per_page} rows each on average");
        if let Some(log) = requests {
            let (sent, round_trips) = log.take_with_round_trips();
            let scans = sent.iter().filter(|op| op.as_str() == "Scan").count();
            note = format!(
                "{note}; {:.2} requests ({} shards' parallel Queries) in {:.2} round trips a page, {scans} scans",
                sent.len() as f64 / samples as f64,
                iev_aws::SHARDS,
                round_trips as f64 / samples as f64
            );
        }
        rows.push(Row {
            what: format!("{name}, {store_name}"),
            p50_ms: ms(&hist, 0.5),
            p99_ms: ms(&hist, 0.99),
            note,
        });
    }
}

/// The console's landing page (Failed Integration Events, the default view,
/// 50 rows), as a signed-in manager's browser asks for it: the session opened
/// and checked, the report read, the page rendered.
async fn bench_console(rows: &mut Vec<Row>, store_name: &str, service: &Service, samples: usize) {
    use tower::ServiceExt;
    let service = Arc::new(service.clone());
    let app = iev_http::with_fallbacks(iev_console::router()).with_state(service.clone());
    let key = "iev_console_bench_admin";
    service.ensure_admin_key(key).await.expect("a key");
    let admin = service.authenticate(Some(key)).await.expect("the key");
    let manager = service
        .create_key(&admin, br#"{"role": "manager"}"#)
        .await
        .expect("a manager key")
        .key;
    let sign_in = axum::http::Request::post("/console/sign-in")
        .header("host", "127.0.0.1")
        .header("origin", "http://127.0.0.1")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(axum::body::Body::from(format!("api_key={manager}")))
        .unwrap();
    let answer = app.clone().oneshot(sign_in).await.unwrap();
    let cookie = answer.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let mut hist = Histogram::<u64>::new(3).unwrap();
    let mut bytes = 0;
    for _ in 0..samples {
        let request = axum::http::Request::get("/")
            .header("cookie", &cookie)
            .body(axum::body::Body::empty())
            .unwrap();
        let t = Instant::now();
        let response = app.clone().oneshot(request).await.unwrap();
        assert_eq!(response.status(), 200, "the landing page answers");
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        hist.record(t.elapsed().as_micros() as u64).unwrap();
        bytes = body.len();
    }
    rows.push(Row {
        what: format!("console landing page, {store_name}"),
        p50_ms: ms(&hist, 0.5),
        p99_ms: ms(&hist, 0.99),
        note: format!(
            "{samples} pages of 50 rows, {} KiB of HTML each",
            bytes / 1024
        ),
    });
}

/// The window holding the newest `EXPORT_ROWS` of `total` records, all states.
fn export_window(total: usize) -> String {
    let step = 365 * DAY_MS / total as i64;
    let from = iev_tests::fixtures::at(-(EXPORT_ROWS as i64) * step);
    format!(
        r#"{{"resolved": "all", "from": "{}"}}"#,
        from.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
    )
}

/// Times the export; false when it wrote other than `EXPORT_ROWS` rows.
async fn bench_export(
    rows: &mut Vec<Row>,
    store_name: &str,
    service: &Service,
    total: usize,
) -> bool {
    let caller = Caller {
        key_id: "bench".into(),
        role: Role::Admin,
        vendor_id: None,
    };
    let before = HEAP.current_usage();
    HEAP.reset_peak_usage();
    let t = Instant::now();
    let exported = service
        .request_export(&caller, export_window(total).as_bytes())
        .await
        .expect("export");
    let took = t.elapsed();
    let peak = HEAP.peak_usage().saturating_sub(before);
    rows.push(Row {
        what: format!("CSV export, {store_name}"),
        p50_ms: f64::NAN,
        p99_ms: f64::NAN,
        note: format!(
            "{} of {EXPORT_ROWS} rows in {:.2} s; peak heap +{:.1} MiB",
            exported.rows,
            took.as_secs_f64(),
            peak as f64 / (1024.0 * 1024.0)
        ),
    });
    exported.rows == EXPORT_ROWS as u64
}

fn print(rows: &[Row]) {
    use iev_tests::table::{figure, Align};
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            vec![
                r.what.clone(),
                figure(r.p50_ms, 2),
                figure(r.p99_ms, 2),
                r.note.clone(),
            ]
        })
        .collect();
    iev_tests::table::print(
        &[
            ("report measurement", Align::Left),
            ("p50 ms", Align::Right),
            ("p99 ms", Align::Right),
            ("conditions", Align::Left),
        ],
        &cells,
    );
}

#[tokio::main]
async fn main() {
    let mut rows = Vec::new();
    let dir = tempfile::tempdir().unwrap();
    let sqlite =
        Arc::new(iev_local::SqliteStore::open(&dir.path().join("report.sqlite3")).unwrap());
    load(sqlite.clone(), SQLITE_RECORDS, "embedded store", 512).await;
    let service = iev_tests::service_over(sqlite, dir.path());
    bench_views(&mut rows, "embedded (1M)", &service, SAMPLES, None).await;
    bench_console(&mut rows, "embedded (1M)", &service, SAMPLES).await;
    let mut whole = bench_export(&mut rows, "embedded (1M)", &service, SQLITE_RECORDS).await;

    let (dynamo, log) = iev_tests::aws::dynamo_store_logged().await;
    let dynamo = Arc::new(dynamo);
    load(dynamo.clone(), DYNAMO_RECORDS, "DynamoDB Local", 64).await;
    let service = iev_tests::service_over(dynamo, dir.path());
    bench_views(
        &mut rows,
        "DynamoDB Local (100k)",
        &service,
        DYNAMO_SAMPLES,
        Some(&log),
    )
    .await;
    log.take();
    whole &= bench_export(&mut rows, "DynamoDB Local (100k)", &service, DYNAMO_RECORDS).await;
    let sent = log.take();
    rows.last_mut().unwrap().note.push_str(&format!(
        "; {} requests, {} scans",
        sent.len(),
        sent.iter().filter(|op| op.as_str() == "Scan").count()
    ));
    print(&rows);
    if !whole {
        eprintln!("an export wrote other than {EXPORT_ROWS} rows");
        std::process::exit(1);
    }
    println!("\ntargets: default view and filtered pages p99 under 20 ms on the embedded store, the console's landing page under 50 ms; no Scan on DynamoDB, and one round trip a page (more only when a filter the index does not cover leaves a shard dry)");
}
