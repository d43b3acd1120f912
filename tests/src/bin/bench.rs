//! The benchmark the README names. It starts the release builds of the local
//! runner and the bare-handler ceiling as separate processes, loads each from
//! this process over loopback, and measures single-record store writes on the
//! embedded store and DynamoDB Local. Prints one table, then the AWS path's
//! ingest and delivery (the functions' handlers in this process over DynamoDB
//! Local and moto's SQS, `aws_path`) beside the local runner's.
//!
//! Run it through `tests/bench.sh`, which builds the binaries and starts DynamoDB Local and moto.

use hdrhistogram::Histogram;
use iev_domain::ports::EventStore;
use iev_tests::fixtures::{event, order_json};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

// Beside this file, not in it: a file of its own in `src/bin/` would be
// taken for another binary.
#[path = "bench/aws_path.rs"]
mod aws_path;

const CONNECTIONS: usize = 50;
const REQUESTS: usize = 20_000;
const WARMUP: usize = 2_000;
const ROUNDS: usize = 3;
const STORE_WRITES: usize = 2_000;
const DYNAMO_WRITES: usize = 500;

#[derive(Clone)]
struct Row {
    what: String,
    rate: Option<f64>,
    p50_ms: f64,
    p99_ms: f64,
    note: String,
}

struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn binary(name: &str) -> std::path::PathBuf {
    let exe = std::env::current_exe().expect("own path");
    exe.with_file_name(name)
}

fn free_addr() -> String {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().to_string()
}

