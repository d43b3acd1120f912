use async_trait::async_trait;
use iev_domain::auth::{ApiKeyRecord, KeyHash};
use iev_domain::event::Event;
use iev_domain::integration::{ApplicationId, Integration};
use iev_domain::ports::{
    AlertStore, ErrorStore, EventStore, FailureCount, IdempotencyRecord, InsertOutcome,
    IntegrationStore, KeyStore,
};
use iev_domain::record::{Alert, ErrorPage, ErrorQuery, ErrorRecord, ResolvedFilter};
use iev_domain::StoreError;
use rusqlite::types::Value as SqlValue;
use rusqlite::{params, Connection, OptionalExtension};
use std::path::Path;
use std::sync::{Arc, Mutex};

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
    token TEXT NOT NULL UNIQUE,
    application_id TEXT NOT NULL,
    status TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    version INTEGER NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_pending ON events(created_ms) WHERE status = 'PENDING';
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
    resolved INTEGER NOT NULL,
    version INTEGER NOT NULL,
    expires_ms INTEGER NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS ie_newest ON integration_errors(resolved, created_ms DESC, id DESC);
CREATE INDEX IF NOT EXISTS ie_all_newest ON integration_errors(created_ms DESC, id DESC);
CREATE INDEX IF NOT EXISTS ie_app ON integration_errors(application_id, resolved, created_ms DESC, id DESC);
CREATE INDEX IF NOT EXISTS ie_vendor ON integration_errors(vendor_id, resolved, created_ms DESC, id DESC);
CREATE INDEX IF NOT EXISTS ie_code ON integration_errors(error_code, resolved, created_ms DESC, id DESC);
CREATE INDEX IF NOT EXISTS ie_type ON integration_errors(event_type, resolved, created_ms DESC, id DESC);
CREATE INDEX IF NOT EXISTS ie_expiry ON integration_errors(expires_ms);
"#;

