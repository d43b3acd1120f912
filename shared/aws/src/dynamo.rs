//! One DynamoDB table holds everything. Keys:
//!
//! | item           | PK                 | SK            |
//! |----------------|--------------------|---------------|
//! | API key        | `KEY#<hash>`       | `KEY`         |
//! | integration    | `APP#<appId>`      | `INTEGRATION` | (delivery state in `enabled`, `successiveFailures`, `disabledAt`)
//! | event          | `EVENT#<id>`       | `EVENT`       | (as accepted, written once)
//! | event state    | `EVENT#<id>`       | `STATE`       | (from its first claim on)
//! | token lookup   | `TOKEN#<token>`    | `TOKEN`       | (only events from before tokens held their event id)
//! | idempotency    | `IDEM#<scope>`     | `IDEM`        |
//! | failure record | `ERR#<id>`         | `ERR`         |
//! | alert          | `ALERT#<id>`       | `ALERT`       |
//!
//! An event's body never changes, so it is written once: the `EVENT` item
//! holds the event as accepted; each claim and settlement writes only the
//! small `STATE` item beside it (status, attempts, lease, version), which
//! carries no index key, so a status change costs one write unit and no index
//! write. `get_event` reads both in one Query.
//!
//! Write sharding. DynamoDB takes about 1,000 write units a second per
//! partition key, and a throttled index throttles the table. Every busy index
//! partition is therefore split into [`SHARDS`] keys, `<partition>#<nn>`, the
//! shard being a hash of the item's id; a listing queries all of a
//! partition's shards side by side (one round trip) and merges them newest
//! first. Sort keys are `<creation ms, 13 digits>#<id>` everywhere.
//!
//! Failure records carry one partition per report index; each holds one
//! resolved state. The indexes project the record (`data`), which is what the
//! report shows:
//!
//! | index       | partition (then `#<shard>`)     | serves                         |
//! |-------------|---------------------------------|--------------------------------|
//! | `byState`   | `OPEN` / `RESOLVED`             | the manager's default view     |
//! | `byApp`     | `<appId>#<state>`               | one application                |
//! | `byVendor`  | `<vendorId>#<state>`            | a vendor's own records         |
//! | `byCode`    | `<errorCode>#<state>`           | one error code in a date range |
//! | `byType`    | `<eventType>#<state>`           | one event type in a date range |
//! | `byDocType` | `<documentType>#<state>`        | one kind of document (Coupa)   |
//! | `byDocument`| `<documentId>#<state>`          | one document's failures (Coupa)|
//! | `byRun`     | `<integrationRunId>#<state>`    | one integration run's failures |
//!
//! A record without an event type or one of Coupa's fields has no key in that
//! index. Events have three indexes of their own, keyed on the `EVENT` item
//! (never rewritten) and projecting only a `summary` of it as accepted:
//! `eventsAll` (`ALL#<shard>`), `eventsByApp` (`<appId>#<shard>`) and
//! `eventsByVendor` (`<vendorId>#<shard>`); a listing reads the entries, then
//! the page's `STATE` items in one BatchGetItem for what changed since.
//!
//! Keys are listed from `byState`'s partition `KEYS` (sort key: the key's id);
//! integrations from `byState`'s `INTEGRATIONS` and `byVendor`'s
//! `INTEGRATIONS#<vendorId>` (sort key: the application id). Few items,
//! rarely written: never sharded.
//!
//! This layout replaced one in which every listing partition was a single key
//! and every index projected whole items (at most a few hundred events a
//! second). It is a new table, not a migration: see the README's "Upgrading
//! the DynamoDB layout".

use crate::sdk_error;
use async_trait::async_trait;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, CancellationReason, Delete,
    GlobalSecondaryIndex, KeySchemaElement, KeyType, KeysAndAttributes, Projection, ProjectionType,
    Put, ScalarAttributeType, TimeToLiveSpecification, TransactWriteItem, Update,
};
use aws_sdk_dynamodb::Client;
use futures::{StreamExt, TryStreamExt};
use iev_domain::auth::{ApiKeyRecord, KeyHash, VendorId};
use iev_domain::event::{
    token_event_id, Attempt, Event, EventPage, EventQuery, EventStatus, EventSummary, EventType,
};
use iev_domain::integration::{ApplicationId, Integration};
use iev_domain::ports::{
    AlertStore, ErrorStore, EventStore, FailureCount, IdempotencyRecord, InsertOutcome,
    IntegrationPage, IntegrationQuery, IntegrationStore, KeyStore,
};
use iev_domain::record::{
    Alert, ErrorPage, ErrorQuery, ErrorRecord, Position, ResolvedFilter, SummaryRow,
};
use iev_domain::StoreError;
use std::collections::{HashMap, VecDeque};

type Item = HashMap<String, AttributeValue>;

/// An index: its name, partition key attribute and sort key attribute.
pub type IndexKeys = (&'static str, &'static str, &'static str);

/// The report indexes, which also list keys and integrations. They share one
/// sort key attribute, so that a record carries one sort key, not eight.
pub const RECORD_INDEXES: [IndexKeys; 8] = [
    ("byState", "G1PK", "GSK"),
    ("byApp", "G2PK", "GSK"),
    ("byVendor", "G3PK", "GSK"),
    ("byCode", "G4PK", "GSK"),
    ("byType", "G5PK", "GSK"),
    ("byDocType", "G6PK", "GSK"),
    ("byDocument", "G7PK", "GSK"),
    ("byRun", "G8PK", "GSK"),
];

/// What the report indexes project: a record, a key or an integration as
/// its listing reads it; an integration's failure count excepted, which
/// moves with deliveries and is read from the integration's item.
pub const RECORD_PROJECTION: [&str; 5] =
    ["data", "lastUsedAt", "revokedAt", "enabled", "disabledAt"];

/// The events log's indexes, keyed on the `EVENT` item only.
pub const EVENT_INDEXES: [IndexKeys; 3] = [
    ("eventsAll", "E1PK", "ESK"),
    ("eventsByApp", "E2PK", "ESK"),
    ("eventsByVendor", "E3PK", "ESK"),
];

/// What the events indexes project: the listing's columns as accepted.
pub const EVENT_PROJECTION: [&str; 1] = ["summary"];

/// Every index the table has, with what it projects; `create_table` and the
/// template declare these (a test holds them equal).
pub fn indexes() -> impl Iterator<Item = (IndexKeys, &'static [&'static str])> {
    RECORD_INDEXES
        .into_iter()
        .map(|i| (i, &RECORD_PROJECTION[..]))
        .chain(
            EVENT_INDEXES
                .into_iter()
                .map(|i| (i, &EVENT_PROJECTION[..])),
        )
}

/// How many keys each busy index partition is split into. Half a key's
/// write limit (500 units a second) at a 30,000 events/s burst, half of it
/// from one application: see `keycheck` and docs/SCALE.md. Raising it later
/// is safe for reads only if readers query the new count first (an empty
/// shard costs one small Query).
pub const SHARDS: u32 = 128;

const TTL_ATTRIBUTE: &str = "expiresAt";