async fn wait_until_up(client: &reqwest::Client, url: &str) {
    for _ in 0..200 {
        if client.get(url).send().await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{url} did not come up");
}

/// One POST of an event, which must be accepted, read to its end.
async fn post_accepted(client: &reqwest::Client, url: &str, key: &str, body: &[u8]) {
    let resp = client
        .post(url)
        .bearer_auth(key)
        .header("content-type", "application/json")
        .body(body.to_vec())
        .send()
        .await
        .expect("request sent");
    assert_eq!(resp.status().as_u16(), 202, "every request is accepted");
    resp.bytes().await.expect("response read");
}

/// `total` POSTs of `body` from `CONNECTIONS` concurrent keep-alive connections.
async fn load(
    url: &str,
    key: &str,
    body: &serde_json::Value,
    total: usize,
) -> (f64, Histogram<u64>) {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(CONNECTIONS)
        .build()
        .unwrap();
    let body = Arc::new(serde_json::to_vec(body).unwrap());
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let tasks: Vec<_> = (0..CONNECTIONS)
        .map(|_| {
            let (client, body, next) = (client.clone(), body.clone(), next.clone());
            let (url, key) = (url.to_owned(), key.to_owned());
            tokio::spawn(async move {
                let mut hist = Histogram::<u64>::new(3).unwrap();
                while next.fetch_add(1, Ordering::Relaxed) < total {
                    let t = Instant::now();
                    post_accepted(&client, &url, &key, &body).await;
                    hist.record(t.elapsed().as_micros() as u64).unwrap();
                }
                hist
            })
        })
        .collect();
    let mut hist = Histogram::<u64>::new(3).unwrap();
    for t in tasks {
        hist.add(t.await.unwrap()).unwrap();
    }
    let rate = total as f64 / started.elapsed().as_secs_f64();
    (rate, hist)
}

fn ms(h: &Histogram<u64>, q: f64) -> f64 {
    h.value_at_quantile(q) as f64 / 1000.0
}

const ADMIN: &str = "iev_bench_admin_key_0123456789abcdef0123456789";
const DELIVERIES: usize = 20_000;
const E2E_RATE: u64 = 500;
const E2E_SECONDS: u64 = 10;

/// A local runner process over `data_dir`, with `workers` deliveries at once.
async fn start_runner(data_dir: &std::path::Path, workers: usize) -> (Guard, String) {
    let addr = free_addr();
    let runner = Guard(
        Command::new(binary("iev-local"))
            .env("IEV_LISTEN", &addr)
            .env("IEV_DATA_DIR", data_dir)
            .env("IEV_ADMIN_KEY", ADMIN)
            .env("IEV_WORKERS", workers.to_string())
            .env("RUST_LOG", "warn")
            // IEV_BENCH_RUNNER_LOG=<file> keeps the runner's warnings, to find a stall.
            .stdout(match std::env::var_os("IEV_BENCH_RUNNER_LOG") {
                Some(path) => Stdio::from(std::fs::File::create(path).expect("the runner log")),
                None => Stdio::null(),
            })
            .spawn()
            .expect("target/release/iev-local exists: run tests/bench.sh"),
    );
    let base = format!("http://{addr}");
    wait_until_up(&reqwest::Client::new(), &base).await;
    (runner, base)
}

/// Configures `app` (its own vendor) to deliver to `notify`.
async fn integrate(base: &str, app: &str, notify: &str) {
    let put = reqwest::Client::new()
        .put(format!("{base}/v1/integrations/{app}"))
        .bearer_auth(ADMIN)
        .json(&serde_json::json!({
            "applicationName": "Bench", "vendorId": format!("v-{app}"),
            "notificationUrls": {"SUBSCRIPTION_ORDER": notify},
            "oauth": {"consumerKey": "k", "consumerSecret": "s"}
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(put.status().as_u16(), 200);
}

/// Configures app-1 to deliver to `notify` and returns a marketplace key.
async fn prepare(base: &str, notify: &str) -> String {
    let client = reqwest::Client::new();
    integrate(base, "app-1", notify).await;
    let key: serde_json::Value = client
        .post(format!("{base}/v1/api-keys"))
        .bearer_auth(ADMIN)
        .json(&serde_json::json!({"role": "marketplace"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    key["key"].as_str().unwrap().to_owned()
}

/// One measured load of a server process.
struct Run {
    rate: f64,
    hist: Histogram<u64>,
    /// The server's CPU time (user and system, all threads) per request. On
    /// this shared machine it moves far less from run to run than the rate.
    cpu_us: f64,
}

/// CPU time the process `pid` has used so far, all threads.
fn cpu_time(pid: u32) -> Duration {
    let stat = procfs::process::Process::new(pid as i32)
        .and_then(|p| p.stat())
        .expect("the server's /proc stat");
    Duration::from_secs_f64((stat.utime + stat.stime) as f64 / procfs::ticks_per_second() as f64)
}

/// The measured load of `url` after a warm-up, with `server`'s CPU time over it.
async fn measure(server: &Guard, url: &str, key: &str) -> Run {
    load(url, key, &order_json("app-1"), WARMUP).await;
    let before = cpu_time(server.0.id());
    let (rate, hist) = load(url, key, &order_json("app-1"), REQUESTS).await;
    let used = cpu_time(server.0.id()) - before;
    Run {
        rate,
        hist,
        cpu_us: used.as_secs_f64() * 1e6 / REQUESTS as f64,
    }
}

/// Ingestion alone (delivery off) through a fresh runner: one run.
async fn load_local_runner() -> Run {
    let dir = tempfile::tempdir().unwrap();
    let (runner, base) = start_runner(dir.path(), 0).await;
    let key = prepare(&base, "http://127.0.0.1:9/?e={eventUrl}").await;
    measure(&runner, &format!("{base}/v1/events"), &key).await
}

/// A vendor stub in this process that answers success at once and counts calls.
async fn vendor_stub() -> (String, Arc<AtomicUsize>) {
    use axum::routing::get;
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = calls.clone();
    let app = axum::Router::new().route(
        "/notify",
        get(move || {
            let counter = counter.clone();
            async move {
                counter.fetch_add(1, Ordering::Relaxed);
                axum::Json(serde_json::json!({"success": true, "accountIdentifier": "a"}))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}/notify?eventUrl={{eventUrl}}"), calls)
}

async fn wait_for_calls(calls: &AtomicUsize, n: usize, limit: Duration) -> Instant {
    let until = Instant::now() + limit;
    while calls.load(Ordering::Relaxed) < n {
        assert!(
            Instant::now() < until,
            "the vendor saw {} of {n} calls",
            calls.load(Ordering::Relaxed)
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    Instant::now()
}

/// Accepts a backlog with delivery off, then times a delivering runner
/// draining it; answers its row, which the AWS path's is set beside.
async fn bench_delivery(rows: &mut Vec<Row>) -> Row {
    let dir = tempfile::tempdir().unwrap();
    let (notify, calls) = vendor_stub().await;
    {
        let (_runner, base) = start_runner(dir.path(), 0).await;
        let key = prepare(&base, &notify).await;
        load(
            &format!("{base}/v1/events"),
            &key,
            &order_json("app-1"),
            DELIVERIES,
        )
        .await;
    }
    let started = Instant::now();
    let (_runner, _base) = start_runner(dir.path(), 128).await;
    let done = wait_for_calls(&calls, DELIVERIES, Duration::from_secs(300)).await;
    let rate = DELIVERIES as f64 / (done - started).as_secs_f64();
    let row = Row {
        what: "delivery, local runner to vendor stub".into(),
        rate: Some(rate),
        p50_ms: f64::NAN,
        p99_ms: f64::NAN,
        note: format!("{DELIVERIES} queued events drained, 128 workers"),
    };
    rows.push(row.clone());
    row
}

/// Posts `app`'s events at a fixed `rate` for `seconds`; answers their ids.
async fn send_at_rate(
    client: &reqwest::Client,
    base: &str,
    key: &str,
    app: &str,
    rate: u64,
    seconds: u64,
) -> Vec<String> {
    let body = Arc::new(serde_json::to_vec(&order_json(app)).unwrap());
    let total = (rate * seconds) as usize;
    let mut tick = tokio::time::interval(Duration::from_micros(1_000_000 / rate));
    let mut sends = Vec::with_capacity(total);
    for _ in 0..total {
        tick.tick().await;
        let (client, body, key) = (client.clone(), body.clone(), key.to_owned());
        let url = format!("{base}/v1/events");
        sends.push(tokio::spawn(async move {
            let resp = client
                .post(url)
                .bearer_auth(key)
                .header("content-type", "application/json")
                .body(body.as_ref().clone())
                .send()
                .await
                .expect("sent");
            let accepted: serde_json::Value = resp.json().await.expect("accepted");
            accepted["id"].as_str().unwrap().to_owned()
        }));
    }
    let mut ids = Vec::with_capacity(total);
    for s in sends {
        ids.push(s.await.unwrap());
    }
    ids
}

/// Each event's time from acceptance to its settled record (the store's own
/// `createdAt` and `updatedAt`), once all are COMPLETE.
async fn settled_latency(client: &reqwest::Client, base: &str, ids: &[String]) -> Histogram<u64> {
    let mut hist = Histogram::<u64>::new(3).unwrap();
    for id in ids {
        let event = loop {
            let e: serde_json::Value = client
                .get(format!("{base}/v1/events/{id}"))
                .bearer_auth(ADMIN)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            if e["status"] == "COMPLETE" {
                break e;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        };
        let at =
            |f: &str| chrono::DateTime::parse_from_rfc3339(event[f].as_str().unwrap()).unwrap();
        let micros = (at("updatedAt") - at("createdAt"))
            .num_microseconds()
            .unwrap();
        hist.record(micros.max(0) as u64).unwrap();
    }
    hist
}

/// Ingests at a fixed rate with delivery on; latency is from acceptance to the
/// settled record.
async fn bench_end_to_end(rows: &mut Vec<Row>) {
    let dir = tempfile::tempdir().unwrap();
    let (notify, calls) = vendor_stub().await;
    let (_runner, base) = start_runner(dir.path(), 128).await;
    let key = prepare(&base, &notify).await;
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(CONNECTIONS)
        .build()
        .unwrap();
    let ids = send_at_rate(&client, &base, &key, "app-1", E2E_RATE, E2E_SECONDS).await;
    wait_for_calls(&calls, ids.len(), Duration::from_secs(60)).await;
    let hist = settled_latency(&client, &base, &ids).await;
    rows.push(Row {
        what: "end to end: accepted -> answered -> recorded".into(),
        rate: Some(E2E_RATE as f64),
        p50_ms: ms(&hist, 0.5),
        p99_ms: ms(&hist, 0.99),
        note: format!("{} events at a fixed {E2E_RATE}/s, ms clock", ids.len()),
    });
}

/// A vendor stub that never answers: each call hangs until the runner's
/// vendor timeout gives up on it.
async fn hanging_stub() -> String {
    use axum::routing::get;
    let app = axum::Router::new().route(
        "/notify",
        get(|| async {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            ""
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}/notify?eventUrl={{eventUrl}}")
}

/// Vendor B's end-to-end latency while vendor A, beside it at the same rate,
/// answers at once or hangs on every call.
async fn bench_isolation(rows: &mut Vec<Row>) {
    for a_hangs in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let notify_a = if a_hangs {
            hanging_stub().await
        } else {
            vendor_stub().await.0
        };
        let (notify_b, calls_b) = vendor_stub().await;
        let (_runner, base) = start_runner(dir.path(), 128).await;
        let key = prepare(&base, &notify_b).await;
        integrate(&base, "app-a", &notify_a).await;
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(CONNECTIONS)
            .build()
            .unwrap();
        let (_, ids_b) = tokio::join!(
            send_at_rate(&client, &base, &key, "app-a", E2E_RATE, E2E_SECONDS),
            send_at_rate(&client, &base, &key, "app-1", E2E_RATE, E2E_SECONDS),
        );
        wait_for_calls(&calls_b, ids_b.len(), Duration::from_secs(60)).await;
        let hist = settled_latency(&client, &base, &ids_b).await;
        rows.push(Row {
            what: format!(
                "isolation: vendor B end to end, A {}",
                if a_hangs { "hangs every call" } else { "healthy" }
            ),
            rate: Some(E2E_RATE as f64),
            p50_ms: ms(&hist, 0.5),
            p99_ms: ms(&hist, 0.99),
            note: format!(
                "{E2E_RATE}/s to each of A and B for {E2E_SECONDS} s, 128 workers, 10 s vendor timeout (goal: B's p99 under 100 ms)"
            ),
        });
    }
}

/// The same load against the bare handler, in its own process: one run.
async fn load_ceiling() -> Run {
    let mut child = Command::new(binary("bare-ceiling"))
        .stdout(Stdio::piped())
        .spawn()
        .expect("target/release/bare-ceiling exists: run tests/bench.sh");
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    let ceiling = Guard(child);
    measure(
        &ceiling,
        &format!("http://{}/v1/events", line.trim()),
        "none",
    )
    .await
}

/// Runs of this size swing by a tenth from one to the next on a shared
/// two-core machine, so the runner and the ceiling take turns, `ROUNDS`
/// times, and each row shows its median run by rate. Answers the local
/// runner's row, which the AWS path's is set beside.
async fn bench_ingest(rows: &mut Vec<Row>) -> Row {
    let (mut local, mut ceiling) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        local.push(load_local_runner().await);
        ceiling.push(load_ceiling().await);
    }
    for (what, mut runs, note) in [
        ("ingest, local runner (SQLite)", local, "events"),
        (
            "ingest, bare axum handler (ceiling)",
            ceiling,
            "requests; parses JSON, answers 202",
        ),
    ] {
        runs.sort_by(|a, b| a.rate.total_cmp(&b.rate));
        let rates: Vec<String> = runs.iter().map(|r| format!("{:.0}", r.rate)).collect();
        let run = &runs[runs.len() / 2];
        rows.push(Row {
            what: what.into(),
            rate: Some(run.rate),
            p50_ms: ms(&run.hist, 0.5),
            p99_ms: ms(&run.hist, 0.99),
            note: format!(
                "median of {ROUNDS} runs ({}/s) of {REQUESTS} {note}, {CONNECTIONS} connections; \
                 server CPU {:.1} µs each",
                rates.join(", "),
                run.cpu_us
            ),
        });
    }
    // The local runner's row, the first of the two just pushed.
    rows[rows.len() - 2].clone()
}

async fn write_latency(store: &dyn EventStore, writes: usize) -> (f64, Histogram<u64>) {
    let mut hist = Histogram::<u64>::new(3).unwrap();
    let run = uuid::Uuid::new_v4();
    let started = Instant::now();
    for i in 0..writes {
        let mut e = event(&format!("{run}-{i}"), "app-1", "v-1");
        e.token = format!("{run}-token-{i}");
        let t = Instant::now();
        store.insert_event(&e, None).await.expect("write");
        hist.record(t.elapsed().as_micros() as u64).unwrap();
    }
    (writes as f64 / started.elapsed().as_secs_f64(), hist)
}

async fn bench_stores(rows: &mut Vec<Row>) {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = iev_local::SqliteStore::open(&dir.path().join("bench.sqlite3")).unwrap();
    let (rate, hist) = write_latency(&sqlite, STORE_WRITES).await;
    rows.push(Row {
        what: "event write, embedded store".into(),
        rate: Some(rate),
        p50_ms: ms(&hist, 0.5),
        p99_ms: ms(&hist, 0.99),
        note: format!("{STORE_WRITES} sequential single-record writes"),
    });
    let dynamo = iev_tests::aws::dynamo_store().await;
    let (rate, hist) = write_latency(&dynamo, DYNAMO_WRITES).await;
    rows.push(Row {
        what: "event write, DynamoDB Local".into(),
        rate: Some(rate),
        p50_ms: ms(&hist, 0.5),
        p99_ms: ms(&hist, 0.99),
        note: format!("{DYNAMO_WRITES} sequential event inserts (one conditional PutItem each)"),
    });
}

fn print(rows: &[Row]) {
    use iev_tests::table::{figure, Align};
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            vec![
                r.what.clone(),
                figure(r.rate.unwrap_or(f64::NAN), 0),
                figure(r.p50_ms, 2),
                figure(r.p99_ms, 2),
                r.note.clone(),
            ]
        })
        .collect();
    iev_tests::table::print(
        &[
            ("measurement", Align::Left),
            ("per second", Align::Right),
            ("p50 ms", Align::Right),
            ("p99 ms", Align::Right),
            ("conditions", Align::Left),
        ],
        &cells,
    );
}

/// How long each window of the sustained mode's table is.
const WINDOW_SECONDS: u64 = 20;

/// Full load for `seconds` from `CONNECTIONS` connections against a runner
/// ingesting without delivering: latency per second of the run, merged into
/// windows, so that a stall (a checkpoint, a WAL restart, the allocator)
/// shows where the short runs above never last long enough to meet one.
async fn sustained(seconds: u64) {
    let dir = tempfile::tempdir().unwrap();
    let (runner, base) = start_runner(dir.path(), 0).await;
    let key = prepare(&base, "http://127.0.0.1:9/?e={eventUrl}").await;
    let url = format!("{base}/v1/events");
    load(&url, &key, &order_json("app-1"), WARMUP).await;
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(CONNECTIONS)
        .build()
        .unwrap();
    let body = Arc::new(serde_json::to_vec(&order_json("app-1")).unwrap());
    let started = Instant::now();
    let cpu_before = cpu_time(runner.0.id());
    let tasks: Vec<_> = (0..CONNECTIONS)
        .map(|_| {
            let (client, body, url, key) = (client.clone(), body.clone(), url.clone(), key.clone());
            tokio::spawn(async move {
                let mut per_second: Vec<Histogram<u64>> =
                    (0..seconds).map(|_| Histogram::new(3).unwrap()).collect();
                loop {
                    let t = Instant::now();
                    let second = t.duration_since(started).as_secs();
                    if second >= seconds {
                        break per_second;
                    }
                    post_accepted(&client, &url, &key, &body).await;
                    per_second[second as usize]
                        .record(t.elapsed().as_micros() as u64)
                        .unwrap();
                }
            })
        })
        .collect();
    let mut per_second: Vec<Histogram<u64>> =
        (0..seconds).map(|_| Histogram::new(3).unwrap()).collect();
    for t in tasks {
        for (merged, h) in per_second.iter_mut().zip(t.await.unwrap()) {
            merged.add(h).unwrap();
        }
    }
    let cpu = cpu_time(runner.0.id()) - cpu_before;
    let wal = std::fs::metadata(dir.path().join("iev.sqlite3-wal")).map_or(0, |m| m.len());
    let db = std::fs::metadata(dir.path().join("iev.sqlite3")).map_or(0, |m| m.len());
    let mut all = Histogram::<u64>::new(3).unwrap();
    let mut rows = Vec::new();
    let mut worst_window: f64 = 0.0;
    for (i, window) in per_second.chunks(WINDOW_SECONDS as usize).enumerate() {
        let mut h = Histogram::<u64>::new(3).unwrap();
        for second in window {
            h.add(second).unwrap();
        }
        all.add(&h).unwrap();
        let worst_second = window.iter().map(|s| ms(s, 0.99)).fold(0.0_f64, f64::max);
        worst_window = worst_window.max(ms(&h, 0.99));
        let from = i as u64 * WINDOW_SECONDS;
        rows.push(Row {
            what: format!("seconds {from}-{}", from + window.len() as u64),
            rate: Some(h.len() as f64 / window.len() as f64),
            p50_ms: ms(&h, 0.5),
            p99_ms: ms(&h, 0.99),
            note: format!(
                "p99.9 {:.2} ms, max {:.2} ms, worst second's p99 {:.2} ms",
                ms(&h, 0.999),
                h.max() as f64 / 1000.0,
                worst_second
            ),
        });
    }
    rows.push(Row {
        what: format!("the whole {seconds} s"),
        rate: Some(all.len() as f64 / seconds as f64),
        p50_ms: ms(&all, 0.5),
        p99_ms: ms(&all, 0.99),
        note: format!(
            "{} events, server CPU {:.1} µs each; WAL {:.1} MB, database {:.1} MB at the end",
            all.len(),
            cpu.as_secs_f64() * 1e6 / all.len().max(1) as f64,
            wal as f64 / 1e6,
            db as f64 / 1e6
        ),
    });
    print(&rows);
    println!(
        "\nsustained ingest: p99 {:.2} ms over {seconds} s (goal: under 10 ms), worst {WINDOW_SECONDS}-second window's p99 {:.2} ms (goal: at most 20 ms)",
        ms(&all, 0.99),
        worst_window
    );
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("sustained") {
        let seconds = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(60);
        eprintln!("loading the local runner at full rate for {seconds} s...");
        sustained(seconds).await;
        return;
    }
    let mut rows = Vec::new();
    eprintln!("loading the local runner and the bare handler in turns...");
    let local_ingest = bench_ingest(&mut rows).await;
    eprintln!("measuring store writes...");
    bench_stores(&mut rows).await;
    eprintln!("draining a delivery backlog...");
    let local_delivery = bench_delivery(&mut rows).await;
    eprintln!("ingesting and delivering through the AWS adapters...");
    let aws = aws_path::bench().await;
    eprintln!("ingesting at a fixed rate with delivery on...");
    bench_end_to_end(&mut rows).await;
    eprintln!("two vendors at a fixed rate each, one healthy, then one hanging...");
    bench_isolation(&mut rows).await;
    print(&rows);
    if let [local, ceiling, ..] = rows.as_slice() {
        if let (Some(l), Some(c)) = (local.rate, ceiling.rate) {
            println!(
                "\nlocal ingest reaches {:.0}% of the bare-handler ceiling (target: at least 50%, p99 under 20 ms)",
                100.0 * l / c
            );
        }
    }
    aws_path::print_beside(&local_ingest, &local_delivery, &aws);
    if !aws.unsettled.is_empty() {
        eprintln!(
            "{} events on the AWS path did not settle COMPLETE, among them: {}",
            aws.unsettled.len(),
            aws.unsettled[..aws.unsettled.len().min(5)].join("; ")
        );
        std::process::exit(1);
    }
}
