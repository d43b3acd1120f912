//! The landing page (Failed Integration Events: filters, chosen fields,
//! marking rows, CSV, paging by cursor) and a failure's own page.

use crate::{describe, done, page, query_string, segment, session, when, Ctx, Html, PageError};
use axum::body::Bytes;
use axum::extract::{Path, RawQuery};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use iev_domain::event::EventType;
use iev_domain::record::{Category, ErrorCode, ErrorRecord};
use iev_domain::report::{report_row, CsvReport, ReportField};
use iev_domain::DomainError;
use maud::{html, Markup};
use serde_json::Value;
use std::collections::BTreeSet;

/// The landing page's filters, as its URL carries them (the API's names).
const FILTERS: [&str; 9] = [
    "from",
    "to",
    "applicationId",
    "eventType",
    "errorCode",
    "category",
    "companyId",
    "userEmail",
    "resolved",
];
const PAGE_ROWS: &str = "50";
/// A download holds at most this many rows (ten of the API's largest pages).
pub const CSV_MAX_ROWS: usize = 10_000;
/// And at most this many bytes: a Lambda function's answer through API
/// Gateway cannot pass 6 MB. The daily export has no such bound.
pub const CSV_MAX_BYTES: usize = 5 * 1024 * 1024;
const FIELDS_COOKIE: &str = "iev_fields";

pub(crate) fn pairs_of(raw: Option<&str>) -> Vec<(String, String)> {
    url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes())
        .into_owned()
        .collect()
}

fn get<'a>(pairs: &'a [(String, String)], name: &str) -> &'a str {
    pairs
        .iter()
        .find(|(k, _)| k == name)
        .map_or("", |(_, v)| v.as_str())
}

/// The service's query for the page's filters: empty ones left out, `to`
/// given as a date meaning the whole of that day (the API's `to` is exclusive).
fn service_pairs(pairs: &[(String, String)]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for name in FILTERS {
        let value = get(pairs, name).trim();
        if value.is_empty() {
            continue;
        }
        let value = match name {
            "resolved" if value == "all" => "all".to_owned(),
            "resolved" => continue,
            "to" => match chrono::NaiveDate::parse_from_str(value, "%Y-%m-%d") {
                Ok(day) => day
                    .succ_opt()
                    .map_or(value.to_owned(), |d| d.format("%Y-%m-%d").to_string()),
                Err(_) => value.to_owned(),
            },
            _ => value.to_owned(),
        };
        out.push((name.to_owned(), value));
    }
    out
}

/// The fields this user chose (a cookie naming the key it belongs to), or the default twelve.
fn chosen_fields(headers: &HeaderMap, key_id: &str) -> Vec<ReportField> {
    session::cookie(headers, FIELDS_COOKIE)
        .map(|v| {
            percent_encoding::percent_decode_str(v)
                .decode_utf8_lossy()
                .into_owned()
        })
        .and_then(|v| {
            let (owner, list) = v.split_once(':')?;
            (owner == key_id).then(|| ReportField::parse_list(list).ok())?
        })
        .filter(|f| !f.is_empty())
        .unwrap_or_else(ReportField::defaults)
}

fn field_names(fields: &[ReportField]) -> String {
    fields
        .iter()
        .map(|f| f.name().into_owned())
        .collect::<Vec<_>>()
        .join(",")
}