#[derive(Clone)]
pub struct DynamoStore {
    client: Client,
    table: String,
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn key(pk: String, sk: &str) -> Item {
    HashMap::from([("PK".to_owned(), s(pk)), ("SK".to_owned(), s(sk))])
}

fn internal(e: impl std::fmt::Display) -> StoreError {
    StoreError::Internal(e.to_string())
}

fn data_item<T: serde::Serialize>(pk: String, sk: &str, value: &T) -> Result<Item, StoreError> {
    let mut item = key(pk, sk);
    item.insert(
        "data".into(),
        s(serde_json::to_string(value).map_err(internal)?),
    );
    Ok(item)
}

fn from_item<T: serde::de::DeserializeOwned>(item: &Item) -> Result<T, StoreError> {
    from_attribute(item, "data")
}

fn from_attribute<T: serde::de::DeserializeOwned>(
    item: &Item,
    name: &str,
) -> Result<T, StoreError> {
    let data = item
        .get(name)
        .and_then(|v| v.as_s().ok())
        .ok_or_else(|| StoreError::Internal(format!("item has no {name} attribute")))?;
    iev_domain::error::from_stored_json(data)
        .map_err(|e| StoreError::Internal(format!("corrupt item: {e}")))
}

fn text<'a>(item: &'a Item, name: &str) -> Option<&'a str> {
    item.get(name)
        .and_then(|v| v.as_s().ok())
        .map(String::as_str)
}

fn state(resolved: bool) -> &'static str {
    if resolved {
        "RESOLVED"
    } else {
        "OPEN"
    }
}

fn states(filter: ResolvedFilter) -> &'static [bool] {
    match filter {
        ResolvedFilter::Unresolved => &[false],
        ResolvedFilter::Resolved => &[true],
        ResolvedFilter::All => &[false, true],
    }
}

fn sort_key(ms: i64, id: &str) -> String {
    format!("{ms:013}#{id}")
}

/// The shard an item's id falls in: FNV-1a, stable across builds and
/// machines (std's hasher is neither promised to be).
pub fn shard(id: &str) -> u32 {
    let hash = id.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    (hash % u64::from(SHARDS)) as u32
}

fn sharded(partition: &str, id: &str) -> String {
    format!("{partition}#{:03}", shard(id))
}

fn every_shard(partition: &str) -> impl Iterator<Item = String> + '_ {
    (0..SHARDS).map(move |n| format!("{partition}#{n:03}"))
}
fn is_condition_failure<E: aws_sdk_dynamodb::error::ProvideErrorMetadata>(e: &E) -> bool {
    e.code() == Some("ConditionalCheckFailedException")
}

impl DynamoStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        DynamoStore {
            client,
            table: table.into(),
        }
    }

    /// The item at `pk`/`sk`, read consistently.
    async fn get_raw(&self, pk: String, sk: &str) -> Result<Option<Item>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(pk, sk)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| sdk_error("GetItem", e))?;
        Ok(out.item)
    }

    async fn get_item<T: serde::de::DeserializeOwned>(
        &self,
        pk: String,
        sk: &str,
    ) -> Result<Option<T>, StoreError> {
        self.get_raw(pk, sk)
            .await?
            .as_ref()
            .map(from_item)
            .transpose()
    }

    /// Puts `item` only if no item has its key; `Conflict` otherwise.
    async fn put_new(&self, item: Item, what: &str) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(PK)")
            .send()
            .await
            .map_err(|e| match e.as_service_error() {
                Some(se) if is_condition_failure(se) => {
                    StoreError::Conflict(format!("{what} exists"))
                }
                _ => sdk_error("PutItem", e),
            })?;
        Ok(())
    }

    /// Puts `item` only if the stored one is at `expected` version.
    async fn put_versioned(&self, item: Item, expected: u64, what: &str) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("version = :expected")
            .expression_attribute_values(":expected", n(expected))
            .send()
            .await
            .map_err(|e| match e.as_service_error() {
                Some(se) if is_condition_failure(se) => StoreError::Conflict(format!(
                    "{what} is missing or not at the expected version"
                )),
                _ => sdk_error("PutItem", e),
            })?;
        Ok(())
    }
}

/// A failure record's item, with its key in each report index it belongs to.
/// Filters the chosen index does not cover are applied to the decoded record
/// (a FilterExpression would cost the same read units).
fn error_item(r: &ErrorRecord) -> Result<Item, StoreError> {
    let mut item = data_item(format!("ERR#{}", r.id), "ERR", r)?;
    for (index, partition) in record_partitions(r) {
        item.insert(index.1.to_owned(), s(sharded(&partition, &r.id)));
    }
    item.insert(
        RECORD_INDEXES[0].2.to_owned(),
        s(sort_key(r.creation_date.timestamp_millis(), &r.id)),
    );
    item.insert("version".into(), n(r.version));
    item.insert(TTL_ATTRIBUTE.into(), n(r.expires_at.timestamp()));
    Ok(item)
}

/// Each report index a record is listed in, and its partition there (before
/// the shard).
fn record_partitions(r: &ErrorRecord) -> Vec<(IndexKeys, String)> {
    let st = state(r.manually_resolved);
    let within = |value: &str| format!("{value}#{st}");
    let partitions = [
        Some(st.to_owned()),
        Some(within(r.application_id.as_str())),
        Some(within(r.vendor_id.as_str())),
        Some(within(r.error_code.as_str())),
        r.event_type.map(|t| within(t.as_str())),
        r.document_type.as_deref().map(within),
        r.document_id.as_deref().map(within),
        r.integration_run_id.as_deref().map(within),
    ];
    RECORD_INDEXES
        .into_iter()
        .zip(partitions)
        .filter_map(|(index, p)| p.map(|p| (index, p)))
        .collect()
}

/// A Query's lower (inclusive) and upper (exclusive) sort-key bounds.
#[derive(Clone, Default)]
struct Bounds {
    lower: Option<String>,
    upper: Option<String>,
}

/// The sort-key bounds of a window and a cursor. The smaller exclusive upper
/// bound wins; with a lower bound it becomes BETWEEN's inclusive end, and the
/// one record equal to it is dropped by the query's `matches`.
fn bounds(
    from: Option<chrono::DateTime<chrono::Utc>>,
    to: Option<chrono::DateTime<chrono::Utc>>,
    after: Option<&Position>,
) -> Bounds {
    let to = to.map(|t| format!("{:013}", t.timestamp_millis()));
    let after = after.map(|p| sort_key(p.created_ms, &p.id));
    let upper = match (to, after) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    Bounds {
        lower: from.map(|f| format!("{:013}", f.timestamp_millis())),
        upper,
    }
}

/// The report index a query reads, and the partition (before state and
/// shard) within it: the narrowest its filters name; a document or a run (a
/// few records), then an application, a document type, an error code, an
/// event type, a vendor; else every record of a state.
fn record_plan(q: &ErrorQuery) -> (IndexKeys, String) {
    let (slot, prefix) = if let Some(d) = &q.document_id {
        (6, format!("{d}#"))
    } else if let Some(r) = &q.integration_run_id {
        (7, format!("{r}#"))
    } else if let Some(a) = &q.application_id {
        (1, format!("{a}#"))
    } else if let Some(d) = &q.document_type {
        (5, format!("{d}#"))
    } else if let Some(c) = q.error_code {
        (3, format!("{c}#"))
    } else if let Some(t) = q.event_type {
        (4, format!("{t}#"))
    } else if let Some(v) = &q.vendor {
        (2, format!("{}#", v.as_str()))
    } else {
        (0, String::new())
    };
    (RECORD_INDEXES[slot], prefix)
}

/// The events index a query reads and its partition (before the shard).
fn event_plan(q: &EventQuery) -> (IndexKeys, String) {
    if let Some(a) = &q.application_id {
        (EVENT_INDEXES[1], a.to_string())
    } else if let Some(v) = &q.vendor {
        (EVENT_INDEXES[2], v.as_str().to_owned())
    } else {
        (EVENT_INDEXES[0], "ALL".to_owned())
    }
}

/// One shard being read newest first: what it returned and not yet merged,
/// and where its next page starts.
struct Shard {
    index: IndexKeys,
    partition: String,
    buffer: VecDeque<Item>,
    start: Option<Item>,
    done: bool,
    limit: usize,
}

