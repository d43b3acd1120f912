//! Property tests for the parsers at the edge: event bodies, vendor results,
//! OAuth headers, query parameters and cursors. Each runs `IEV_FUZZ_CASES`
//! cases (256 in the test command); `tests/fuzz.sh` runs 1,000,000 each and
//! prints the counts. What they hold: no input makes a parser panic; what an
//! edge accepts can be stored and read back; nothing made up passes a check
//! that a secret guards.

use crate::event::{EventBody, EventType, NewEvent};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{json, Value};

fn cases() -> u32 {
    std::env::var("IEV_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256)
}

/// Runs `check` on `cases()` values of `strategy`; prints how many ran.
fn run<S: Strategy>(name: &str, strategy: S, check: impl Fn(S::Value))
where
    S::Value: std::fmt::Debug,
{
    let mut runner = TestRunner::new(Config {
        cases: cases(),
        failure_persistence: None,
        ..Config::default()
    });
    let ran = std::sync::atomic::AtomicU64::new(0);
    let result = runner.run(&strategy, |value| {
        ran.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        check(value);
        Ok(())
    });
    eprintln!("fuzz {name}: {} cases", ran.into_inner());
    if let Err(e) = result {
        panic!("{name}: {e}");
    }
}

/// Any JSON value, nested a few levels, with awkward strings and numbers.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>().prop_map(|n| json!(n)),
        ".{0,40}".prop_map(Value::String),
    ];
    leaf.prop_recursive(6, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            prop::collection::btree_map(".{0,12}", inner, 0..8)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// An event as a marketplace sends it, with any of its parts replaced by
/// anything, or arbitrary text.
fn event_bodies() -> impl Strategy<Value = Vec<u8>> {
    let base = json!({
        "applicationId": "app-1", "type": "SUBSCRIPTION_ORDER",
        "marketplace": {"partner": "ACME", "baseUrl": "https://m.example"},
        "creator": {"uuid": "u-1", "email": "ann@example.com"},
        "payload": {"company": {"uuid": "c-1", "name": "Widgets"},
                    "order": {"editionCode": "BASIC"}, "user": {"uuid": "u-2"}}
    });
    let fields = [
        "applicationId",
        "type",
        "marketplace",
        "creator",
        "payload",
        "flag",
        "extra",
    ];
    prop_oneof![
        (0..fields.len(), any_json()).prop_map(move |(i, v)| {
            let mut e = base.clone();
            e[fields[i]] = v;
            serde_json::to_vec(&e).unwrap()
        }),
        any_json().prop_map(|v| serde_json::to_vec(&v).unwrap()),
        prop::collection::vec(any::<u8>(), 0..400),
    ]
}

#[test]
fn fuzz_an_event_body_is_refused_or_stored_in_a_form_that_reads_back() {
    run("event bodies", event_bodies(), |body| {
        if let Ok(accepted) = NewEvent::parse(&body) {
            // Wrapped as the stores keep it, and read back as the vendor's fetch does.
            let stored = serde_json::to_vec(&json!({ "body": accepted.body })).unwrap();
            let back: Value = serde_json::from_slice(&stored).expect("a stored event reads back");
            let _: EventBody = serde_json::from_value(back["body"].clone())
                .expect("its body reads back as an event");
        }
    });
}

#[test]
fn fuzz_a_vendor_answer_is_interpreted_without_panic() {
    let answers = prop_oneof![
        any_json().prop_map(|v| serde_json::to_vec(&v).unwrap()),
        (any::<Option<bool>>(), ".{0,20}", ".{0,40}").prop_map(|(ok, code, message)| {
            serde_json::to_vec(&json!({"success": ok, "errorCode": code, "message": message}))
                .unwrap()
        }),
        prop::collection::vec(any::<u8>(), 0..300),
    ];
    run("vendor answers", answers, |body| {
        for kind in [EventType::SubscriptionOrder, EventType::SubscriptionNotice] {
            let _ = crate::dispatch::interpret_result(kind, &body);
        }
    });
}

#[test]
fn fuzz_a_made_up_oauth_header_is_refused_without_panic() {
    let headers = prop_oneof![
        ".{0,200}",
        prop::collection::vec(("oauth_[a-z_]{0,16}", ".{0,30}"), 0..8).prop_map(|params| {
            let parts: Vec<String> = params
                .into_iter()
                .map(|(k, v)| format!("{k}=\"{}\"", v.replace('"', "")))
                .collect();
            format!("OAuth {}", parts.join(", "))
        }),
    ];
    let url = url::Url::parse("https://iev.example/api/integration/v1/events/t?x=1").unwrap();
    run("OAuth headers", headers, |header| {
        let verdict = crate::oauth::verify("GET", &url, Some(&header), None, 1_700_000_000, |_| {
            Some("secret".into())
        });
        assert!(verdict.is_err(), "a made-up header passed: {header}");
    });
}

#[test]
fn fuzz_query_parameters_are_parsed_or_refused_without_panic() {
    let names = prop_oneof![
        Just("from".to_owned()),
        Just("to".to_owned()),
        Just("resolved".to_owned()),
        Just("fields".to_owned()),
        Just("limit".to_owned()),
        ".{0,12}",
    ];
    let pairs = prop::collection::vec((names, ".{0,40}"), 0..6);
    run("query parameters", pairs, |pairs| {
        for (name, value) in &pairs {
            let _ = crate::report::parse_time(value);
            let _ = crate::report::parse_resolved(value);
            let _ = crate::report::ReportField::parse_list(value);
            let _ = (name, value);
        }
        if let Ok(params) = crate::report::Params::new(pairs, crate::report::REPORT_PARAMS) {
            let _ = params.get("limit", |v| v.parse::<u32>().map_err(|e| e.to_string()));
        }
    });
}

#[test]
fn fuzz_a_made_up_cursor_never_opens() {
    let key = crate::report::CursorKey::new(b"fuzzing-cursor-key-of-32-bytes!!".to_vec());
    let real = key.seal(
        "scope",
        &crate::record::Position {
            created_ms: 1,
            id: "r-1".into(),
        },
    );
    let original = real.clone();
    let cursors = prop_oneof![
        ".{0,80}",
        "[A-Za-z0-9_-]{0,40}\\.[A-Za-z0-9_-]{0,40}",
        (0..real.len(), any::<char>()).prop_map(move |(i, c)| {
            let mut s: Vec<char> = real.chars().collect();
            s[i] = c;
            s.into_iter().collect()
        }),
    ];
    run("cursors", cursors, |cursor| {
        if cursor != original {
            assert!(key.open("scope", &cursor).is_err(), "{cursor}");
        }
    });
}
