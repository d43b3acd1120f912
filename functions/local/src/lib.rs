//! The local runner: the whole API, on the embedded store, in one process.

pub mod demo;
mod lanes;
mod wire;

use iev_domain::clock::{IdSource, RandomIds, SystemClock};
use iev_domain::dispatch::{DispatchConfig, DispatchOutcome};
use iev_domain::ports::{DispatchMessage, DispatchQueue};
use iev_domain::report::CursorKey;
use iev_domain::service::{Service, ServiceConfig};
use iev_local::{LocalExports, LocalQueue, LocalQueueReceiver, SqliteStore};
use iev_outbound::{AddressPolicy, HttpOutbound, OutboundConfig};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use tracing::Instrument;

#[derive(Debug, thiserror::Error)]
pub enum RunnerError {
    #[error("{name} is invalid: {reason}")]
    Setting { name: &'static str, reason: String },
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: String,
        source: std::io::Error,
    },
    #[error("data directory {path}: {reason}")]
    DataDir { path: String, reason: String },
    #[error("the embedded store failed to start: {0}")]
    Store(String),
}

#[derive(Debug, Clone)]
pub struct RunnerConfig {
    pub listen: String,
    pub data_dir: PathBuf,
    pub public_url: Option<String>,
    pub admin_key: Option<String>,
    pub dispatch: DispatchConfig,
    pub outbound: OutboundConfig,
    /// How long failure records are kept (`IEV_RETENTION_DAYS`; default 365 days).
    pub retention: Option<chrono::Duration>,
    /// Deliveries in flight at once; 0 accepts events without delivering them
    /// (they wait, PENDING, for a runner that delivers).
    pub workers: usize,
    pub limits: ServerLimits,
    /// Start the demo vendor and point the `demo-app` integration at it (`IEV_DEMO_VENDOR=1`).
    pub demo_vendor: bool,
}

/// What the local server allows a client, so that slow or greedy clients
/// cannot hold its connections, memory or file descriptors.
#[derive(Debug, Clone, Copy)]
pub struct ServerLimits {
    /// A request's headers must arrive within this; it also closes a
    /// keep-alive connection idle this long.
    pub header_read: std::time::Duration,
    /// A request's body must arrive within this (`iev_http::BoundedBody`).
    pub body_read: std::time::Duration,
    /// Connections open at once; more wait in the listen backlog.
    pub max_connections: usize,
}

impl Default for ServerLimits {
    fn default() -> Self {
        ServerLimits {
            header_read: std::time::Duration::from_secs(10),
            body_read: std::time::Duration::from_secs(30),
            max_connections: 1024,
        }
    }
}