/// A scatter-gather read: the shards of an index partition, each queried
/// newest first, merged into one newest-first stream. All shards are read
/// side by side, so a page costs one round trip; a shard runs dry before
/// the page is full only when its items are unusually dense near the top,
/// and only that shard is read again.
struct Merge<'a> {
    store: &'a DynamoStore,
    shards: Vec<Shard>,
    bounds: Bounds,
}

impl<'a> Merge<'a> {
    /// `want` is how many items the caller expects to take: each shard's
    /// first read is sized for an even share of it, with room to spare.
    fn new(
        store: &'a DynamoStore,
        partitions: impl IntoIterator<Item = (IndexKeys, String)>,
        bounds: Bounds,
        want: usize,
    ) -> Self {
        let partitions: Vec<(IndexKeys, String)> = partitions
            .into_iter()
            .flat_map(|(index, partition)| {
                every_shard(&partition)
                    .map(|partition| (index, partition))
                    .collect::<Vec<_>>()
            })
            .collect();
        let share = want.div_ceil(partitions.len().max(1));
        let limit = share.saturating_mul(2).saturating_add(4).min(1000);
        let shards = partitions
            .into_iter()
            .map(|(index, partition)| Shard {
                index,
                partition,
                buffer: VecDeque::new(),
                start: None,
                done: false,
                limit,
            })
            .collect();
        Merge {
            store,
            shards,
            bounds,
        }
    }

    /// Reads the next page of every shard that has nothing left to merge.
    async fn fill(&mut self) -> Result<(), StoreError> {
        let pending: Vec<usize> = (0..self.shards.len())
            .filter(|&i| self.shards[i].buffer.is_empty() && !self.shards[i].done)
            .collect();
        let reads = pending.iter().map(|&i| {
            let shard = &self.shards[i];
            self.store.query_page(
                shard.index,
                &shard.partition,
                &self.bounds,
                shard.start.clone(),
                shard.limit,
            )
        });
        let pages = futures::future::try_join_all(reads).await?;
        for (i, (items, next)) in pending.into_iter().zip(pages) {
            let shard = &mut self.shards[i];
            shard.buffer.extend(items);
            shard.done = next.is_none();
            shard.start = next;
            // A shard read again is a dense one: read further at once.
            shard.limit = (shard.limit * 4).min(1000);
        }
        Ok(())
    }

    /// Up to `n` more items, newest first; fewer only when every shard has ended.
    async fn next(&mut self, n: usize) -> Result<Vec<Item>, StoreError> {
        let mut out = Vec::new();
        while out.len() < n {
            if self.shards.iter().any(|s| s.buffer.is_empty() && !s.done) {
                self.fill().await?;
                continue;
            }
            // The shard whose next item is the newest (sort keys are unique).
            let newest = self
                .shards
                .iter()
                .enumerate()
                .filter_map(|(i, s)| {
                    let front = s.buffer.front()?;
                    Some((text(front, s.index.2)?, i))
                })
                .max()
                .map(|(_, i)| i);
            match newest.and_then(|i| self.shards[i].buffer.pop_front()) {
                Some(item) => out.push(item),
                None => break,
            }
        }
        Ok(out)
    }
}

impl DynamoStore {
    /// One page of an index partition, newest first, within `bounds`; and
    /// where the next page starts, if there is one.
    async fn query_page(
        &self,
        (index, pk_attr, sk_attr): IndexKeys,
        partition: &str,
        bounds: &Bounds,
        start: Option<Item>,
        limit: usize,
    ) -> Result<(Vec<Item>, Option<Item>), StoreError> {
        let mut req = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(index)
            .scan_index_forward(false)
            .expression_attribute_names("#pk", pk_attr)
            .expression_attribute_values(":pk", s(partition))
            .set_exclusive_start_key(start)
            .limit(limit.clamp(1, 1000) as i32);
        let mut condition = "#pk = :pk".to_owned();
        if bounds.lower.is_some() || bounds.upper.is_some() {
            req = req.expression_attribute_names("#sk", sk_attr);
        }
        match (&bounds.lower, &bounds.upper) {
            (Some(lo), Some(hi)) => {
                condition.push_str(" AND #sk BETWEEN :lo AND :hi");
                req = req
                    .expression_attribute_values(":lo", s(lo.clone()))
                    .expression_attribute_values(":hi", s(hi.clone()));
            }
            (Some(lo), None) => {
                condition.push_str(" AND #sk >= :lo");
                req = req.expression_attribute_values(":lo", s(lo.clone()));
            }
            (None, Some(hi)) => {
                condition.push_str(" AND #sk < :hi");
                req = req.expression_attribute_values(":hi", s(hi.clone()));
            }
            (None, None) => {}
        }
        let out = req
            .key_condition_expression(condition)
            .send()
            .await
            .map_err(|e| sdk_error("Query", e))?;
        Ok((out.items.unwrap_or_default(), out.last_evaluated_key))
    }
}
const KEYS_PARTITION: &str = "KEYS";
const INTEGRATIONS_PARTITION: &str = "INTEGRATIONS";

fn vendor_integrations_partition(vendor: &VendorId) -> String {
    format!("INTEGRATIONS#{}", vendor.as_str())
}

/// A key with the use and revocation noted beside its record.
fn key_from_item(item: &Item) -> Result<ApiKeyRecord, StoreError> {
    let mut record: ApiKeyRecord = from_item(item)?;
    let time = |name: &str| {
        item.get(name)
            .and_then(|v| v.as_s().ok())
            .and_then(|s| s.parse().ok())
    };
    record.last_used_at = time("lastUsedAt").or(record.last_used_at);
    record.revoked_at = time("revokedAt").or(record.revoked_at);
    Ok(record)
}

/// An integration with its delivery state, which lives in attributes of its
/// own so that dispatch updates it atomically.
fn integration_from_item(item: &Item) -> Result<Integration, StoreError> {
    let mut integration: Integration = from_item(item)?;
    integration.enabled = item
        .get("enabled")
        .and_then(|v| v.as_bool().ok())
        .copied()
        .unwrap_or(true);
    integration.successive_failures = item
        .get("successiveFailures")
        .and_then(|v| v.as_n().ok())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    integration.disabled_at = item
        .get("disabledAt")
        .and_then(|v| v.as_s().ok())
        .and_then(|s| s.parse().ok());
    Ok(integration)
}

impl DynamoStore {
    /// Items of one index partition in sort-key order, after `after`, until
    /// `want` pass `keep` or the partition ends; and whether it ended.
    async fn read_ascending(
        &self,
        (index, pk_attr, sk_attr): (&str, &str, &str),
        partition: String,
        after: Option<String>,
        want: usize,
        keep: impl Fn(&Item) -> bool,
    ) -> Result<(Vec<Item>, bool), StoreError> {
        let mut found = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let mut req = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(index)
                .expression_attribute_names("#pk", pk_attr)
                .expression_attribute_values(":pk", s(partition.clone()))
                .set_exclusive_start_key(start.take())
                .limit(want.clamp(1, 1000) as i32);
            req = match &after {
                Some(after) => req
                    .key_condition_expression("#pk = :pk AND #sk > :after")
                    .expression_attribute_names("#sk", sk_attr)
                    .expression_attribute_values(":after", s(after.clone())),
                None => req.key_condition_expression("#pk = :pk"),
            };
            let out = req.send().await.map_err(|e| sdk_error("Query", e))?;
            for item in out.items() {
                if keep(item) {
                    found.push(item.clone());
                    if found.len() == want {
                        return Ok((found, false));
                    }
                }
            }
            match out.last_evaluated_key() {
                Some(k) => start = Some(k.clone()),
                None => return Ok((found, true)),
            }
        }
    }
}