pub async fn landing(ctx: Ctx, RawQuery(raw): RawQuery, headers: HeaderMap) -> Response {
    let pairs = pairs_of(raw.as_deref());
    let fields = chosen_fields(&headers, &ctx.caller.key_id);
    let mut query = service_pairs(&pairs);
    query.push(("fields".into(), field_names(&fields)));
    query.push(("limit".into(), PAGE_ROWS.into()));
    let cursor = get(&pairs, "cursor");
    if !cursor.is_empty() {
        query.push(("cursor".into(), cursor.to_owned()));
    }
    let (items, next, problem) = match ctx.service.list_errors(&ctx.caller, query).await {
        Ok(page) => (page.items, page.next_cursor, None),
        Err(e @ DomainError::Invalid { .. }) => (Vec::new(), None, Some(describe(&e))),
        Err(e) => return PageError(e).into_response(),
    };
    let filters_only: Vec<(&str, &str)> = FILTERS.iter().map(|n| (*n, get(&pairs, n))).collect();
    let here = query_string(filters_only.iter().copied().chain([("cursor", cursor)]));
    let next_link = next.as_deref().map(|c| {
        format!(
            "/?{}",
            query_string(filters_only.iter().copied().chain([("cursor", c)]))
        )
    });
    let csv_link = format!(
        "/console/failures.csv?{}",
        query_string(filters_only.iter().copied())
    );
    let mut custom: BTreeSet<String> = items
        .iter()
        .flat_map(|r| r.custom_attributes.keys().cloned())
        .collect();
    for f in &fields {
        if let ReportField::Custom(name) = f {
            custom.insert(name.clone());
        }
    }
    let body = html! {
        (filter_form(&pairs))
        (fields_form(&fields, &custom, &here))
        @if let Some(p) = &problem {
            p.flash.error role="alert" { (p) }
        }
        form #rows method="post" action="/console/failures/actions" {
            input type="hidden" name="back" value=(here);
            div.toolbar {
                button type="button" name="action" value="resolve" data-confirm="Mark {n} event{s} as actioned?" data-needs-rows { "Mark as actioned" }
                button.secondary type="button" name="action" value="unresolve" data-confirm="Mark {n} event{s} as not actioned?" data-needs-rows { "Mark as not actioned" }
                span #announce.muted role="status" data-announce {}
                span.spacer {}
                a.button.secondary href=(csv_link) hx-boost="false" download { "Download CSV" }
            }
            (table(&fields, &items))
        }
        nav.pager aria-label="Pages" {
            @if !cursor.is_empty() {
                a href={ "/?" (query_string(filters_only.iter().copied())) } { "First page" }
            }
            @if let Some(n) = &next_link {
                a href=(n) rel="next" { "Next page" }
            }
        }
        p.hint { "Newest first, " (PAGE_ROWS) " a page. Download CSV writes the filters and fields shown, up to " (CSV_MAX_ROWS) " rows or 5 MB; the daily export has everything." }
    };
    page(&ctx, "/", "Failed Integration Events", body).into_response()
}

fn option_list(name: &str, label: &str, current: &str, values: &[&str]) -> Markup {
    html! {
        div {
            label for=(name) { (label) }
            select #(name) name=(name) {
                option value="" selected[current.is_empty()] { "Any" }
                @for v in values {
                    option value=(v) selected[current == *v] { (v) }
                }
            }
        }
    }
}

fn filter_form(pairs: &[(String, String)]) -> Markup {
    let text = |name: &str, label: &str, kind: &str| {
        html! {
            div {
                label for=(name) { (label) }
                input #(name) type=(kind) name=(name) value=(get(pairs, name));
            }
        }
    };
    let types: Vec<&str> = EventType::ALL.iter().map(|t| t.as_str()).collect();
    let codes: Vec<&str> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
    let categories: Vec<&str> = Category::ALL.iter().map(|c| c.as_str()).collect();
    html! {
        form.filters method="get" action="/" role="search" aria-label="Filters" {
            (text("from", "From", "date"))
            (text("to", "To", "date"))
            (text("applicationId", "Application", "text"))
            (option_list("eventType", "Event type", get(pairs, "eventType"), &types))
            (option_list("errorCode", "Error code", get(pairs, "errorCode"), &codes))
            (option_list("category", "Category", get(pairs, "category"), &categories))
            (text("companyId", "Company", "text"))
            (text("userEmail", "User email", "text"))
            div {
                label.switch for="resolved" {
                    input #resolved type="checkbox" role="switch" name="resolved" value="all"
                        checked[get(pairs, "resolved") == "all"] data-autosubmit;
                    "Include actioned events"
                }
            }
            div { button type="submit" { "Apply" } }
        }
    }
}

