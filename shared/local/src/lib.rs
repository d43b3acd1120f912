//! Local mode: everything on one machine, nothing lost across a restart.

mod exports;
mod queue;
mod sqlite;

pub use exports::LocalExports;
pub use queue::{LocalQueue, LocalQueueReceiver};
pub use sqlite::SqliteStore;