#[async_trait]
impl KeyStore for DynamoStore {
    async fn insert_key(&self, record: &ApiKeyRecord) -> Result<(), StoreError> {
        let mut item = data_item(format!("KEY#{}", record.hash.0), "KEY", record)?;
        let (_, pk_attr, sk_attr) = RECORD_INDEXES[0];
        item.insert(pk_attr.into(), s(KEYS_PARTITION));
        item.insert(sk_attr.into(), s(record.key_id.clone()));
        self.put_new(item, "api key").await
    }

    async fn get_key(&self, hash: &KeyHash) -> Result<Option<ApiKeyRecord>, StoreError> {
        self.get_raw(format!("KEY#{}", hash.0), "KEY")
            .await?
            .as_ref()
            .map(key_from_item)
            .transpose()
    }

    async fn list_keys(&self) -> Result<Vec<ApiKeyRecord>, StoreError> {
        let (items, _) = self
            .read_ascending(
                RECORD_INDEXES[0],
                KEYS_PARTITION.into(),
                None,
                usize::MAX,
                |item| {
                    item.get("SK")
                        .and_then(|v| v.as_s().ok())
                        .map(String::as_str)
                        == Some("KEY")
                },
            )
            .await?;
        let keys: Vec<ApiKeyRecord> = items.iter().map(key_from_item).collect::<Result<_, _>>()?;
        Ok(keys
            .into_iter()
            .filter(|k| k.revoked_at.is_none())
            .collect())
    }

    async fn revoke_key(
        &self,
        key_id: &str,
        at: chrono::DateTime<chrono::Utc>,
    ) -> Result<Option<ApiKeyRecord>, StoreError> {
        let (_, pk_attr, sk_attr) = RECORD_INDEXES[0];
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(RECORD_INDEXES[0].0)
            .key_condition_expression("#pk = :pk AND #sk = :id")
            .expression_attribute_names("#pk", pk_attr)
            .expression_attribute_names("#sk", sk_attr)
            .expression_attribute_values(":pk", s(KEYS_PARTITION))
            .expression_attribute_values(":id", s(key_id))
            .send()
            .await
            .map_err(|e| sdk_error("Query", e))?;
        for item in out.items() {
            let mut record = key_from_item(item)?;
            if record.revoked_at.is_some() {
                continue;
            }
            // Out of the listing partition at once; the record stays, marked,
            // so that a configured key is not made again at the next start.
            let done = self
                .client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(key(format!("KEY#{}", record.hash.0), "KEY")))
                .update_expression("SET revokedAt = :at REMOVE #pk, #sk")
                .condition_expression("attribute_exists(PK) AND attribute_not_exists(revokedAt)")
                .expression_attribute_names("#pk", pk_attr)
                .expression_attribute_names("#sk", sk_attr)
                .expression_attribute_values(":at", s(at.to_rfc3339()))
                .send()
                .await;
            match done {
                Ok(_) => {
                    record.revoked_at = Some(at);
                    return Ok(Some(record));
                }
                Err(e) => match e.as_service_error() {
                    Some(se) if is_condition_failure(se) => continue,
                    _ => return Err(sdk_error("UpdateItem", e)),
                },
            }
        }
        Ok(None)
    }

    async fn touch_key(
        &self,
        hash: &KeyHash,
        at: chrono::DateTime<chrono::Utc>,
    ) -> Result<(), StoreError> {
        let done = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(format!("KEY#{}", hash.0), "KEY")))
            .update_expression("SET lastUsedAt = :at")
            .condition_expression("attribute_exists(PK)")
            .expression_attribute_values(":at", s(at.to_rfc3339()))
            .send()
            .await;
        match done {
            Ok(_) => Ok(()),
            Err(e) => match e.as_service_error() {
                Some(se) if is_condition_failure(se) => Ok(()),
                _ => Err(sdk_error("UpdateItem", e)),
            },
        }
    }
}

#[async_trait]
impl IntegrationStore for DynamoStore {
    async fn get_integration(&self, id: &ApplicationId) -> Result<Option<Integration>, StoreError> {
        self.get_raw(format!("APP#{id}"), "INTEGRATION")
            .await?
            .as_ref()
            .map(integration_from_item)
            .transpose()
    }

    async fn list_integrations(
        &self,
        query: &IntegrationQuery,
    ) -> Result<IntegrationPage, StoreError> {
        let (index, partition) = match &query.vendor {
            Some(v) => (RECORD_INDEXES[2], vendor_integrations_partition(v)),
            None => (RECORD_INDEXES[0], INTEGRATIONS_PARTITION.to_owned()),
        };
        let enabled = query.enabled;
        let (items, ended) = self
            .read_ascending(
                index,
                partition,
                query.after.as_ref().map(|a| a.as_str().to_owned()),
                query.limit,
                |item| {
                    // Only integrations: another item's key could spell the
                    // same partition (a vendor named like a state).
                    let is_integration = item
                        .get("SK")
                        .and_then(|v| v.as_s().ok())
                        .map(String::as_str)
                        == Some("INTEGRATION");
                    is_integration
                        && enabled.is_none_or(|want| {
                            item.get("enabled").and_then(|v| v.as_bool().ok()).copied()
                                == Some(want)
                        })
                },
            )
            .await?;
        let mut items: Vec<Integration> = items
            .iter()
            .map(integration_from_item)
            .collect::<Result<_, _>>()?;
        // The failure count is not projected (every counted failure would
        // rewrite the listing's one unsharded partition): the page's items
        // give it, in one BatchGetItem.
        let keys = items
            .iter()
            .map(|i| key(format!("APP#{}", i.application_id), "INTEGRATION"))
            .collect::<Vec<_>>();
        let mut counts = HashMap::new();
        for item in self.batch_get(keys).await? {
            if let Some(pk) = text(&item, "PK") {
                counts.insert(
                    pk.to_owned(),
                    integration_from_item(&item)?.successive_failures,
                );
            }
        }
        for i in &mut items {
            if let Some(count) = counts.get(&format!("APP#{}", i.application_id)) {
                i.successive_failures = *count;
            }
        }
        let next = if ended {
            None
        } else {
            items.last().map(|i| i.application_id.clone())
        };
        Ok(IntegrationPage { items, next })
    }

