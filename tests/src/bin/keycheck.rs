//! The DynamoDB key-distribution check (issue 10): 1,000,000 events at
//! 10,000 a second, one application sending half of them to a vendor that
//! fails every call, each written as the DynamoDB store writes it (its own
//! item and key functions, `iev_aws::layout`): write units per partition
//! key per second, for the base table and every index, against half the
//! per-partition limit (1,000 WCU/s), and what one event costs in all.
//!
//! Usage: `keycheck [events]` (default 1,000,000). Exits 1 when a partition
//! passes the bound.

use iev_aws::layout::{self, Write};
use iev_domain::event::{Attempt, AttemptOutcome, EventStatus};
use iev_domain::ports::FailureCount;
use iev_domain::record::{Category, ErrorCode};
use iev_tests::fixtures::{at, error_record, event, integration};
use iev_tests::table::{self, Align};
use std::collections::HashMap;

const RATE: usize = 10_000;
const BURST: usize = 30_000;
/// Half of DynamoDB's 1,000 write units a second per partition key.
const BOUND: u64 = 500;
const OTHER_APPS: usize = 1_000;

/// Write units per (table or index, partition key) within one second.
type Second = HashMap<(&'static str, String), u64>;

fn account(second: &mut Second, writes: &[Write]) -> u64 {
    let mut total = 0;
    for w in writes {
        let base = w.units() * if w.transactional { 2 } else { 1 };
        *second
            .entry(("table", w.table_partition.clone()))
            .or_default() += base;
        total += base;
        for (index, partition) in &w.indexes {
            *second.entry((index, partition.clone())).or_default() += w.units();
            total += w.units();
        }
    }
    total
}

fn main() {
    let events: usize = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(1_000_000);
    let big = integration("app-big", "v-down");
    let mut hottest: HashMap<(&'static str, String), u64> = HashMap::new();
    let mut second = Second::new();
    let mut current = 0;
    let (mut delivered_units, mut delivered) = (0u64, 0u64);
    let (mut failed_units, mut failed) = (0u64, 0u64);
    let mut counted = 0u32;
    for i in 0..events {
        let now = i / RATE;
        if now != current {
            for (key, units) in second.drain() {
                let max = hottest.entry(key).or_default();
                *max = (*max).max(units);
            }
            current = now;
        }
        let fails = i % 2 == 0;
        let (app, vendor) = if fails {
            ("app-big".to_owned(), "v-down".to_owned())
        } else {
            let n = i / 2 % OTHER_APPS;
            (format!("app-{n:04}"), format!("v-{n:04}"))
        };
        let mut e = event(&format!("0192{i:012}"), &app, &vendor);
        e.created_at = at(now as i64 * 1000);
        let mut units = account(&mut second, &layout::accept(&e).unwrap());
        e.version += 1;
        e.attempts.push(Attempt {
            at: at(now as i64 * 1000),
            round: 1,
            http_status: None,
            latency_ms: 0,
            outcome: AttemptOutcome::InFlight,
            error_code: None,
            message: None,
            response_excerpt: None,
        });
        units += account(&mut second, &layout::claim(&e).unwrap());
        e.version += 1;
        let integration = if fails {
            big.clone()
        } else {
            integration(&app, &vendor)
        };
        let settle = if fails {
            e.status = EventStatus::Failed;
            let mut record = error_record(&format!("{}.1", e.id), now as i64 * 1000, &app, &vendor);
            record.error_code = ErrorCode::TransportError;
            record.category = Category::Perform;
            let count = if counted < 10 {
                counted += 1;
                FailureCount::Increment
            } else {
                FailureCount::Unchanged
            };
            layout::settle(&e, Some(&record), count, &integration).unwrap()
        } else {
            e.status = EventStatus::Complete;
            // The domain resets only a count above zero; these have none.
            layout::settle(&e, None, FailureCount::Unchanged, &integration).unwrap()
        };
        units += account(&mut second, &settle);
        if fails {
            (failed_units, failed) = (failed_units + units, failed + 1);
        } else {
            (delivered_units, delivered) = (delivered_units + units, delivered + 1);
        }
    }
    for (key, units) in second.drain() {
        let max = hottest.entry(key).or_default();
        *max = (*max).max(units);
    }
    let mut ranked: Vec<_> = hottest.into_iter().collect();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let mut per_index: HashMap<&'static str, (String, u64)> = HashMap::new();
    for ((index, partition), units) in &ranked {
        per_index
            .entry(index)
            .or_insert_with(|| (partition.clone(), *units));
    }
    let scale = |units: u64, rate: usize| units * rate as u64 / RATE as u64;
    let rows: Vec<Vec<String>> = ranked
        .iter()
        .take(10)
        .map(|((index, partition), units)| {
            vec![
                index.to_string(),
                partition.clone(),
                units.to_string(),
                scale(*units, BURST).to_string(),
                if *units > BOUND { "over" } else { "within" }.to_owned(),
            ]
        })
        .collect();
    println!(
        "hottest partition keys at {RATE} events/s (and at a {BURST}/s burst), {events} events:"
    );
    table::print(
        &[
            ("table or index", Align::Left),
            ("partition key", Align::Left),
            ("WCU/s", Align::Right),
            ("WCU/s at burst", Align::Right),
            ("bound 500", Align::Left),
        ],
        &rows,
    );
    let mut indexes: Vec<_> = per_index.into_iter().collect();
    indexes.sort();
    println!("\nhottest partition per table and index:");
    for (index, (partition, units)) in &indexes {
        println!("  {index:10} {units:>7} WCU/s  {partition}");
    }
    println!(
        "\nwrite units per delivered event, put to settled: {:.1} (goal: at most 6); per failed event with its record: {:.1}",
        delivered_units as f64 / delivered.max(1) as f64,
        failed_units as f64 / failed.max(1) as f64
    );
    let over = ranked.iter().filter(|(_, u)| *u > BOUND).count();
    if over > 0 {
        println!("{over} partition keys pass {BOUND} WCU/s: the layout has hot partitions");
        std::process::exit(1);
    }
    println!("no partition key passes {BOUND} WCU/s");
}
