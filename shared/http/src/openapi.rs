//! What every operation of the API's OpenAPI document shares, put in one
//! place as the answers themselves are ([`crate::ApiError`], [`crate::with_fallbacks`]):
//! the document's title and summary, the two ways of authenticating, and the
//! error answers, each in the error shape ([`crate::schema::ErrorBody`]).
//!
//! The functions describe their own routes (`#[utoipa::path]` on each
//! handler: parameters, bodies, success answers, and any error answer of
//! their own); [`finish`] adds the errors the shared layers give.

use crate::schema::ErrorBody;
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::path::{Operation, ParameterIn, PathItem};
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::schema::{
    AnyOfBuilder, Components, ObjectBuilder, Ref, Schema, SchemaType, Type,
};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{Content, InfoBuilder, OpenApi, RefOr, Required};
use utoipa::{PartialSchema, ToSchema};

/// The security scheme of every route but the vendor's and the document's own.
pub const BEARER: &str = "bearer";
/// The vendor-facing routes' scheme (`/api/integration/v1/...`).
pub const OAUTH1: &str = "oauth1";

const SUMMARY: &str = "\
Delivers a SaaS marketplace's integration events to each vendor's product, records every \
failure, and lets marketplace managers and vendors see, export and resolve those failures. \
The same routes are served by the AWS Lambda functions behind API Gateway and by the local \
runner, which also serves this document at `GET /openapi.json`.

**Credentials.** `Authorization: Bearer <key>` on every route except the vendor-facing \
`/api/integration/v1/...` routes, which the vendor signs with OAuth 1.0a (HMAC-SHA1) using \
its integration's consumer key and secret. Roles: `admin` (everything), `marketplace` \
(produce events, read one event), `manager` (read and act on everything but keys), `vendor` \
(bound to one `vendorId`: its own integrations, events and errors only; others' answer 404).

**Errors.** Every error answer is `{\"error\": {\"code\", \"message\", \"field\"?}}`: 400 \
invalid input (unknown or repeated query parameters included), 401 missing or unknown \
credential or bad signature, 403 the credential's role may not do that, 404 unknown or not \
visible to this caller, 408 a body slower than 30 s (local runner), 409 conflict, 413 a body \
over 256 KiB, 431 URL and headers over 16 KiB, 500 internal (revealing nothing), 503 storage \
or queue unavailable (retry after `Retry-After` seconds).

**Bodies.** JSON, camelCase. Every request body is a JSON object (an array answers 400), \
nested at most 32 levels, strings of at most 64 KiB, arrays of at most 1,000 elements. \
Times are RFC 3339 UTC; in queries also a plain `YYYY-MM-DD` (midnight UTC), `from` \
inclusive, `to` exclusive. Lists page newest first with a signed `cursor`: pass a page's \
`nextCursor` back with the same filters.";

/// The error answers, by status: (status, component name, description).
const ERRORS: &[(&str, &str, &str)] = &[
    ("400", "BadRequest", "Invalid input: the body, a query parameter, a path segment or a header; `field` names it where one is at fault."),
    ("401", "Unauthorized", "Missing or unknown credential (`unauthenticated`), or a vendor request whose OAuth signature is refused (`bad_signature`)."),
    ("403", "Forbidden", "The credential's role may not do that."),
    ("404", "NotFound", "Unknown, or not visible to this caller."),
    ("408", "RequestTimeout", "The request body did not arrive within 30 s (local runner)."),
    ("409", "Conflict", "A conflicting change: another request changed the resource first, an `Idempotency-Key` reused with another body, or the resource's state does not allow it."),
    ("413", "PayloadTooLarge", "The request body is larger than 256 KiB."),
    ("431", "HeaderTooLarge", "The request's URL and headers hold more than 16 KiB."),
    ("500", "Internal", "An internal error; the message reveals nothing of it."),
    ("503", "Unavailable", "Storage or queue unavailable; retry after `Retry-After` seconds."),
];