    async fn save_integration(
        &self,
        integration: &Integration,
        expected: Option<u64>,
    ) -> Result<(), StoreError> {
        let pk = format!("APP#{}", integration.application_id);
        let Some(expected) = expected else {
            return self
                .put_new(integration_item(integration)?, "integration")
                .await;
        };
        let data = serde_json::to_string(integration).map_err(internal)?;
        let mut req = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(pk, "INTEGRATION")))
            .update_expression(
                "SET #data = :data, #version = :version, #l1 = :l1, #l3 = :l3, #sk = :sk",
            )
            .condition_expression("#version = :expected")
            .expression_attribute_names("#data", "data")
            .expression_attribute_names("#version", "version");
        // An integration saved before it was listed gets its listing keys
        // now; one whose vendor changed moves to its new vendor's partition.
        for ((attr, value), slot) in listing_keys(integration)
            .into_iter()
            .zip(["l1", "l3", "sk"])
        {
            req = req
                .expression_attribute_names(format!("#{slot}"), attr)
                .expression_attribute_values(format!(":{slot}"), value);
        }
        req.expression_attribute_values(":data", s(data))
            .expression_attribute_values(":version", n(integration.version))
            .expression_attribute_values(":expected", n(expected))
            .send()
            .await
            .map_err(|e| match e.as_service_error() {
                Some(se) if is_condition_failure(se) => StoreError::Conflict(
                    "integration is missing or not at the expected version".into(),
                ),
                _ => sdk_error("UpdateItem", e),
            })?;
        Ok(())
    }

    async fn set_integration_enabled(
        &self,
        id: &ApplicationId,
        enabled: bool,
        at: chrono::DateTime<chrono::Utc>,
    ) -> Result<bool, StoreError> {
        let req = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(format!("APP#{id}"), "INTEGRATION")))
            .condition_expression("attribute_exists(PK) AND enabled = :from")
            .expression_attribute_values(":from", AttributeValue::Bool(!enabled))
            .expression_attribute_values(":to", AttributeValue::Bool(enabled));
        let req = if enabled {
            req.update_expression("SET enabled = :to, successiveFailures = :zero REMOVE disabledAt")
                .expression_attribute_values(":zero", n(0))
        } else {
            req.update_expression("SET enabled = :to, disabledAt = :at")
                .expression_attribute_values(":at", s(at.to_rfc3339()))
        };
        match req.send().await {
            Ok(_) => Ok(true),
            Err(e) => match e.as_service_error() {
                Some(se) if is_condition_failure(se) => Ok(false),
                _ => Err(sdk_error("UpdateItem", e)),
            },
        }
    }
}

/// An integration's item: its settings, its delivery state in attributes of
/// their own (updated atomically by dispatch), and its listing keys.
fn integration_item(integration: &Integration) -> Result<Item, StoreError> {
    let pk = format!("APP#{}", integration.application_id);
    let mut item = data_item(pk, "INTEGRATION", integration)?;
    item.insert("version".into(), n(integration.version));
    item.insert("enabled".into(), AttributeValue::Bool(integration.enabled));
    item.insert(
        "successiveFailures".into(),
        n(integration.successive_failures),
    );
    if let Some(at) = integration.disabled_at {
        item.insert("disabledAt".into(), s(at.to_rfc3339()));
    }
    for (attr, value) in listing_keys(integration) {
        item.insert(attr.into(), value);
    }
    Ok(item)
}