fn fields_form(fields: &[ReportField], custom: &BTreeSet<String>, back: &str) -> Markup {
    let mut all = ReportField::all();
    all.extend(custom.iter().map(|c| ReportField::Custom(c.clone())));
    html! {
        details.fields {
            summary { "Choose fields" }
            form method="post" action="/console/fields" {
                input type="hidden" name="back" value=(back);
                div.checks {
                    @for f in &all {
                        @let name = f.name();
                        @let id = format!("field-{name}");
                        label for=(id) {
                            input #(id) type="checkbox" name="fields" value=(name) checked[fields.contains(f)];
                            (f.heading())
                            @if let ReportField::Custom(_) = f { span.muted { " (custom attribute)" } }
                        }
                    }
                }
                div.toolbar {
                    button type="submit" { "Save fields" }
                    button.secondary type="submit" name="reset" value="1" { "Default fields" }
                }
            }
        }
    }
}

/// A report value as the table shows it.
fn cell(field: &ReportField, value: &Value) -> Markup {
    match (field.name().as_ref(), value) {
        ("manuallyResolved", Value::Bool(done)) => status(*done),
        ("creationDate" | "resolvedAt", Value::String(s)) => {
            match s.parse::<chrono::DateTime<chrono::Utc>>() {
                Ok(t) => when(&t),
                Err(_) => html! { (s) },
            }
        }
        (_, Value::Null) => html! {},
        (_, Value::String(s)) => html! { (s) },
        (_, other) => html! { (other.to_string()) },
    }
}

pub(crate) fn status(actioned: bool) -> Markup {
    html! {
        @if actioned { span.status.done { "ACTIONED" } } @else { span.status.open { "NOT ACTIONED" } }
    }
}