/// The embedded store: one SQLite file in WAL mode.
///
/// Writes go to one writer thread, which commits whatever has queued up
/// together (group commit), each write in its own savepoint so that one
/// failing write does not undo the others; a write's answer is sent only once
/// its transaction committed. Point reads run inline on a small pool of
/// reader connections (they take microseconds; a thread hop would cost more);
/// report queries run on the blocking pool.
#[derive(Clone)]
pub struct SqliteStore {
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
        let start = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
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

fn to_json<T: serde::Serialize>(v: &T) -> Result<String, StoreError> {
    serde_json::to_string(v).map_err(internal)
}

fn from_json<T: serde::de::DeserializeOwned>(s: &str) -> Result<T, StoreError> {
    serde_json::from_str(s).map_err(|e| StoreError::Internal(format!("corrupt record: {e}")))
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

fn run_writer(conn: Connection, jobs: std::sync::mpsc::Receiver<Job>) {
    while let Ok(first) = jobs.recv() {
        let mut batch = vec![first];
        while batch.len() < GROUP {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let began = conn.execute_batch("BEGIN IMMEDIATE");
        let replies: Vec<Reply> = batch.into_iter().map(|job| job(&conn)).collect();
        let failure = match began {
            Err(e) => Some(internal(e)),
            Ok(()) => conn.execute_batch("COMMIT").map_err(internal).err(),
        };
        if failure.is_some() {
            let _ = conn.execute_batch("ROLLBACK");
            tracing::error!(error = ?failure, "embedded store commit failed");
        }
        for reply in replies {
            reply(failure.as_ref());
        }
    }
}

/// Runs `f` in a savepoint: all of it or none of it.
fn in_savepoint<T>(
    c: &Connection,
    f: impl FnOnce(&Connection) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    exec(c, "SAVEPOINT job", []).map_err(internal)?;
    let result = f(c);
    if result.is_err() {
        exec(c, "ROLLBACK TO job", []).map_err(internal)?;
    }
    exec(c, "RELEASE job", []).map_err(internal)?;
    result
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path`.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        let open = || -> Result<Connection, StoreError> {
            let conn = Connection::open(path)
                .map_err(|e| StoreError::Unavailable(format!("{}: {e}", path.display())))?;
            conn.pragma_update(None, "journal_mode", "WAL")
                .map_err(internal)?;
            // NORMAL in WAL mode survives a process crash; only an OS crash can
            // lose the last transactions, which is the local runner's trade-off.
            conn.pragma_update(None, "synchronous", "NORMAL")
                .map_err(internal)?;
            conn.busy_timeout(std::time::Duration::from_secs(5))
                .map_err(internal)?;
            // Savepoint journals stay in memory.
            conn.pragma_update(None, "temp_store", "MEMORY")
                .map_err(internal)?;
            conn.set_prepared_statement_cache_capacity(64);
            Ok(conn)
        };
        let writer = open()?;
        writer.execute_batch(SCHEMA).map_err(internal)?;
        let connections = (0..READERS)
            .map(|_| open().map(Mutex::new))
            .collect::<Result<Vec<_>, _>>()?;
        let (sender, receiver) = std::sync::mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || run_writer(writer, receiver))
            .map_err(internal)?;
        Ok(SqliteStore {
            writer: sender,
            readers: Arc::new(Readers {
                connections,
                next: Default::default(),
            }),
        })
    }

    async fn write<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move |conn| {
            let result = in_savepoint(conn, f);
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
            .map_err(|_| StoreError::Internal("the store's writer dropped a write".into()))?
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
                    .map_err(internal)
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

    /// Ids of accepted events not yet delivered, oldest first: the outbox the
    /// local runner replays into its queue at start-up.
    pub async fn pending_event_ids(&self) -> Result<Vec<String>, StoreError> {
        self.query(|c| {
            let mut stmt = c
                .prepare("SELECT id FROM events WHERE status = 'PENDING' ORDER BY created_ms")
                .map_err(internal)?;
            let ids = stmt
                .query_map([], |r| r.get::<_, String>(0))
                .map_err(internal)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(internal)?;
            Ok(ids)
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
            .map_err(internal)
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
                .map_err(internal)
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
                    .map_err(internal)?,
                Some(expected) => c
                    .execute(
                        "UPDATE integrations SET version = ?2, data = ?3
                         WHERE application_id = ?1 AND version = ?4",
                        params![id, version, data, expected as i64],
                    )
                    .map_err(internal)?,
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
            .map_err(internal)?;
            Ok(changed == 1)
        })
        .await
    }
}

#[async_trait]
impl EventStore for SqliteStore {
    async fn insert_event(
        &self,
        event: &Event,
        idempotency: Option<&IdempotencyRecord>,
    ) -> Result<InsertOutcome, StoreError> {
        let e = event.clone();
        let data = to_json(event)?;
        let idem = idempotency
            .map(|i| Ok::<_, StoreError>((i.scope.clone(), to_json(i)?)))
            .transpose()?;
        self.write(move |c| {
            if let Some((scope, idem_data)) = &idem {
                let existing: Option<String> = query_row(
                    c,
                    "SELECT data FROM idempotency WHERE scope = ?1",
                    params![scope],
                    |r| r.get(0),
                )
                .optional()
                .map_err(internal)?;
                if let Some(existing) = existing {
                    return Ok(InsertOutcome::Replay(from_json(&existing)?));
                }
                exec(
                    c,
                    "INSERT INTO idempotency(scope, data) VALUES (?1, ?2)",
                    params![scope, idem_data],
                )
                .map_err(internal)?;
            }
            exec(
                c,
                "INSERT INTO events(id, token, application_id, status, created_ms, version, data)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    e.id,
                    e.token,
                    e.application_id.as_str(),
                    e.status.as_str(),
                    e.created_at.timestamp_millis(),
                    e.version as i64,
                    data
                ],
            )
            .map_err(|err| {
                if is_unique_violation(&err) {
                    StoreError::Conflict(format!("event {} exists", e.id))
                } else {
                    internal(err)
                }
            })?;
            Ok(InsertOutcome::Inserted)
        })
        .await
    }

    async fn remove_event(
        &self,
        event: &Event,
        idempotency: Option<&IdempotencyRecord>,
    ) -> Result<(), StoreError> {
        let id = event.id.clone();
        let scope = idempotency.map(|i| i.scope.clone());
        self.write(move |c| {
            exec(c, "DELETE FROM events WHERE id = ?1", params![id]).map_err(internal)?;
            if let Some(scope) = scope {
                exec(
                    c,
                    "DELETE FROM idempotency WHERE scope = ?1",
                    params![scope],
                )
                .map_err(internal)?;
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
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13) \
                         ON CONFLICT(id) DO NOTHING"
                    ),
                    rusqlite::params_from_iter(row),
                )
                .map_err(internal)?;
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
                .map_err(internal)?,
                FailureCount::Reset => exec(
                    c,
                    "UPDATE integrations SET successive_failures = 0
                         WHERE application_id = ?1 AND successive_failures <> 0",
                    params![app],
                )
                .map_err(internal)?,
            };
            Ok(())
        })
        .await
    }

    async fn get_event_by_token(&self, token: &str) -> Result<Option<Event>, StoreError> {
        self.get_json("SELECT data FROM events WHERE token = ?1", token)
            .await
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
        .map_err(internal)?;
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
        SqlValue::Integer(r.manually_resolved as i64),
        SqlValue::Integer(r.version as i64),
        SqlValue::Integer(r.expires_at.timestamp_millis()),
        SqlValue::Text(to_json(r)?),
    ])
}

const ERROR_COLUMNS: &str = "id, created_ms, application_id, vendor_id, event_type, error_code, \
     category, company_id, user_email, resolved, version, expires_ms, data";

#[async_trait]
impl ErrorStore for SqliteStore {
    async fn insert_error(&self, record: &ErrorRecord) -> Result<(), StoreError> {
        let row = error_row(record)?;
        let id = record.id.clone();
        self.write(move |c| {
            exec(
                c,
                &format!(
                    "INSERT INTO integration_errors({ERROR_COLUMNS}) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)"
                ),
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
                        "UPDATE integration_errors SET ({ERROR_COLUMNS}) = \
                         (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13) \
                         WHERE id = ?1 AND version = ?14"
                    ),
                    rusqlite::params_from_iter(row),
                )
                .map_err(internal)?;
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
        let (sql, args) = error_query_sql(query);
        let limit = query.limit;
        let rows: Vec<String> = self
            .query(move |c| {
                let mut stmt = c.prepare_cached(&sql).map_err(internal)?;
                let rows = stmt
                    .query_map(rusqlite::params_from_iter(args), |r| r.get::<_, String>(0))
                    .map_err(internal)?
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(internal)?;
                Ok(rows)
            })
            .await?;
        let items = rows
            .iter()
            .map(|d| from_json::<ErrorRecord>(d))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(ErrorPage::from_overfetch(items, limit))
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
            .map_err(internal)?;
            Ok(changed == 1)
        })
        .await
    }

    async fn get_alert(&self, id: &str) -> Result<Option<Alert>, StoreError> {
        self.get_json("SELECT data FROM alerts WHERE id = ?1", id)
            .await
    }
}

fn error_query_sql(q: &ErrorQuery) -> (String, Vec<SqlValue>) {
    let mut clauses: Vec<String> = Vec::new();
    let mut args: Vec<SqlValue> = Vec::new();
    let mut eq = |column: &str, value: SqlValue, clauses: &mut Vec<String>| {
        args.push(value);
        clauses.push(format!("{column} = ?{}", args.len()));
    };
    match q.resolved {
        ResolvedFilter::Unresolved => eq("resolved", SqlValue::Integer(0), &mut clauses),
        ResolvedFilter::Resolved => eq("resolved", SqlValue::Integer(1), &mut clauses),
        ResolvedFilter::All => {}
    }
    let text = |s: &str| SqlValue::Text(s.to_owned());
    if let Some(v) = &q.vendor {
        eq("vendor_id", text(v.as_str()), &mut clauses);
    }
    if let Some(a) = &q.application_id {
        eq("application_id", text(a.as_str()), &mut clauses);
    }
    if let Some(t) = q.event_type {
        eq("event_type", text(t.as_str()), &mut clauses);
    }
    if let Some(c) = q.error_code {
        eq("error_code", text(c.as_str()), &mut clauses);
    }
    if let Some(c) = q.category {
        eq("category", text(c.as_str()), &mut clauses);
    }
    if let Some(c) = &q.company_id {
        eq("company_id", text(c), &mut clauses);
    }
    if let Some(e) = &q.user_email {
        eq("user_email", text(e), &mut clauses);
    }
    if let Some(from) = q.from {
        args.push(SqlValue::Integer(from.timestamp_millis()));
        clauses.push(format!("created_ms >= ?{}", args.len()));
    }
    if let Some(to) = q.to {
        args.push(SqlValue::Integer(to.timestamp_millis()));
        clauses.push(format!("created_ms < ?{}", args.len()));
    }
    if let Some(after) = &q.after {
        args.push(SqlValue::Integer(after.creation_date.timestamp_millis()));
        args.push(SqlValue::Text(after.id.clone()));
        clauses.push(format!(
            "(created_ms, id) < (?{}, ?{})",
            args.len() - 1,
            args.len()
        ));
    }
    args.push(SqlValue::Integer(q.limit as i64 + 1));
    let filter = if clauses.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", clauses.join(" AND "))
    };
    (
        format!(
            "SELECT data FROM integration_errors {filter} ORDER BY created_ms DESC, id DESC LIMIT ?{}",
            args.len()
        ),
        args,
    )
}