/// Where an integration is listed: among all, and among its vendor's.
/// (The two indexes share their sort key attribute.)
fn listing_keys(integration: &Integration) -> [(&'static str, AttributeValue); 3] {
    let id = integration.application_id.as_str();
    let ((_, p1, sk), (_, p3, _)) = (RECORD_INDEXES[0], RECORD_INDEXES[2]);
    [
        (p1, s(INTEGRATIONS_PARTITION)),
        (p3, s(vendor_integrations_partition(&integration.vendor_id))),
        (sk, s(id)),
    ]
}

fn put(table: &str, item: Item) -> Result<TransactWriteItem, StoreError> {
    Ok(TransactWriteItem::builder()
        .put(
            Put::builder()
                .table_name(table)
                .set_item(Some(item))
                .condition_expression("attribute_not_exists(PK)")
                .build()
                .map_err(internal)?,
        )
        .build())
}

fn delete(table: &str, k: Item) -> Result<TransactWriteItem, StoreError> {
    Ok(TransactWriteItem::builder()
        .delete(
            Delete::builder()
                .table_name(table)
                .set_key(Some(k))
                .build()
                .map_err(internal)?,
        )
        .build())
}

/// What changes of an event after it is accepted: the `STATE` item.
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct EventState {
    status: EventStatus,
    attempts: Vec<Attempt>,
    updated_at: chrono::DateTime<chrono::Utc>,
    round: u32,
    transient_failures: u32,
    lease_until: Option<chrono::DateTime<chrono::Utc>>,
    version: u64,
}

impl EventState {
    fn of(e: &Event) -> Self {
        EventState {
            status: e.status,
            attempts: e.attempts.clone(),
            updated_at: e.updated_at,
            round: e.round,
            transient_failures: e.transient_failures,
            lease_until: e.lease_until,
            version: e.version,
        }
    }

    fn apply(self, e: &mut Event) {
        e.status = self.status;
        e.attempts = self.attempts;
        e.updated_at = self.updated_at;
        e.round = self.round;
        e.transient_failures = self.transient_failures;
        e.lease_until = self.lease_until;
        e.version = self.version;
    }

    fn summarize(&self, s: &mut EventSummary) {
        s.status = self.status;
        s.round = self.round;
        s.attempts = self.attempts.len();
        s.updated_at = self.updated_at;
    }
}

/// An event's entry in the events indexes: what its listing shows that the
/// entry's keys (its id, its creation time) do not. Short names, because
/// every byte of the accepted event's item counts toward its first write
/// unit.
#[derive(serde::Serialize, serde::Deserialize)]
struct Listed {
    #[serde(rename = "a")]
    application_id: ApplicationId,
    #[serde(rename = "v")]
    vendor_id: VendorId,
    #[serde(rename = "t")]
    kind: EventType,
    #[serde(rename = "c")]
    created_at: chrono::DateTime<chrono::Utc>,
}

/// The version every event is accepted at (see `Service::accept`).
const ACCEPTED_VERSION: u64 = 1;

/// Whether an event is exactly as the service accepts it, so that its
/// `EVENT` item says all there is and it needs no `STATE` item yet.
fn as_accepted(e: &Event) -> bool {
    e.version == ACCEPTED_VERSION
        && e.status == EventStatus::Pending
        && e.round == 1
        && e.attempts.is_empty()
        && e.transient_failures == 0
        && e.lease_until.is_none()
        && e.updated_at == e.created_at
}

/// The event as accepted, with its listing keys and entry. Never rewritten.
fn event_item(event: &Event) -> Result<Item, StoreError> {
    let mut item = data_item(format!("EVENT#{}", event.id), "EVENT", event)?;
    let listed = Listed {
        application_id: event.application_id.clone(),
        vendor_id: event.vendor_id.clone(),
        kind: event.body.kind,
        created_at: event.created_at,
    };
    item.insert(
        EVENT_PROJECTION[0].into(),
        s(serde_json::to_string(&listed).map_err(internal)?),
    );
    let partitions = [
        "ALL",
        event.application_id.as_str(),
        event.vendor_id.as_str(),
    ];
    for ((_, pk_attr, _), partition) in EVENT_INDEXES.into_iter().zip(partitions) {
        item.insert(pk_attr.into(), s(sharded(partition, &event.id)));
    }
    item.insert(
        EVENT_INDEXES[0].2.into(),
        s(sort_key(event.created_at.timestamp_millis(), &event.id)),
    );
    Ok(item)
}

/// An event's listing as its index entry alone tells it: as accepted.
fn listed_summary(item: &Item) -> Result<EventSummary, StoreError> {
    let listed: Listed = from_attribute(item, EVENT_PROJECTION[0])?;
    let id = text(item, "PK")
        .and_then(|pk| pk.strip_prefix("EVENT#"))
        .ok_or_else(|| StoreError::Internal("event entry without its key".into()))?;
    Ok(EventSummary {
        id: id.to_owned(),
        application_id: listed.application_id,
        vendor_id: listed.vendor_id,
        kind: listed.kind,
        status: EventStatus::Pending,
        round: 1,
        attempts: 0,
        created_at: listed.created_at,
        updated_at: listed.created_at,
    })
}

fn state_item(event: &Event) -> Result<Item, StoreError> {
    let mut item = data_item(
        format!("EVENT#{}", event.id),
        "STATE",
        &EventState::of(event),
    )?;
    item.insert("version".into(), n(event.version));
    Ok(item)
}

/// The state written over the one at `expected`. An event with no state
/// item is as it was accepted, at [`ACCEPTED_VERSION`] (`insert_event`
/// writes one for any other).
fn state_put(table: &str, event: &Event, expected: u64) -> Result<Put, StoreError> {
    let condition = if expected == ACCEPTED_VERSION {
        "attribute_not_exists(PK) OR version = :expected"
    } else {
        "version = :expected"
    };
    Put::builder()
        .table_name(table)
        .set_item(Some(state_item(event)?))
        .condition_expression(condition)
        .expression_attribute_values(":expected", n(expected))
        .build()
        .map_err(internal)
}

fn failed_condition(reasons: &[CancellationReason], index: usize) -> bool {
    reasons
        .get(index)
        .and_then(|r| r.code())
        .is_some_and(|c| c == "ConditionalCheckFailed")
}

#[async_trait]
impl EventStore for DynamoStore {
    async fn insert_event(
        &self,
        event: &Event,
        idempotency: Option<&IdempotencyRecord>,
    ) -> Result<InsertOutcome, StoreError> {
        let item = event_item(event)?;
        let mut items = vec![put(&self.table, item.clone())?];
        if !as_accepted(event) {
            items.push(put(&self.table, state_item(event)?)?);
        }
        // Tokens carry their event's id (see `event::new_token`): nothing but the
        // event to write, unless an idempotency record must go in with it.
        let idem_at = items.len();
        if let Some(i) = idempotency {
            items.push(put(
                &self.table,
                data_item(format!("IDEM#{}", i.scope), "IDEM", i)?,
            )?);
        }
        if items.len() == 1 {
            self.put_new(item, &format!("event {}", event.id)).await?;
            return Ok(InsertOutcome::Inserted);
        }
        let result = self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await;
        let err = match result {
            Ok(_) => return Ok(InsertOutcome::Inserted),
            Err(e) => e,
        };
        use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
        if let Some(TransactWriteItemsError::TransactionCanceledException(c)) =
            err.as_service_error()
        {
            let reasons = c.cancellation_reasons();
            if let Some(i) = idempotency.filter(|_| failed_condition(reasons, idem_at)) {
                let previous: IdempotencyRecord = self
                    .get_item(format!("IDEM#{}", i.scope), "IDEM")
                    .await?
                    .ok_or_else(|| {
                        StoreError::Unavailable("idempotency record is being replaced".into())
                    })?;
                return Ok(InsertOutcome::Replay(previous));
            }
            // The event's item, or the state item written with it.
            if (0..idem_at).any(|i| failed_condition(reasons, i)) {
                return Err(StoreError::Conflict(format!("event {} exists", event.id)));
            }
        }
        Err(sdk_error("TransactWriteItems", err))
    }

    async fn remove_event(
        &self,
        event: &Event,
        idempotency: Option<&IdempotencyRecord>,
    ) -> Result<(), StoreError> {
        let pk = format!("EVENT#{}", event.id);
        // A worker may have read the event just before; its claim, expecting
        // the accepted version, must not then write a state for an event
        // that is gone. A tombstone state at a version no writer expects
        // refuses it, and expires after a day.
        let mut tombstone = key(pk.clone(), "STATE");
        tombstone.insert("version".into(), n(u64::MAX));
        tombstone.insert(
            TTL_ATTRIBUTE.into(),
            n(chrono::Utc::now().timestamp() + 86_400),
        );
        let mut items = vec![
            delete(&self.table, key(pk, "EVENT"))?,
            TransactWriteItem::builder()
                .put(
                    Put::builder()
                        .table_name(&self.table)
                        .set_item(Some(tombstone))
                        .build()
                        .map_err(internal)?,
                )
                .build(),
        ];
        // Only an event from before tokens carried its id has a token item.
        if token_event_id(&event.token).is_none() {
            items.push(delete(
                &self.table,
                key(format!("TOKEN#{}", event.token), "TOKEN"),
            )?);
        }
        if let Some(i) = idempotency {
            items.push(delete(
                &self.table,
                key(format!("IDEM#{}", i.scope), "IDEM"),
            )?);
        }
        self.client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await
            .map_err(|e| sdk_error("TransactWriteItems", e))?;
        Ok(())
    }

    async fn get_event(&self, id: &str) -> Result<Option<Event>, StoreError> {
        // The event and its state share a partition: one Query reads both.
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("PK = :pk")
            .expression_attribute_values(":pk", s(format!("EVENT#{id}")))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| sdk_error("Query", e))?;
        let find = |sk: &str| out.items().iter().find(|i| text(i, "SK") == Some(sk));
        // A state without its event is a removed event's tombstone.
        let Some(mut event) = find("EVENT").map(from_item::<Event>).transpose()? else {
            return Ok(None);
        };
        if let Some(state) = find("STATE") {
            from_item::<EventState>(state)?.apply(&mut event);
        }
        Ok(Some(event))
    }

    async fn update_event(&self, event: &Event, expected: u64) -> Result<(), StoreError> {
        let put = state_put(&self.table, event, expected)?;
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(put.item))
            .set_condition_expression(Some(put.condition_expression.unwrap_or_default()))
            .set_expression_attribute_values(put.expression_attribute_values)
            .send()
            .await
            .map_err(|e| match e.as_service_error() {
                Some(se) if is_condition_failure(se) => StoreError::Conflict(format!(
                    "event {} is missing or not at the expected version",
                    event.id
                )),
                _ => sdk_error("PutItem", e),
            })?;
        Ok(())
    }

    async fn finish_delivery(
        &self,
        event: &Event,
        expected: u64,
        error: Option<&ErrorRecord>,
        count: FailureCount,
    ) -> Result<(), StoreError> {
        let counter = match count {
            FailureCount::Unchanged => None,
            FailureCount::Increment => Some(("ADD successiveFailures :one", ":one", n(1))),
            FailureCount::Reset => Some(("SET successiveFailures = :zero", ":zero", n(0))),
        };
        // A delivery that records nothing and moves no count is one write,
        // not a transaction (which DynamoDB bills twice).
        if error.is_none() && counter.is_none() {
            return self
                .update_event(event, expected)
                .await
                .map_err(|e| match e {
                    StoreError::Conflict(_) => StoreError::Conflict(format!(
                        "event {} was settled by another writer",
                        event.id
                    )),
                    e => e,
                });
        }
        let mut items = vec![TransactWriteItem::builder()
            .put(state_put(&self.table, event, expected)?)
            .build()];
        if let Some(record) = error {
            items.push(put(&self.table, error_item(record)?)?);
        }
        if let Some((expression, name, value)) = counter {
            items.push(
                TransactWriteItem::builder()
                    .update(
                        Update::builder()
                            .table_name(&self.table)
                            .set_key(Some(key(
                                format!("APP#{}", event.application_id),
                                "INTEGRATION",
                            )))
                            .update_expression(expression)
                            .condition_expression("attribute_exists(PK)")
                            .expression_attribute_values(name, value)
                            .build()
                            .map_err(internal)?,
                    )
                    .build(),
            );
        }
        let result = self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(err) => {
                use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
                if let Some(TransactWriteItemsError::TransactionCanceledException(c)) =
                    err.as_service_error()
                {
                    let reasons = c.cancellation_reasons();
                    if (0..reasons.len()).any(|i| failed_condition(reasons, i)) {
                        return Err(StoreError::Conflict(format!(
                            "event {} was settled by another writer",
                            event.id
                        )));
                    }
                }
                Err(sdk_error("TransactWriteItems", err))
            }
        }
    }

    async fn query_events(&self, query: &EventQuery) -> Result<EventPage, StoreError> {
        let want = query.limit + 1;
        let window = bounds(query.from, query.to, query.after.as_ref());
        let mut merge = Merge::new(self, [event_plan(query)], window, want);
        // Filters the entries do not answer (status) or only some pass
        // (type) read ahead in batches of a BatchGetItem's 100 keys, rather
        // than a round trip for each page's worth. Entries read past the
        // page are read again by the next one, from its cursor.
        let batch = if query.status.is_some() || query.event_type.is_some() {
            100
        } else {
            0
        };
        let mut found = Vec::new();
        while found.len() < want {
            let need = (want - found.len()).max(batch);
            let items = merge.next(need).await?;
            let ended = items.len() < need;
            // The entry is the event as accepted; its state item, if it has
            // one, says what became of it.
            let mut listed = Vec::new();
            for item in &items {
                match listed_summary(item) {
                    Ok(summary) if query.matches_listing(&summary) => listed.push(summary),
                    Ok(_) => {}
                    Err(e) => {
                        tracing::error!(key = ?text(item, "PK"), error = %e, "a stored event cannot be listed; it is left out")
                    }
                }
            }
            let states = self
                .event_states(listed.iter().map(|e| e.id.as_str()))
                .await?;
            for mut summary in listed {
                match states.get(&summary.id) {
                    Some(Some(state)) => state.summarize(&mut summary),
                    Some(None) => continue,
                    None => {}
                }
                if query.matches(&summary) && found.len() < want {
                    found.push(summary);
                }
            }
            if ended {
                break;
            }
        }
        Ok(EventPage::from_overfetch(found, query.limit))
    }

    async fn get_event_by_token(&self, token: &str) -> Result<Option<Event>, StoreError> {
        let item = self.get_raw(format!("TOKEN#{token}"), "TOKEN").await?;
        let Some(id) = item.as_ref().and_then(|i| text(i, "eventId")) else {
            return Ok(None);
        };
        self.get_event(id).await
    }
}