fn table(fields: &[ReportField], items: &[ErrorRecord]) -> Markup {
    html! {
        div.table-wrap {
            table {
                caption.muted { (items.len()) " shown" }
                thead {
                    tr {
                        th scope="col" {
                            input type="checkbox" aria-label="Select every row" data-select-all;
                        }
                        @for f in fields { th scope="col" { (f.heading()) } }
                    }
                }
                tbody {
                    @if items.is_empty() {
                        tr { td colspan=(fields.len() + 1) { "No failures match." } }
                    }
                    @for r in items {
                        @let row = report_row(fields, r);
                        @let link = format!("/console/failures/{}", segment(&r.id));
                        tr data-id=(r.id) {
                            td {
                                input type="checkbox" name="ids" value=(r.id) aria-label={ "Select failure " (r.id) };
                            }
                            @for (i, f) in fields.iter().enumerate() {
                                @let value = row.get(f.name().as_ref()).cloned().unwrap_or(Value::Null);
                                td.msg[f.name() == "message"] {
                                    @if i == 0 {
                                        a href=(link) aria-label={ "Open failure " (r.id) } {
                                            @if value.is_null() || value == Value::String(String::new()) { "Open" } @else { (cell(f, &value)) }
                                        }
                                    } @else {
                                        (cell(f, &value))
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn form_pairs(body: &[u8]) -> Vec<(String, String)> {
    url::form_urlencoded::parse(body).into_owned().collect()
}

/// Back to the landing page with the query it was sent from.
fn back_to(pairs: &[(String, String)]) -> String {
    let back = get(pairs, "back");
    // Only a query string of this page: nothing can turn it into another address.
    let cleaned = query_string(
        pairs_of(Some(back))
            .iter()
            .filter(|(k, _)| FILTERS.contains(&k.as_str()) || k == "cursor")
            .map(|(k, v)| (k.as_str(), v.as_str())),
    );
    if cleaned.is_empty() {
        "/".into()
    } else {
        format!("/?{cleaned}")
    }
}

pub async fn choose_fields(ctx: Ctx, body: Bytes) -> Response {
    let pairs = form_pairs(&body);
    let reset = get(&pairs, "reset") == "1";
    let names: Vec<&str> = pairs
        .iter()
        .filter(|(k, _)| k == "fields")
        .map(|(_, v)| v.as_str())
        .collect();
    let list = names.join(",");
    let location = back_to(&pairs);
    let (value, max_age) = if reset {
        (String::new(), 0)
    } else {
        match ReportField::parse_list(&list) {
            Ok(f) if !f.is_empty() => (
                format!("{}:{}", ctx.caller.key_id, field_names(&f)),
                60 * 60 * 24 * 365,
            ),
            _ => return done(&location, "Choose at least one field.", &ctx.service),
        }
    };
    let encoded = percent_encoding::utf8_percent_encode(&value, percent_encoding::NON_ALPHANUMERIC)
        .to_string();
    let mut response = done(
        &location,
        if reset {
            "The default fields are shown."
        } else {
            "Your fields are saved."
        },
        &ctx.service,
    );
    let cookie = session::cookie_header(
        FIELDS_COOKIE,
        &encoded,
        max_age,
        crate::secure(&ctx.service),
    );
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
    response
}

pub async fn bulk_action(ctx: Ctx, body: Bytes) -> Response {
    let pairs = form_pairs(&body);
    let location = back_to(&pairs);
    let ids: Vec<String> = pairs
        .iter()
        .filter(|(k, _)| k == "ids")
        .map(|(_, v)| v.clone())
        .collect();
    if ids.is_empty() {
        return done(&location, "Check at least one row first.", &ctx.service);
    }
    let message = match get(&pairs, "action") {
        "resolve" => {
            let body = serde_json::json!({ "ids": ids }).to_string();
            match ctx.service.resolve_many(&ctx.caller, body.as_bytes()).await {
                Ok(results) => {
                    let count = |s: iev_domain::resolution::BulkStatus| {
                        results.iter().filter(|r| r.status == s).count()
                    };
                    use iev_domain::resolution::BulkStatus as S;
                    summary(&[
                        (count(S::Resolved), "marked as actioned"),
                        (count(S::AlreadyResolved), "already actioned"),
                        (count(S::NotFound), "not found"),
                        (count(S::Failed), "could not be written; try again"),
                    ])
                }
                Err(e) => describe(&e),
            }
        }
        "unresolve" => {
            let (mut changed, mut missing, mut failed) = (0, 0, 0);
            for id in ids.iter().collect::<BTreeSet<_>>() {
                match ctx.service.unresolve_error(&ctx.caller, id).await {
                    Ok(_) => changed += 1,
                    Err(DomainError::NotFound(_)) => missing += 1,
                    Err(_) => failed += 1,
                }
            }
            summary(&[
                (changed, "marked as not actioned"),
                (missing, "not found"),
                (failed, "could not be written; try again"),
            ])
        }
        _ => "Choose Mark as actioned or Mark as not actioned.".into(),
    };
    done(&location, &message, &ctx.service)
}

fn summary(parts: &[(usize, &str)]) -> String {
    let said: Vec<String> = parts
        .iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, what)| format!("{n} {what}"))
        .collect();
    if said.is_empty() {
        "Nothing changed.".into()
    } else {
        format!("{}.", said.join(", "))
    }
}

pub async fn download_csv(ctx: Ctx, RawQuery(raw): RawQuery, headers: HeaderMap) -> Response {
    let pairs = pairs_of(raw.as_deref());
    let fields = chosen_fields(&headers, &ctx.caller.key_id);
    let mut csv = CsvReport::new(fields.clone());
    // The header row, even when no record matches.
    let mut out = match csv.page(&[]) {
        Ok(header) => header,
        Err(e) => return PageError(e).into_response(),
    };
    let mut cursor: Option<String> = None;
    let mut rows = 0;
    loop {
        let mut query = service_pairs(&pairs);
        query.push(("fields".into(), field_names(&fields)));
        query.push(("limit".into(), "1000".into()));
        if let Some(c) = &cursor {
            query.push(("cursor".into(), c.clone()));
        }
        let page = match ctx.service.list_errors(&ctx.caller, query).await {
            Ok(p) => p,
            Err(e) => return PageError(e).into_response(),
        };
        let take = page.items.len().min(CSV_MAX_ROWS - rows);
        let mut full = false;
        // Row by row, so that the file stops whole below the byte bound.
        for item in page.items[..take].chunks(1) {
            match csv.page(item) {
                Ok(bytes) if out.len() + bytes.len() > CSV_MAX_BYTES => {
                    full = true;
                    break;
                }
                Ok(bytes) => out.extend(bytes),
                Err(e) => return PageError(e).into_response(),
            }
            rows += 1;
        }
        match page.next_cursor {
            Some(next) if rows < CSV_MAX_ROWS && !full => cursor = Some(next),
            _ => break,
        }
    }
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"failed-integration-events.csv\"",
            ),
        ],
        out,
    )
        .into_response()
}

/// The follow-up action a failure's category calls for.
fn follow_up(r: &ErrorRecord) -> Markup {
    let app = segment(r.application_id.as_str());
    html! {
        section.card aria-labelledby="follow-up" {
            h2 #follow-up { "Follow-up" }
            p.muted { (r.category.as_str()) ": " (r.category.follow_up()) "." }
            @match r.category {
                Category::Validation | Category::Perform => {
                    @if let Some(event) = &r.event_id {
                        a.button href={ "/console/events/" (segment(event)) } { "View run" }
                    } @else {
                        p { "This failure was recorded by another system (" (r.source.as_str()) "): there is no delivery run here." }
                    }
                }
                Category::MissingAccountMapping => {
                    a.button href={ "/console/integrations/" (app) "?failure=" (segment(&r.id)) "#account-mapping" } { "Add mapping" }
                }
                Category::Authentication => {
                    a.button href={ "/console/integrations/" (app) "#authorization" } { "Configure authorization" }
                }
                Category::Disabled => {
                    a.button href={ "/console/integrations/" (app) "#enable" } { "Re-enable" }
                }
            }
        }
    }
}

fn json_value(v: &Value) -> Markup {
    match v {
        Value::Null => html! { span.muted { "—" } },
        Value::String(s) => html! { (s) },
        Value::Array(a) if a.is_empty() => html! { span.muted { "—" } },
        Value::Object(o) if o.is_empty() => html! { span.muted { "—" } },
        Value::Array(_) | Value::Object(_) => {
            html! { pre { (serde_json::to_string_pretty(v).unwrap_or_default()) } }
        }
        other => html! { (other.to_string()) },
    }
}

pub async fn failure_page(ctx: Ctx, Path(id): Path<String>) -> Result<Html, PageError> {
    let r = ctx.service.get_error(&ctx.caller, &id).await?;
    let full = serde_json::to_value(&r).unwrap_or_default();
    let base = format!("/console/failures/{}", segment(&r.id));
    let headings: Vec<ReportField> = ReportField::all();
    let body = html! {
        p { (status(r.manually_resolved)) " " span.muted { (r.id) } }
        div.cards {
            (follow_up(&r))
            section.card aria-labelledby="action" {
                h2 #action { "Action" }
                @if r.manually_resolved {
                    form method="post" action={ (base) "/unresolve" } {
                        button.secondary type="button" data-confirm="Mark this event as not actioned?" { "Mark as not actioned" }
                    }
                } @else {
                    form method="post" action={ (base) "/resolve" } {
                        button type="button" data-confirm="Mark this event as actioned?" { "Mark as actioned" }
                    }
                }
            }
        }
        section aria-labelledby="edit" {
            h2 #edit { "Note, external id and custom attributes" }
            form.stack method="post" action=(base) {
                // What the page showed: only what the user changed is sent,
                // so that a change made meanwhile by someone else stays.
                input type="hidden" name="was.note" value=(r.note.clone().unwrap_or_default());
                input type="hidden" name="was.externalId" value=(r.external_id.clone().unwrap_or_default());
                @for (name, value) in &r.custom_attributes {
                    input type="hidden" name={ "was.attr." (name) } value=(value);
                }
                div {
                    label for="note" { "Note" }
                    textarea #note name="note" { (r.note.clone().unwrap_or_default()) }
                }
                div {
                    label for="externalId" { "External id" }
                    input #externalId type="text" name="externalId" value=(r.external_id.clone().unwrap_or_default());
                }
                @for (name, value) in &r.custom_attributes {
                    div.row {
                        div {
                            label for={ "attr-" (name) } { "Custom attribute " (name) }
                            input id={ "attr-" (name) } type="text" name={ "attr." (name) } value=(value);
                        }
                        div {
                            label.switch for={ "remove-" (name) } {
                                input id={ "remove-" (name) } type="checkbox" name={ "remove." (name) } value="1";
                                "Remove " (name)
                            }
                        }
                    }
                }
                div.row {
                    div {
                        label for="newName" { "New attribute name" }
                        input #newName type="text" name="newName";
                    }
                    div {
                        label for="newValue" { "New attribute value" }
                        input #newValue type="text" name="newValue";
                    }
                }
                button type="submit" { "Save" }
            }
        }
        section aria-labelledby="all-fields" {
            h2 #all-fields { "Every field" }
            dl.fields {
                @if let Some(object) = full.as_object() {
                    @for (name, value) in object {
                        @if name != "history" {
                            @let heading = headings.iter().find(|f| f.name() == name.as_str()).map(|f| f.heading().to_owned()).unwrap_or_else(|| name.clone());
                            dt { (heading) }
                            dd { (json_value(value)) }
                        }
                    }
                }
            }
        }
        section aria-labelledby="history" {
            h2 #history { "History" }
            @if r.history.is_empty() {
                p.muted { "No change since it was recorded." }
            } @else {
                div.table-wrap {
                    table {
                        thead { tr { th scope="col" { "When" } th scope="col" { "Who" } th scope="col" { "What" } th scope="col" { "Changed" } } }
                        tbody {
                            @for change in &r.history {
                                tr {
                                    td { (when(&change.at)) }
                                    td { (change.by) }
                                    td { (format!("{:?}", change.action).to_lowercase()) }
                                    td {
                                        ul {
                                            @for (field, c) in &change.fields {
                                                li { (field) ": " (c.from.to_string()) " → " (c.to.to_string()) }
                                            }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(page(&ctx, "/", "Failed Integration Event", body))
}

pub async fn update_failure(ctx: Ctx, Path(id): Path<String>, body: Bytes) -> Response {
    let pairs = form_pairs(&body);
    let location = format!("/console/failures/{}", segment(&id));
    let text = |name: &str| {
        let v = get(&pairs, name).trim();
        if v.is_empty() {
            Value::Null
        } else {
            Value::String(v.to_owned())
        }
    };
    // A field the form shows unchanged is left out of the change.
    let changed = |name: &str| {
        let was = pairs
            .iter()
            .find(|(k, _)| k.strip_prefix("was.") == Some(name));
        was.is_none_or(|(_, was)| was.trim() != get(&pairs, name).trim())
    };
    let mut attributes = serde_json::Map::new();
    for (k, v) in &pairs {
        if let Some(name) = k.strip_prefix("attr.") {
            if changed(k) {
                attributes.insert(name.to_owned(), Value::String(v.clone()));
            }
        }
    }
    for (k, _) in &pairs {
        if let Some(name) = k.strip_prefix("remove.") {
            attributes.insert(name.to_owned(), Value::Null);
        }
    }
    let new_name = get(&pairs, "newName").trim();
    if !new_name.is_empty() {
        attributes.insert(
            new_name.to_owned(),
            Value::String(get(&pairs, "newValue").to_owned()),
        );
    }
    let mut patch = serde_json::Map::new();
    for field in ["note", "externalId"] {
        if changed(field) {
            patch.insert(field.to_owned(), text(field));
        }
    }
    if !attributes.is_empty() {
        patch.insert("customAttributes".to_owned(), Value::Object(attributes));
    }
    let patch = Value::Object(patch);
    let message = match ctx
        .service
        .patch_error(&ctx.caller, &id, patch.to_string().as_bytes())
        .await
    {
        Ok(_) => "Saved.".to_owned(),
        Err(DomainError::NotFound(_)) => {
            return PageError(DomainError::NotFound("failure")).into_response()
        }
        Err(e) => describe(&e),
    };
    done(&location, &message, &ctx.service)
}

pub async fn resolve(ctx: Ctx, Path(id): Path<String>) -> Response {
    let location = format!("/console/failures/{}", segment(&id));
    match ctx.service.resolve_error(&ctx.caller, &id, b"").await {
        Ok(_) => done(&location, "Marked as actioned.", &ctx.service),
        Err(e @ DomainError::NotFound(_)) => PageError(e).into_response(),
        Err(e) => done(&location, &describe(&e), &ctx.service),
    }
}

pub async fn unresolve(ctx: Ctx, Path(id): Path<String>) -> Response {
    let location = format!("/console/failures/{}", segment(&id));
    match ctx.service.unresolve_error(&ctx.caller, &id).await {
        Ok(_) => done(&location, "Marked as not actioned.", &ctx.service),
        Err(e @ DomainError::NotFound(_)) => PageError(e).into_response(),
        Err(e) => done(&location, &describe(&e), &ctx.service),
    }
}
