//! What only the embedded store has: its WAL file.

use futures::StreamExt;
use iev_domain::ports::ErrorStore;
use iev_tests::fixtures::error_record;

/// `n` failure records of about 4 KB, 64 writes at a time, each stream item
/// one write done: about two WAL pages a record.
fn large_writes(store: &iev_local::SqliteStore, n: i64) -> impl futures::Stream<Item = ()> + '_ {
    let message = "x".repeat(4_000);
    futures::stream::iter(0..n)
        .map(move |i| {
            let mut r = error_record(&format!("r-{i:06}"), i, "app-1", "v-1");
            r.message = message.clone();
            async move { store.insert_error(&r).await.unwrap() }
        })
        .buffer_unordered(64)
}

/// The writer never idles here, so unless it starts the WAL over itself,
/// every page written would stay in the file: over 200 MB.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_writes_without_pause_the_embedded_stores_wal_stays_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.sqlite3");
    let store = iev_local::SqliteStore::open(&path).unwrap();
    let wal = dir.path().join("store.sqlite3-wal");
    let mut largest = 0;
    let mut written = std::pin::pin!(large_writes(&store, 20_000));
    while written.next().await.is_some() {
        largest = largest.max(std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0));
    }
    let mb = largest as f64 / 1e6;
    assert!(mb > 1.0, "the WAL was in use: {mb:.1} MB");
    // The writer starts it over past 16,000 pages (65.5 MB with frame
    // headers) as soon as the checkpointer thread is not copying; the rest
    // is room for a checkpointer that a loaded machine keeps copying for
    // seconds (a fresh clone's test run once saw 106 MB).
    assert!(mb < 150.0, "the WAL grew to {mb:.1} MB");
}

/// While a reader keeps its snapshot the WAL cannot be started over; the
/// writer must keep committing rather than wait for it. A writer that waited
/// out its busy timeout at each try would take minutes here, not seconds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_that_keeps_its_snapshot_does_not_hold_up_the_writes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.sqlite3");
    let store = iev_local::SqliteStore::open(&path).unwrap();
    let reader = rusqlite::Connection::open(&path).unwrap();
    reader.execute_batch("BEGIN").unwrap();
    let seen: i64 = reader
        .query_row("SELECT count(*) FROM integration_errors", [], |r| r.get(0))
        .unwrap();
    let started = std::time::Instant::now();
    // About 12,000 WAL pages: more than the writer lets the WAL hold when no reader keeps it.
    large_writes(&store, 6_000).collect::<Vec<_>>().await;
    let took = started.elapsed();
    let still: i64 = reader
        .query_row("SELECT count(*) FROM integration_errors", [], |r| r.get(0))
        .unwrap();
    reader.execute_batch("COMMIT").unwrap();
    assert_eq!(
        (seen, still),
        (0, 0),
        "the reader kept its snapshot throughout"
    );
    assert!(
        took < std::time::Duration::from_secs(60),
        "6,000 writes took {took:?} behind a reader"
    );
}

