//! One DynamoDB table holds everything. Keys:
//!
//! | item           | PK                 | SK            |
//! |----------------|--------------------|---------------|
//! | API key        | `KEY#<hash>`       | `KEY`         |
//! | integration    | `APP#<appId>`      | `INTEGRATION` | (delivery state in `enabled`, `successiveFailures`, `disabledAt`)
//! | event          | `EVENT#<id>`       | `EVENT`       |
//! | token lookup   | `TOKEN#<token>`    | `TOKEN`       | (only events from before tokens held their event id)
//! | idempotency    | `IDEM#<scope>`     | `IDEM`        |
//! | failure record | `ERR#<id>`         | `ERR`         |
//! | alert          | `ALERT#<id>`       | `ALERT`       |
//!
//! Failure records also carry one key pair per report index; each partition
//! holds one resolved state, and the sort key `<creation ms, 13 digits>#<id>`
//! orders newest first with `ScanIndexForward = false`:
//!
//! | index     | partition                      | serves                           |
//! |-----------|--------------------------------|----------------------------------|
//! | `byState` | `OPEN` / `RESOLVED`            | the manager's default view       |
//! | `byApp`   | `<appId>#<state>`              | one application                  |
//! | `byVendor`| `<vendorId>#<state>`           | a vendor's own records           |
//! | `byCode`  | `<errorCode>#<state>`          | one error code in a date range   |
//! | `byType`  | `<eventType>#<state>`          | one event type in a date range   |
//! | `byDocType` | `<documentType>#<state>`     | one kind of document (Coupa)     |
//! | `byDocument`| `<documentId>#<state>`       | one document's failures (Coupa)  |
//! | `byRun`   | `<integrationRunId>#<state>`   | one integration run's failures   |
//!
//! A record without an event type or one of Coupa's fields has no key in that
//! index, and so takes no room in it.
//! `resolved=all` reads both states' partitions and merges them: two requests a page.
//!
//! Events use the first three indexes too, under partitions of their own:
//! `EVENTS` (the whole log, newest first), `EVENTS#<appId>`, `EVENTS#<vendorId>`;
//! status and type are filters.
//!
//! Keys are listed from `byState`'s partition `KEYS` (sort key: the key's id);
//! integrations from `byState`'s `INTEGRATIONS` and `byVendor`'s
//! `INTEGRATIONS#<vendorId>` (sort key: the application id). Keys and
//! integrations written before these listings existed carry none of these
//! attributes: an integration gets them when next saved; such a key is not
//! listed (and so cannot be revoked through the API) until it is made again.
//! Filters the chosen index does not cover are applied as a FilterExpression.

use crate::sdk_error;
use async_trait::async_trait;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, CancellationReason, Delete,
    GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection, ProjectionType, Put,
    ScalarAttributeType, TimeToLiveSpecification, TransactWriteItem, Update,
};
use aws_sdk_dynamodb::Client;
use iev_domain::auth::{ApiKeyRecord, KeyHash, VendorId};
use iev_domain::event::{token_event_id, Event, EventPage, EventQuery};
use iev_domain::integration::{ApplicationId, Integration};
use iev_domain::ports::{
    AlertStore, ErrorStore, EventStore, FailureCount, IdempotencyRecord, InsertOutcome,
    IntegrationPage, IntegrationQuery, IntegrationStore, KeyStore,
};
use iev_domain::record::{
    Alert, ErrorCode, ErrorPage, ErrorQuery, ErrorRecord, Position, ResolvedFilter, SummaryRow,
};
use iev_domain::StoreError;
use std::collections::HashMap;

type Item = HashMap<String, AttributeValue>;

/// The report indexes: (name, partition attribute, sort attribute).
pub const TABLE_INDEXES: [(&str, &str, &str); 8] = [
    ("byState", "G1PK", "G1SK"),
    ("byApp", "G2PK", "G2SK"),
    ("byVendor", "G3PK", "G3SK"),
    ("byCode", "G4PK", "G4SK"),
    ("byType", "G5PK", "G5SK"),
    ("byDocType", "G6PK", "G6SK"),
    ("byDocument", "G7PK", "G7SK"),
    ("byRun", "G8PK", "G8SK"),
];

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
    let data = item
        .get("data")
        .and_then(|v| v.as_s().ok())
        .ok_or_else(|| StoreError::Internal("item has no data attribute".into()))?;
    iev_domain::error::from_stored_json(data)
        .map_err(|e| StoreError::Internal(format!("corrupt item: {e}")))
}