/// Completes `doc` (every function's routes, merged): title and summary,
/// security schemes (bearer everywhere unless an operation says otherwise),
/// the error shape, and on each operation the error answers the shared
/// layers can give it.
pub fn finish(mut doc: OpenApi) -> OpenApi {
    doc.info = InfoBuilder::new()
        .title("Integration Events")
        .version(env!("CARGO_PKG_VERSION"))
        .description(Some(SUMMARY))
        .build();
    doc.security = Some(vec![SecurityRequirement::new(BEARER, Vec::<String>::new())]);
    let components = doc.components.get_or_insert_with(Components::new);
    components.security_schemes.insert(
        BEARER.into(),
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .description(Some(
                    "An API key: `Authorization: Bearer <key>`. Keys are made by an admin \
                     (`POST /v1/api-keys`) and shown once; the local runner's admin key is \
                     `IEV_ADMIN_KEY` or the one it writes to `<data dir>/admin-key`.",
                ))
                .build(),
        ),
    );
    components.security_schemes.insert(
        OAUTH1.into(),
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::OAuth)
                .description(Some(
                    "OAuth 1.0a (RFC 5849), HMAC-SHA1, one-legged: the vendor signs the request \
                     (method, the event URL as the service handed it out, and its query) with \
                     the integration's consumer key and secret, no token secret, and sends \
                     `Authorization: OAuth oauth_consumer_key=..., oauth_signature_method=\"HMAC-SHA1\", \
                     oauth_timestamp=..., oauth_nonce=..., oauth_version=\"1.0\", oauth_signature=...`.",
                ))
                .build(),
        ),
    );
    components
        .schemas
        .insert(ErrorBody::name().into_owned(), ErrorBody::schema());
    let mut error_schemas = Vec::new();
    <ErrorBody as ToSchema>::schemas(&mut error_schemas);
    components.schemas.extend(error_schemas);
    for (status, name, description) in ERRORS {
        let mut response = ResponseBuilder::new().description(*description).content(
            "application/json",
            Content::new(Some(Ref::from_schema_name(ErrorBody::name()))),
        );
        if *status == "503" {
            response = response.header(
                "Retry-After",
                HeaderBuilder::new()
                    .schema(integer())
                    .description(Some("Seconds to wait before trying again."))
                    .build(),
            );
        }
        components
            .responses
            .insert((*name).into(), RefOr::T(response.build()));
    }
    for (path, item) in doc.paths.paths.iter_mut() {
        for (method, operation) in operations(item) {
            optional_body_is_absent_not_null(operation);
            links_in_camel_case(operation);
            empty_query_value_is_absent(operation);
            add_errors(path, method, operation);
        }
    }
    doc
}

/// A handler documents a body it may go without as `Option<T>`, which utoipa
/// writes as "`null` or T"; what it means is that the body may be left out
/// (a JSON `null` is refused like any body that is not an object).
fn optional_body_is_absent_not_null(operation: &mut Operation) {
    let Some(body) = operation.request_body.as_mut() else {
        return;
    };
    for content in body.content.values_mut() {
        if let Some(RefOr::T(Schema::OneOf(one_of))) = &content.schema {
            let not_null: Vec<_> = one_of
                .items
                .iter()
                .filter(|s| !matches!(s, RefOr::T(Schema::Object(o)) if o.schema_type == SchemaType::Type(Type::Null)))
                .cloned()
                .collect();
            if let [only] = not_null.as_slice() {
                content.schema = Some(only.clone());
                body.required = Some(Required::False);
            }
        }
    }
}

/// utoipa 5 writes a link's `operationId` as `operation_id`, which no
/// OpenAPI reader follows; the name is moved where it is written as is.
fn links_in_camel_case(operation: &mut Operation) {
    for response in operation.responses.responses.values_mut() {
        let RefOr::T(response) = response else {
            continue;
        };
        for link in response.links.values_mut() {
            let RefOr::T(link) = link else { continue };
            if !link.operation_id.is_empty() {
                let id = std::mem::take(&mut link.operation_id);
                link.extensions
                    .get_or_insert_with(Default::default)
                    .insert("operationId".into(), id.into());
            }
        }
    }
}