impl RunnerConfig {
    /// `IEV_LISTEN` (default 127.0.0.1:8080), `IEV_DATA_DIR` (./data),
    /// `IEV_PUBLIC_URL` (http://<listen>), `IEV_ADMIN_KEY` (generated once and kept),
    /// `IEV_WORKERS` (128 deliveries at once; 0 accepts without delivering),
    /// `IEV_RETENTION_DAYS` (365),
    /// and the dispatch and outbound settings the Lambda functions read too
    /// (`IEV_MAX_ATTEMPTS`, `IEV_RETRY_BASE_MS`, `IEV_VENDOR_TIMEOUT_MS`,
    /// `IEV_ALLOW_PRIVATE_TARGETS` (default `loopback` here), ...).
    pub fn from_env() -> Result<Self, RunnerError> {
        let var = |n: &str| std::env::var(n).ok().filter(|v| !v.is_empty());
        let bad = |e: iev_settings::ConfigError| RunnerError::Setting {
            name: "environment",
            reason: e.to_string(),
        };
        Ok(RunnerConfig {
            listen: var("IEV_LISTEN").unwrap_or_else(|| "127.0.0.1:8080".into()),
            data_dir: var("IEV_DATA_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from("data")),
            public_url: var("IEV_PUBLIC_URL"),
            admin_key: var("IEV_ADMIN_KEY"),
            dispatch: iev_settings::dispatch_config_from_env().map_err(bad)?,
            outbound: iev_settings::outbound_config_from_env(AddressPolicy::WITH_LOOPBACK)
                .map_err(bad)?,
            retention: iev_settings::retention_from_env().map_err(bad)?,
            limits: ServerLimits::default(),
            demo_vendor: match var("IEV_DEMO_VENDOR").as_deref() {
                None | Some("0") | Some("false") => false,
                Some("1") | Some("true") => true,
                Some(other) => {
                    return Err(setting(
                        "IEV_DEMO_VENDOR",
                        format!("'{other}' is not 1 or 0"),
                    ))
                }
            },
            workers: match var("IEV_WORKERS") {
                Some(v) => v
                    .parse()
                    .map_err(|_| setting("IEV_WORKERS", format!("'{v}' is not a number")))?,
                None => 128,
            },
        })
    }

    /// The defaults, for `listen` and `data_dir`.
    pub fn new(listen: impl Into<String>, data_dir: impl Into<PathBuf>) -> Self {
        RunnerConfig {
            listen: listen.into(),
            data_dir: data_dir.into(),
            public_url: None,
            admin_key: None,
            dispatch: DispatchConfig::default(),
            outbound: OutboundConfig {
                policy: AddressPolicy::WITH_LOOPBACK,
                ..Default::default()
            },
            retention: None,
            workers: 128,
            limits: ServerLimits::default(),
            demo_vendor: false,
        }
    }
}

/// A started runner: where it listens, its admin key, and the task serving it.
pub struct Running {
    pub addr: SocketAddr,
    pub admin_key: String,
    /// Set when the admin key was generated by this start and must be shown once.
    pub admin_key_generated: bool,
    pub service: Arc<Service>,
    pub store: SqliteStore,
    pub server: tokio::task::JoinHandle<std::io::Result<()>>,
    pub worker: tokio::task::JoinHandle<()>,
    pub housekeeping: tokio::task::JoinHandle<()>,
    pub exporter: tokio::task::JoinHandle<()>,
    /// Set to true to stop accepting connections and deliveries.
    stopping: tokio::sync::watch::Sender<bool>,
    /// Deliveries running now.
    in_flight: Arc<std::sync::atomic::AtomicUsize>,
    /// Held while the runner runs: one runner a data directory.
    _data_dir_lock: std::fs::File,
}

/// Counts a delivery as running until dropped.
struct DeliveryRunning(Arc<std::sync::atomic::AtomicUsize>);

impl DeliveryRunning {
    fn start(count: &Arc<std::sync::atomic::AtomicUsize>) -> Self {
        count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        DeliveryRunning(count.clone())
    }
}

impl Drop for DeliveryRunning {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}

/// Waits for SIGTERM (what service managers and `kill` send) or Ctrl-C;
/// answers which came.
pub async fn stop_signal() -> &'static str {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => tokio::select! {
                _ = term.recv() => "SIGTERM",
                _ = tokio::signal::ctrl_c() => "SIGINT",
            },
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM; Ctrl-C still stops");
                let _ = tokio::signal::ctrl_c().await;
                "SIGINT"
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
        "Ctrl-C"
    }
}

/// What a clean stop did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stopped {
    /// Deliveries still running when the grace period ran out; their events
    /// stay PENDING and are delivered after the next start.
    pub handed_back: usize,
}

impl Running {
    /// A clean stop (SIGTERM, Ctrl-C): stops accepting connections and taking
    /// deliveries, lets requests and deliveries in flight finish for up to
    /// `grace` (what is still running then is handed back: its event stays
    /// PENDING for the next start), and checkpoints the store.
    pub async fn shut_down(self, grace: std::time::Duration) -> Stopped {
        let _ = self.stopping.send(true);
        let deadline = tokio::time::Instant::now() + grace;
        let server = self.server;
        if tokio::time::timeout_at(deadline, server).await.is_err() {
            tracing::warn!("requests still open at the end of the grace period are cut");
        }
        let handed_back = match tokio::time::timeout_at(deadline, self.worker).await {
            Ok(Ok(())) => 0,
            _ => self.in_flight.load(std::sync::atomic::Ordering::SeqCst),
        };
        self.housekeeping.abort();
        self.exporter.abort();
        if let Err(e) = self.store.checkpoint().await {
            tracing::warn!(error = %e, "the store could not be checkpointed at stop");
        }
        Stopped { handed_back }
    }

