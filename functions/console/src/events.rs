//! The events log and an event's page: its delivery attempts and `Retry delivery`.

use crate::failures::pairs_of;
use crate::{describe, done, page, query_string, segment, when, Ctx, Html, PageError};
use axum::extract::{Path, RawQuery};
use axum::response::{IntoResponse, Response};
use iev_domain::event::{AttemptOutcome, EventStatus, EventType};
use iev_domain::DomainError;
use maud::html;

const FILTERS: [&str; 3] = ["status", "type", "applicationId"];
const STATUSES: [EventStatus; 4] = [
    EventStatus::Pending,
    EventStatus::AsyncPending,
    EventStatus::Complete,
    EventStatus::Failed,
];

fn get<'a>(pairs: &'a [(String, String)], name: &str) -> &'a str {
    pairs
        .iter()
        .find(|(k, _)| k == name)
        .map_or("", |(_, v)| v.as_str())
}

pub async fn events_page(ctx: Ctx, RawQuery(raw): RawQuery) -> Response {
    let pairs = pairs_of(raw.as_deref());
    let cursor = get(&pairs, "cursor");
    let mut query: Vec<(String, String)> = FILTERS
        .iter()
        .map(|n| (n.to_string(), get(&pairs, n).trim().to_owned()))
        .filter(|(_, v)| !v.is_empty())
        .collect();
    query.push(("limit".into(), "50".into()));
    if !cursor.is_empty() {
        query.push(("cursor".into(), cursor.to_owned()));
    }
    let (items, next, problem) = match ctx.service.list_events(&ctx.caller, query).await {
        Ok(list) => (list.items, list.next_cursor, None),
        Err(e @ DomainError::Invalid { .. }) => (Vec::new(), None, Some(describe(&e))),
        Err(e) => return PageError(e).into_response(),
    };
    let filters: Vec<(&str, &str)> = FILTERS.iter().map(|n| (*n, get(&pairs, n))).collect();
    let body = html! {
        form.filters method="get" action="/console/events" role="search" aria-label="Filters" {
            div {
                label for="status" { "Status" }
                select #status name="status" {
                    option value="" { "Any" }
                    @for s in STATUSES {
                        option value=(s.as_str()) selected[get(&pairs, "status") == s.as_str()] { (s.as_str()) }
                    }
                }
            }
            div {
                label for="type" { "Event type" }
                select #type name="type" {
                    option value="" { "Any" }
                    @for t in EventType::ALL {
                        option value=(t.as_str()) selected[get(&pairs, "type") == t.as_str()] { (t.as_str()) }
                    }
                }
            }
            div {
                label for="applicationId" { "Application" }
                input #applicationId type="text" name="applicationId" value=(get(&pairs, "applicationId"));
            }
            div { button type="submit" { "Apply" } }
        }
        @if let Some(p) = &problem { p.flash.error role="alert" { (p) } }
        div.table-wrap {
            table {
                thead {
                    tr {
                        th scope="col" { "Created" } th scope="col" { "Event" } th scope="col" { "Application" }
                        th scope="col" { "Type" } th scope="col" { "Status" } th scope="col" { "Round" } th scope="col" { "Attempts" }
                    }
                }
                tbody {
                    @if items.is_empty() { tr { td colspan="7" { "No events match." } } }
                    @for e in &items {
                        tr {
                            td { (when(&e.created_at)) }
                            td { a href={ "/console/events/" (segment(&e.id)) } { (e.id) } }
                            td { (e.application_id.as_str()) }
                            td { (e.kind.as_str()) }
                            td { (e.status.as_str()) }
                            td { (e.round) }
                            td { (e.attempts) }
                        }
                    }
                }
            }
        }
        nav.pager aria-label="Pages" {
            @if !cursor.is_empty() {
                a href={ "/console/events?" (query_string(filters.iter().copied())) } { "First page" }
            }
            @if let Some(n) = &next {
                a rel="next" href={ "/console/events?" (query_string(filters.iter().copied().chain([("cursor", n.as_str())]))) } { "Next page" }
            }
        }
    };
    page(&ctx, "/console/events", "Events", body).into_response()
}

fn outcome(o: AttemptOutcome) -> String {
    serde_json::to_value(o)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_else(|| format!("{o:?}"))
}

pub async fn event_page(ctx: Ctx, Path(id): Path<String>) -> Result<Html, PageError> {
    let e = ctx.service.get_event(&ctx.caller, &id).await?;
    let retryable = matches!(e.status, EventStatus::Failed | EventStatus::AsyncPending);
    let body = html! {
        dl.fields {
            dt { "Event" } dd { (e.id) }
            dt { "Application" } dd { a href={ "/console/integrations/" (segment(e.application_id.as_str())) } { (e.application_id.as_str()) } }
            dt { "Type" } dd { (e.kind.as_str()) }
            dt { "Status" } dd { (e.status.as_str()) }
            dt { "Round" } dd { (e.round) }
            dt { "Created" } dd { (when(&e.created_at)) }
            dt { "Updated" } dd { (when(&e.updated_at)) }
        }
        section aria-labelledby="attempts" {
            h2 #attempts { "Delivery attempts" }
            div.table-wrap {
                table {
                    thead {
                        tr {
                            th scope="col" { "Time" } th scope="col" { "Round" } th scope="col" { "HTTP status" } th scope="col" { "Latency" }
                            th scope="col" { "Outcome" } th scope="col" { "Error code" } th scope="col" { "Message" }
                        }
                    }
                    tbody {
                        @if e.attempts.is_empty() { tr { td colspan="7" { "No attempt yet." } } }
                        @for a in &e.attempts {
                            tr {
                                td { (when(&a.at)) }
                                td { (a.round) }
                                td { @if let Some(s) = a.http_status { (s) } }
                                td { (a.latency_ms) " ms" }
                                td { (outcome(a.outcome)) }
                                td { (a.error_code.clone().unwrap_or_default()) }
                                td.msg { (a.message.clone().unwrap_or_default()) }
                            }
                        }
                    }
                }
            }
        }
        form method="post" action={ "/console/events/" (segment(&e.id)) "/retry" } {
            @if retryable {
                button type="submit" { "Retry delivery" }
            } @else {
                button type="submit" disabled { "Retry delivery" }
                p.hint { "Only a failed event, or one waiting for its vendor's answer, can be delivered again." }
            }
        }
        section aria-labelledby="body" {
            h2 #body { "Event" }
            pre { (serde_json::to_string_pretty(&e.event).unwrap_or_default()) }
        }
    };
    Ok(page(&ctx, "/console/events", "Event", body))
}

pub async fn retry(ctx: Ctx, Path(id): Path<String>) -> Response {
    let location = format!("/console/events/{}", segment(&id));
    match ctx.service.retry_event(&ctx.caller, &id).await {
        Ok(_) => done(&location, "Queued for one more delivery.", &ctx.service),
        Err(e @ DomainError::NotFound(_)) => PageError(e).into_response(),
        Err(e) => done(&location, &describe(&e), &ctx.service),
    }
}
