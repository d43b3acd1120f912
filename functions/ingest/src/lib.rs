//! Event ingestion and what it needs: the events a marketplace posts, the
//! signed fetch by which a vendor reads one, integrations and API keys.

use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::{Json, Router};
use iev_domain::event::EventBody;
use iev_domain::integration::IntegrationView;
use iev_domain::report::IntegrationList;
use iev_domain::service::{Accepted, KeyList, NewKey};
use iev_http::{schema, ApiError, AppState, Authenticated, BoundedBody, QueryPairs};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// This function's routes, each with its part of the OpenAPI document.
pub fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(ingest_event))
        .routes(routes!(vendor_fetch))
        .routes(routes!(vendor_result))
        .routes(routes!(list_integrations))
        .routes(routes!(put_integration, get_integration))
        .routes(routes!(create_key, list_keys))
        .routes(routes!(revoke_key))
}

pub fn router() -> Router<AppState> {
    api().into()
}

/// `POST /v1/events`: an AppDirect event plus the application it is for.
#[derive(ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(example = json!({
    "applicationId": "app-1", "type": "SUBSCRIPTION_ORDER",
    "marketplace": {"partner": "ACME", "baseUrl": "https://marketplace.example"},
    "creator": {"uuid": "u-1", "email": "ann@example.com"},
    "payload": {"company": {"uuid": "c-1", "name": "Acme Corp"}, "order": {"editionCode": "BASIC"}}
}))]
#[allow(dead_code)]
struct EventSubmission {
    /// An application with an integration: 1 to 128 characters, no
    /// whitespace, `/`, `#`, `?` or `%`.
    #[schema(min_length = 1, max_length = 128, pattern = r"^[^\s/#?%]+$")]
    application_id: String,
    #[serde(rename = "type")]
    kind: schema::EventType,
    marketplace: schema::Marketplace,
    /// The application's uuid on the marketplace; the application id when absent.
    application_uuid: Option<String>,
    flag: Option<schema::EventFlag>,
    creator: Option<schema::Person>,
    #[schema(required = false)]
    payload: schema::Payload,
}

/// An accepted event: its id, and its token, the vendor's credential for it
/// (handed to the producer here, and then to admins only).
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = Accepted)]
#[allow(dead_code)]
struct AcceptedDoc {
    id: String,
    /// `<event id>.<43 base64url characters>`.
    token: String,
    /// Always `PENDING`.
    status: schema::EventStatus,
}

/// A vendor's answer to an event it acknowledged with 202.
#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({"success": false, "errorCode": "USER_NOT_FOUND", "message": "no such user"}))]
#[allow(dead_code)]
struct VendorResult {
    /// A boolean, or the text `"true"` or `"false"`.
    success: bool,
    /// With `success: false`: one of the error codes (`UNKNOWN_ERROR` if absent or unknown).
    error_code: Option<String>,
    message: Option<String>,
    account_identifier: Option<String>,
}

#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct ResultAccepted {
    /// Always true.
    success: bool,
}

/// `PUT /v1/integrations/{applicationId}`.
#[derive(ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(example = json!({
    "applicationName": "Widget", "vendorId": "v-1",
    "notificationUrls": {"SUBSCRIPTION_ORDER": "http://127.0.0.1:9/create?eventUrl={eventUrl}"},
    "oauth": {"consumerKey": "widget-key", "consumerSecret": "widget-secret"}
}))]
#[allow(dead_code)]
struct IntegrationSettings {
    /// Not empty.
    #[schema(pattern = r"\S")]
    application_name: String,
    importable_application_uuid: Option<String>,
    /// The vendor that owns the application; a vendor key may only give its own.
    #[schema(min_length = 1, max_length = 128, pattern = r"^[^\s/#?%]+$")]
    vendor_id: String,
    notification_urls: schema::NotificationUrls,
    oauth: OAuthCredentials,
    /// Where alerts about this integration are POSTed: an absolute http(s) URL.
    #[schema(format = Uri)]
    alert_url: Option<String>,
}

/// What the vendor signs its requests with; the secret is never shown again.
#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
struct OAuthCredentials {
    /// Not empty.
    #[schema(pattern = r"\S")]
    consumer_key: String,
    /// Not empty. Required when the integration is created; left out of an
    /// update, the kept secret stays.
    #[schema(min_length = 1)]
    consumer_secret: Option<String>,
}

/// `POST /v1/api-keys`.
#[derive(ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(example = json!({"role": "vendor", "vendorId": "v-1"}))]
#[allow(dead_code)]
struct NewKeyInput {
    role: schema::Role,
    /// Required for a `vendor` key, refused for any other.
    vendor_id: Option<String>,
}

/// A new key, shown this once.
#[derive(ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(as = NewKey)]
#[allow(dead_code)]
struct NewKeyDoc {
    /// The key's id, as `GET /v1/api-keys` lists it and `DELETE /v1/api-keys/{id}` takes it.
    id: String,
    key: String,
    role: schema::Role,
    vendor_id: Option<String>,
}

