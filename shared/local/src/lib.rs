//! Local mode: everything on one machine, nothing lost across a restart.

mod queue;
mod sqlite;

pub use queue::{LocalQueue, LocalQueueReceiver};
pub use sqlite::SqliteStore;