fn state(resolved: bool) -> &'static str {
    if resolved {
        "RESOLVED"
    } else {
        "OPEN"
    }
}

/// The index partitions an event lives in start with this; no application or
/// vendor id holds '#', so they never meet a failure record's partitions.
const EVENT_PARTITION: &str = "EVENTS";

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

    fn error_item(&self, r: &ErrorRecord) -> Result<Item, StoreError> {
        error_item(r)
    }
}

/// A failure record's item, with its key pair in each report index.
fn error_item(r: &ErrorRecord) -> Result<Item, StoreError> {
    {
        let mut item = data_item(format!("ERR#{}", r.id), "ERR", r)?;
        let st = state(r.manually_resolved);
        let sk = sort_key(r.creation_date.timestamp_millis(), &r.id);
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
        for ((_, pk_attr, sk_attr), pk) in TABLE_INDEXES.iter().zip(partitions) {
            if let Some(pk) = pk {
                item.insert((*pk_attr).to_owned(), s(pk));
                item.insert((*sk_attr).to_owned(), s(sk.clone()));
            }
        }
        let filterable = [
            ("applicationId", Some(r.application_id.as_str().to_owned())),
            ("vendorId", Some(r.vendor_id.as_str().to_owned())),
            ("eventType", r.event_type.map(|t| t.as_str().to_owned())),
            ("errorCode", Some(r.error_code.as_str().to_owned())),
            ("category", Some(r.category.as_str().to_owned())),
            ("companyId", r.company_id.clone()),
            ("userEmail", r.user_email.clone()),
            ("documentType", r.document_type.clone()),
            ("documentId", r.document_id.clone()),
            ("integrationRunId", r.integration_run_id.clone()),
        ];
        for (name, value) in filterable {
            if let Some(v) = value.filter(|v| !v.is_empty()) {
                item.insert(name.to_owned(), s(v));
            }
        }
        item.insert("version".into(), n(r.version));
        item.insert(TTL_ATTRIBUTE.into(), n(r.expires_at.timestamp()));
        Ok(item)
    }
}