/// `GET /v1/integrations`'s query.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query, rename_all = "camelCase")]
#[allow(dead_code)]
struct IntegrationsQuery {
    /// Only enabled (`true`) or disabled (`false`) integrations.
    enabled: Option<bool>,
    /// One vendor's; a vendor key sees its own only (another vendor's: an empty page).
    vendor_id: Option<String>,
    /// 1 to 1000; default 50.
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<u32>,
    /// The `nextCursor` of the previous page, with the same filters.
    cursor: Option<String>,
}

/// One page of integrations, in application id order.
#[derive(ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(as = IntegrationList)]
#[allow(dead_code)]
struct IntegrationListDoc {
    items: Vec<schema::Integration>,
    /// Pass back as `cursor` for the next page; null on the last.
    next_cursor: Option<String>,
}

/// A key as the list shows it: never the key itself.
#[derive(ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[allow(dead_code)]
struct KeyView {
    /// The key's id: 12 hex characters.
    id: String,
    role: schema::Role,
    vendor_id: Option<String>,
    #[schema(format = DateTime)]
    created_at: String,
    /// When a request last authenticated with it, to within 10 minutes (absent if never).
    #[schema(format = DateTime, required = false)]
    last_used_at: String,
}

/// Every live key, newest first.
#[derive(ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = KeyList)]
#[allow(dead_code)]
struct KeyListDoc {
    items: Vec<KeyView>,
}

/// The path parameter every integration route takes.
const APPLICATION_ID: &str =
    "The application's id (1 to 128 characters, no whitespace, `/`, `#`, `?` or `%`).";
#[utoipa::path(
    post,
    path = "/v1/events",
    tag = "events",
    operation_id = "ingestEvent",
    summary = "Accept an event for delivery (marketplace, admin)",
    description = "Stores the event as PENDING and queues it for delivery to the application's \
        integration. The same `Idempotency-Key` (scoped to the calling key) with the same body \
        answers the same again; with another body, 409.",
    params(("Idempotency-Key" = Option<String>, Header, description = "1 to 255 printable characters.")),
    request_body = EventSubmission,
    responses((
        status = 202,
        description = "Stored and queued.",
        body = AcceptedDoc,
        links(
            ("event" = (
                operation_id = "getEvent",
                parameters(("id" = "$response.body#/id")),
                description = "The accepted event."
            )),
            ("retry" = (
                operation_id = "retryEvent",
                parameters(("id" = "$response.body#/id")),
                description = "One more delivery of it."
            )),
            ("vendorFetch" = (
                operation_id = "vendorFetchEvent",
                parameters(("token" = "$response.body#/token")),
                description = "The vendor's signed read of it."
            )),
            ("vendorResult" = (
                operation_id = "vendorPostResult",
                parameters(("token" = "$response.body#/token")),
                description = "The vendor's signed result for it."
            ))
        )
    ))
)]
pub async fn ingest_event(
    State(service): State<AppState>,
    Authenticated(caller): Authenticated,
    headers: HeaderMap,
    BoundedBody(body): BoundedBody,
) -> Result<(StatusCode, Json<Accepted>), ApiError> {
    let key = match headers.get("idempotency-key") {
        Some(v) => Some(v.to_str().map_err(|_| {
            iev_domain::DomainError::invalid("Idempotency-Key", "must be visible ASCII")
        })?),
        None => None,
    };
    let accepted = service.ingest(&caller, key, &body).await?;
    Ok((StatusCode::ACCEPTED, Json(accepted)))
}

#[utoipa::path(
    get,
    path = "/api/integration/v1/events/{token}",
    tag = "vendor",
    operation_id = "vendorFetchEvent",
    summary = "Read an event (the vendor, OAuth 1.0a signed)",
    description = "The event URL a notification carries. Signed with the integration's consumer \
        key and secret; any query the vendor adds is covered by the signature.",
    params(("token" = String, Path, description = "The event's token, from its event URL.")),
    security(("oauth1" = [])),
    responses((status = 200, description = "The event, in AppDirect's shape.", body = schema::EventBody))
)]
pub async fn vendor_fetch(
    State(service): State<AppState>,
    Path(token): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Result<Json<EventBody>, ApiError> {
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let event = service
        .vendor_fetch(&token, query.as_deref(), authorization)
        .await?;
    Ok(Json(event))
}

/// The vendor's asynchronous answer to an event it acknowledged with 202.
#[utoipa::path(
    post,
    path = "/api/integration/v1/events/{token}/result",
    tag = "vendor",
    operation_id = "vendorPostResult",
    summary = "Complete an ASYNC_PENDING event (the vendor, OAuth 1.0a signed)",
    description = "The vendor's result for an event it answered with 202. 409 unless the event \
        is ASYNC_PENDING.",
    params(("token" = String, Path, description = "The event's token, from its event URL.")),
    security(("oauth1" = [])),
    request_body = VendorResult,
    responses((status = 200, description = "The event is settled.", body = ResultAccepted))
)]
pub async fn vendor_result(
    State(service): State<AppState>,
    Path(token): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    BoundedBody(body): BoundedBody,
) -> Result<Json<serde_json::Value>, ApiError> {
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    service
        .vendor_result(&token, query.as_deref(), authorization, &body)
        .await?;
    Ok(Json(serde_json::json!({ "success": true })))
}