    /// Stops serving and delivering, as a crash would: only what the store
    /// committed remains.
    pub async fn stop(self) {
        self.server.abort();
        self.worker.abort();
        self.housekeeping.abort();
        self.exporter.abort();
        let _ = self.server.await;
        let _ = self.worker.await;
    }
}

fn setting(name: &'static str, reason: impl Into<String>) -> RunnerError {
    RunnerError::Setting {
        name,
        reason: reason.into(),
    }
}

fn admin_key(config: &RunnerConfig, service: &Service) -> Result<(String, bool), RunnerError> {
    if let Some(key) = &config.admin_key {
        return Ok((key.clone(), false));
    }
    let path = config.data_dir.join("admin-key");
    let data_dir_error = |e: std::io::Error| RunnerError::DataDir {
        path: path.display().to_string(),
        reason: e.to_string(),
    };
    let existing = match std::fs::read_to_string(&path) {
        Ok(text) => Some(text.trim().to_owned()).filter(|k| !k.is_empty()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(data_dir_error(e)),
    };
    match existing {
        Some(key) => Ok((key, false)),
        None => {
            let key = service.generate_key();
            write_private(&path, &key).map_err(data_dir_error)?;
            Ok((key, true))
        }
    }
}

/// The secret that signs page cursors, made once and kept, so that a cursor
/// handed out before a restart still works after it.
fn cursor_key(data_dir: &std::path::Path) -> Result<CursorKey, RunnerError> {
    let path = data_dir.join("cursor-key");
    let data_dir_error = |e: std::io::Error| RunnerError::DataDir {
        path: path.display().to_string(),
        reason: e.to_string(),
    };
    match std::fs::read_to_string(&path) {
        Ok(text) if text.trim().len() >= 32 => return Ok(CursorKey::new(text.trim().as_bytes())),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(data_dir_error(e)),
    }
    let secret = iev_domain::auth::format_key(&RandomIds.secret(32));
    write_private(&path, &secret).map_err(data_dir_error)?;
    Ok(CursorKey::new(secret.into_bytes()))
}

/// Starts the demo vendor and points the `demo-app` integration at it (with
/// a consumer secret new at every start).
async fn start_demo_vendor(service: &Service, admin_key: &str) -> Result<(), RunnerError> {
    let failed = |e: String| RunnerError::Setting {
        name: "IEV_DEMO_VENDOR",
        reason: format!("the demo vendor could not start: {e}"),
    };
    let secret = iev_domain::auth::format_key(&RandomIds.secret(24));
    let integration = demo::start(secret)
        .await
        .map_err(|e| failed(e.to_string()))?;
    let admin = service
        .authenticate(Some(admin_key))
        .await
        .map_err(|e| failed(e.to_string()))?;
    let body = serde_json::to_vec(&integration).map_err(|e| failed(e.to_string()))?;
    service
        .put_integration(&admin, demo::APPLICATION_ID, &body)
        .await
        .map_err(|e| failed(e.to_string()))?;
    tracing::info!(
        application_id = demo::APPLICATION_ID,
        "demo vendor ready: companies named \"...Unknown...\" fail with USER_NOT_FOUND, \"...Closed...\" with ACCOUNT_NOT_FOUND, others are provisioned"
    );
    Ok(())
}

/// One runner a data directory: a second one would deliver the same events
/// (a restarted runner takes over the leases it finds as its own). The lock
/// goes with the process, however it ends.
fn lock_data_dir(dir: &std::path::Path) -> Result<std::fs::File, RunnerError> {
    let path = dir.join("lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| RunnerError::DataDir {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
    file.try_lock().map_err(|_| RunnerError::DataDir {
        path: dir.display().to_string(),
        reason: "another runner is using this data directory".into(),
    })?;
    Ok(file)
}

/// The admin key file is readable by its owner only.
fn write_private(path: &std::path::Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    file.write_all(contents.as_bytes())?;
    file.write_all(b"\n")?;
    file.sync_all()
}

/// Opens the store, binds the port, re-queues what was accepted but not yet
/// delivered, and starts serving.
pub async fn start(config: RunnerConfig) -> Result<Running, RunnerError> {
    std::fs::create_dir_all(&config.data_dir).map_err(|e| RunnerError::DataDir {
        path: config.data_dir.display().to_string(),
        reason: e.to_string(),
    })?;
    let data_dir_lock = lock_data_dir(&config.data_dir)?;
    let listener = tokio::net::TcpListener::bind(&config.listen)
        .await
        .map_err(|source| RunnerError::Listen {
            addr: config.listen.clone(),
            source,
        })?;
    let addr = listener
        .local_addr()
        .map_err(|source| RunnerError::Listen {
            addr: config.listen.clone(),
            source,
        })?;
    let public_url = config
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{addr}"));
    let public_url = iev_domain::integration::parse_http_url(&public_url)
        .map_err(|r| setting("IEV_PUBLIC_URL", r))?;
    let store = SqliteStore::open(&config.data_dir.join("iev.sqlite3"))
        .map_err(|e| RunnerError::Store(e.to_string()))?;
    let (queue, receiver) = LocalQueue::new();
    let outbound = HttpOutbound::new(config.outbound.clone())
        .map_err(|r| setting("IEV_VENDOR_TIMEOUT_MS", r))?;
    let mut service_config = ServiceConfig::new(public_url);
    service_config.dispatch = config.dispatch.clone();
    if let Some(retention) = config.retention {
        service_config.retention = retention;
    }
    service_config.cursor_key = cursor_key(&config.data_dir)?;
    let service = Arc::new(Service {
        store: Arc::new(store.clone()),
        queue: Arc::new(queue.clone()),
        outbound: Arc::new(outbound),
        exports: Arc::new(LocalExports::new(config.data_dir.join("exports"))),
        clock: Arc::new(SystemClock),
        ids: Arc::new(RandomIds),
        caches: Default::default(),
        config: service_config,
    });
    let (admin_key, admin_key_generated) = admin_key(&config, &service)?;
    service
        .ensure_admin_key(&admin_key)
        .await
        .map_err(|e| RunnerError::Store(e.to_string()))?;
    if config.demo_vendor {
        start_demo_vendor(&service, &admin_key).await?;
    }
    let pending = store
        .pending_deliveries()
        .await
        .map_err(|e| RunnerError::Store(e.to_string()))?;
    if !pending.is_empty() {
        tracing::info!(
            count = pending.len(),
            "re-queueing events accepted before the last stop"
        );
    }
    for (event_id, application_id) in pending {
        let message = DispatchMessage {
            // This runner's data directory is its own: a lease still live
            // was left by its previous run, which stopped mid-call.
            reclaim: true,
            application_id: Some(application_id),
            ..DispatchMessage::new(event_id)
        };
        queue
            .enqueue(&message)
            .await
            .map_err(|e| RunnerError::Store(e.to_string()))?;
    }
    let (stopping, stop) = tokio::sync::watch::channel(false);
    let in_flight = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let worker = spawn_worker(
        service.clone(),
        receiver,
        queue,
        config.workers,
        in_flight.clone(),
        stop.clone(),
    );
    let housekeeping = spawn_housekeeping(store.clone());
    let exporter = spawn_daily_export(service.clone());
    let app = router().with_state(service.clone());
    let server = tokio::spawn(serve(listener, app, config.limits, stop));
    Ok(Running {
        addr,
        admin_key,
        admin_key_generated,
        service,
        store,
        server,
        worker,
        housekeeping,
        exporter,
        stopping,
        in_flight,
        _data_dir_lock: data_dir_lock,
    })
}

/// The local dispatch worker: up to `concurrency` deliveries at once, taken
/// from the applications' lanes in turn and at most the per-integration bound
/// (`IEV_MAX_IN_FLIGHT`) of one application at once (see `lanes`); a retry
/// waits out its backoff and goes back in the queue. Should the process stop
/// meanwhile, the event is still PENDING in the store and is queued again at
/// the next start. Once `stop` turns true it takes no more messages and ends
/// when the deliveries it started have ended (retries waiting out a backoff
/// are left to the next start).
fn spawn_worker(
    service: Arc<Service>,
    mut receiver: LocalQueueReceiver,
    queue: LocalQueue,
    concurrency: usize,
    in_flight: Arc<std::sync::atomic::AtomicUsize>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        if concurrency == 0 {
            let _held_open = receiver;
            let _ = stop.wait_for(|s| *s).await;
            return;
        }
        let bound = service.config.dispatch.max_in_flight as usize;
        let mut lanes = lanes::Lanes::default();
        let (ended, mut ends) = tokio::sync::mpsc::unbounded_channel::<String>();
        let mut running = 0usize;
        loop {
            while let Some(message) = receiver.try_recv() {
                lanes.push(message);
            }
            let mut wake = None;
            while running < concurrency {
                let isolation = &service.caches.isolation;
                match lanes.next(bound, |lane| isolation.held(lane)) {
                    Ok((lane, message)) => {
                        running += 1;
                        start_delivery(
                            service.clone(),
                            queue.clone(),
                            message,
                            DeliveryRunning::start(&in_flight),
                            (ended.clone(), lane),
                        );
                    }
                    Err(free_in) => {
                        wake = free_in;
                        break;
                    }
                }
            }
            let sleep = tokio::time::sleep(wake.unwrap_or(std::time::Duration::from_secs(3600)));
            tokio::select! {
                m = receiver.recv() => match m {
                    Some(message) => lanes.push(message),
                    None => break,
                },
                Some(lane) = ends.recv() => {
                    running -= 1;
                    lanes.finished(&lane);
                }
                () = sleep => {}
                _ = stop.wait_for(|s| *s) => break,
            }
        }
        // Stopping: the deliveries already started end first.
        while running > 0 && ends.recv().await.is_some() {
            running -= 1;
        }
    })
}