impl DynamoStore {
    /// The state items of these events, by id (None: stored, unreadable),
    /// read by BatchGetItem (at most 100 keys a request, side by side).
    async fn event_states<'a>(
        &self,
        ids: impl Iterator<Item = &'a str>,
    ) -> Result<HashMap<String, Option<EventState>>, StoreError> {
        let keys: Vec<Item> = ids.map(|id| key(format!("EVENT#{id}"), "STATE")).collect();
        let mut states = HashMap::new();
        for item in self.batch_get(keys).await? {
            let Some(id) = text(&item, "PK").and_then(|pk| pk.strip_prefix("EVENT#")) else {
                continue;
            };
            // An unreadable state leaves its event out of the page (logged),
            // rather than listed as it was accepted.
            let state = from_item(&item)
                .inspect_err(|e| tracing::error!(event_id = id, error = %e, "a stored event state cannot be read; the event is left out of the list"))
                .ok();
            states.insert(id.to_owned(), state);
        }
        Ok(states)
    }

    /// The items at `keys`, by BatchGetItem: at most 100 keys a request,
    /// the requests side by side.
    async fn batch_get(&self, keys: Vec<Item>) -> Result<Vec<Item>, StoreError> {
        let reads = keys
            .chunks(100)
            .map(|chunk| self.batch_get_some(chunk.to_vec()));
        Ok(futures::future::try_join_all(reads)
            .await?
            .into_iter()
            .flatten()
            .collect())
    }

    /// One BatchGetItem, asking again for what DynamoDB left unprocessed.
    async fn batch_get_some(&self, keys: Vec<Item>) -> Result<Vec<Item>, StoreError> {
        let mut found = Vec::new();
        let mut pending = keys;
        for round in 0..8u32 {
            if pending.is_empty() {
                return Ok(found);
            }
            if round > 0 {
                tokio::time::sleep(std::time::Duration::from_millis(10 << round)).await;
            }
            let request = KeysAndAttributes::builder()
                .set_keys(Some(pending))
                .build()
                .map_err(internal)?;
            let out = self
                .client
                .batch_get_item()
                .request_items(&self.table, request)
                .send()
                .await
                .map_err(|e| sdk_error("BatchGetItem", e))?;
            found.extend(
                out.responses
                    .and_then(|mut r| r.remove(&self.table))
                    .unwrap_or_default(),
            );
            pending = out
                .unprocessed_keys
                .and_then(|mut u| u.remove(&self.table))
                .map(|k| k.keys)
                .unwrap_or_default();
        }
        if pending.is_empty() {
            Ok(found)
        } else {
            Err(StoreError::Unavailable(
                "DynamoDB left keys of a batch read unprocessed".into(),
            ))
        }
    }
}

#[async_trait]
impl ErrorStore for DynamoStore {
    async fn insert_error(&self, record: &ErrorRecord) -> Result<(), StoreError> {
        self.put_new(error_item(record)?, &format!("error record {}", record.id))
            .await
    }

    async fn get_error(&self, id: &str) -> Result<Option<ErrorRecord>, StoreError> {
        self.get_item(format!("ERR#{id}"), "ERR").await
    }

    async fn update_error(&self, record: &ErrorRecord, expected: u64) -> Result<(), StoreError> {
        let item = error_item(record)?;
        self.put_versioned(item, expected, &format!("error record {}", record.id))
            .await
    }

    async fn query_errors(&self, query: &ErrorQuery) -> Result<ErrorPage, StoreError> {
        let want = query.limit + 1;
        let mut merge = self.record_merge(query, want);
        let mut found = Vec::new();
        while found.len() < want {
            let need = want - found.len();
            let items = merge.next(need).await?;
            let ended = items.len() < need;
            found.extend(readable(&items).filter(|r| query.matches(r)));
            if ended {
                break;
            }
        }
        Ok(ErrorPage::from_overfetch(found, query.limit))
    }

    async fn summarize_errors(&self, query: &ErrorQuery) -> Result<Vec<SummaryRow>, StoreError> {
        let query = ErrorQuery {
            after: None,
            ..query.clone()
        };
        // A tally needs no order: each shard is read page by page and
        // counted, a few shards at a time, so that memory holds a few pages
        // and not the whole window.
        let (index, prefix) = record_plan(&query);
        let window = bounds(query.from, query.to, None);
        let shards: Vec<String> = states(query.resolved)
            .iter()
            .flat_map(|resolved| {
                every_shard(&format!("{prefix}{}", state(*resolved))).collect::<Vec<_>>()
            })
            .collect();
        let (query, window) = (&query, &window);
        let tallies = futures::stream::iter(shards)
            .map(|partition| async move {
                let mut rows = Vec::new();
                let mut start = None;
                loop {
                    let (items, next) = self
                        .query_page(index, &partition, window, start, 1000)
                        .await?;
                    let records: Vec<ErrorRecord> =
                        readable(&items).filter(|r| query.matches(r)).collect();
                    rows = SummaryRow::combine(rows.into_iter().chain(SummaryRow::tally(
                        records.iter().map(|r| (&r.application_id, r.error_code)),
                    )));
                    match next {
                        Some(next) => start = Some(next),
                        None => return Ok::<_, StoreError>(rows),
                    }
                }
            })
            .buffer_unordered(SUMMARY_SHARDS_AT_ONCE)
            .try_collect::<Vec<_>>()
            .await?;
        Ok(SummaryRow::combine(tallies.into_iter().flatten()))
    }
}

/// Shards a summary reads at once: each holds at most a page (1 MB) in memory.
const SUMMARY_SHARDS_AT_ONCE: usize = 16;

