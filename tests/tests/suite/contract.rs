//! The store contract: the same cases against the embedded store and DynamoDB.

use iev_domain::auth::{ApiKeyRecord, KeyHash, Role};
use iev_domain::event::EventType;
use iev_domain::event::{Event, EventQuery, EventStatus, EventSummary};
use iev_domain::ports::{FailureCount, IdempotencyRecord, InsertOutcome, Store};
use iev_domain::record::{
    Category, ErrorCode, ErrorQuery, ErrorRecord, Position, ResolvedFilter, SummaryRow,
};
use iev_domain::StoreError;
use iev_tests::fixtures::{app, at, error_record, event, integration, vendor};
use serde_json::json;

macro_rules! contract_suite {
    ($backend:ident, $make:expr) => {
        mod $backend {
            #[allow(unused_imports)]
            use super::*;

            async fn store() -> impl Store {
                $make
            }

            #[tokio::test]
            async fn a_key_is_found_by_its_hash_and_cannot_be_inserted_twice() {
                keys(&store().await).await
            }

            #[tokio::test]
            async fn keys_are_listed_until_revoked_and_a_revoked_key_is_kept_marked() {
                key_listing(&store().await).await
            }

            #[tokio::test]
            async fn integrations_are_listed_in_id_order_by_vendor_and_by_state_page_by_page() {
                integration_listing(&store().await).await
            }

            #[tokio::test]
            async fn an_integration_is_written_only_over_the_version_it_was_read_at() {
                integrations(&store().await).await
            }

            #[tokio::test]
            async fn an_event_is_found_by_id_and_by_token_and_removed_whole() {
                events(&store().await).await
            }

            #[tokio::test]
            async fn an_idempotency_key_stores_one_event_and_replays_it() {
                idempotency(&store().await).await
            }

            #[tokio::test]
            async fn an_error_record_is_updated_only_over_the_version_it_was_read_at() {
                error_records(&store().await).await
            }

            #[tokio::test]
            async fn every_report_query_pages_through_exactly_the_matching_records_newest_first() {
                report_queries(&store().await).await
            }

            #[tokio::test]
            async fn export_sized_pages_of_large_records_lose_nothing_at_their_boundaries() {
                large_pages(&store().await).await
            }

            #[tokio::test]
            async fn the_summary_counts_exactly_the_records_its_query_matches() {
                summaries(&store().await).await
            }

            #[tokio::test]
            async fn the_events_log_pages_through_exactly_the_matching_events_newest_first() {
                event_log(&store().await).await
            }

            #[tokio::test]
            async fn a_resolved_record_leaves_the_default_view_and_stays_in_resolved_all() {
                resolving_moves_records(&store().await).await
            }
        }
    };
}

contract_suite!(sqlite, {
    let dir = tempfile::tempdir().unwrap().keep();
    iev_local::SqliteStore::open(&dir.join("store.sqlite3")).unwrap()
});
contract_suite!(dynamodb, iev_tests::aws::dynamo_store().await);

