use async_trait::async_trait;
use iev_domain::auth::{ApiKeyRecord, KeyHash};
use iev_domain::event::{Event, EventPage, EventQuery, EventSummary};
use iev_domain::integration::{ApplicationId, Integration};
use iev_domain::ports::{
    AlertStore, ErrorStore, EventStore, FailureCount, IdempotencyRecord, InsertOutcome,
    IntegrationPage, IntegrationQuery, IntegrationStore, KeyStore,
};
use iev_domain::record::{
    Alert, ErrorPage, ErrorQuery, ErrorRecord, Position, ResolvedFilter, SummaryRow,
};
use iev_domain::StoreError;
use rusqlite::types::Value as SqlValue;
use rusqlite::{params, Connection, OptionalExtension};
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

/// The schema's version, kept in `PRAGMA user_version`.
const SCHEMA_VERSION: i64 = 5;

/// Brings a data directory written by an earlier version up to [`SCHEMA`]:
/// version 1 had no vendor or type columns on events, so no events log.
const MIGRATE_FROM_1: &str = r#"
ALTER TABLE events ADD COLUMN vendor_id TEXT;
ALTER TABLE events ADD COLUMN event_type TEXT;
UPDATE events SET vendor_id = json_extract(data, '$.vendorId'),
                  event_type = json_extract(data, '$.body.type');
"#;

/// Version 2 found pending events through an index of their own; since
/// version 3 they are read from `events_newest`, which holds the status (see
/// [`SCHEMA`]; [`MIGRATE_FROM_3`] makes it again).
const MIGRATE_FROM_2: &str = r#"
DROP INDEX IF EXISTS events_pending;
"#;

/// Version 3 kept its indexes in descending order (below, why no longer);
/// these are made again by [`SCHEMA`], but for the events' index by vendor,
/// which `vendor_applications` replaces ([`FILL_VENDOR_APPLICATIONS`]).
const MIGRATE_FROM_3: &str = r#"
DROP INDEX IF EXISTS events_newest;
DROP INDEX IF EXISTS events_app;
DROP INDEX IF EXISTS events_vendor;
DROP INDEX IF EXISTS ie_newest;
DROP INDEX IF EXISTS ie_all_newest;
DROP INDEX IF EXISTS ie_app;
DROP INDEX IF EXISTS ie_vendor;
DROP INDEX IF EXISTS ie_code;
DROP INDEX IF EXISTS ie_type;
"#;

/// Version 4 had no columns for Coupa's document and run fields, which the
/// report filters on; records written then have none of them.
const MIGRATE_FROM_4: &str = r#"
ALTER TABLE integration_errors ADD COLUMN document_type TEXT;
ALTER TABLE integration_errors ADD COLUMN document_id TEXT;
ALTER TABLE integration_errors ADD COLUMN integration_run_id TEXT;
"#;

/// Run after [`SCHEMA`] on a store older than version 4.
const FILL_VENDOR_APPLICATIONS: &str = r#"
INSERT OR IGNORE INTO vendor_applications(vendor_id, application_id)
SELECT DISTINCT vendor_id, application_id FROM events WHERE vendor_id IS NOT NULL;
"#;