impl DynamoStore {
    /// Every shard of the partitions a report query reads, merged newest first.
    fn record_merge(&self, query: &ErrorQuery, want: usize) -> Merge<'_> {
        let (index, prefix) = record_plan(query);
        let partitions = states(query.resolved)
            .iter()
            .map(move |resolved| (index, format!("{prefix}{}", state(*resolved))));
        Merge::new(
            self,
            partitions,
            bounds(query.from, query.to, query.after.as_ref()),
            want,
        )
    }
}

/// The records among these index entries. A stored record that cannot be
/// read back is left out, with its key in the log, rather than failing every
/// page it falls in.
fn readable(items: &[Item]) -> impl Iterator<Item = ErrorRecord> + '_ {
    items
        .iter()
        .filter_map(|item| match from_item::<ErrorRecord>(item) {
            Ok(record) => Some(record),
            Err(e) => {
                tracing::error!(key = ?text(item, "PK"), error = %e, "a stored record cannot be read; it is left out of the list");
                None
            }
        })
}
#[async_trait]
impl AlertStore for DynamoStore {
    async fn insert_alert(&self, alert: &Alert) -> Result<bool, StoreError> {
        let item = data_item(format!("ALERT#{}", alert.id), "ALERT", alert)?;
        match self.put_new(item, "alert").await {
            Ok(()) => Ok(true),
            Err(StoreError::Conflict(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    async fn get_alert(&self, id: &str) -> Result<Option<Alert>, StoreError> {
        self.get_item(format!("ALERT#{id}"), "ALERT").await
    }
}

/// Creates the table with the keys, indexes and TTL that `template.yaml` declares;
/// for tests, the benchmark, and a fresh DynamoDB Local.
pub async fn create_table(client: &Client, table: &str) -> Result<(), StoreError> {
    let attr = |name: &str| {
        AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .map_err(internal)
    };
    let key_el = |name: &str, kind: KeyType| {
        KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(kind)
            .build()
            .map_err(internal)
    };
    let mut req = client
        .create_table()
        .table_name(table)
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(key_el("PK", KeyType::Hash)?)
        .key_schema(key_el("SK", KeyType::Range)?);
    let mut attributes = vec!["PK", "SK"];
    for ((name, pk, sk), projected) in indexes() {
        for a in [pk, sk] {
            if !attributes.contains(&a) {
                attributes.push(a);
            }
        }
        req = req.global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name(name)
                .key_schema(key_el(pk, KeyType::Hash)?)
                .key_schema(key_el(sk, KeyType::Range)?)
                .projection(
                    Projection::builder()
                        .projection_type(ProjectionType::Include)
                        .set_non_key_attributes(Some(
                            projected.iter().map(|a| a.to_string()).collect(),
                        ))
                        .build(),
                )
                .build()
                .map_err(internal)?,
        );
    }
    for a in attributes {
        req = req.attribute_definitions(attr(a)?);
    }
    req.send().await.map_err(|e| sdk_error("CreateTable", e))?;
    client
        .update_time_to_live()
        .table_name(table)
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .attribute_name(TTL_ATTRIBUTE)
                .enabled(true)
                .build()
                .map_err(internal)?,
        )
        .send()
        .await
        .map_err(|e| sdk_error("UpdateTimeToLive", e))?;
    Ok(())
}

/// What the store writes, as DynamoDB bills it, from the store's own item
/// and key functions: for the key-distribution check (`keycheck`) and
/// docs/SCALE.md, so that their figures follow the code.
pub mod layout {
    use super::{error_item, event_item, indexes, integration_item, state_item, IndexKeys, Item};
    use aws_sdk_dynamodb::types::AttributeValue;
    use iev_domain::event::Event;
    use iev_domain::integration::Integration;
    use iev_domain::ports::FailureCount;
    use iev_domain::record::ErrorRecord;
    use iev_domain::StoreError;

    /// One item written: its base-table partition key, its size, whether it
    /// is part of a transaction (billed twice on the table), and the entry
    /// it writes in each index it lands in.
    #[derive(Debug, Clone)]
    pub struct Write {
        pub table_partition: String,
        pub bytes: usize,
        pub transactional: bool,
        pub indexes: Vec<IndexWrite>,
    }

    /// One index entry written: which index, its partition key, its size
    /// (the table's and the index's keys and what the index projects).
    #[derive(Debug, Clone)]
    pub struct IndexWrite {
        pub index: &'static str,
        pub partition: String,
        pub bytes: usize,
    }

    /// Write units for `bytes`: one per KB begun.
    pub fn units(bytes: usize) -> u64 {
        bytes.div_ceil(1024).max(1) as u64
    }

    impl Write {
        /// The write units of the table write (both halves of a transaction).
        pub fn table_units(&self) -> u64 {
            units(self.bytes) * if self.transactional { 2 } else { 1 }
        }
    }

    /// DynamoDB's size of these attributes: each one's name and value.
    fn attributes_bytes<'a>(
        attributes: impl Iterator<Item = (&'a String, &'a AttributeValue)>,
    ) -> usize {
        attributes
            .map(|(name, value)| {
                name.len()
                    + match value {
                        AttributeValue::S(s) => s.len(),
                        AttributeValue::N(n) => n.len().div_ceil(2) + 1,
                        _ => 1,
                    }
            })
            .sum()
    }

    fn write(item: &Item, transactional: bool) -> Write {
        update(item, transactional, None)
    }

    /// A write of `item`; with `changed`, an update of only those
    /// attributes, which rewrites an index entry only where the index keys
    /// on or projects one of them.
    fn update(item: &Item, transactional: bool, changed: Option<&[&str]>) -> Write {
        let text = |name: &str| item.get(name).and_then(|v| v.as_s().ok()).cloned();
        let entry = |(_, pk, sk): IndexKeys, projected: &[&str]| {
            attributes_bytes(item.iter().filter(|(name, _)| {
                let name = name.as_str();
                ["PK", "SK", pk, sk].contains(&name) || projected.contains(&name)
            }))
        };
        Write {
            table_partition: text("PK").unwrap_or_default(),
            bytes: attributes_bytes(item.iter()),
            transactional,
            indexes: indexes()
                .filter(|((_, pk, sk), projected)| {
                    changed.is_none_or(|changed| {
                        changed
                            .iter()
                            .any(|c| [pk, sk].contains(&c) || projected.contains(c))
                    })
                })
                .filter_map(|(index, projected)| {
                    text(index.1).map(|partition| IndexWrite {
                        index: index.0,
                        partition,
                        bytes: entry(index, projected),
                    })
                })
                .collect(),
        }
    }

    /// Accepting an event (without an Idempotency-Key): one PutItem of the
    /// event as accepted, with its entry in each events index.
    pub fn accept(event: &Event) -> Result<Vec<Write>, StoreError> {
        Ok(vec![write(&event_item(event)?, false)])
    }

    /// Claiming it before a call: its state item only.
    pub fn claim(event: &Event) -> Result<Vec<Write>, StoreError> {
        Ok(vec![write(&state_item(event)?, false)])
    }

    /// Settling it: the state item; with a failure record or a count to
    /// move, one transaction of the state, the record and the integration's
    /// count (an update billed by the whole integration item; its listing
    /// entries do not project the count, so they are not rewritten).
    pub fn settle(
        event: &Event,
        error: Option<&ErrorRecord>,
        count: FailureCount,
        integration: &Integration,
    ) -> Result<Vec<Write>, StoreError> {
        let transactional = error.is_some() || count != FailureCount::Unchanged;
        let mut writes = vec![write(&state_item(event)?, transactional)];
        if let Some(record) = error {
            writes.push(write(&error_item(record)?, true));
        }
        if count != FailureCount::Unchanged {
            writes.push(update(
                &integration_item(integration)?,
                true,
                Some(&["successiveFailures"]),
            ));
        }
        Ok(writes)
    }
}