impl DynamoStore {
    /// Reads one index partition newest first, page by page, handing each item
    /// to `visit` until it answers false or the partition runs out.
    async fn query_partition(
        &self,
        plan: &QueryPlan,
        partition: String,
        page_size: usize,
        projection: Option<&str>,
        mut visit: impl FnMut(&Item) -> Result<bool, StoreError>,
    ) -> Result<(), StoreError> {
        let mut start: Option<Item> = None;
        loop {
            let mut req = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(plan.index)
                .scan_index_forward(false)
                .expression_attribute_names("#pk", plan.pk_attr)
                .expression_attribute_values(":pk", s(partition.clone()))
                .set_exclusive_start_key(start.take())
                .set_projection_expression(projection.map(str::to_owned));
            let mut condition = "#pk = :pk".to_owned();
            if plan.lower.is_some() || plan.upper.is_some() {
                req = req.expression_attribute_names("#sk", plan.sk_attr);
            }
            match (&plan.lower, &plan.upper) {
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
            req = req.key_condition_expression(condition);
            if !plan.filters.is_empty() {
                let mut parts = Vec::new();
                for (i, (attr, value)) in plan.filters.iter().enumerate() {
                    req = req
                        .expression_attribute_names(format!("#f{i}"), *attr)
                        .expression_attribute_values(format!(":f{i}"), s(value.clone()));
                    parts.push(format!("#f{i} = :f{i}"));
                }
                req = req.filter_expression(parts.join(" AND "));
            }
            let out = req
                .limit(page_size as i32)
                .send()
                .await
                .map_err(|e| sdk_error("Query", e))?;
            for item in out.items() {
                if !visit(item)? {
                    return Ok(());
                }
            }
            match out.last_evaluated_key() {
                Some(k) => start = Some(k.clone()),
                None => return Ok(()),
            }
        }
    }

    /// Up to `want` records of one partition that `keep` accepts, newest first.
    async fn read_partition<T: serde::de::DeserializeOwned>(
        &self,
        plan: &QueryPlan,
        partition: String,
        want: usize,
        keep: impl Fn(&T) -> bool,
    ) -> Result<Vec<T>, StoreError> {
        // Unfiltered pages need exactly `want`; filtered ones read further per request.
        let page_size = if plan.filters.is_empty() {
            want
        } else {
            (want * 4).min(1000)
        };
        let mut found = Vec::new();
        self.query_partition(plan, partition, page_size, None, |item| {
            // A stored record that cannot be read back is left out, with its
            // key in the log, rather than failing every page it falls in.
            let record: T = match from_item(item) {
                Ok(record) => record,
                Err(e) => {
                    let key = item.get("PK").and_then(|k| k.as_s().ok());
                    tracing::error!(key = ?key, error = %e, "a stored record cannot be read; it is left out of the list");
                    return Ok(true);
                }
            };
            // BETWEEN is inclusive: the cursor's own record comes back and is dropped.
            if keep(&record) {
                found.push(record);
            }
            Ok(found.len() < want)
        })
        .await?;
        Ok(found)
    }
}

/// Which index a query reads, within which bounds, and what it still filters.
struct QueryPlan {
    index: &'static str,
    pk_attr: &'static str,
    sk_attr: &'static str,
    /// The partition key, without the state suffix of failure-record partitions.
    prefix: String,
    lower: Option<String>,
    upper: Option<String>,
    filters: Vec<(&'static str, String)>,
}

/// A Query's lower (inclusive) and upper sort-key bounds.
type Bounds = (Option<String>, Option<String>);

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
    (from.map(|f| format!("{:013}", f.timestamp_millis())), upper)
}

/// Collects `(attribute, value)` filters for what the chosen index does not cover.
#[derive(Default)]
struct Filters(Vec<(&'static str, String)>);

impl Filters {
    fn add(&mut self, covered: bool, attr: &'static str, value: Option<String>) {
        if let (false, Some(v)) = (covered, value) {
            self.0.push((attr, v));
        }
    }
}

impl Filters {
    /// The vendor and application filters, unless the chosen index (`slot`) covers them.
    fn scoped(slot: usize, vendor: Option<&VendorId>, app: Option<&ApplicationId>) -> Self {
        let mut f = Filters::default();
        f.add(slot == 2, "vendorId", vendor.map(|v| v.as_str().to_owned()));
        f.add(
            slot == 1,
            "applicationId",
            app.map(|a| a.as_str().to_owned()),
        );
        f
    }
}

impl QueryPlan {
    fn new(slot: usize, prefix: String, filters: Filters, (lower, upper): Bounds) -> Self {
        let (index, pk_attr, sk_attr) = TABLE_INDEXES[slot];
        QueryPlan {
            index,
            pk_attr,
            sk_attr,
            prefix,
            lower,
            upper,
            filters: filters.0,
        }
    }

    /// The narrowest index a query's filters name: a document or a run (a
    /// few records), then an application, a document type, an error code, an
    /// event type, a vendor; else every record of a state.
    fn for_errors(q: &ErrorQuery) -> Self {
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
        let mut f = Filters::scoped(slot, q.vendor.as_ref(), q.application_id.as_ref());
        f.add(slot == 3, "errorCode", q.error_code.map(|c| c.to_string()));
        f.add(slot == 4, "eventType", q.event_type.map(|t| t.to_string()));
        f.add(false, "category", q.category.map(|c| c.to_string()));
        f.add(false, "companyId", q.company_id.clone());
        f.add(false, "userEmail", q.user_email.clone());
        f.add(slot == 5, "documentType", q.document_type.clone());
        f.add(slot == 6, "documentId", q.document_id.clone());
        f.add(slot == 7, "integrationRunId", q.integration_run_id.clone());
        QueryPlan::new(slot, prefix, f, bounds(q.from, q.to, q.after.as_ref()))
    }

    /// Events share the indexes under their own partitions (see the module notes).
    fn for_events(q: &EventQuery) -> Self {
        let (slot, prefix) = if let Some(a) = &q.application_id {
            (1, format!("{EVENT_PARTITION}#{a}"))
        } else if let Some(v) = &q.vendor {
            (2, format!("{EVENT_PARTITION}#{}", v.as_str()))
        } else {
            (0, EVENT_PARTITION.to_owned())
        };
        let mut f = Filters::scoped(slot, q.vendor.as_ref(), q.application_id.as_ref());
        f.add(false, "status", q.status.map(|s| s.as_str().to_owned()));
        f.add(
            false,
            "eventType",
            q.event_type.map(|t| t.as_str().to_owned()),
        );
        QueryPlan::new(slot, prefix, f, bounds(q.from, q.to, q.after.as_ref()))
    }
}

/// Keys and integrations are listed from partitions of their own in the
/// first and third indexes (few items, rarely written, so never hot).
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
        let (_, pk_attr, sk_attr) = TABLE_INDEXES[0];
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
                TABLE_INDEXES[0],
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
        let (_, pk_attr, sk_attr) = TABLE_INDEXES[0];
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(TABLE_INDEXES[0].0)
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
            Some(v) => (TABLE_INDEXES[2], vendor_integrations_partition(v)),
            None => (TABLE_INDEXES[0], INTEGRATIONS_PARTITION.to_owned()),
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
        let items: Vec<Integration> = items
            .iter()
            .map(integration_from_item)
            .collect::<Result<_, _>>()?;
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
                "SET #data = :data, #version = :version, #l1 = :l1, #s1 = :s1, #l3 = :l3, #s3 = :s3",
            )
            .condition_expression("#version = :expected")
            .expression_attribute_names("#data", "data")
            .expression_attribute_names("#version", "version");
        // An integration saved before it was listed gets its listing keys
        // now; one whose vendor changed moves to its new vendor's partition.
        for ((attr, value), slot) in listing_keys(integration)
            .into_iter()
            .zip(["l1", "s1", "l3", "s3"])
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
fn listing_keys(integration: &Integration) -> [(&'static str, AttributeValue); 4] {
    let id = integration.application_id.as_str();
    let ((_, p1, s1), (_, p3, s3)) = (TABLE_INDEXES[0], TABLE_INDEXES[2]);
    [
        (p1, s(INTEGRATIONS_PARTITION)),
        (s1, s(id)),
        (p3, s(vendor_integrations_partition(&integration.vendor_id))),
        (s3, s(id)),
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

fn event_item(event: &Event) -> Result<Item, StoreError> {
    let mut item = data_item(format!("EVENT#{}", event.id), "EVENT", event)?;
    item.insert("status".into(), s(event.status.as_str()));
    item.insert("version".into(), n(event.version));
    item.insert("applicationId".into(), s(event.application_id.as_str()));
    item.insert("vendorId".into(), s(event.vendor_id.as_str()));
    item.insert("eventType".into(), s(event.body.kind.as_str()));
    let sk = sort_key(event.created_at.timestamp_millis(), &event.id);
    let partitions = [
        EVENT_PARTITION.to_owned(),
        format!("{EVENT_PARTITION}#{}", event.application_id),
        format!("{EVENT_PARTITION}#{}", event.vendor_id.as_str()),
    ];
    for ((_, pk_attr, sk_attr), pk) in TABLE_INDEXES.iter().zip(partitions) {
        item.insert((*pk_attr).to_owned(), s(pk));
        item.insert((*sk_attr).to_owned(), s(sk.clone()));
    }
    Ok(item)
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
        let event_item = event_item(event)?;
        // Tokens carry their event's id (see `event::new_token`): nothing but the
        // event to write, unless an idempotency record must go in with it.
        let Some(i) = idempotency else {
            self.put_new(event_item, &format!("event {}", event.id))
                .await?;
            return Ok(InsertOutcome::Inserted);
        };
        let items = vec![
            put(&self.table, event_item)?,
            put(
                &self.table,
                data_item(format!("IDEM#{}", i.scope), "IDEM", i)?,
            )?,
        ];
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
            if failed_condition(reasons, 1) {
                let previous: IdempotencyRecord = self
                    .get_item(format!("IDEM#{}", i.scope), "IDEM")
                    .await?
                    .ok_or_else(|| {
                        StoreError::Unavailable("idempotency record is being replaced".into())
                    })?;
                return Ok(InsertOutcome::Replay(previous));
            }
            if failed_condition(reasons, 0) {
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
        let mut items = vec![delete(
            &self.table,
            key(format!("EVENT#{}", event.id), "EVENT"),
        )?];
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
        self.get_item(format!("EVENT#{id}"), "EVENT").await
    }

    async fn update_event(&self, event: &Event, expected: u64) -> Result<(), StoreError> {
        self.put_versioned(event_item(event)?, expected, &format!("event {}", event.id))
            .await
    }

    async fn finish_delivery(
        &self,
        event: &Event,
        expected: u64,
        error: Option<&ErrorRecord>,
        count: FailureCount,
    ) -> Result<(), StoreError> {
        let mut items = vec![TransactWriteItem::builder()
            .put(
                Put::builder()
                    .table_name(&self.table)
                    .set_item(Some(event_item(event)?))
                    .condition_expression("version = :expected")
                    .expression_attribute_values(":expected", n(expected))
                    .build()
                    .map_err(internal)?,
            )
            .build()];
        if let Some(record) = error {
            items.push(put(&self.table, self.error_item(record)?)?);
        }
        let counter = match count {
            FailureCount::Unchanged => None,
            FailureCount::Increment => Some(("ADD successiveFailures :one", ":one", n(1))),
            FailureCount::Reset => Some(("SET successiveFailures = :zero", ":zero", n(0))),
        };
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
        let plan = QueryPlan::for_events(query);
        let items = self
            .read_partition(&plan, plan.prefix.clone(), query.limit + 1, |e: &Event| {
                query.matches(e)
            })
            .await?;
        Ok(EventPage::from_overfetch(items, query.limit))
    }

    async fn get_event_by_token(&self, token: &str) -> Result<Option<Event>, StoreError> {
        let item = self.get_raw(format!("TOKEN#{token}"), "TOKEN").await?;
        let Some(id) = item
            .as_ref()
            .and_then(|i| i.get("eventId"))
            .and_then(|v| v.as_s().ok())
        else {
            return Ok(None);
        };
        self.get_event(id).await
    }
}

#[async_trait]
impl ErrorStore for DynamoStore {
    async fn insert_error(&self, record: &ErrorRecord) -> Result<(), StoreError> {
        let item = self.error_item(record)?;
        self.put_new(item, &format!("error record {}", record.id))
            .await
    }

    async fn get_error(&self, id: &str) -> Result<Option<ErrorRecord>, StoreError> {
        self.get_item(format!("ERR#{id}"), "ERR").await
    }

    async fn update_error(&self, record: &ErrorRecord, expected: u64) -> Result<(), StoreError> {
        let item = self.error_item(record)?;
        self.put_versioned(item, expected, &format!("error record {}", record.id))
            .await
    }

    async fn query_errors(&self, query: &ErrorQuery) -> Result<ErrorPage, StoreError> {
        let plan = QueryPlan::for_errors(query);
        let want = query.limit + 1;
        let reads = states(query.resolved).iter().map(|resolved| {
            self.read_partition(
                &plan,
                format!("{}{}", plan.prefix, state(*resolved)),
                want,
                |r: &ErrorRecord| query.matches(r),
            )
        });
        // Both partitions are read side by side: one round trip of latency.
        let mut items: Vec<ErrorRecord> = futures::future::try_join_all(reads)
            .await?
            .into_iter()
            .flatten()
            .collect();
        items.sort_by(|a, b| Position::of(b).cmp(&Position::of(a)));
        Ok(ErrorPage::from_overfetch(items, query.limit))
    }

    async fn summarize_errors(&self, query: &ErrorQuery) -> Result<Vec<SummaryRow>, StoreError> {
        let query = ErrorQuery {
            after: None,
            ..query.clone()
        };
        let plan = QueryPlan::for_errors(&query);
        let mut pairs: Vec<(ApplicationId, ErrorCode)> = Vec::new();
        for resolved in states(query.resolved) {
            let partition = format!("{}{}", plan.prefix, state(*resolved));
            // Only the two counted attributes travel; key conditions and
            // filters already hold every other condition of the query.
            self.query_partition(
                &plan,
                partition,
                1000,
                Some("applicationId, errorCode"),
                |item| {
                    let text = |name: &str| {
                        item.get(name)
                            .and_then(|v| v.as_s().ok())
                            .ok_or_else(|| StoreError::Internal(format!("record without {name}")))
                    };
                    pairs.push((
                        ApplicationId::parse(text("applicationId")?).map_err(internal)?,
                        text("errorCode")?.parse().map_err(internal)?,
                    ));
                    Ok(true)
                },
            )
            .await?;
        }
        Ok(SummaryRow::tally(pairs.iter().map(|(a, c)| (a, *c))))
    }
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
        .attribute_definitions(attr("PK")?)
        .attribute_definitions(attr("SK")?)
        .key_schema(key_el("PK", KeyType::Hash)?)
        .key_schema(key_el("SK", KeyType::Range)?);
    for (name, pk, sk) in TABLE_INDEXES {
        req = req
            .attribute_definitions(attr(pk)?)
            .attribute_definitions(attr(sk)?)
            .global_secondary_indexes(
                GlobalSecondaryIndex::builder()
                    .index_name(name)
                    .key_schema(key_el(pk, KeyType::Hash)?)
                    .key_schema(key_el(sk, KeyType::Range)?)
                    .projection(
                        Projection::builder()
                            .projection_type(ProjectionType::All)
                            .build(),
                    )
                    .build()
                    .map_err(internal)?,
            );
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
    use super::{error_item, event_item, integration_item, Item, TABLE_INDEXES};
    use aws_sdk_dynamodb::types::AttributeValue;
    use iev_domain::event::Event;
    use iev_domain::integration::Integration;
    use iev_domain::ports::FailureCount;
    use iev_domain::record::ErrorRecord;
    use iev_domain::StoreError;

    /// One item written: its base-table partition key, its size, whether it
    /// is part of a transaction (billed twice on the table), and each index
    /// partition it lands in (every index projects the whole item).
    #[derive(Debug, Clone)]
    pub struct Write {
        pub table_partition: String,
        pub bytes: usize,
        pub transactional: bool,
        pub indexes: Vec<(&'static str, String)>,
    }

    impl Write {
        /// Write units for one copy of the item: one per KB begun.
        pub fn units(&self) -> u64 {
            self.bytes.div_ceil(1024).max(1) as u64
        }
    }

    /// DynamoDB's item size: each attribute's name and value.
    fn item_bytes(item: &Item) -> usize {
        item.iter()
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
        let s = |name: &str| item.get(name).and_then(|v| v.as_s().ok()).cloned();
        Write {
            table_partition: s("PK").unwrap_or_default(),
            bytes: item_bytes(item),
            transactional,
            indexes: TABLE_INDEXES
                .iter()
                .filter_map(|(index, pk, _)| s(pk).map(|p| (*index, p)))
                .collect(),
        }
    }

    /// Accepting an event (without an Idempotency-Key): one PutItem.
    pub fn accept(event: &Event) -> Result<Vec<Write>, StoreError> {
        Ok(vec![write(&event_item(event)?, false)])
    }

    /// Claiming it before a call: the whole item again.
    pub fn claim(event: &Event) -> Result<Vec<Write>, StoreError> {
        Ok(vec![write(&event_item(event)?, false)])
    }

    /// Settling it: one transaction of the event, its failure record, and
    /// the integration's count when it moves (an update billed by the whole
    /// integration item).
    pub fn settle(
        event: &Event,
        error: Option<&ErrorRecord>,
        count: FailureCount,
        integration: &Integration,
    ) -> Result<Vec<Write>, StoreError> {
        let mut writes = vec![write(&event_item(event)?, true)];
        if let Some(record) = error {
            writes.push(write(&error_item(record)?, true));
        }
        if count != FailureCount::Unchanged {
            writes.push(write(&integration_item(integration)?, true));
        }
        Ok(writes)
    }
}
