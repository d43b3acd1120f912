//! API keys (admins only): list, create (the key shown once, on the answer
//! to the form, never in a URL or a cookie) and revoke.

use crate::{describe, done, page, segment, when, Ctx, PageError};
use axum::body::Bytes;
use axum::extract::Path;
use axum::response::{IntoResponse, Response};
use iev_domain::auth::{key_id_of, KeyHash, Role};
use iev_domain::service::NewKey;
use iev_domain::DomainError;
use maud::{html, Markup};

const ROLES: [Role; 4] = [Role::Admin, Role::Manager, Role::Vendor, Role::Marketplace];

async fn render(ctx: &Ctx, created: Option<&NewKey>, problem: Option<String>) -> Response {
    let list = match ctx.service.list_keys(&ctx.caller).await {
        Ok(l) => l,
        Err(e) => return PageError(e).into_response(),
    };
    let body: Markup = html! {
        @if let Some(new) = created {
            section.card role="status" aria-labelledby="new-key" {
                h2 #new-key { "New " (new.role.as_str()) " key" }
                p { "Copy it now: it is shown this once and cannot be read again." }
                p.key-once #created-key { (new.key) }
                p.muted { "Its id: " (key_id_of(&KeyHash::of(&new.key))) }
            }
        }
        @if let Some(p) = &problem { p.flash.error role="alert" { (p) } }
        section aria-labelledby="create-h" {
            h2 #create-h { "Create a key" }
            form.filters method="post" action="/console/api-keys" {
                div {
                    label for="role" { "Role" }
                    select #role name="role" {
                        @for r in ROLES { option value=(r.as_str()) selected[r == Role::Manager] { (r.as_str()) } }
                    }
                }
                div {
                    label for="vendorId" { "Vendor id (vendor keys only)" }
                    input #vendorId type="text" name="vendorId";
                }
                div { button type="submit" { "Create key" } }
            }
        }
        section aria-labelledby="keys-h" {
            h2 #keys-h { "Keys" }
            p.hint { "Keys are stored as hashes: none can be shown again. A revoked key stops working at once here (in AWS within a minute, the functions' key cache)." }
            div.table-wrap {
                table {
                    thead {
                        tr {
                            th scope="col" { "Id" } th scope="col" { "Role" } th scope="col" { "Vendor" }
                            th scope="col" { "Created" } th scope="col" { "Last used" } th scope="col" { span.muted { "Revoke" } }
                        }
                    }
                    tbody {
                        @for k in &list.items {
                            tr data-key=(k.id) {
                                td { code { (k.id) } }
                                td { (k.role.as_str()) }
                                td { (k.vendor_id.as_ref().map(|v| v.as_str()).unwrap_or_default()) }
                                td { (when(&k.created_at)) }
                                td { @if let Some(t) = &k.last_used_at { (when(t)) } }
                                td {
                                    @if k.id == ctx.caller.key_id {
                                        span.muted { "this session's key" }
                                    } @else {
                                        form method="post" action={ "/console/api-keys/" (segment(&k.id)) "/revoke" } {
                                            button.danger type="button" data-confirm={ "Revoke key " (k.id) "? It stops working at once." } aria-label={ "Revoke key " (k.id) } { "Revoke" }
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
    page(ctx, "/console/api-keys", "API keys", body).into_response()
}

pub async fn keys_page(ctx: Ctx) -> Response {
    render(&ctx, None, None).await
}

pub async fn create(ctx: Ctx, body: Bytes) -> Response {
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(&body).into_owned().collect();
    let get = |name: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == name)
            .map_or("", |(_, v)| v.trim())
    };
    let mut request = serde_json::json!({ "role": get("role") });
    if !get("vendorId").is_empty() {
        request["vendorId"] = get("vendorId").into();
    }
    match ctx
        .service
        .create_key(&ctx.caller, request.to_string().as_bytes())
        .await
    {
        Ok(new) => render(&ctx, Some(&new), None).await,
        Err(e @ (DomainError::Forbidden | DomainError::Unauthenticated)) => {
            PageError(e).into_response()
        }
        Err(e) => render(&ctx, None, Some(describe(&e))).await,
    }
}

pub async fn revoke(ctx: Ctx, Path(id): Path<String>) -> Response {
    match ctx.service.revoke_key(&ctx.caller, &id).await {
        Ok(()) => done(
            "/console/api-keys",
            &format!("Key {id} revoked."),
            &ctx.service,
        ),
        Err(e @ DomainError::Forbidden) => PageError(e).into_response(),
        Err(e) => done("/console/api-keys", &describe(&e), &ctx.service),
    }
}