/// The events table as stores made before tokens held their event's id have
/// it, and one of the report's indexes as it was until schema 4.
const EVENTS_BEFORE_TOKENS_NAMED_EVENTS: &str = "
CREATE TABLE events (
    id TEXT PRIMARY KEY,
    token TEXT NOT NULL UNIQUE,
    application_id TEXT NOT NULL,
    status TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    version INTEGER NOT NULL,
    data TEXT NOT NULL,
    vendor_id TEXT,
    event_type TEXT
);
CREATE INDEX events_pending ON events(created_ms) WHERE status = 'PENDING';
CREATE INDEX events_newest ON events(created_ms DESC, id DESC);
CREATE TABLE integration_errors (
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
CREATE INDEX ie_app ON integration_errors(application_id, resolved, created_ms DESC, id DESC);
PRAGMA user_version = 2;";

#[tokio::test]
async fn an_older_store_is_upgraded_and_still_finds_its_events_by_token_and_by_vendor() {
    use iev_domain::ports::{ErrorStore, EventStore};
    let dir = tempfile::tempdir().unwrap();
    let older = dir.path().join("older.sqlite3");
    let before = iev_tests::fixtures::event("e-0", "app-0", "v-0");
    let c = rusqlite::Connection::open(&older).unwrap();
    c.execute_batch(EVENTS_BEFORE_TOKENS_NAMED_EVENTS).unwrap();
    c.execute(
        "INSERT INTO events VALUES ('e-0', 'b2xk', 'app-0', 'COMPLETE', 0, 1, ?1, 'v-0', NULL)",
        [serde_json::to_string(&before).unwrap()],
    )
    .unwrap();
    // A failure record as schema 4 and before wrote it: none of Coupa's fields.
    let old_record = iev_tests::fixtures::error_record("r-0", 0, "app-0", "v-0");
    let mut old_json = serde_json::to_value(&old_record).unwrap();
    for field in [
        "documentType",
        "documentId",
        "documentRevision",
        "documentStatus",
        "integrationRunId",
        "integrationFilename",
        "status",
        "creationMethod",
        "responses",
        "createdBy",
        "updatedBy",
    ] {
        old_json.as_object_mut().unwrap().remove(field).unwrap();
    }
    c.execute(
        "INSERT INTO integration_errors VALUES \
         ('r-0', 0, 'app-0', 'v-0', NULL, 'ACCOUNT_NOT_FOUND', 'x', NULL, NULL, 0, 1, 9e15, ?1)",
        [old_json.to_string()],
    )
    .unwrap();
    drop(c);
    let mut e = iev_tests::fixtures::event("e-1", "app-1", "v-1");
    e.token = "b2xkLXN0eWxlLXRva2VuLXdpdGhvdXQtYW4taWQ".into();
    let store = iev_local::SqliteStore::open(&older).unwrap();
    let vendor_log = iev_domain::event::EventQuery {
        vendor: Some(iev_tests::fixtures::vendor("v-0")),
        limit: 10,
        ..Default::default()
    };
    let listed = store.query_events(&vendor_log).await.unwrap().items;
    assert_eq!(
        listed,
        vec![iev_domain::event::EventSummary::from(&before)],
        "an event stored before the upgrade stays in its vendor's log"
    );
    store.insert_event(&e, None).await.unwrap();
    assert_eq!(
        store.get_event_by_token(&e.token).await.unwrap(),
        Some(e.clone())
    );
    assert_eq!(
        store.pending_deliveries().await.unwrap(),
        vec![("e-1".to_owned(), "app-1".to_owned())]
    );
    let indexes: Vec<String> = rusqlite::Connection::open(&older)
        .unwrap()
        .prepare("SELECT sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert!(
        indexes
            .iter()
            .any(|i| i.contains("events_newest") && i.contains("status")),
        "the upgrade gives events_newest the status: {indexes:?}"
    );
    assert!(
        !indexes.iter().any(|i| i.contains("events_pending")),
        "and drops the index it replaces: {indexes:?}"
    );
    assert!(
        !indexes.iter().any(|i| i.contains("DESC")),
        "every index is made again in ascending order: {indexes:?}"
    );

    let read_back = store.get_error("r-0").await.unwrap().unwrap();
    assert_eq!(read_back.document_id, None);
    assert!(read_back.responses.is_empty());
    assert_eq!(read_back.created_by, None);
    let mut coupa = iev_tests::fixtures::error_record("r-1", 5, "app-0", "v-0");
    coupa.document_id = Some("INV-1".into());
    coupa.integration_run_id = Some("run-1".into());
    store.insert_error(&coupa).await.unwrap();
    for query in [
        iev_domain::record::ErrorQuery {
            document_id: Some("INV-1".into()),
            limit: 10,
            ..Default::default()
        },
        iev_domain::record::ErrorQuery {
            integration_run_id: Some("run-1".into()),
            limit: 10,
            ..Default::default()
        },
    ] {
        let found = store.query_errors(&query).await.unwrap().items;
        assert_eq!(
            found,
            vec![coupa.clone()],
            "the upgraded store filters by Coupa's fields"
        );
    }

    let newer = iev_local::SqliteStore::open(&dir.path().join("newer.sqlite3")).unwrap();
    newer.insert_event(&e, None).await.unwrap();
    assert_eq!(newer.get_event_by_token(&e.token).await.unwrap(), None);
}

#[tokio::test]
async fn a_stored_record_that_cannot_be_read_back_is_left_out_of_list_pages() {
    use iev_domain::ports::ErrorStore;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.sqlite3");
    let store = iev_local::SqliteStore::open(&path).unwrap();
    for (id, ms) in [("r-1", 10), ("r-3", 30)] {
        store
            .insert_error(&iev_tests::fixtures::error_record(id, ms, "app-1", "v-1"))
            .await
            .unwrap();
    }
    // Written by an older version, or damaged: its JSON is not a record.
    let poisoned = format!(
        r#"{{"id":"r-2","creationDate":{}1{}}}"#,
        "[".repeat(130),
        "]".repeat(130)
    );
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute(
            "INSERT INTO integration_errors(id, created_ms, application_id, vendor_id, error_code, \
             category, resolved, version, expires_ms, data) \
             VALUES ('r-2', 20, 'app-1', 'v-1', 'UNKNOWN_ERROR', 'x', 0, 1, 9e15, ?1)",
            [poisoned],
        )
        .unwrap();
    let page = store
        .query_errors(&iev_domain::record::ErrorQuery {
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    let ids: Vec<&str> = page.items.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, ["r-3", "r-1"]);
}

#[tokio::test]
async fn a_second_runner_on_the_same_data_directory_is_refused_while_the_first_runs() {
    let dir = tempfile::tempdir().unwrap();
    let first = iev_tests::TestApp::start_in(dir.path()).await;
    let second = iev_runner::start(iev_runner::RunnerConfig::new("127.0.0.1:0", dir.path())).await;
    match second {
        Err(e) => assert!(e.to_string().contains("another runner"), "{e}"),
        Ok(_) => panic!("two runners shared one data directory"),
    }
    first.stop().await;
    let again = iev_runner::start(iev_runner::RunnerConfig::new("127.0.0.1:0", dir.path())).await;
    assert!(
        again.is_ok(),
        "the directory is free once the first has stopped"
    );
}
