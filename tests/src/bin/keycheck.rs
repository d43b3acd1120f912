//! The DynamoDB key-distribution check (issue 10): 1,000,000 events at
//! 10,000 a second, one application sending half of them to a vendor that
//! fails every call, each written as the DynamoDB store writes it (its own
//! item and key functions, `iev_aws::layout`): write units per partition
//! key per second, for the base table and every index, against half the
//! per-partition limit (1,000 WCU/s), at that rate and at a 30,000/s burst
//! of the same mix; and what one event costs in all.
//!
//! Usage: `keycheck [events]` (default 1,000,000). Exits 1 when a partition
//! key passes the bound. The test command runs it.

use iev_aws::indexes;
use iev_aws::layout::{self, units, Write};
use iev_domain::event::{new_token, Attempt, AttemptOutcome, EventStatus};
use iev_domain::ports::FailureCount;
use iev_domain::record::{Category, ErrorCode};
use iev_tests::fixtures::{at, error_record, event, integration};
use iev_tests::table::{self, Align};
use std::collections::HashMap;

const RATE: u64 = 10_000;
const BURST: u64 = 30_000;
/// Half of DynamoDB's 1,000 write units a second per partition key.
const BOUND: u64 = 500;
const OTHER_APPS: usize = 1_000;
/// What a delivered event cost in the layout this one replaced (every index
/// partition one key, every index projecting whole items), by this check.
const BEFORE: &str = "22";