#[utoipa::path(
    put,
    path = "/v1/integrations/{applicationId}",
    tag = "integrations",
    operation_id = "putIntegration",
    summary = "Create or replace an application's integration (admin, manager, its vendor)",
    description = "Every URL is absolute http(s); each notification URL contains `{eventUrl}`. \
        400 names the field at fault. The consumer secret is never echoed.",
    params(("applicationId" = String, Path, description = APPLICATION_ID)),
    request_body = IntegrationSettings,
    responses((
        status = 200,
        description = "The integration as saved.",
        body = schema::Integration,
        links(
            ("integration" = (
                operation_id = "getIntegration",
                parameters(("applicationId" = "$response.body#/applicationId")),
                description = "The integration."
            )),
            ("enable" = (
                operation_id = "enableIntegration",
                parameters(("applicationId" = "$response.body#/applicationId")),
                description = "Re-enable it."
            )),
            ("recover" = (
                operation_id = "recoverIntegration",
                parameters(("applicationId" = "$response.body#/applicationId")),
                description = "Redeliver its failures."
            ))
        )
    ))
)]
pub async fn put_integration(
    State(service): State<AppState>,
    Authenticated(caller): Authenticated,
    Path(application_id): Path<String>,
    BoundedBody(body): BoundedBody,
) -> Result<Json<IntegrationView>, ApiError> {
    Ok(Json(
        service
            .put_integration(&caller, &application_id, &body)
            .await?,
    ))
}

#[utoipa::path(
    get,
    path = "/v1/integrations/{applicationId}",
    tag = "integrations",
    operation_id = "getIntegration",
    summary = "One integration (admin, manager, its vendor)",
    params(("applicationId" = String, Path, description = APPLICATION_ID)),
    responses((status = 200, description = "The integration.", body = schema::Integration))
)]
pub async fn get_integration(
    State(service): State<AppState>,
    Authenticated(caller): Authenticated,
    Path(application_id): Path<String>,
) -> Result<Json<IntegrationView>, ApiError> {
    Ok(Json(
        service.get_integration(&caller, &application_id).await?,
    ))
}

#[utoipa::path(
    post,
    path = "/v1/api-keys",
    tag = "keys",
    operation_id = "createApiKey",
    summary = "Make an API key (admin)",
    request_body = NewKeyInput,
    responses((
        status = 201,
        description = "The key, shown this once.",
        body = NewKeyDoc,
        links(("revoke" = (
            operation_id = "revokeApiKey",
            parameters(("id" = "$response.body#/id")),
            description = "The new key's id revokes it."
        )))
    ))
)]
pub async fn create_key(
    State(service): State<AppState>,
    Authenticated(caller): Authenticated,
    BoundedBody(body): BoundedBody,
) -> Result<(StatusCode, Json<NewKey>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(service.create_key(&caller, &body).await?),
    ))
}

#[utoipa::path(
    get,
    path = "/v1/integrations",
    tag = "integrations",
    operation_id = "listIntegrations",
    summary = "The integrations this caller may see (admin, manager, vendor)",
    params(IntegrationsQuery),
    responses((status = 200, description = "One page, in application id order.", body = IntegrationListDoc))
)]
pub async fn list_integrations(
    State(service): State<AppState>,
    Authenticated(caller): Authenticated,
    QueryPairs(pairs): QueryPairs,
) -> Result<Json<IntegrationList>, ApiError> {
    Ok(Json(service.list_integrations(&caller, pairs).await?))
}

#[utoipa::path(
    get,
    path = "/v1/api-keys",
    tag = "keys",
    operation_id = "listApiKeys",
    summary = "Every live key, never a key itself (admin)",
    responses((status = 200, description = "The keys, newest first.", body = KeyListDoc))
)]
pub async fn list_keys(
    State(service): State<AppState>,
    Authenticated(caller): Authenticated,
) -> Result<Json<KeyList>, ApiError> {
    Ok(Json(service.list_keys(&caller).await?))
}

#[utoipa::path(
    delete,
    path = "/v1/api-keys/{id}",
    tag = "keys",
    operation_id = "revokeApiKey",
    summary = "Revoke a key (admin)",
    description = "The key stops working at once on the instance that revokes it; in AWS, on \
        the other functions within their key cache's lifetime, at most 60 s. The key a request \
        is signed with cannot revoke itself (409).",
    params(("id" = String, Path, description = "The key's id (from `GET /v1/api-keys`).")),
    responses((status = 204, description = "Revoked."))
)]
pub async fn revoke_key(
    State(service): State<AppState>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    service.revoke_key(&caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