/// A delivery's place in its lane: dropped, it tells the worker the slot is free.
struct LaneSlot(tokio::sync::mpsc::UnboundedSender<String>, String);

impl Drop for LaneSlot {
    fn drop(&mut self) {
        let _ = self.0.send(std::mem::take(&mut self.1));
    }
}

/// Runs one delivery; says on `ended` when its lane's slot is free again,
/// before a retry waits out its backoff.
fn start_delivery(
    service: Arc<Service>,
    queue: LocalQueue,
    message: DispatchMessage,
    running: DeliveryRunning,
    (ended, lane): (tokio::sync::mpsc::UnboundedSender<String>, String),
) {
    tokio::spawn(async move {
        // Frees the lane's slot however the delivery ends, a panic included.
        let slot = LaneSlot(ended, lane);
        let span = tracing::info_span!(
            "delivery",
            event_id = %message.event_id,
            application_id = tracing::field::Empty
        );
        let outcome = service.handle_message(&message).instrument(span).await;
        drop((running, slot));
        let delay = match outcome {
            Ok(DispatchOutcome::Done) => return,
            Ok(DispatchOutcome::RetryAfter(delay) | DispatchOutcome::Deferred(delay)) => delay,
            Err(e) => {
                tracing::error!(event_id = %message.event_id, error = %e, "dispatch failed; retrying later");
                service.config.dispatch.base_delay
            }
        };
        tokio::time::sleep(delay).await;
        if let Err(e) = queue.enqueue(&message).await {
            tracing::warn!(event_id = %message.event_id, error = %e, "could not re-queue a retry");
        }
    });
}