/// Write units per (table or index, partition key) within one second.
type Second = HashMap<(&'static str, String), u64>;

/// Write units of one step, on the table and in the indexes.
#[derive(Default, Clone, Copy)]
struct Cost {
    table: u64,
    indexes: u64,
}

impl std::ops::AddAssign for Cost {
    fn add_assign(&mut self, o: Cost) {
        self.table += o.table;
        self.indexes += o.indexes;
    }
}

fn account(second: &mut Second, writes: &[Write]) -> Cost {
    let mut cost = Cost::default();
    for w in writes {
        *second
            .entry(("table", w.table_partition.clone()))
            .or_default() += w.table_units();
        cost.table += w.table_units();
        for entry in &w.indexes {
            let u = units(entry.bytes);
            *second
                .entry((entry.index, entry.partition.clone()))
                .or_default() += u;
            cost.indexes += u;
        }
    }
    cost
}

/// Mean cost of a kind of event, per step (accept, claim, settle).
#[derive(Default)]
struct Steps {
    events: u64,
    steps: [Cost; 3],
}

impl Steps {
    fn row(&self, name: &str) -> Vec<String> {
        let mean = |u: u64| format!("{:.2}", u as f64 / self.events.max(1) as f64);
        let mut row = vec![name.to_owned()];
        for c in &self.steps {
            row.push(format!("{} + {}", mean(c.table), mean(c.indexes)));
        }
        row.push(format!("{:.2}", self.mean_total()));
        row
    }

    fn mean_total(&self) -> f64 {
        let total: u64 = self.steps.iter().map(|c| c.table + c.indexes).sum();
        total as f64 / self.events.max(1) as f64
    }
}

fn main() {
    let events: usize = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(1_000_000);
    let big = integration("app-big", "v-down");
    // Each application's event as the fixtures make it, parsed once; each
    // event below is a copy under its own id and token.
    let base_big = event("base", "app-big", "v-down");
    let bases: Vec<_> = (0..OTHER_APPS)
        .map(|n| event("base", &format!("app-{n:04}"), &format!("v-{n:04}")))
        .collect();
    // Only keys that could rank are kept: the table has a partition per
    // event and per record, millions of them, each a few units a second.
    let mut hottest: HashMap<(&'static str, String), u64> = HashMap::new();
    let mut top: HashMap<&'static str, (String, u64)> = HashMap::new();
    let mut fold = |second: &mut Second| {
        for (key, units) in second.drain() {
            let best = top.entry(key.0).or_insert_with(|| (key.1.clone(), 0));
            if units > best.1 {
                *best = (key.1.clone(), units);
            }
            if units >= 10 {
                let max = hottest.entry(key).or_default();
                *max = (*max).max(units);
            }
        }
    };
    let mut second = Second::new();
    let mut current = 0;
    let (mut delivered, mut failed) = (Steps::default(), Steps::default());
    let mut sizes = [0usize; 5];
    let mut counted = 0u32;
    for i in 0..events {
        let now = i as u64 / RATE;
        if now != current {
            fold(&mut second);
            current = now;
        }
        let fails = i % 2 == 0;
        let mut e = if fails {
            base_big.clone()
        } else {
            bases[i / 2 % OTHER_APPS].clone()
        };
        // Ids as the service makes them: UUIDv7, 36 characters.
        e.id = format!("019a2b3c-4d5e-7f60-8a1b-{i:012}");
        e.token = new_token(&e.id, b"fixture secret");
        e.created_at = at(now as i64 * 1000);
        e.updated_at = e.created_at;
        let mut steps = [Cost::default(); 3];
        let accept = layout::accept(&e).unwrap();
        sizes[0] += accept[0].bytes;
        sizes[3] += accept[0].indexes.first().map_or(0, |i| i.bytes);
        steps[0] += account(&mut second, &accept);
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
        steps[1] += account(&mut second, &layout::claim(&e).unwrap());
        e.version += 1;
        let settle = if fails {
            e.status = EventStatus::Failed;
            let mut record = error_record(
                &format!("{}.1", e.id),
                now as i64 * 1000,
                "app-big",
                "v-down",
            );
            // The vendor answers with an error: one call, final. (A busy or
            // unreachable vendor's retries add a claim and a settlement of
            // the event's own state item each: 2 units, on its own key.)
            record.error_code = ErrorCode::UnknownError;
            record.category = Category::Perform;
            // Coupa's fields too, so that their indexes carry the same load
            // as the others: one document type, a document per event, a
            // run per minute.
            record.document_type = Some("InvoiceHeader".into());
            record.document_id = Some(format!("INV-{i:09}"));
            record.integration_run_id = Some(format!("run-{:05}", now / 60));
            let count = if counted < 10 {
                counted += 1;
                FailureCount::Increment
            } else {
                FailureCount::Unchanged
            };
            layout::settle(&e, Some(&record), count, &big).unwrap()
        } else {
            e.status = EventStatus::Complete;
            // The domain resets only a count above zero; these have none, so
            // the integration is not written (and `big` stands in unread).
            layout::settle(&e, None, FailureCount::Unchanged, &big).unwrap()
        };
        sizes[1] += settle[0].bytes;
        if fails {
            sizes[2] += settle[1].bytes;
            sizes[4] += settle[1].indexes.first().map_or(0, |i| i.bytes);
        }
        steps[2] += account(&mut second, &settle);
        let kind = if fails { &mut failed } else { &mut delivered };
        kind.events += 1;
        for (total, step) in kind.steps.iter_mut().zip(steps) {
            *total += step;
        }
    }
    fold(&mut second);
    let at_burst = |units: u64| units * BURST / RATE;
    let mut ranked: Vec<_> = hottest.iter().collect();
    ranked.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    let verdict = |units: u64| {
        if at_burst(units) > BOUND {
            "over"
        } else {
            "within"
        }
    };
    let rows: Vec<Vec<String>> = ranked
        .iter()
        .take(12)
        .map(|((index, partition), units)| {
            vec![
                index.to_string(),
                partition.clone(),
                units.to_string(),
                at_burst(**units).to_string(),
                verdict(**units).to_owned(),
            ]
        })
        .collect();
    println!(
        "{events} events at {RATE}/s, half from one application whose vendor fails every call;\nthe hottest partition keys, write units in their busiest second:"
    );
    let header = [
        ("table or index", Align::Left),
        ("partition key", Align::Left),
        ("WCU/s", Align::Right),
        ("at 30,000/s", Align::Right),
        ("bound 500", Align::Left),
    ];
    table::print(&header, &rows);
    println!("\nthe hottest partition key of the table and of every index:");
    let names = std::iter::once("table").chain(indexes().map(|((name, _, _), _)| name));
    let rows: Vec<Vec<String>> = names
        .map(|name| match top.get(name) {
            Some((partition, units)) => vec![
                name.to_owned(),
                partition.clone(),
                units.to_string(),
                at_burst(*units).to_string(),
                verdict(*units).to_owned(),
            ],
            None => vec![
                name.to_owned(),
                "(not written)".into(),
                "0".into(),
                "0".into(),
                "within".into(),
            ],
        })
        .collect();
    table::print(&header, &rows);
    println!("\nwrite units per event, table + indexes, from put to settled:");
    table::print(
        &[
            ("event", Align::Left),
            ("accept", Align::Right),
            ("claim", Align::Right),
            ("settle", Align::Right),
            ("total", Align::Right),
        ],
        &[
            delivered.row("delivered"),
            failed.row("failed, with its record"),
        ],
    );
    let mean = |bytes: usize, count: u64| bytes as f64 / count.max(1) as f64;
    println!(
        "mean item bytes: event as accepted {:.0}, state {:.0}, failure record {:.0}; index entry bytes: event {:.0}, failure record {:.0}",
        mean(sizes[0], events as u64),
        mean(sizes[1], events as u64),
        mean(sizes[2], failed.events),
        mean(sizes[3], events as u64),
        mean(sizes[4], failed.events)
    );
    println!(
        "a delivered event costs {:.2} write units (goal: at most 6; {BEFORE} in the layout before this one)",
        delivered.mean_total()
    );
    let over = ranked.iter().filter(|(_, u)| at_burst(**u) > BOUND).count();
    if over > 0 {
        println!("{over} partition keys pass {BOUND} WCU/s: the layout has hot partitions");
        std::process::exit(1);
    }
    if delivered.mean_total() > 6.0 {
        println!("a delivered event costs more than 6 write units");
        std::process::exit(1);
    }
    println!("no partition key passes {BOUND} WCU/s, at {RATE}/s or at a {BURST}/s burst");
}
