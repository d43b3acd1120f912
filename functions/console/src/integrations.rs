//! Integrations: each application's integration, its page (notification
//! URLs, alert URL, authorization, re-enabling, recovery) and what a vendor
//! must do about a missing account mapping.

use crate::failures::pairs_of;
use crate::{describe, done, page, segment, when, Ctx, Html, PageError};
use axum::body::Bytes;
use axum::extract::{Path, RawQuery};
use axum::response::{IntoResponse, Response};
use iev_domain::auth::Role;
use iev_domain::event::EventType;
use iev_domain::integration::IntegrationView;
use iev_domain::DomainError;
use maud::{html, Markup};
use serde_json::{json, Value};

fn get<'a>(pairs: &'a [(String, String)], name: &str) -> &'a str {
    pairs
        .iter()
        .find(|(k, _)| k == name)
        .map_or("", |(_, v)| v.as_str())
}

pub(crate) fn enabled_badge(enabled: bool) -> Markup {
    html! {
        @if enabled { span.status.done { "Enabled" } } @else { span.status.open { "Disabled" } }
    }
}

/// What the account-mapping section shows about one failure: the account
/// identifier, company and user the vendor's product did not find.
async fn mapping_facts(ctx: &Ctx, failure: &str) -> Option<Vec<(&'static str, String)>> {
    let record = ctx.service.get_error(&ctx.caller, failure).await.ok()?;
    let mut facts = vec![("Error code", record.error_code.as_str().to_owned())];
    facts.push(("Message", record.message.clone()));
    if let Some(c) = &record.company_name {
        facts.push(("Company", c.clone()));
    }
    if let Some(u) = &record.user_email {
        facts.push(("User email", u.clone()));
    }
    if let Some(event_id) = &record.event_id {
        if let Ok(event) = ctx.service.get_event(&ctx.caller, event_id).await {
            let body = serde_json::to_value(&event.event).unwrap_or_default();
            if let Some(account) = body
                .pointer("/payload/account/accountIdentifier")
                .and_then(Value::as_str)
            {
                facts.insert(0, ("Account identifier", account.to_owned()));
            }
            facts.push(("Event", event.id.clone()));
        }
    }
    Some(facts)
}