async fn keys(store: &impl Store) {
    let record = ApiKeyRecord {
        hash: KeyHash::of("iev_k1"),
        key_id: "k1".into(),
        role: Role::Vendor,
        vendor_id: Some(vendor("v-1")),
        created_at: at(5),
        last_used_at: None,
        revoked_at: None,
    };
    store.insert_key(&record).await.unwrap();
    assert_eq!(
        store.get_key(&record.hash).await.unwrap(),
        Some(record.clone())
    );
    assert!(matches!(
        store.insert_key(&record).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(
        store.get_key(&KeyHash::of("iev_other")).await.unwrap(),
        None
    );
}

fn key_record(key: &str, role: Role, minute: i64) -> ApiKeyRecord {
    let hash = KeyHash::of(key);
    ApiKeyRecord {
        key_id: iev_domain::auth::key_id_of(&hash),
        hash,
        role,
        vendor_id: (role == Role::Vendor).then(|| vendor("v-1")),
        created_at: at(minute),
        last_used_at: None,
        revoked_at: None,
    }
}

async fn key_listing(store: &impl Store) {
    let (a, b) = (
        key_record("iev_a", Role::Manager, 1),
        key_record("iev_b", Role::Vendor, 2),
    );
    store.insert_key(&a).await.unwrap();
    store.insert_key(&b).await.unwrap();
    let mut listed = store.list_keys().await.unwrap();
    listed.sort_by_key(|k| k.created_at);
    assert_eq!(listed, vec![a.clone(), b.clone()]);

    store.touch_key(&a.hash, at(30)).await.unwrap();
    let used = store.get_key(&a.hash).await.unwrap().unwrap();
    assert_eq!(used.last_used_at, Some(at(30)));

    let revoked = store.revoke_key(&b.key_id, at(40)).await.unwrap().unwrap();
    assert_eq!(
        (revoked.hash.clone(), revoked.revoked_at),
        (b.hash.clone(), Some(at(40)))
    );
    assert_eq!(
        store.get_key(&b.hash).await.unwrap().unwrap().revoked_at,
        Some(at(40)),
        "a revoked key is kept, marked"
    );
    let listed: Vec<String> = store
        .list_keys()
        .await
        .unwrap()
        .into_iter()
        .map(|k| k.key_id)
        .collect();
    assert_eq!(listed, vec![a.key_id.clone()]);
    assert_eq!(store.revoke_key(&b.key_id, at(41)).await.unwrap(), None);
    assert_eq!(
        store.revoke_key("0123456789ab", at(41)).await.unwrap(),
        None
    );
    store
        .touch_key(&KeyHash::of("iev_none"), at(42))
        .await
        .unwrap();
    assert_eq!(store.get_key(&KeyHash::of("iev_none")).await.unwrap(), None);
}

async fn listed_ids(
    store: &impl Store,
    vendor_id: Option<&str>,
    enabled: Option<bool>,
) -> Vec<String> {
    use iev_domain::ports::IntegrationQuery;
    let mut query = IntegrationQuery {
        vendor: vendor_id.map(vendor),
        enabled,
        after: None,
        limit: 2,
    };
    let mut ids = Vec::new();
    for _ in 0..10 {
        let page = store.list_integrations(&query).await.unwrap();
        assert!(page.items.len() <= 2);
        ids.extend(
            page.items
                .iter()
                .map(|i| i.application_id.as_str().to_owned()),
        );
        match page.next {
            Some(next) => query.after = Some(next),
            None => return ids,
        }
    }
    panic!("the listing never ended: {ids:?}");
}

async fn integration_listing(store: &impl Store) {
    for (id, v) in [("app-3", "v-1"), ("app-1", "v-1"), ("app-2", "v-2")] {
        store
            .save_integration(&integration(id, v), None)
            .await
            .unwrap();
    }
    // Two failures counted by deliveries, as dispatch counts them.
    let mut e = event("e-count", "app-3", "v-1");
    store.insert_event(&e, None).await.unwrap();
    for _ in 0..2 {
        let expected = e.version;
        e.version += 1;
        store
            .finish_delivery(&e, expected, None, FailureCount::Increment)
            .await
            .unwrap();
    }
    store
        .set_integration_enabled(&app("app-3"), false, at(9))
        .await
        .unwrap();
    assert_eq!(
        listed_ids(store, None, None).await,
        ["app-1", "app-2", "app-3"]
    );
    assert_eq!(
        listed_ids(store, Some("v-1"), None).await,
        ["app-1", "app-3"]
    );
    assert_eq!(listed_ids(store, None, Some(false)).await, ["app-3"]);
    assert_eq!(
        listed_ids(store, None, Some(true)).await,
        ["app-1", "app-2"]
    );
    assert!(listed_ids(store, Some("v-9"), None).await.is_empty());
    let page = store
        .list_integrations(&iev_domain::ports::IntegrationQuery {
            vendor: None,
            enabled: Some(false),
            after: None,
            limit: 5,
        })
        .await
        .unwrap();
    assert_eq!(
        page.items[0].disabled_at,
        Some(at(9)),
        "listed with its delivery state"
    );
    assert_eq!(page.items[0].successive_failures, 2, "and its count");
    assert!(!page.items[0].enabled);

    // A vendor's change moves the integration to its new vendor's listing.
    let moved = iev_domain::integration::Integration {
        vendor_id: vendor("v-2"),
        version: 2,
        ..integration("app-1", "v-1")
    };
    store.save_integration(&moved, Some(1)).await.unwrap();
    assert_eq!(
        listed_ids(store, Some("v-2"), None).await,
        ["app-1", "app-2"]
    );
    assert_eq!(listed_ids(store, Some("v-1"), None).await, ["app-3"]);
}

async fn integrations(store: &impl Store) {
    let first = integration("app-1", "v-1");
    assert_eq!(store.get_integration(&app("app-1")).await.unwrap(), None);
    store.save_integration(&first, None).await.unwrap();
    assert_eq!(
        store.get_integration(&app("app-1")).await.unwrap(),
        Some(first.clone())
    );
    assert!(
        matches!(
            store.save_integration(&first, None).await,
            Err(StoreError::Conflict(_))
        ),
        "creating over an existing integration is a conflict"
    );
    let second = iev_domain::integration::Integration {
        application_name: "renamed".into(),
        version: 2,
        ..first.clone()
    };
    store.save_integration(&second, Some(1)).await.unwrap();
    let stale = iev_domain::integration::Integration {
        application_name: "lost update".into(),
        version: 2,
        ..first
    };
    assert!(matches!(
        store.save_integration(&stale, Some(1)).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(
        store
            .get_integration(&app("app-1"))
            .await
            .unwrap()
            .unwrap()
            .application_name,
        "renamed"
    );
}

async fn events(store: &impl Store) {
    let e = event("e-1", "app-1", "v-1");
    assert_eq!(
        store.insert_event(&e, None).await.unwrap(),
        InsertOutcome::Inserted
    );
    assert_eq!(store.get_event("e-1").await.unwrap(), Some(e.clone()));
    // Tokens now name their event; the lookup by token serves only older ones.
    assert_eq!(store.get_event_by_token(&e.token).await.unwrap(), None);
    assert!(matches!(
        store.insert_event(&e, None).await,
        Err(StoreError::Conflict(_))
    ));
    // A worker that read the event before it was removed cannot claim it.
    let read = store.get_event("e-1").await.unwrap().unwrap();
    store.remove_event(&e, None).await.unwrap();
    assert_eq!(store.get_event("e-1").await.unwrap(), None);
    let claimed = Event {
        version: read.version + 1,
        status: EventStatus::Pending,
        lease_until: Some(at(60_000)),
        ..read.clone()
    };
    assert!(matches!(
        store.update_event(&claimed, read.version).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(store.get_event("e-1").await.unwrap(), None);

    // Versions before bodies were bounded at 32 levels accepted 125 and more;
    // such an event must read back, or it can never be fetched or delivered.
    let mut deep = json!("bottom");
    for _ in 0..126 {
        deep = json!([deep]);
    }
    let mut body = serde_json::to_value(&e.body).unwrap();
    body["creator"]["address"] = deep;
    let old = Event {
        id: "e-deep".into(),
        body: iev_domain::error::from_stored_json(&body.to_string()).unwrap(),
        ..e.clone()
    };
    store.insert_event(&old, None).await.unwrap();
    assert_eq!(store.get_event("e-deep").await.unwrap(), Some(old));
}

async fn idempotency(store: &impl Store) {
    let first = event("e-1", "app-1", "v-1");
    let idem = |e: &iev_domain::event::Event, hash: &str| IdempotencyRecord {
        scope: "key-1:order-42".into(),
        body_sha256: hash.into(),
        event_id: e.id.clone(),
        token: e.token.clone(),
    };
    assert_eq!(
        store
            .insert_event(&first, Some(&idem(&first, "h1")))
            .await
            .unwrap(),
        InsertOutcome::Inserted
    );
    let second = event("e-2", "app-1", "v-1");
    assert_eq!(
        store
            .insert_event(&second, Some(&idem(&second, "h2")))
            .await
            .unwrap(),
        InsertOutcome::Replay(idem(&first, "h1")),
        "the scope answers with what it first stored"
    );
    assert_eq!(
        store.get_event("e-2").await.unwrap(),
        None,
        "a replay stores nothing"
    );
    store
        .remove_event(&first, Some(&idem(&first, "h1")))
        .await
        .unwrap();
    assert_eq!(
        store
            .insert_event(&second, Some(&idem(&second, "h2")))
            .await
            .unwrap(),
        InsertOutcome::Inserted,
        "removing an event frees its idempotency scope"
    );
}

async fn error_records(store: &impl Store) {
    let mut r = error_record("r-1", 10, "app-1", "v-1");
    r.custom_attributes.insert("ticket".into(), "T-1".into());
    r.document_type = Some("InvoiceHeader".into());
    r.document_id = Some("INV-1001".into());
    r.document_revision = Some("2".into());
    r.document_status = Some("pending_approval".into());
    r.integration_run_id = Some("run-77".into());
    r.integration_filename = Some("invoices_2026-11-29.csv".into());
    r.status = Some("error".into());
    r.creation_method = Some("integration".into());
    r.responses = vec![iev_domain::record::ExternalResponse {
        at: at(9),
        status: "500".into(),
        body: "ERP timed out".into(),
    }];
    r.created_by = Some("key-1".into());
    store.insert_error(&r).await.unwrap();
    assert_eq!(store.get_error("r-1").await.unwrap(), Some(r.clone()));
    assert!(matches!(
        store.insert_error(&r).await,
        Err(StoreError::Conflict(_))
    ));
    let updated = ErrorRecord {
        note: Some("called the vendor".into()),
        version: 2,
        ..r.clone()
    };
    store.update_error(&updated, 1).await.unwrap();
    assert_eq!(store.get_error("r-1").await.unwrap(), Some(updated.clone()));
    assert!(matches!(
        store.update_error(&updated, 1).await,
        Err(StoreError::Conflict(_))
    ));
    let missing = error_record("r-404", 10, "app-1", "v-1");
    assert!(matches!(
        store.update_error(&missing, 1).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(store.get_error("r-404").await.unwrap(), None);
}

/// 60 records over three applications, two vendors, several codes and types,
/// with some sharing a millisecond and some resolved.
fn dataset() -> Vec<ErrorRecord> {
    let apps = [("app-a", "v-1"), ("app-b", "v-1"), ("app-c", "v-2")];
    let codes = [
        ErrorCode::AccountNotFound,
        ErrorCode::TransportError,
        ErrorCode::Unauthorized,
        ErrorCode::InvalidResponse,
    ];
    let types = [
        EventType::SubscriptionOrder,
        EventType::UserAssignment,
        EventType::SubscriptionCancel,
    ];
    (0..60)
        .map(|i| {
            let (a, v) = apps[i % 3];
            // Every third record shares its millisecond with the next one.
            let ms = (i as i64 / 2) * 1000 + if i % 3 == 0 { 0 } else { 7 };
            let mut r = error_record(&format!("r-{i:03}"), ms, a, v);
            // Real clocks give sub-millisecond times; here they run against
            // the ids' order within a shared millisecond.
            r.creation_date += chrono::Duration::microseconds((59 - i as i64) * 10);
            r.error_code = codes[i % 4];
            r.category = r.error_code.category();
            r.event_type = Some(types[i % 3]);
            r.company_id = Some(format!("company-{}", i % 5));
            r.user_email = Some(format!("user{}@example.com", i % 4));
            r.manually_resolved = i % 7 == 0;
            // Coupa's fields on two records in three: reported by other systems.
            if i % 3 != 2 {
                r.document_type = Some(["InvoiceHeader", "OrderHeader"][i % 2].into());
                r.document_id = Some(format!("doc-{}", i % 6));
                r.integration_run_id = Some(format!("run-{}", i % 4));
            }
            r
        })
        .collect()
}

/// Follows `nextCursor` to the end, checking page sizes on the way.
async fn all_pages(store: &impl Store, mut query: ErrorQuery) -> Vec<String> {
    let mut seen = Vec::new();
    for _ in 0..100 {
        let page = store.query_errors(&query).await.unwrap();
        assert!(page.items.len() <= query.limit);
        seen.extend(page.items.iter().map(|r| r.id.clone()));
        match page.next {
            Some(next) => {
                assert_eq!(Some(&next), page.items.last().map(Position::of).as_ref());
                query.after = Some(next);
            }
            None => return seen,
        }
    }
    panic!("paging did not end");
}

async fn report_queries(store: &impl Store) {
    let records = dataset();
    for r in &records {
        store.insert_error(r).await.unwrap();
    }
    let base = ErrorQuery {
        limit: 7,
        ..Default::default()
    };
    let queries = vec![
        base.clone(),
        ErrorQuery {
            resolved: ResolvedFilter::All,
            ..base.clone()
        },
        ErrorQuery {
            resolved: ResolvedFilter::Resolved,
            ..base.clone()
        },
        ErrorQuery {
            application_id: Some(app("app-b")),
            ..base.clone()
        },
        ErrorQuery {
            vendor: Some(vendor("v-1")),
            resolved: ResolvedFilter::All,
            ..base.clone()
        },
        ErrorQuery {
            error_code: Some(ErrorCode::TransportError),
            from: Some(at(5_000)),
            to: Some(at(20_007)),
            ..base.clone()
        },
        ErrorQuery {
            event_type: Some(EventType::UserAssignment),
            resolved: ResolvedFilter::All,
            ..base.clone()
        },
        ErrorQuery {
            category: Some(Category::Authentication),
            company_id: Some("company-2".into()),
            ..base.clone()
        },
        ErrorQuery {
            user_email: Some("user1@example.com".into()),
            from: Some(at(3_000)),
            ..base.clone()
        },
        ErrorQuery {
            to: Some(at(10_000)),
            resolved: ResolvedFilter::All,
            limit: 1,
            ..base.clone()
        },
        ErrorQuery {
            document_type: Some("InvoiceHeader".into()),
            ..base.clone()
        },
        ErrorQuery {
            document_id: Some("doc-3".into()),
            resolved: ResolvedFilter::All,
            limit: 2,
            ..base.clone()
        },
        ErrorQuery {
            integration_run_id: Some("run-1".into()),
            from: Some(at(4_000)),
            ..base.clone()
        },
        ErrorQuery {
            document_type: Some("OrderHeader".into()),
            vendor: Some(vendor("v-1")),
            error_code: Some(ErrorCode::TransportError),
            resolved: ResolvedFilter::All,
            ..base.clone()
        },
        ErrorQuery {
            limit: 1000,
            ..base.clone()
        },
    ];
    for q in queries {
        let mut expected: Vec<&ErrorRecord> = records.iter().filter(|r| q.matches(r)).collect();
        expected.sort_by(|a, b| Position::of(b).cmp(&Position::of(a)));
        let expected: Vec<String> = expected.iter().map(|r| r.id.clone()).collect();
        assert!(
            !expected.is_empty(),
            "each query should match something: {q:?}"
        );
        assert_eq!(all_pages(store, q.clone()).await, expected, "query {q:?}");
    }
    let foreign = ErrorQuery {
        vendor: Some(vendor("v-2")),
        application_id: Some(app("app-a")),
        resolved: ResolvedFilter::All,
        ..base
    };
    assert!(
        all_pages(store, foreign).await.is_empty(),
        "a vendor scope hides another vendor's application"
    );
}

/// Pages of 1,000 records of about 2 KB each: more than a DynamoDB Query
/// answers in one response (1 MB), as the exports read them.
async fn large_pages(store: &impl Store) {
    use futures::StreamExt;
    let records: Vec<ErrorRecord> = (0..2_500)
        .map(|i| {
            let mut r = error_record(&format!("r-{i:05}"), i * 100, "app-1", "v-1");
            r.manually_resolved = i % 5 == 0;
            r.message = format!("{i}: {}", "vendor said no. ".repeat(120));
            r
        })
        .collect();
    futures::stream::iter(&records)
        .for_each_concurrent(16, |r| async move { store.insert_error(r).await.unwrap() })
        .await;
    let queries = [
        ErrorQuery {
            resolved: ResolvedFilter::All,
            from: Some(at(0)),
            limit: 1000,
            ..Default::default()
        },
        ErrorQuery {
            limit: 1000,
            ..Default::default()
        },
    ];
    for q in queries {
        let expected: Vec<String> = records
            .iter()
            .rev()
            .filter(|r| q.matches(r))
            .map(|r| r.id.clone())
            .collect();
        let seen = all_pages(store, q.clone()).await;
        assert_eq!(seen.len(), expected.len(), "{q:?}");
        assert!(seen == expected, "{q:?}: same records, other order");
    }
}

async fn resolving_moves_records(store: &impl Store) {
    for i in 0..3 {
        store
            .insert_error(&error_record(&format!("r-{i}"), i * 10, "app-1", "v-1"))
            .await
            .unwrap();
    }
    let mut r = store.get_error("r-1").await.unwrap().unwrap();
    r.manually_resolved = true;
    r.resolved_at = Some(at(100));
    r.resolved_by = Some("manager-key".into());
    r.version = 2;
    store.update_error(&r, 1).await.unwrap();
    let ids = |q: ErrorQuery| async move { all_pages(store, q).await };
    let q = |resolved| ErrorQuery {
        resolved,
        application_id: Some(app("app-1")),
        limit: 50,
        ..Default::default()
    };
    assert_eq!(ids(q(ResolvedFilter::Unresolved)).await, ["r-2", "r-0"]);
    assert_eq!(ids(q(ResolvedFilter::Resolved)).await, ["r-1"]);
    assert_eq!(ids(q(ResolvedFilter::All)).await, ["r-2", "r-1", "r-0"]);
}

async fn summaries(store: &impl Store) {
    let records = dataset();
    for r in &records {
        store.insert_error(r).await.unwrap();
    }
    let queries = [
        ErrorQuery {
            resolved: ResolvedFilter::All,
            ..Default::default()
        },
        ErrorQuery::default(),
        ErrorQuery {
            vendor: Some(vendor("v-1")),
            resolved: ResolvedFilter::All,
            from: Some(at(4_000)),
            to: Some(at(20_007)),
            ..Default::default()
        },
        ErrorQuery {
            application_id: Some(app("app-c")),
            resolved: ResolvedFilter::Resolved,
            ..Default::default()
        },
    ];
    for q in queries {
        let expected = SummaryRow::tally(
            records
                .iter()
                .filter(|r| q.matches(r))
                .map(|r| (&r.application_id, r.error_code)),
        );
        assert!(
            !expected.is_empty(),
            "each query should match something: {q:?}"
        );
        assert_eq!(store.summarize_errors(&q).await.unwrap(), expected, "{q:?}");
    }
}

fn event_dataset() -> Vec<Event> {
    let apps = [("app-a", "v-1"), ("app-b", "v-1"), ("app-c", "v-2")];
    let statuses = [
        EventStatus::Pending,
        EventStatus::Complete,
        EventStatus::Failed,
    ];
    (0..40)
        .map(|i| {
            let (a, v) = apps[i % 3];
            // app-c moved from v-1 to v-2: its first events stay v-1's.
            let v = if a == "app-c" && i < 12 { "v-1" } else { v };
            let mut e = event(&format!("e-{i:03}"), a, v);
            // Pairs of events share a millisecond, so ties are broken by id.
            // Within one, the sub-millisecond times run against the ids' order.
            e.created_at =
                at((i as i64 / 2) * 1000) + chrono::Duration::microseconds((39 - i as i64) * 10);
            e.updated_at = e.created_at;
            // Pending ones are as the service accepts them; others are not.
            e.status = statuses[i % 4 % 3];
            if i % 5 == 0 {
                e.body.kind = EventType::UserAssignment;
            }
            e
        })
        .collect()
}

async fn event_log(store: &impl Store) {
    let mut events = event_dataset();
    for e in &events {
        store.insert_event(e, None).await.unwrap();
    }
    // Some change after they are stored, one of them twice: the log lists
    // each as it is now.
    for e in events
        .iter_mut()
        .filter(|e| e.id.ends_with('3') || e.id.ends_with('6'))
    {
        for _ in 0..if e.id.ends_with('6') { 2 } else { 1 } {
            let expected = e.version;
            e.version += 1;
            e.status = EventStatus::Complete;
            e.round += 1;
            e.updated_at += chrono::Duration::seconds(5);
            store.update_event(e, expected).await.unwrap();
        }
    }
    let base = EventQuery {
        limit: 6,
        ..Default::default()
    };
    let queries = [
        base.clone(),
        EventQuery {
            application_id: Some(app("app-b")),
            ..base.clone()
        },
        EventQuery {
            vendor: Some(vendor("v-1")),
            ..base.clone()
        },
        EventQuery {
            vendor: Some(vendor("v-2")),
            limit: 4,
            ..base.clone()
        },
        EventQuery {
            vendor: Some(vendor("v-1")),
            status: Some(EventStatus::Failed),
            ..base.clone()
        },
        EventQuery {
            event_type: Some(EventType::UserAssignment),
            from: Some(at(3_000)),
            to: Some(at(15_000)),
            ..base.clone()
        },
        EventQuery {
            vendor: Some(vendor("v-2")),
            application_id: Some(app("app-c")),
            limit: 1,
            ..base.clone()
        },
    ];
    for q in queries {
        let mut expected: Vec<EventSummary> = events
            .iter()
            .map(EventSummary::from)
            .filter(|e| q.matches(e))
            .collect();
        expected.sort_by_key(|e| std::cmp::Reverse(Position::at(e.created_at, &e.id)));
        assert!(
            !expected.is_empty(),
            "each query should match something: {q:?}"
        );
        let mut query = q.clone();
        let mut seen = Vec::new();
        loop {
            let page = store.query_events(&query).await.unwrap();
            assert!(page.items.len() <= query.limit);
            seen.extend(page.items);
            match page.next {
                Some(next) => query.after = Some(next),
                None => break,
            }
        }
        assert_eq!(seen, expected, "{q:?}");
    }
    let foreign = EventQuery {
        vendor: Some(vendor("v-2")),
        application_id: Some(app("app-a")),
        ..base
    };
    assert!(store.query_events(&foreign).await.unwrap().items.is_empty());
}
