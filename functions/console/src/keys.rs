//! API keys (admins only): list, create (the key shown once) and revoke.

use crate::{page, Ctx};
use axum::extract::Path;
use axum::response::{IntoResponse, Response};
use maud::html;

pub async fn keys_page(ctx: Ctx) -> Response {
    page(
        &ctx,
        "/console/api-keys",
        "API keys",
        html! { p { "Coming with the key routes." } },
    )
    .into_response()
}

pub async fn create(ctx: Ctx) -> Response {
    keys_page(ctx).await
}

pub async fn revoke(ctx: Ctx, Path(_id): Path<String>) -> Response {
    keys_page(ctx).await
}