/// Indexes are in ascending order though every listing reads newest first
/// (SQLite reads an index backwards as fast): a new record then lands at the
/// right edge of each index, where SQLite appends a page instead of
/// rebalancing its neighbours, which wrote about a fifth more WAL per commit.
const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS api_keys (
    hash TEXT PRIMARY KEY,
    data TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS integrations (
    application_id TEXT PRIMARY KEY,
    version INTEGER NOT NULL,
    data TEXT NOT NULL,
    -- Delivery state lives beside the settings so that counting a failure
    -- never races with an operator's edit of the settings.
    enabled INTEGER NOT NULL,
    successive_failures INTEGER NOT NULL,
    disabled_ms INTEGER
);
CREATE TABLE IF NOT EXISTS alerts (
    id TEXT PRIMARY KEY,
    data TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS events (
    id TEXT PRIMARY KEY,
    -- Tokens name their event's id; stores made before that keep a UNIQUE
    -- index here for the tokens they issued (see `get_event_by_token`).
    token TEXT NOT NULL,
    application_id TEXT NOT NULL,
    status TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    version INTEGER NOT NULL,
    data TEXT NOT NULL,
    vendor_id TEXT,
    event_type TEXT
);
-- Every index here costs ingestion the rewrite of its last pages at each
-- commit, so the start-up search for pending events reads this one (it holds
-- the status) instead of keeping an index of its own.
CREATE INDEX IF NOT EXISTS events_newest ON events(created_ms, id, status);
CREATE INDEX IF NOT EXISTS events_app ON events(application_id, created_ms, id);
-- Every vendor an application's events were stored under. A vendor's events
-- log reads its applications' parts of events_app (see `vendor_events`): an
-- index by vendor would cost every commit its pages, this table only a lookup.
CREATE TABLE IF NOT EXISTS vendor_applications (
    vendor_id TEXT NOT NULL,
    application_id TEXT NOT NULL,
    PRIMARY KEY (vendor_id, application_id)
) WITHOUT ROWID;
CREATE TRIGGER IF NOT EXISTS events_vendor_application AFTER INSERT ON events
WHEN NEW.vendor_id IS NOT NULL BEGIN
    INSERT OR IGNORE INTO vendor_applications(vendor_id, application_id)
    VALUES (NEW.vendor_id, NEW.application_id);
END;
CREATE TABLE IF NOT EXISTS idempotency (
    scope TEXT PRIMARY KEY,
    data TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS integration_errors (
    id TEXT PRIMARY KEY,
    created_ms INTEGER NOT NULL,
    application_id TEXT NOT NULL,
    vendor_id TEXT NOT NULL,
    event_type TEXT,
    error_code TEXT NOT NULL,
    category TEXT NOT NULL,
    company_id TEXT,
    user_email TEXT,
    document_type TEXT,
    document_id TEXT,
    integration_run_id TEXT,
    resolved INTEGER NOT NULL,
    version INTEGER NOT NULL,
    expires_ms INTEGER NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS ie_newest ON integration_errors(resolved, created_ms, id);
CREATE INDEX IF NOT EXISTS ie_all_newest ON integration_errors(created_ms, id);
CREATE INDEX IF NOT EXISTS ie_app ON integration_errors(application_id, resolved, created_ms, id);
CREATE INDEX IF NOT EXISTS ie_vendor ON integration_errors(vendor_id, resolved, created_ms, id);
CREATE INDEX IF NOT EXISTS ie_code ON integration_errors(error_code, resolved, created_ms, id);
CREATE INDEX IF NOT EXISTS ie_type ON integration_errors(event_type, resolved, created_ms, id);
CREATE INDEX IF NOT EXISTS ie_doc_type ON integration_errors(document_type, resolved, created_ms, id);
CREATE INDEX IF NOT EXISTS ie_doc ON integration_errors(document_id, resolved, created_ms, id);
CREATE INDEX IF NOT EXISTS ie_run ON integration_errors(integration_run_id, resolved, created_ms, id);
CREATE INDEX IF NOT EXISTS ie_expiry ON integration_errors(expires_ms);
"#;

/// The embedded store: one SQLite file in WAL mode.
///
/// Writes go to one writer thread, which commits whatever has queued up
/// together (group commit), each write of more than one statement in its own
/// savepoint so that one failing write does not undo the others (a single
/// statement undoes itself); a write's answer is sent only once
/// its transaction committed. A third thread checkpoints the WAL (see
/// [`run_checkpoints`]). Point reads run inline on a small pool of
/// reader connections (they take microseconds; a thread hop would cost more);
/// report queries run on the blocking pool.
#[derive(Clone)]
pub struct SqliteStore {
    /// Whether `events.token` is indexed, as in stores made before tokens held their event's id.
    token_index: bool,
    /// The checkpointer stops when the last clone of the store is dropped.
    _checkpoints: Arc<std::sync::mpsc::Sender<()>>,
    writer: std::sync::mpsc::Sender<Job>,
    readers: Arc<Readers>,
}

/// A write: runs inside the writer's transaction, returns what to do once it commits.
type Job = Box<dyn FnOnce(&Connection) -> Reply + Send>;
type Reply = Box<dyn FnOnce(Option<&StoreError>) + Send>;

struct Readers {
    connections: Vec<Mutex<Connection>>,
    next: std::sync::atomic::AtomicUsize,
}

impl Readers {
    fn with<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let n = self.connections.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        for i in 0..n {
            if let Ok(conn) = self.connections[(start + i) % n].try_lock() {
                return f(&conn);
            }
        }
        let conn = self.connections[start % n]
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        f(&conn)
    }
}

fn internal(e: impl std::fmt::Display) -> StoreError {
    StoreError::Internal(e.to_string())
}

/// SQLite's failures in the domain's words: a full disk, an I/O error or a
/// database held by another process may pass (callers answer 503 and retry);
/// the rest is a bug or damage.
fn sql_failure(e: rusqlite::Error) -> StoreError {
    use rusqlite::ErrorCode::*;
    match &e {
        rusqlite::Error::SqliteFailure(f, _)
            if matches!(
                f.code,
                DiskFull
                    | SystemIoFailure
                    | DatabaseBusy
                    | DatabaseLocked
                    | CannotOpen
                    | OutOfMemory
            ) =>
        {
            StoreError::Unavailable(e.to_string())
        }
        _ => StoreError::Internal(e.to_string()),
    }
}

fn to_json<T: serde::Serialize>(v: &T) -> Result<String, StoreError> {
    // Records run to about a kilobyte; starting there spares the grow-and-copy steps.
    let mut out = Vec::with_capacity(1024);
    serde_json::to_writer(&mut out, v).map_err(internal)?;
    String::from_utf8(out).map_err(internal)
}

fn from_json<T: serde::de::DeserializeOwned>(s: &str) -> Result<T, StoreError> {
    iev_domain::error::from_stored_json(s)
        .map_err(|e| StoreError::Internal(format!("corrupt record: {e}")))
}

fn is_unique_violation(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _)
        if f.code == rusqlite::ErrorCode::ConstraintViolation)
}

const READERS: usize = 4;
/// Writes committed together at most.
const GROUP: usize = 512;

fn exec(c: &Connection, sql: &str, p: impl rusqlite::Params) -> rusqlite::Result<usize> {
    c.prepare_cached(sql)?.execute(p)
}

fn query_row<T>(
    c: &Connection,
    sql: &str,
    p: impl rusqlite::Params,
    f: impl FnOnce(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
) -> rusqlite::Result<T> {
    c.prepare_cached(sql)?.query_row(p, f)
}

/// Every row `sql` selects, each made by `f`.
fn select<T>(
    c: &Connection,
    sql: &str,
    p: impl rusqlite::Params,
    f: impl FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
) -> Result<Vec<T>, StoreError> {
    c.prepare_cached(sql)
        .and_then(|mut stmt| stmt.query_map(p, f)?.collect())
        .map_err(sql_failure)
}

fn run_writer(conn: Connection, jobs: std::sync::mpsc::Receiver<Job>) {
    conn.wal_hook(Some(|_, pages| {
        WAL_PAGES.set(pages);
        Ok(())
    }));
    let mut last_restart: Option<std::time::Instant> = None;
    while let Ok(first) = jobs.recv() {
        let mut batch = vec![first];
        while batch.len() < GROUP {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        // A reader holding its snapshot only delays the restart (the WAL
        // grows meanwhile, and writes go on); a restart that fails (a full
        // disk: the checkpoint cannot grow the database file) would leave it
        // growing without end.
        if WAL_PAGES.get() > WAL_MAX_PAGES && restart_wal(&conn) == Restart::Failed {
            refuse(&conn, batch);
            continue;
        }
        let begin = |conn: &Connection| match conn.execute_batch("BEGIN IMMEDIATE") {
            Ok(()) => true,
            Err(e) => {
                tracing::error!(error = %e, "embedded store could not begin a group commit; writes commit one by one");
                false
            }
        };
        let mut in_transaction = begin(&conn);
        let mut replies: Vec<Reply> = Vec::with_capacity(batch.len());
        // On a full disk or an I/O error SQLite may roll the whole transaction
        // back by itself: every write of the batch so far is undone, and a
        // write run after it would commit on its own. Those callers are told
        // their write did not happen; the rest go on in a new transaction.
        let mut undone: Vec<Reply> = Vec::new();
        // Writes run outside a transaction committed (or failed) each on its
        // own: their own result is the truth.
        let mut own: Vec<Reply> = Vec::new();
        for job in batch {
            let reply = job(&conn);
            if !in_transaction {
                own.push(reply);
            } else if conn.is_autocommit() {
                undone.append(&mut replies);
                undone.push(reply);
                in_transaction = begin(&conn);
            } else {
                replies.push(reply);
            }
        }
        let failure = if in_transaction {
            conn.execute_batch("COMMIT").map_err(sql_failure).err()
        } else {
            None
        };
        if failure.is_some() {
            let _ = conn.execute_batch("ROLLBACK");
            tracing::error!(error = ?failure, "embedded store commit failed");
        }
        if !undone.is_empty() {
            tracing::error!(
                writes = undone.len(),
                "SQLite rolled a batch of writes back (a full disk or an I/O error)"
            );
            let lost =
                StoreError::Unavailable("the write was undone: the disk is full or failing".into());
            for reply in undone {
                reply(Some(&lost));
            }
        }
        for reply in replies {
            reply(failure.as_ref());
        }
        for reply in own {
            reply(None);
        }
        if WAL_PAGES.get() > WAL_RESTART_PAGES
            && last_restart.is_none_or(|at| at.elapsed() >= RESTART_RETRY)
        {
            last_restart = Some(std::time::Instant::now());
            restart_wal(&conn);
        }
    }
}

/// Answers a batch without committing any of it: the WAL is at its bound and
/// cannot be started over, because the disk is full (a checkpoint cannot grow
/// the database file). Writing on would grow the WAL without end; refusing
/// tells each caller to retry (503).
fn refuse(conn: &Connection, batch: Vec<Job>) {
    tracing::error!(
        writes = batch.len(),
        wal_pages = WAL_PAGES.get(),
        "embedded store's WAL is at its bound and cannot be emptied (a full disk?); writes are refused"
    );
    let full = StoreError::Unavailable(
        "the store's write-ahead log is at its bound and cannot be emptied; retry later".into(),
    );
    // The jobs run, so that each yields its reply, in a transaction that is
    // then rolled back: nothing of them is kept.
    let began = conn.execute_batch("BEGIN IMMEDIATE").is_ok();
    let replies: Vec<Reply> = if began {
        batch.into_iter().map(|job| job(conn)).collect()
    } else {
        Vec::new()
    };
    let _ = conn.execute_batch("ROLLBACK");
    for reply in replies {
        reply(Some(&full));
    }
}

/// Copies what is left of the WAL into the database file so that the next
/// commit writes the WAL from its start. It runs after a batch's replies, so
/// no caller waits for it, and outside any transaction. It does not wait: while
/// the checkpointer thread is copying, or a reader is still in the WAL, it
/// answers busy and the writer tries again `RESTART_RETRY` later, so that
/// neither can stall the writes.
fn restart_wal(conn: &Connection) -> Restart {
    let started = std::time::Instant::now();
    let restarted = conn
        .busy_timeout(std::time::Duration::ZERO)
        .and_then(|()| {
            #[cfg(test)]
            if tests::DISK_FULL.load(std::sync::atomic::Ordering::SeqCst) {
                return Err(rusqlite::Error::SqliteFailure(
                    rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_FULL),
                    None,
                ));
            }
            conn.query_row("PRAGMA wal_checkpoint(RESTART)", [], |r| {
                r.get::<_, bool>(0)
            })
        })
        .map(|busy| !busy);
    if let Err(e) = conn.busy_timeout(BUSY_TIMEOUT) {
        tracing::error!(error = %e, "embedded store could not set its writer's busy timeout");
    }
    let took = started.elapsed();
    if took > SLOW_RESTART {
        // The writes queue behind it: worth knowing when it happens.
        tracing::warn!(
            took_ms = took.as_millis() as u64,
            wal_pages = WAL_PAGES.get(),
            "embedded store's WAL restart held the writes"
        );
    }
    match restarted {
        Ok(true) => {
            WAL_PAGES.set(0);
            Restart::Done
        }
        Ok(false) => {
            tracing::trace!("embedded store's WAL restart waits for a reader");
            Restart::Busy
        }
        Err(e)
            if matches!(
                e.sqlite_error_code(),
                Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
            ) =>
        {
            tracing::trace!("embedded store's WAL restart waits for the checkpointer");
            Restart::Busy
        }
        Err(e) => {
            tracing::warn!(error = %e, "embedded store could not start its WAL over");
            Restart::Failed
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Restart {
    Done,
    /// A reader is still in the WAL; it will leave.
    Busy,
    /// The checkpoint failed: a full disk, or an I/O error.
    Failed,
}

const BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);
/// A WAL restart slower than this is logged.
const SLOW_RESTART: std::time::Duration = std::time::Duration::from_millis(20);
/// How soon the writer tries again to start the WAL over after it was busy.
const RESTART_RETRY: std::time::Duration = std::time::Duration::from_millis(5);

thread_local! {
    /// The WAL's length in pages after the writer thread's last commit.
    static WAL_PAGES: std::cell::Cell<i32> = const { std::cell::Cell::new(0) };
}

/// How often the WAL's new pages are copied back into the database file.
const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_millis(100);
/// WAL pages (4 KiB each) past which the writer starts the WAL over. Each
/// restart holds the writes for about one fsync of the database file (20 to
/// 50 ms on this project's machine): at 4,000 pages that came about once a
/// second under full load and set the p99; at 16,000, once every few seconds.
const WAL_RESTART_PAGES: i32 = 16_000;
/// WAL pages past which writes are refused until it can be started over.
const WAL_MAX_PAGES: i32 = 4 * WAL_RESTART_PAGES;

/// Copies the WAL back into the database file on its own thread and connection.
/// SQLite would otherwise do it inside a commit, holding every queued write for
/// the copy and its fsync. PASSIVE never waits for the writer or the readers.
/// But a WAL is only started over once a checkpoint has caught up with the
/// writer, which under steady writes never happens, so the file would grow
/// without end: past `WAL_RESTART_PAGES` the writer itself, between two
/// transactions, finishes what this has not yet copied with a RESTART
/// checkpoint (see `run_writer`), which bounds the file however late this
/// thread is scheduled.
fn run_checkpoints(conn: Connection, until_dropped: std::sync::mpsc::Receiver<()>) {
    use std::sync::mpsc::RecvTimeoutError;
    while let Err(RecvTimeoutError::Timeout) = until_dropped.recv_timeout(CHECKPOINT_EVERY) {
        if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
            tracing::warn!(error = %e, "embedded store checkpoint failed; the next one retries")
        }
    }
}

/// Creates the schema, or upgrades an older one, in one transaction.
fn migrate(c: &Connection) -> Result<(), StoreError> {
    let version: i64 = c
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .map_err(sql_failure)?;
    if version > SCHEMA_VERSION {
        return Err(StoreError::Internal(format!(
            "the data directory was written by a newer version (schema {version})"
        )));
    }
    let events_exist: bool = c
        .query_row(
            "SELECT EXISTS(SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'events')",
            [],
            |r| r.get(0),
        )
        .map_err(sql_failure)?;
    let errors_exist: bool = c
        .query_row(
            "SELECT EXISTS(SELECT 1 FROM sqlite_master \
             WHERE type = 'table' AND name = 'integration_errors')",
            [],
            |r| r.get(0),
        )
        .map_err(sql_failure)?;
    let mut script = String::from("BEGIN IMMEDIATE;");
    if version < 2 && events_exist {
        script.push_str(MIGRATE_FROM_1);
    }
    if version < 3 && events_exist {
        script.push_str(MIGRATE_FROM_2);
    }
    if version < 4 {
        script.push_str(MIGRATE_FROM_3);
    }
    if version < 5 && errors_exist {
        script.push_str(MIGRATE_FROM_4);
    }
    if version > 0 && version < SCHEMA_VERSION {
        tracing::info!(
            from = version,
            to = SCHEMA_VERSION,
            "upgrading the embedded store"
        );
    }
    script.push_str(SCHEMA);
    if version < 4 && events_exist {
        script.push_str(FILL_VENDOR_APPLICATIONS);
    }
    script.push_str(&format!("PRAGMA user_version = {SCHEMA_VERSION}; COMMIT;"));
    c.execute_batch(&script).map_err(|e| {
        let _ = c.execute_batch("ROLLBACK");
        internal(e)
    })
}

/// Runs `f` in a savepoint: all of it or none of it.
fn in_savepoint<T>(
    c: &Connection,
    f: impl FnOnce(&Connection) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    exec(c, "SAVEPOINT job", []).map_err(sql_failure)?;
    let result = f(c);
    if result.is_err() {
        exec(c, "ROLLBACK TO job", []).map_err(sql_failure)?;
    }
    exec(c, "RELEASE job", []).map_err(sql_failure)?;
    result
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path`.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let open = || -> Result<Connection, StoreError> {
            let conn = Connection::open(path)
                .map_err(|e| StoreError::Unavailable(format!("{}: {e}", path.display())))?;
            conn.pragma_update(None, "journal_mode", "WAL")
                .map_err(sql_failure)?;
            // NORMAL in WAL mode survives a process crash; only an OS crash can
            // lose the last transactions, which is the local runner's trade-off.
            conn.pragma_update(None, "synchronous", "NORMAL")
                .map_err(sql_failure)?;
            conn.busy_timeout(BUSY_TIMEOUT).map_err(sql_failure)?;
            // Savepoint journals stay in memory.
            conn.pragma_update(None, "temp_store", "MEMORY")
                .map_err(sql_failure)?;
            // The checkpointer thread (below) does this, off the writer's path.
            conn.pragma_update(None, "wal_autocheckpoint", 0)
                .map_err(sql_failure)?;
            // A WAL that grew while it could not be started over (a reader
            // held it, or the disk was full) gives the room back once it is.
            conn.pragma_update(None, "journal_size_limit", WAL_RESTART_PAGES as i64 * 4096)
                .map_err(sql_failure)?;
            conn.set_prepared_statement_cache_capacity(64);
            Ok(conn)
        };
        let writer = open()?;
        migrate(&writer)?;
        let token_index: bool = writer
            .query_row(
                "SELECT EXISTS(SELECT 1 FROM pragma_index_list('events') AS l, \
                 pragma_index_info(l.name) AS i WHERE l.\"unique\" AND i.name = 'token')",
                [],
                |r| r.get(0),
            )
            .map_err(sql_failure)?;
        let connections = (0..READERS)
            .map(|_| open().map(Mutex::new))
            .collect::<Result<Vec<_>, _>>()?;
        let checkpoints = open()?;
        let (sender, receiver) = std::sync::mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || run_writer(writer, receiver))
            .map_err(internal)?;
        let (alive, until_dropped) = std::sync::mpsc::channel::<()>();
        std::thread::Builder::new()
            .name("sqlite-checkpoint".into())
            .spawn(move || run_checkpoints(checkpoints, until_dropped))
            .map_err(internal)?;
        Ok(SqliteStore {
            token_index,
            _checkpoints: Arc::new(alive),
            writer: sender,
            readers: Arc::new(Readers {
                connections,
                next: Default::default(),
            }),
        })
    }

    /// Runs `f` in the writer's current transaction, all of it or none of it.
    async fn write<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        self.write_one_statement(move |conn| in_savepoint(conn, f))
            .await
    }

    /// Like [`Self::write`], for an `f` that runs a single statement: SQLite
    /// undoes a failed statement by itself, so no savepoint (and none of the
    /// page copies one makes) is needed.
    async fn write_one_statement<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move |conn| {
            let result = f(conn);
            Box::new(move |commit_failure| {
                let _ = tx.send(match commit_failure {
                    Some(e) => Err(e.clone()),
                    None => result,
                });
            })
        });
        self.writer
            .send(job)
            .map_err(|_| StoreError::Unavailable("the store's writer has stopped".into()))?;
        rx.await
            .map_err(|_| StoreError::Unavailable("the store's writer dropped a write".into()))?
    }

    /// The JSON record `sql` finds for `key`, if any.
    async fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        sql: &'static str,
        key: &str,
    ) -> Result<Option<T>, StoreError> {
        let data: Option<String> = self
            .read(|c| {
                query_row(c, sql, params![key], |r| r.get(0))
                    .optional()
                    .map_err(sql_failure)
            })
            .await?;
        data.as_deref().map(from_json).transpose()
    }

    /// A point read, inline.
    async fn read<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.readers.with(f)
    }

    /// A read that may take a while, on the blocking pool.
    async fn query<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let readers = self.readers.clone();
        tokio::task::spawn_blocking(move || readers.with(f))
            .await
            .map_err(internal)?
    }

    /// The JSON records a query's first column holds, in its order.
    async fn query_json<T: serde::de::DeserializeOwned>(
        &self,
        (sql, args): (String, Vec<SqlValue>),
    ) -> Result<Vec<T>, StoreError> {
        let rows: Vec<String> = self
            .query(move |c| select(c, &sql, rusqlite::params_from_iter(args), |r| r.get(0)))
            .await?;
        // A stored record that cannot be read back is left out, with its id in
        // the log, rather than failing every page it falls in.
        Ok(rows
            .iter()
            .filter_map(|d| match from_json(d) {
                Ok(record) => Some(record),
                Err(e) => {
                    tracing::error!(id = stored_id(d), error = %e, "a stored record cannot be read; it is left out of the list");
                    None
                }
            })
            .collect())
    }

    /// Copies the whole WAL into the database file and empties it, waiting
    /// for readers: for a clean stop, so the next start has nothing to replay.
    pub async fn checkpoint(&self) -> Result<(), StoreError> {
        // On a reader's connection: the writer's runs inside its transaction,
        // where SQLite refuses a checkpoint ("database table is locked").
        let busy: bool = self
            .query(|c| {
                c.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get(0))
                    .map_err(sql_failure)
            })
            .await?;
        if busy {
            return Err(StoreError::Unavailable(
                "a reader or writer was still in the WAL".into(),
            ));
        }
        Ok(())
    }

    /// Every event still PENDING with its application, oldest first: the
    /// outbox a runner queues again at start, in its applications' lanes.
    /// One pass over the `events_newest` index, reading only the pending
    /// rows for their application.
    pub async fn pending_deliveries(&self) -> Result<Vec<(String, String)>, StoreError> {
        self.query(|c| {
            select(
                c,
                "SELECT id, application_id FROM events WHERE status = 'PENDING' ORDER BY created_ms",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
        })
        .await
    }

    /// Deletes failure records whose retention has run out; returns how many.
    pub async fn purge_expired(
        &self,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<usize, StoreError> {
        let now_ms = now.timestamp_millis();
        self.write(move |c| {
            exec(
                c,
                "DELETE FROM integration_errors WHERE expires_ms <= ?1",
                params![now_ms],
            )
            .map_err(sql_failure)
        })
        .await
    }
}

#[async_trait]
impl KeyStore for SqliteStore {
    async fn insert_key(&self, key: &ApiKeyRecord) -> Result<(), StoreError> {
        let (hash, data) = (key.hash.0.clone(), to_json(key)?);
        self.write(move |c| {
            exec(
                c,
                "INSERT INTO api_keys(hash, data) VALUES (?1, ?2)",
                params![hash, data],
            )
            .map_err(|e| {
                if is_unique_violation(&e) {
                    StoreError::Conflict("api key exists".into())
                } else {
                    internal(e)
                }
            })?;
            Ok(())
        })
        .await
    }

    async fn get_key(&self, hash: &KeyHash) -> Result<Option<ApiKeyRecord>, StoreError> {
        self.get_json("SELECT data FROM api_keys WHERE hash = ?1", &hash.0)
            .await
    }

    async fn list_keys(&self) -> Result<Vec<ApiKeyRecord>, StoreError> {
        let rows: Vec<String> = self
            .read(|c| select(c, "SELECT data FROM api_keys", [], |r| r.get(0)))
            .await?;
        let keys: Vec<ApiKeyRecord> = rows
            .iter()
            .map(|d| from_json(d))
            .collect::<Result<_, _>>()?;
        Ok(keys
            .into_iter()
            .filter(|k| k.revoked_at.is_none())
            .collect())
    }

    async fn revoke_key(
        &self,
        key_id: &str,
        at: chrono::DateTime<chrono::Utc>,
    ) -> Result<Option<ApiKeyRecord>, StoreError> {
        // A key's id is the start of its hash, and the hash is the table's key.
        let prefix = format!("{key_id}%");
        self.write(move |c| {
            let rows: Vec<String> = select(
                c,
                "SELECT data FROM api_keys WHERE hash LIKE ?1",
                [&prefix],
                |r| r.get(0),
            )?;
            for data in rows {
                let mut key: ApiKeyRecord = from_json(&data)?;
                if key.revoked_at.is_some() {
                    continue;
                }
                key.revoked_at = Some(at);
                exec(
                    c,
                    "UPDATE api_keys SET data = ?2 WHERE hash = ?1",
                    params![key.hash.0, to_json(&key)?],
                )
                .map_err(sql_failure)?;
                return Ok(Some(key));
            }
            Ok(None)
        })
        .await
    }

    async fn touch_key(
        &self,
        hash: &KeyHash,
        at: chrono::DateTime<chrono::Utc>,
    ) -> Result<(), StoreError> {
        let hash = hash.0.clone();
        self.write(move |c| {
            let data: Option<String> = query_row(
                c,
                "SELECT data FROM api_keys WHERE hash = ?1",
                [&hash],
                |r| r.get(0),
            )
            .optional()
            .map_err(sql_failure)?;
            let Some(data) = data else { return Ok(()) };
            let mut key: ApiKeyRecord = from_json(&data)?;
            if key.last_used_at.is_some_and(|t| t >= at) {
                return Ok(());
            }
            key.last_used_at = Some(at);
            exec(
                c,
                "UPDATE api_keys SET data = ?2 WHERE hash = ?1",
                params![hash, to_json(&key)?],
            )
            .map_err(sql_failure)?;
            Ok(())
        })
        .await
    }
}

#[async_trait]
impl IntegrationStore for SqliteStore {
    async fn get_integration(&self, id: &ApplicationId) -> Result<Option<Integration>, StoreError> {
        let id = id.as_str().to_owned();
        let row: Option<(String, bool, u32, Option<i64>)> = self
            .read(move |c| {
                query_row(
                    c,
                    "SELECT data, enabled, successive_failures, disabled_ms
                     FROM integrations WHERE application_id = ?1",
                    params![id],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
                )
                .optional()
                .map_err(sql_failure)
            })
            .await?;
        let Some((data, enabled, failures, disabled_ms)) = row else {
            return Ok(None);
        };
        let mut integration: Integration = from_json(&data)?;
        integration.enabled = enabled;
        integration.successive_failures = failures;
        integration.disabled_at = disabled_ms.and_then(chrono::DateTime::from_timestamp_millis);
        Ok(Some(integration))
    }

    async fn save_integration(
        &self,
        integration: &Integration,
        expected: Option<u64>,
    ) -> Result<(), StoreError> {
        let id = integration.application_id.as_str().to_owned();
        let version = integration.version as i64;
        let data = to_json(integration)?;
        let (enabled, failures) = (integration.enabled, integration.successive_failures);
        let disabled_ms = integration.disabled_at.map(|d| d.timestamp_millis());
        self.write(move |c| {
            let changed = match expected {
                None => c
                    .execute(
                        "INSERT INTO integrations(application_id, version, data, enabled,
                             successive_failures, disabled_ms)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                         ON CONFLICT(application_id) DO NOTHING",
                        params![id, version, data, enabled, failures, disabled_ms],
                    )
                    .map_err(sql_failure)?,
                Some(expected) => c
                    .execute(
                        "UPDATE integrations SET version = ?2, data = ?3
                         WHERE application_id = ?1 AND version = ?4",
                        params![id, version, data, expected as i64],
                    )
                    .map_err(sql_failure)?,
            };
            if changed == 1 {
                Ok(())
            } else {
                Err(StoreError::Conflict(format!(
                    "integration {id} is not at the expected version"
                )))
            }
        })
        .await
    }

    async fn set_integration_enabled(
        &self,
        id: &ApplicationId,
        enabled: bool,
        at: chrono::DateTime<chrono::Utc>,
    ) -> Result<bool, StoreError> {
        let id = id.as_str().to_owned();
        let at_ms = at.timestamp_millis();
        self.write(move |c| {
            let changed = if enabled {
                exec(c,
                    "UPDATE integrations SET enabled = 1, successive_failures = 0, disabled_ms = NULL
                     WHERE application_id = ?1 AND enabled = 0",
                    params![id],
                )
            } else {
                exec(c,
                    "UPDATE integrations SET enabled = 0, disabled_ms = ?2
                     WHERE application_id = ?1 AND enabled = 1",
                    params![id, at_ms],
                )
            }
            .map_err(sql_failure)?;
            Ok(changed == 1)
        })
        .await
    }

    async fn list_integrations(
        &self,
        query: &IntegrationQuery,
    ) -> Result<IntegrationPage, StoreError> {
        let after = query.after.as_ref().map(|a| a.as_str().to_owned());
        let vendor = query.vendor.as_ref().map(|v| v.as_str().to_owned());
        let (enabled, limit) = (query.enabled, query.limit);
        let rows: Vec<(String, String, bool, u32, Option<i64>)> = self
            .read(move |c| {
                select(
                    c,
                    "SELECT application_id, data, enabled, successive_failures, disabled_ms
                     FROM integrations
                     WHERE (?1 IS NULL OR application_id > ?1)
                       AND (?2 IS NULL OR enabled = ?2)
                       AND (?3 IS NULL OR json_extract(data, '$.vendorId') = ?3)
                     ORDER BY application_id LIMIT ?4",
                    params![after, enabled, vendor, limit as i64],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
                )
            })
            .await?;
        let next = (rows.len() == limit)
            .then(|| rows.last().map(|r| ApplicationId::parse(&r.0)))
            .flatten()
            .transpose()
            .map_err(internal)?;
        let items = rows
            .into_iter()
            .map(|(_, data, enabled, failures, disabled_ms)| {
                let mut integration: Integration = from_json(&data)?;
                integration.enabled = enabled;
                integration.successive_failures = failures;
                integration.disabled_at =
                    disabled_ms.and_then(chrono::DateTime::from_timestamp_millis);
                Ok(integration)
            })
            .collect::<Result<_, StoreError>>()?;
        Ok(IntegrationPage { items, next })
    }
}

#[async_trait]
impl EventStore for SqliteStore {
    async fn insert_event(
        &self,
        event: &Event,
        idempotency: Option<&IdempotencyRecord>,
    ) -> Result<InsertOutcome, StoreError> {
        // Only the indexed columns travel to the writer beside the JSON, not a clone of the body.
        let (id, token, app, status) = (
            event.id.clone(),
            event.token.clone(),
            event.application_id.as_str().to_owned(),
            event.status.as_str(),
        );
        let (created_ms, version) = (event.created_at.timestamp_millis(), event.version as i64);
        let (vendor, kind) = (
            event.vendor_id.as_str().to_owned(),
            event.body.kind.as_str(),
        );
        let data = to_json(event)?;
        let idem = idempotency
            .map(|i| Ok::<_, StoreError>((i.scope.clone(), to_json(i)?)))
            .transpose()?;
        let insert = move |c: &Connection| {
            if let Some((scope, idem_data)) = &idem {
                let existing: Option<String> = query_row(
                    c,
                    "SELECT data FROM idempotency WHERE scope = ?1",
                    params![scope],
                    |r| r.get(0),
                )
                .optional()
                .map_err(sql_failure)?;
                if let Some(existing) = existing {
                    return Ok(InsertOutcome::Replay(from_json(&existing)?));
                }
                exec(
                    c,
                    "INSERT INTO idempotency(scope, data) VALUES (?1, ?2)",
                    params![scope, idem_data],
                )
                .map_err(sql_failure)?;
            }
            exec(
                c,
                "INSERT INTO events(id, token, application_id, status, created_ms, version, data,
                                    vendor_id, event_type)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                params![id, token, app, status, created_ms, version, data, vendor, kind],
            )
            .map_err(|err| {
                if is_unique_violation(&err) {
                    StoreError::Conflict(format!("event {id} exists"))
                } else {
                    internal(err)
                }
            })?;
            Ok(InsertOutcome::Inserted)
        };
        if idempotency.is_some() {
            self.write(insert).await
        } else {
            self.write_one_statement(insert).await
        }
    }

    async fn remove_event(
        &self,
        event: &Event,
        idempotency: Option<&IdempotencyRecord>,
    ) -> Result<(), StoreError> {
        let id = event.id.clone();
        let scope = idempotency.map(|i| i.scope.clone());
        self.write(move |c| {
            exec(c, "DELETE FROM events WHERE id = ?1", params![id]).map_err(sql_failure)?;
            if let Some(scope) = scope {
                exec(
                    c,
                    "DELETE FROM idempotency WHERE scope = ?1",
                    params![scope],
                )
                .map_err(sql_failure)?;
            }
            Ok(())
        })
        .await
    }

    async fn get_event(&self, id: &str) -> Result<Option<Event>, StoreError> {
        self.get_json("SELECT data FROM events WHERE id = ?1", id)
            .await
    }

    async fn update_event(&self, event: &Event, expected: u64) -> Result<(), StoreError> {
        let e = event.clone();
        let data = to_json(event)?;
        self.write(move |c| update_event_row(c, &e, &data, expected))
            .await
    }

    async fn finish_delivery(
        &self,
        event: &Event,
        expected: u64,
        error: Option<&ErrorRecord>,
        count: FailureCount,
    ) -> Result<(), StoreError> {
        let e = event.clone();
        let data = to_json(event)?;
        let error_row = error.map(error_row).transpose()?;
        self.write(move |c| {
            update_event_row(c, &e, &data, expected)?;
            if let Some(row) = error_row {
                exec(
                    c,
                    &format!(
                        "INSERT INTO integration_errors({ERROR_COLUMNS}) \
                         VALUES {ERROR_VALUES} ON CONFLICT(id) DO NOTHING"
                    ),
                    rusqlite::params_from_iter(row),
                )
                .map_err(sql_failure)?;
            }
            let app = e.application_id.as_str();
            match count {
                FailureCount::Unchanged => 0,
                FailureCount::Increment => exec(
                    c,
                    "UPDATE integrations SET successive_failures = successive_failures + 1
                         WHERE application_id = ?1",
                    params![app],
                )
                .map_err(sql_failure)?,
                FailureCount::Reset => exec(
                    c,
                    "UPDATE integrations SET successive_failures = 0
                         WHERE application_id = ?1 AND successive_failures <> 0",
                    params![app],
                )
                .map_err(sql_failure)?,
            };
            Ok(())
        })
        .await
    }

    async fn get_event_by_token(&self, token: &str) -> Result<Option<Event>, StoreError> {
        // Without the index, the lookup would read the whole table, for tokens
        // that a store created since cannot hold.
        if !self.token_index {
            return Ok(None);
        }
        self.get_json("SELECT data FROM events WHERE token = ?1", token)
            .await
    }

    async fn query_events(&self, query: &EventQuery) -> Result<EventPage, StoreError> {
        let items: Vec<Event> = match (&query.vendor, &query.application_id) {
            (Some(vendor), None) => self.vendor_events(vendor.as_str(), query).await?,
            _ => self.query_json(event_query_sql(query, None)).await?,
        };
        Ok(EventPage::from_overfetch(
            items.iter().map(EventSummary::from).collect(),
            query.limit,
        ))
    }
}

impl SqliteStore {
    /// A vendor's events log, with no index by vendor: the page of each
    /// application the vendor's events were stored under, merged newest first.
    async fn vendor_events(
        &self,
        vendor: &str,
        query: &EventQuery,
    ) -> Result<Vec<Event>, StoreError> {
        let limit = query.limit;
        let (vendor, query) = (vendor.to_owned(), query.clone());
        let mut rows: Vec<(i64, String, String)> = self
            .query(move |c| {
                let apps: Vec<String> = select(
                    c,
                    "SELECT application_id FROM vendor_applications WHERE vendor_id = ?1",
                    [&vendor],
                    |r| r.get(0),
                )?;
                let mut rows = Vec::new();
                for app in &apps {
                    let (sql, args) = event_query_sql(&query, Some(app));
                    rows.extend(select(c, &sql, rusqlite::params_from_iter(args), |r| {
                        Ok((r.get(1)?, r.get(2)?, r.get(0)?))
                    })?);
                }
                Ok(rows)
            })
            .await?;
        rows.sort_unstable_by(|a, b| (b.0, &b.1).cmp(&(a.0, &a.1)));
        rows.truncate(limit + 1);
        rows.iter().map(|(_, _, data)| from_json(data)).collect()
    }
}

fn update_event_row(
    c: &Connection,
    e: &Event,
    data: &str,
    expected: u64,
) -> Result<(), StoreError> {
    let changed = c
        .execute(
            "UPDATE events SET status = ?2, version = ?3, data = ?4 WHERE id = ?1 AND version = ?5",
            params![
                e.id,
                e.status.as_str(),
                e.version as i64,
                data,
                expected as i64
            ],
        )
        .map_err(sql_failure)?;
    if changed == 1 {
        Ok(())
    } else {
        Err(StoreError::Conflict(format!(
            "event {} is missing or not at version {expected}",
            e.id
        )))
    }
}

fn error_row(r: &ErrorRecord) -> Result<Vec<SqlValue>, StoreError> {
    Ok(vec![
        SqlValue::Text(r.id.clone()),
        SqlValue::Integer(r.creation_date.timestamp_millis()),
        SqlValue::Text(r.application_id.as_str().to_owned()),
        SqlValue::Text(r.vendor_id.as_str().to_owned()),
        r.event_type
            .map_or(SqlValue::Null, |t| SqlValue::Text(t.as_str().to_owned())),
        SqlValue::Text(r.error_code.as_str().to_owned()),
        SqlValue::Text(r.category.as_str().to_owned()),
        r.company_id.clone().map_or(SqlValue::Null, SqlValue::Text),
        r.user_email.clone().map_or(SqlValue::Null, SqlValue::Text),
        r.document_type
            .clone()
            .map_or(SqlValue::Null, SqlValue::Text),
        r.document_id.clone().map_or(SqlValue::Null, SqlValue::Text),
        r.integration_run_id
            .clone()
            .map_or(SqlValue::Null, SqlValue::Text),
        SqlValue::Integer(r.manually_resolved as i64),
        SqlValue::Integer(r.version as i64),
        SqlValue::Integer(r.expires_at.timestamp_millis()),
        SqlValue::Text(to_json(r)?),
    ])
}

const ERROR_COLUMNS: &str = "id, created_ms, application_id, vendor_id, event_type, error_code, \
     category, company_id, user_email, document_type, document_id, integration_run_id, resolved, \
     version, expires_ms, data";
/// One placeholder per column of [`ERROR_COLUMNS`]; an update's expected version is `?17`.
const ERROR_VALUES: &str =
    "(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)";

#[async_trait]
impl ErrorStore for SqliteStore {
    async fn insert_error(&self, record: &ErrorRecord) -> Result<(), StoreError> {
        let row = error_row(record)?;
        let id = record.id.clone();
        self.write(move |c| {
            exec(
                c,
                &format!("INSERT INTO integration_errors({ERROR_COLUMNS}) VALUES {ERROR_VALUES}"),
                rusqlite::params_from_iter(row),
            )
            .map_err(|e| {
                if is_unique_violation(&e) {
                    StoreError::Conflict(format!("error record {id} exists"))
                } else {
                    internal(e)
                }
            })?;
            Ok(())
        })
        .await
    }

    async fn get_error(&self, id: &str) -> Result<Option<ErrorRecord>, StoreError> {
        self.get_json("SELECT data FROM integration_errors WHERE id = ?1", id)
            .await
    }

    async fn update_error(&self, record: &ErrorRecord, expected: u64) -> Result<(), StoreError> {
        let mut row = error_row(record)?;
        row.push(SqlValue::Integer(expected as i64));
        let id = record.id.clone();
        self.write(move |c| {
            let changed = c
                .execute(
                    &format!(
                        "UPDATE integration_errors SET ({ERROR_COLUMNS}) = {ERROR_VALUES} \
                         WHERE id = ?1 AND version = ?17"
                    ),
                    rusqlite::params_from_iter(row),
                )
                .map_err(sql_failure)?;
            if changed == 1 {
                Ok(())
            } else {
                Err(StoreError::Conflict(format!(
                    "error record {id} is missing or not at the expected version"
                )))
            }
        })
        .await
    }

    async fn query_errors(&self, query: &ErrorQuery) -> Result<ErrorPage, StoreError> {
        let items = self.query_json(error_query_sql(query)).await?;
        Ok(ErrorPage::from_overfetch(items, query.limit))
    }

    async fn summarize_errors(&self, query: &ErrorQuery) -> Result<Vec<SummaryRow>, StoreError> {
        let w = error_filters(query);
        let sql = format!(
            "SELECT application_id, error_code, COUNT(*) FROM integration_errors {} \
             GROUP BY application_id, error_code ORDER BY application_id, error_code",
            w.sql()
        );
        let rows: Vec<(String, String, i64)> = self
            .query(move |c| {
                select(c, &sql, rusqlite::params_from_iter(w.args), |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                })
            })
            .await?;
        rows.into_iter()
            .map(|(app, code, count)| {
                Ok(SummaryRow {
                    application_id: ApplicationId::parse(&app).map_err(internal)?,
                    error_code: code.parse().map_err(internal)?,
                    count: count as u64,
                })
            })
            .collect()
    }
}

#[async_trait]
impl AlertStore for SqliteStore {
    async fn insert_alert(&self, alert: &Alert) -> Result<bool, StoreError> {
        let (id, data) = (alert.id.clone(), to_json(alert)?);
        self.write(move |c| {
            let changed = exec(
                c,
                "INSERT INTO alerts(id, data) VALUES (?1, ?2) ON CONFLICT(id) DO NOTHING",
                params![id, data],
            )
            .map_err(sql_failure)?;
            Ok(changed == 1)
        })
        .await
    }

    async fn get_alert(&self, id: &str) -> Result<Option<Alert>, StoreError> {
        self.get_json("SELECT data FROM alerts WHERE id = ?1", id)
            .await
    }
}

/// The id a stored JSON record starts with (`{"id":"..."`), for the log.
fn stored_id(data: &str) -> &str {
    data.strip_prefix("{\"id\":\"")
        .and_then(|rest| rest.split('"').next())
        .unwrap_or("(unknown)")
}

/// A WHERE clause built up filter by filter, with its arguments.
#[derive(Default)]
struct Where {
    clauses: Vec<String>,
    args: Vec<SqlValue>,
}

impl Where {
    fn arg(&mut self, value: SqlValue) -> String {
        self.args.push(value);
        format!("?{}", self.args.len())
    }

    fn cmp(&mut self, column: &str, op: &str, value: SqlValue) {
        let p = self.arg(value);
        self.clauses.push(format!("{column} {op} {p}"));
    }

    fn eq(&mut self, column: &str, value: Option<impl AsRef<str>>) {
        if let Some(v) = value {
            self.cmp(column, "=", SqlValue::Text(v.as_ref().to_owned()));
        }
    }

    /// `from` (inclusive), `to` (exclusive) and the cursor, on `created_ms`.
    fn window(
        &mut self,
        from: Option<chrono::DateTime<chrono::Utc>>,
        to: Option<chrono::DateTime<chrono::Utc>>,
        after: Option<&Position>,
    ) {
        if let Some(from) = from {
            self.cmp(
                "created_ms",
                ">=",
                SqlValue::Integer(from.timestamp_millis()),
            );
        }
        if let Some(to) = to {
            self.cmp("created_ms", "<", SqlValue::Integer(to.timestamp_millis()));
        }
        if let Some(after) = after {
            let ms = self.arg(SqlValue::Integer(after.created_ms));
            let id = self.arg(SqlValue::Text(after.id.clone()));
            self.clauses
                .push(format!("(created_ms, id) < ({ms}, {id})"));
        }
    }

    fn sql(&self) -> String {
        if self.clauses.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", self.clauses.join(" AND "))
        }
    }

    /// `select ... <where> <tail>`, one past `limit` newest first.
    fn page(mut self, select: &str, limit: usize) -> (String, Vec<SqlValue>) {
        let limit = self.arg(SqlValue::Integer(limit as i64 + 1));
        (
            format!(
                "{select} {} ORDER BY created_ms DESC, id DESC LIMIT {limit}",
                self.sql()
            ),
            self.args,
        )
    }
}

/// The filters of a report query, without its limit or cursor.
fn error_filters(q: &ErrorQuery) -> Where {
    let mut w = Where::default();
    match q.resolved {
        ResolvedFilter::Unresolved => w.cmp("resolved", "=", SqlValue::Integer(0)),
        ResolvedFilter::Resolved => w.cmp("resolved", "=", SqlValue::Integer(1)),
        ResolvedFilter::All => {}
    }
    w.eq("vendor_id", q.vendor.as_ref().map(|v| v.as_str()));
    w.eq(
        "application_id",
        q.application_id.as_ref().map(|a| a.as_str()),
    );
    w.eq("event_type", q.event_type.map(|t| t.as_str()));
    w.eq("error_code", q.error_code.map(|c| c.as_str()));
    w.eq("category", q.category.map(|c| c.as_str()));
    w.eq("company_id", q.company_id.as_ref());
    w.eq("user_email", q.user_email.as_ref());
    w.eq("document_type", q.document_type.as_ref());
    w.eq("document_id", q.document_id.as_ref());
    w.eq("integration_run_id", q.integration_run_id.as_ref());
    w.window(q.from, q.to, None);
    w
}

fn error_query_sql(q: &ErrorQuery) -> (String, Vec<SqlValue>) {
    let mut w = error_filters(q);
    w.window(None, None, q.after.as_ref());
    w.page("SELECT data FROM integration_errors", q.limit)
}

/// The page `q` asks for, or, given `application`, that application's part
/// of it, whose rows also hold each event's position (see `vendor_events`).
fn event_query_sql(q: &EventQuery, application: Option<&str>) -> (String, Vec<SqlValue>) {
    let mut w = Where::default();
    w.eq("vendor_id", q.vendor.as_ref().map(|v| v.as_str()));
    w.eq(
        "application_id",
        application.or(q.application_id.as_ref().map(|a| a.as_str())),
    );
    w.eq("status", q.status.map(|s| s.as_str()));
    w.eq("event_type", q.event_type.map(|t| t.as_str()));
    w.window(q.from, q.to, q.after.as_ref());
    match application {
        None => w.page("SELECT data FROM events", q.limit),
        Some(_) => w.page("SELECT data, created_ms, id FROM events", q.limit),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Makes the writer's WAL restarts fail as on a full disk.
    pub(super) static DISK_FULL: std::sync::atomic::AtomicBool =
        std::sync::atomic::AtomicBool::new(false);

    #[tokio::test]
    async fn writes_are_refused_rather_than_grow_the_wal_past_its_bound_while_it_cannot_be_emptied()
    {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("store.sqlite3");
        let store = SqliteStore::open(&path).unwrap();
        let wal = || std::fs::metadata(dir.path().join("store.sqlite3-wal")).map_or(0, |m| m.len());
        let write = |i: usize| {
            let big = "x".repeat(200 * 1024);
            store.write(move |c| {
                exec(
                    c,
                    "INSERT INTO alerts(id, data) VALUES (?1, ?2)",
                    params![format!("a{i}"), big],
                )
                .map_err(sql_failure)
            })
        };
        // A reader inside the WAL keeps SQLite from starting it over by
        // itself, and the writer's restarts fail as on a full disk (the
        // checkpoint cannot grow the database file).
        DISK_FULL.store(true, std::sync::atomic::Ordering::SeqCst);
        let pin = Connection::open(&path).unwrap();
        pin.execute_batch("BEGIN").unwrap();
        let _: i64 = pin
            .query_row("SELECT count(*) FROM alerts", [], |r| r.get(0))
            .unwrap();
        let mut refused = None;
        for i in 0..2_000 {
            if let Err(e) = write(i).await {
                refused = Some((i, e));
                break;
            }
        }
        let (at, error) = refused.expect("writes are refused once the WAL is at its bound");
        assert!(matches!(error, StoreError::Unavailable(_)), "{error:?}");
        // One group commit of these large writes may pass it before the check.
        let bound = (WAL_MAX_PAGES as u64 + 2_000) * 4096;
        assert!(wal() <= bound, "the WAL is {} bytes, over {bound}", wal());
        assert!(at > 100, "writes go on until the bound: refused at {at}");
        assert!(
            write(9_999).await.is_err(),
            "still refused while it is held"
        );

        DISK_FULL.store(false, std::sync::atomic::Ordering::SeqCst);
        pin.execute_batch("COMMIT").unwrap();
        drop(pin);
        write(10_000)
            .await
            .expect("writes go on once the WAL can be emptied");
        write(10_001).await.unwrap();
        assert!(
            wal() <= (WAL_RESTART_PAGES as u64 + 200) * 4096,
            "and it gives its room back: {} bytes",
            wal()
        );
    }

    fn failure(code: std::os::raw::c_int) -> rusqlite::Error {
        rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(code), None)
    }

    #[test]
    fn a_full_disk_or_an_io_error_is_worth_retrying_and_a_bug_is_not() {
        for code in [
            rusqlite::ffi::SQLITE_FULL,
            rusqlite::ffi::SQLITE_IOERR,
            rusqlite::ffi::SQLITE_BUSY,
        ] {
            assert!(
                matches!(sql_failure(failure(code)), StoreError::Unavailable(_)),
                "{code}"
            );
        }
        assert!(matches!(
            sql_failure(failure(rusqlite::ffi::SQLITE_CONSTRAINT)),
            StoreError::Internal(_)
        ));
        assert!(matches!(
            sql_failure(rusqlite::Error::InvalidQuery),
            StoreError::Internal(_)
        ));
    }

    #[tokio::test]
    async fn a_write_that_finds_the_database_full_is_refused_as_unavailable() {
        use iev_domain::ports::ErrorStore;
        let dir = std::env::temp_dir().join(format!("iev-full-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let store = SqliteStore::open(&dir.join("full.sqlite3")).unwrap();
        // SQLite answers SQLITE_FULL past max_page_count, as it does on a full disk.
        store
            .write(|c| {
                c.execute_batch("PRAGMA max_page_count = 1")
                    .map_err(sql_failure)
            })
            .await
            .unwrap();
        let mut record: iev_domain::record::ErrorRecord =
            serde_json::from_value(serde_json::json!({
                "id": "r-1", "creationDate": "2026-11-29T00:00:00Z", "applicationId": "app-1",
                "importableApplicationUuid": null, "applicationName": "x", "vendorId": "v-1",
                "userId": null, "userEmail": null, "companyId": null, "companyName": null,
                "eventType": null, "errorCode": "UNKNOWN_ERROR", "message": "m",
                "manuallyResolved": false, "eventId": null, "eventToken": null,
                "category": "integration.perform.error", "attempts": 0, "lastHttpStatus": null,
                "resolvedAt": null, "resolvedBy": null, "note": null, "source": "api",
                "externalId": null, "customAttributes": {}, "expiresAt": "2027-11-29T00:00:00Z",
                "version": 1
            }))
            .unwrap();
        record.message = "x".repeat(100_000);
        let result = store.insert_error(&record).await;
        assert!(
            matches!(result, Err(StoreError::Unavailable(_))),
            "{result:?}"
        );
        drop(store);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