pub async fn integration_page(
    ctx: Ctx,
    Path(application_id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Html, PageError> {
    let i = ctx
        .service
        .get_integration(&ctx.caller, &application_id)
        .await?;
    let pairs = pairs_of(raw.as_deref());
    let failure = get(&pairs, "failure");
    let facts = if failure.is_empty() {
        None
    } else {
        mapping_facts(&ctx, failure).await
    };
    let base = format!(
        "/console/integrations/{}",
        segment(i.application_id.as_str())
    );
    let may_enable = matches!(ctx.caller.role, Role::Admin | Role::Manager);
    let today = ctx.service.clock.now().date_naive();
    let body = html! {
        dl.fields {
            dt { "Application" } dd { (i.application_name) " (" (i.application_id.as_str()) ")" }
            dt { "Vendor" } dd { (i.vendor_id.as_str()) }
            @if let Some(u) = &i.importable_application_uuid { dt { "Importable application uuid" } dd { (u) } }
            dt { "State" } dd { (enabled_badge(i.enabled)) }
            dt { "Successive failures" } dd { (i.successive_failures) }
            dt { "Disabled at" } dd { @if let Some(t) = &i.disabled_at { (when(t)) } @else { span.muted { "—" } } }
        }
        p { a href={ "/?applicationId=" (segment(i.application_id.as_str())) } { "Failures of this application" } " · "
            a href={ "/console/events?applicationId=" (segment(i.application_id.as_str())) } { "Events of this application" } }
        div.cards {
            section.card #enable aria-labelledby="enable-h" {
                h2 #enable-h { "Re-enable" }
                @if i.enabled {
                    p { "The integration is enabled: events are delivered." }
                } @else if may_enable {
                    p { "Disabled after successive failed deliveries: events are not sent, each is recorded as integration.disabled.error." }
                    form method="post" action={ (base) "/enable" } {
                        label.switch for="redeliver" {
                            input #redeliver type="checkbox" name="redeliver" value="true";
                            "Also redeliver the events that failed while it was disabled"
                        }
                        p { button type="submit" { "Re-enable" } }
                    }
                } @else {
                    p { "Disabled. Once the product works again, ask the marketplace's managers to re-enable it." }
                }
            }
            section.card #authorization aria-labelledby="authorization-h" {
                h2 #authorization-h { "Authorization" }
                p.hint { "Calls to the product are signed with OAuth 1.0a (HMAC-SHA1) with this consumer key and its secret. The secret is never shown; set a new one when the vendor changes it." }
                form.stack method="post" action={ (base) "/authorization" } {
                    div {
                        label for="consumerKey" { "OAuth consumer key" }
                        input #consumerKey type="text" name="consumerKey" value=(i.consumer_key) required;
                    }
                    div {
                        label for="consumerSecret" { "New consumer secret" }
                        input #consumerSecret type="password" name="consumerSecret" autocomplete="new-password" required;
                    }
                    button type="submit" { "Save authorization" }
                }
            }
            section.card #account-mapping aria-labelledby="mapping-h" {
                h2 #mapping-h { "Account mapping" }
                p { "A missing account mapping means the product answered that it has no account or user for what the event names (ACCOUNT_NOT_FOUND, USER_NOT_FOUND or BINDING_NOT_FOUND). The marketplace keeps the account identifier the product returned when the subscription was ordered." }
                p { "What the vendor must do: in the product, create the account (or the user) or link the existing one to the account identifier below, so that it is found under that identifier; then deliver the event again with Retry delivery on its page." }
                @if let Some(facts) = &facts {
                    dl.fields {
                        @for (name, value) in facts {
                            dt { (name) }
                            dd {
                                @if *name == "Event" {
                                    a href={ "/console/events/" (segment(value)) } { (value) }
                                } @else { (value) }
                            }
                        }
                    }
                } @else {
                    p.muted { "Open this page from a failure's Add mapping to see the account identifier it concerns." }
                }
            }
            section.card #recover aria-labelledby="recover-h" {
                h2 #recover-h { "Recovery" }
                @if may_enable {
                    p.hint { "Delivers again this application's failed events whose failures fall in the window (at most 10,000)." }
                    form.stack method="post" action={ (base) "/recover" } {
                        div.row {
                            div {
                                label for="since" { "Since (day)" }
                                input #since type="date" name="since" value=((today - chrono::Days::new(7)).format("%Y-%m-%d").to_string()) required;
                            }
                            div {
                                label for="until" { "Until (day, included)" }
                                input #until type="date" name="until" value=(today.format("%Y-%m-%d").to_string()) required;
                            }
                        }
                        button type="submit" { "Run recovery" }
                    }
                } @else {
                    p { "The marketplace's managers run recoveries." }
                }
            }
        }
        section #settings aria-labelledby="settings-h" {
            h2 #settings-h { "Notification URLs" }
            p.hint { "One URL per event type; each must contain {eventUrl}, where the event's address goes. Leave a type empty to send it nowhere (its events are recorded as CONFIGURATION_ERROR)." }
            form.stack method="post" action=(base) {
                div {
                    label for="applicationName" { "Application name" }
                    input #applicationName type="text" name="applicationName" value=(i.application_name) required;
                }
                @for t in EventType::ALL {
                    div {
                        label for={ "url-" (t.as_str()) } { (t.as_str()) }
                        input id={ "url-" (t.as_str()) } type="url" name={ "url." (t.as_str()) }
                            value=(i.notification_urls.get(&t).map(|u| u.as_str()).unwrap_or_default());
                    }
                }
                div {
                    label for="alertUrl" { "Alert URL" }
                    input #alertUrl type="url" name="alertUrl" value=(i.alert_url.clone().unwrap_or_default());
                }
                button type="submit" { "Save settings" }
            }
        }
    };
    Ok(page(&ctx, "/console/integrations", "Integration", body))
}

/// The integration's settings as `PUT /v1/integrations/{id}` takes them,
/// from what the caller sees of it; no secret unless a new one is given.
fn settings_body(i: &IntegrationView) -> Value {
    let urls: serde_json::Map<String, Value> = i
        .notification_urls
        .iter()
        .map(|(t, u)| (t.as_str().to_owned(), Value::String(u.as_str().to_owned())))
        .collect();
    let mut body = json!({
        "applicationName": i.application_name,
        "vendorId": i.vendor_id.as_str(),
        "notificationUrls": urls,
        "oauth": {"consumerKey": i.consumer_key},
    });
    if let Some(u) = &i.importable_application_uuid {
        body["importableApplicationUuid"] = json!(u);
    }
    if let Some(a) = &i.alert_url {
        body["alertUrl"] = json!(a);
    }
    body
}

