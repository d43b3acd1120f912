//! What only the embedded store has: its WAL file.

use futures::StreamExt;
use iev_domain::ports::ErrorStore;
use iev_tests::fixtures::error_record;

/// The writer never idles here, so without the checkpointer making it start
/// the WAL over, every page written would stay in the file: about 80 MB.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_writes_without_pause_the_embedded_stores_wal_stays_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.sqlite3");
    let store = iev_local::SqliteStore::open(&path).unwrap();
    let wal = dir.path().join("store.sqlite3-wal");
    let message = "x".repeat(4_000);
    let mut largest = 0;
    let mut written = futures::stream::iter(0..10_000)
        .map(|i| {
            let mut r = error_record(&format!("r-{i:06}"), i, "app-1", "v-1");
            r.message = message.clone();
            let store = &store;
            async move { store.insert_error(&r).await.unwrap() }
        })
        .buffer_unordered(64);
    while written.next().await.is_some() {
        largest = largest.max(std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0));
    }
    let mb = largest as f64 / 1e6;
    assert!(mb > 1.0, "the WAL was in use: {mb:.1} MB");
    assert!(mb < 40.0, "the WAL grew to {mb:.1} MB");
}