/// Serves `app` on `listener` until `stop` turns true, then lets open requests
/// finish. Unlike `axum::serve`, it gives hyper a timer, so that a client that
/// sends its headers too slowly, or holds a keep-alive connection idle, is
/// dropped; and it caps the connections open at once.
async fn serve(
    listener: tokio::net::TcpListener,
    app: axum::Router,
    limits: ServerLimits,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> std::io::Result<()> {
    use hyper_util::rt::{TokioIo, TokioTimer};
    // HTTP/1 alone: hyper-util's auto builder reads the first bytes to tell
    // HTTP/1 from HTTP/2 before any timer runs, so a silent connection stayed
    // open for ever.
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read)
        // Past 64 KiB hyper itself answers 431 (`wire` puts it in the error
        // shape); past 16 KiB the API's own check answers 431 first.
        .max_buf_size(64 * 1024);
    let app = app.layer(axum::Extension(iev_http::BodyReadTimeout(limits.body_read)));
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let connections = Arc::new(tokio::sync::Semaphore::new(limits.max_connections));
    loop {
        let permit = tokio::select! {
            p = connections.clone().acquire_owned() => match p {
                Ok(p) => p,
                Err(_) => break,
            },
            () = stopped(&mut stop) => break,
        };
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of file descriptors, for one: wait rather than spin.
                    tracing::warn!(error = %e, "could not accept a connection");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = stopped(&mut stop) => break,
        };
        let service = hyper_util::service::TowerToHyperService::new(app.clone());
        // No upgrades: no route of this API takes one.
        let connection =
            builder.serve_connection(TokioIo::new(wire::ShapedErrors::new(stream)), service);
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            let _ = connection.await;
            drop(permit);
        });
    }
    graceful.shutdown().await;
    Ok(())
}