async fn put(
    ctx: &Ctx,
    application_id: &str,
    edit: impl FnOnce(&mut Value),
) -> Result<(), DomainError> {
    let current = ctx
        .service
        .get_integration(&ctx.caller, application_id)
        .await?;
    let mut body = settings_body(&current);
    edit(&mut body);
    ctx.service
        .put_integration(&ctx.caller, application_id, body.to_string().as_bytes())
        .await
        .map(|_| ())
}

fn answer(ctx: &Ctx, location: &str, outcome: Result<String, DomainError>) -> Response {
    match outcome {
        Ok(message) => done(location, &message, &ctx.service),
        Err(e @ DomainError::NotFound(_)) => PageError(e).into_response(),
        Err(e) => done(location, &describe(&e), &ctx.service),
    }
}

pub async fn save_settings(ctx: Ctx, Path(application_id): Path<String>, body: Bytes) -> Response {
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(&body).into_owned().collect();
    let location = format!(
        "/console/integrations/{}#settings",
        segment(&application_id)
    );
    let outcome = put(&ctx, &application_id, |b| {
        let urls: serde_json::Map<String, Value> = pairs
            .iter()
            .filter_map(|(k, v)| Some((k.strip_prefix("url.")?, v.trim())))
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, v)| (k.to_owned(), json!(v)))
            .collect();
        b["notificationUrls"] = Value::Object(urls);
        b["applicationName"] = json!(get(&pairs, "applicationName").trim());
        match get(&pairs, "alertUrl").trim() {
            "" => {
                if let Some(o) = b.as_object_mut() {
                    o.remove("alertUrl");
                }
            }
            a => b["alertUrl"] = json!(a),
        }
    })
    .await
    .map(|()| "Settings saved.".to_owned());
    answer(&ctx, &location, outcome)
}

pub async fn save_secret(ctx: Ctx, Path(application_id): Path<String>, body: Bytes) -> Response {
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(&body).into_owned().collect();
    let location = format!(
        "/console/integrations/{}#authorization",
        segment(&application_id)
    );
    let secret = get(&pairs, "consumerSecret");
    if secret.is_empty() {
        return done(
            &location,
            "Not accepted: enter the new consumer secret.",
            &ctx.service,
        );
    }
    let outcome = put(&ctx, &application_id, |b| {
        b["oauth"] =
            json!({"consumerKey": get(&pairs, "consumerKey").trim(), "consumerSecret": secret});
    })
    .await
    .map(|()| "Authorization saved: calls are signed with the new secret.".to_owned());
    answer(&ctx, &location, outcome)
}

pub async fn enable(ctx: Ctx, Path(application_id): Path<String>, body: Bytes) -> Response {
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(&body).into_owned().collect();
    let location = format!("/console/integrations/{}", segment(&application_id));
    let redeliver = get(&pairs, "redeliver") == "true";
    let request = json!({ "redeliver": redeliver }).to_string();
    let outcome = ctx
        .service
        .enable_integration(&ctx.caller, &application_id, request.as_bytes())
        .await
        .map(|e| {
            if redeliver {
                format!(
                    "Re-enabled; {} event(s) queued for redelivery.",
                    e.redelivered
                )
            } else {
                "Re-enabled.".to_owned()
            }
        });
    answer(&ctx, &location, outcome)
}

/// A day of a date input, or the text as given (the service says what is wrong with it).
fn day(value: &str, plus_one: bool) -> String {
    match chrono::NaiveDate::parse_from_str(value, "%Y-%m-%d") {
        Ok(d) if plus_one => d.succ_opt().map_or(value.to_owned(), |d| d.to_string()),
        _ => value.to_owned(),
    }
}