/// The service reads an empty query value (`?to=`) as the parameter left
/// out; each query parameter's schema says so, unless it takes any text.
fn empty_query_value_is_absent(operation: &mut Operation) {
    for parameter in operation.parameters.iter_mut().flatten() {
        if parameter.parameter_in != ParameterIn::Query {
            continue;
        }
        let Some(schema) = parameter.schema.take() else {
            continue;
        };
        let any_text = matches!(&schema, RefOr::T(Schema::Object(o))
            if o.schema_type == SchemaType::Type(Type::String)
                && o.min_length.is_none()
                && o.pattern.is_none()
                && o.format.is_none()
                && o.enum_values.is_none());
        parameter.schema = Some(if any_text {
            schema
        } else {
            RefOr::T(Schema::AnyOf(
                AnyOfBuilder::new()
                    .item(schema)
                    .item(
                        ObjectBuilder::new()
                            .schema_type(SchemaType::Type(Type::String))
                            .max_length(Some(0))
                            .description(Some("Empty: the parameter left out.")),
                    )
                    .build(),
            ))
        });
    }
}

fn integer() -> Schema {
    Schema::Object(
        ObjectBuilder::new()
            .schema_type(SchemaType::Type(Type::Integer))
            .minimum(Some(0))
            .build(),
    )
}

fn operations(item: &mut PathItem) -> impl Iterator<Item = (&'static str, &mut Operation)> {
    [
        ("GET", item.get.as_mut()),
        ("PUT", item.put.as_mut()),
        ("POST", item.post.as_mut()),
        ("DELETE", item.delete.as_mut()),
        ("PATCH", item.patch.as_mut()),
    ]
    .into_iter()
    .filter_map(|(m, o)| o.map(|o| (m, o)))
}

/// How an operation is authenticated: its own security, else the document's bearer.
enum Auth {
    None,
    Bearer,
    OAuth1,
}

fn auth_of(operation: &Operation) -> Auth {
    let Some(security) = &operation.security else {
        return Auth::Bearer;
    };
    let names: Vec<String> = serde_json::to_value(security)
        .ok()
        .and_then(|v| v.as_array().cloned())
        .unwrap_or_default()
        .iter()
        .filter_map(|r| r.as_object())
        .flat_map(|r| r.keys().cloned().collect::<Vec<_>>())
        .collect();
    if names.iter().any(|n| n == OAUTH1) {
        Auth::OAuth1
    } else if names.iter().any(|n| n == BEARER) {
        Auth::Bearer
    } else {
        Auth::None
    }
}

/// The error answers the shared layers can give `operation`, unless it lists
/// one itself: the edge (431), the extractors (400 for a path segment that is
/// not UTF-8 or a bad query, 408 and 413 for a body), the credentials (401,
/// 403), the store (404 for a named resource, 409 for a write, 500, 503).
fn add_errors(path: &str, method: &str, operation: &mut Operation) {
    let auth = auth_of(operation);
    let has_body = operation.request_body.is_some();
    let names_a_resource = path.contains('{');
    let statuses: Vec<&str> = ERRORS
        .iter()
        .map(|(status, _, _)| *status)
        .filter(|status| match *status {
            "400" | "500" | "503" => !matches!(auth, Auth::None),
            "401" => !matches!(auth, Auth::None),
            "403" => matches!(auth, Auth::Bearer),
            "404" => names_a_resource,
            "408" | "413" => has_body,
            "409" => method != "GET" && !matches!(auth, Auth::None),
            _ => true,
        })
        .collect();
    for status in statuses {
        if operation.responses.responses.contains_key(status) {
            continue;
        }
        let name = ERRORS
            .iter()
            .find(|(s, _, _)| *s == status)
            .map(|(_, n, _)| *n)
            .unwrap_or("Internal");
        operation
            .responses
            .responses
            .insert(status.to_owned(), RefOr::Ref(Ref::from_response_name(name)));
    }
}