/// Resolves once `stop` is true (or its sender is gone).
async fn stopped(stop: &mut tokio::sync::watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

/// Hourly: records past their retention are deleted.
fn spawn_housekeeping(store: SqliteStore) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut every = tokio::time::interval(std::time::Duration::from_secs(3600));
        loop {
            every.tick().await;
            match store.purge_expired(chrono::Utc::now()).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(records = n, "expired failure records deleted"),
                Err(e) => tracing::warn!(error = %e, "could not delete expired records"),
            }
        }
    })
}

/// The time of day (UTC) the daily export runs, as the template's schedule does.
const DAILY_EXPORT_AT: (u32, u32) = (0, 15);

/// How long from `now` until the next daily export.
pub fn until_next_export(now: chrono::DateTime<chrono::Utc>) -> std::time::Duration {
    let (h, m) = DAILY_EXPORT_AT;
    let today = now
        .date_naive()
        .and_hms_opt(h, m, 0)
        .unwrap_or_default()
        .and_utc();
    let next = if today > now {
        today
    } else {
        today + chrono::Duration::days(1)
    };
    (next - now).to_std().unwrap_or_default()
}

/// Daily: yesterday's failures and everything unresolved, to `<data dir>/exports/`.
fn spawn_daily_export(service: Arc<Service>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(until_next_export(service.clock.now())).await;
            let day = iev_export::day_before(service.clock.now());
            if let Err(e) = service.daily_export(day).await {
                tracing::error!(%day, error = %e, "the daily export failed");
            }
        }
    })
}

/// Every function's routes, each with its part of the OpenAPI document, and
/// the document itself at `GET /openapi.json`.
pub fn api() -> utoipa_axum::router::OpenApiRouter<iev_http::AppState> {
    iev_ingest::api()
        .merge(iev_report::api())
        .merge(iev_resolve::api())
        .merge(iev_record_error::api())
        .merge(iev_export::api())
        .routes(utoipa_axum::routes!(openapi_json))
}

/// Every function's routes, and the console at `/`, as one router.
pub fn router() -> axum::Router<iev_http::AppState> {
    let api: axum::Router<iev_http::AppState> = api().into();
    iev_http::with_fallbacks(api.merge(iev_console::router()))
}

/// The API's OpenAPI 3.1 document, generated from the routes the runner serves
/// (`docs/openapi.json` is a copy; a test keeps it current).
pub fn openapi() -> utoipa::openapi::OpenApi {
    iev_http::openapi::finish(api().into_openapi())
}

/// The document as `GET /openapi.json` serves it and `docs/openapi.json` holds it.
pub fn openapi_text() -> String {
    let mut text = openapi()
        .to_pretty_json()
        .expect("the OpenAPI document serializes");
    text.push('\n');
    text
}

#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "document",
    operation_id = "openapi",
    summary = "This document (no credential needed; the local runner only)",
    security(()),
    responses((status = 200, description = "The OpenAPI 3.1 document.", body = Object, content_type = "application/json"))
)]
async fn openapi_json() -> impl axum::response::IntoResponse {
    static TEXT: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    (
        [(
            axum::http::header::CONTENT_TYPE,
            axum::http::HeaderValue::from_static("application/json"),
        )],
        TEXT.get_or_init(openapi_text).as_str(),
    )
}