pub async fn recover(ctx: Ctx, Path(application_id): Path<String>, body: Bytes) -> Response {
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(&body).into_owned().collect();
    let location = format!("/console/integrations/{}#recover", segment(&application_id));
    let request = json!({
        "since": day(get(&pairs, "since"), false),
        "until": day(get(&pairs, "until"), true),
    })
    .to_string();
    let outcome = ctx
        .service
        .recover(&ctx.caller, &application_id, request.as_bytes())
        .await
        .map(|queued| format!("Recovery started: {queued} event(s) queued for redelivery."));
    answer(&ctx, &location, outcome)
}

pub async fn list_page(ctx: Ctx, RawQuery(raw): RawQuery) -> Response {
    let pairs = pairs_of(raw.as_deref());
    let (enabled, vendor, cursor) = (
        get(&pairs, "enabled"),
        get(&pairs, "vendorId"),
        get(&pairs, "cursor"),
    );
    let mut query = vec![("limit".to_owned(), "50".to_owned())];
    for (name, value) in [
        ("enabled", enabled),
        ("vendorId", vendor),
        ("cursor", cursor),
    ] {
        if !value.trim().is_empty() {
            query.push((name.to_owned(), value.trim().to_owned()));
        }
    }
    let (items, next, problem) = match ctx.service.list_integrations(&ctx.caller, query).await {
        Ok(list) => (list.items, list.next_cursor, None),
        Err(e @ DomainError::Invalid { .. }) => (Vec::new(), None, Some(describe(&e))),
        Err(e) => return PageError(e).into_response(),
    };
    let filters = [("enabled", enabled), ("vendorId", vendor)];
    let body = html! {
        form.filters method="get" action="/console/integrations" role="search" aria-label="Filters" {
            div {
                label for="enabled" { "State" }
                select #enabled name="enabled" {
                    option value="" selected[enabled.is_empty()] { "Any" }
                    option value="true" selected[enabled == "true"] { "Enabled" }
                    option value="false" selected[enabled == "false"] { "Disabled" }
                }
            }
            @if ctx.caller.vendor_id.is_none() {
                div {
                    label for="vendorId" { "Vendor" }
                    input #vendorId type="text" name="vendorId" value=(vendor);
                }
            }
            div { button type="submit" { "Apply" } }
        }
        @if let Some(p) = &problem { p.flash.error role="alert" { (p) } }
        (integration_table(&items))
        nav.pager aria-label="Pages" {
            @if !cursor.is_empty() {
                a href={ "/console/integrations?" (crate::query_string(filters)) } { "First page" }
            }
            @if let Some(n) = &next {
                a rel="next" href={ "/console/integrations?" (crate::query_string(filters.into_iter().chain([("cursor", n.as_str())]))) } { "Next page" }
            }
        }
    };
    page(&ctx, "/console/integrations", "Integrations", body).into_response()
}

fn integration_table(items: &[IntegrationView]) -> Markup {
    html! {
        div.table-wrap {
            table {
                thead {
                    tr {
                        th scope="col" { "Application" } th scope="col" { "Name" } th scope="col" { "Vendor" }
                        th scope="col" { "State" } th scope="col" { "Successive failures" } th scope="col" { "Disabled at" }
                    }
                }
                tbody {
                    @if items.is_empty() { tr { td colspan="6" { "No integrations match." } } }
                    @for i in items {
                        tr data-application=(i.application_id.as_str()) {
                            td { a href={ "/console/integrations/" (segment(i.application_id.as_str())) } { (i.application_id.as_str()) } }
                            td { (i.application_name) }
                            td { (i.vendor_id.as_str()) }
                            td { (enabled_badge(i.enabled)) }
                            td { (i.successive_failures) }
                            td { @if let Some(t) = &i.disabled_at { (when(t)) } }
                        }
                    }
                }
            }
        }
    }
}

/// The integrations disabled now (the first hundred), for the overview.
pub(crate) async fn disabled_now(ctx: &Ctx) -> Markup {
    let query = vec![
        ("enabled".to_owned(), "false".to_owned()),
        ("limit".to_owned(), "100".to_owned()),
    ];
    match ctx.service.list_integrations(&ctx.caller, query).await {
        Ok(list) if list.items.is_empty() => {
            html! { p.muted { "None: every integration is enabled." } }
        }
        Ok(list) => html! {
            (integration_table(&list.items))
            @if list.next_cursor.is_some() {
                p { a href="/console/integrations?enabled=false" { "Every disabled integration" } }
            }
        },
        Err(e) => html! { p.flash.error { (describe(&e)) } },
    }
}
