//! Time and identity are injected so that tests are deterministic.

use chrono::{DateTime, SubsecRound, Utc};
use rand::RngCore;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
}

/// Wall-clock time truncated to milliseconds: every store keeps that precision,
/// so a value read back compares equal to the one written.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now().trunc_subsecs(3)
    }
}

/// A clock that stands still until told to move.
#[derive(Debug)]
pub struct FixedClock(Mutex<DateTime<Utc>>);

impl FixedClock {
    pub fn new(at: DateTime<Utc>) -> Self {
        Self(Mutex::new(at))
    }
    pub fn advance(&self, by: chrono::Duration) {
        let mut now = self.0.lock().unwrap_or_else(|p| p.into_inner());
        *now += by;
    }
}

impl Clock for FixedClock {
    fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

pub trait IdSource: Send + Sync {
    /// A unique, opaque identifier for a stored record.
    fn new_id(&self) -> String;
    /// `bytes` of secret randomness, for tokens and keys nobody may guess.
    fn secret(&self, bytes: usize) -> Vec<u8>;
}

#[derive(Debug, Default, Clone, Copy)]
pub struct RandomIds;

impl IdSource for RandomIds {
    /// Time-ordered (UUID v7), so that new records land together at the end of
    /// each store's primary index instead of on random pages. (uuid's
    /// `fast-rng` draws the random bits from `rand`, not a syscall per id.)
    fn new_id(&self) -> String {
        uuid::Uuid::now_v7().to_string()
    }
    /// From the thread's ChaCha generator, which the OS seeds and reseeds: as
    /// unguessable as asking the OS each time, without a syscall per token.
    fn secret(&self, bytes: usize) -> Vec<u8> {
        let mut out = vec![0u8; bytes];
        rand::thread_rng().fill_bytes(&mut out);
        out
    }
}

/// Predictable ids for tests: `id-1`, `id-2`, ... and secrets derived from a counter.
#[derive(Debug, Default)]
pub struct SequentialIds(AtomicU64);

impl IdSource for SequentialIds {
    fn new_id(&self) -> String {
        format!("id-{}", self.0.fetch_add(1, Ordering::SeqCst) + 1)
    }
    fn secret(&self, bytes: usize) -> Vec<u8> {
        let n = self.0.fetch_add(1, Ordering::SeqCst) + 1;
        let seed = n.to_be_bytes();
        (0..bytes).map(|i| seed[i % 8] ^ (i as u8)).collect()
    }
}
