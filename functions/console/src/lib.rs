//! The console: the Failed Integration Events page that marketplace managers
//! and vendors work in, with the failure, event, integration, overview and
//! key pages around it. Server-rendered HTML (maud escapes every value), htmx
//! for partial page updates, a small script of our own for the confirmation
//! dialog; every file is compiled in (`assets`). Every page calls the same
//! `Service` methods as the JSON API, as the signed-in key's caller, so roles
//! and scoping are the API's own.

pub mod assets;
mod events;
mod failures;
mod integrations;
mod keys;
mod overview;
pub mod session;

use axum::extract::{FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::Router;
use iev_domain::auth::{Caller, KeyHash, Role};
use iev_domain::DomainError;
use iev_http::AppState;
use maud::{html, Markup, DOCTYPE};
use session::SessionKeys;

/// The console's routes: `/` and everything under `/console/`.
pub fn router() -> Router<AppState> {
    let pages = Router::new()
        .route("/", get(failures::landing))
        .route("/console/sign-in", get(sign_in_page).post(sign_in))
        .route("/console/sign-out", post(sign_out))
        .route("/console/fields", post(failures::choose_fields))
        .route("/console/failures/actions", post(failures::bulk_action))
        .route("/console/failures.csv", get(failures::download_csv))
        .route(
            "/console/failures/{id}",
            get(failures::failure_page).post(failures::update_failure),
        )
        .route("/console/failures/{id}/resolve", post(failures::resolve))
        .route(
            "/console/failures/{id}/unresolve",
            post(failures::unresolve),
        )
        .route("/console/events", get(events::events_page))
        .route("/console/events/{id}", get(events::event_page))
        .route("/console/events/{id}/retry", post(events::retry))
        .route("/console/integrations", get(integrations::list_page))
        .route(
            "/console/integrations/{application_id}",
            get(integrations::integration_page).post(integrations::save_settings),
        )
        .route(
            "/console/integrations/{application_id}/authorization",
            post(integrations::save_secret),
        )
        .route(
            "/console/integrations/{application_id}/enable",
            post(integrations::enable),
        )
        .route(
            "/console/integrations/{application_id}/recover",
            post(integrations::recover),
        )
        .route("/console/overview", get(overview::overview_page))
        .route("/console/api-keys", get(keys::keys_page).post(keys::create))
        .route("/console/api-keys/{id}/revoke", post(keys::revoke))
        .route("/console", get(|| async { Redirect::to("/") }))
        .route("/console/{*rest}", get(not_found_page))
        .layer(axum::middleware::from_fn(with_session));
    Router::new()
        .route("/console/assets/{version}/{name}", get(assets::serve))
        .merge(pages)
        .layer(axum::middleware::from_fn(security_headers))
}

/// The Content-Security-Policy of every console answer: scripts and styles
/// from this origin only (no inline script or style), no frames, forms to
/// this origin only.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    // Filters travel in the URL; other sites are not told them.
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    response
}

/// Who is signed in.
#[derive(Clone)]
struct SignedIn {
    caller: Caller,
    hash: KeyHash,
}

/// A message for the next page shown (a short-lived cookie), such as the
/// outcome of a form.
const FLASH_COOKIE: &str = "iev_flash";

fn secure(state: &AppState) -> bool {
    state.config.public_url.scheme() == "https"
}

/// Cookies a page's extractor decides on, set on its answer by
/// [`with_session`] (which has no state of its own to decide them).
#[derive(Clone, Default)]
struct Jar(std::sync::Arc<std::sync::Mutex<Vec<JarCookie>>>);

struct JarCookie {
    name: &'static str,
    header: String,
    /// Set only on a page shown (200 HTML): a flash message is cleared once seen.
    only_when_shown: bool,
}

impl Jar {
    fn push(&self, name: &'static str, header: String, only_when_shown: bool) {
        if let Ok(mut cookies) = self.0.lock() {
            cookies.push(JarCookie {
                name,
                header,
                only_when_shown,
            });
        }
    }
}

/// Refuses changes that do not come from the console's own pages, and sets
/// the cookies the page decided on (the session re-issued, so its idle time
/// starts again; the flash message cleared once shown) unless the answer
/// sets them itself (sign-in, sign-out, a new flash message).
async fn with_session(mut request: Request, next: Next) -> Response {
    if !session::same_origin(request.method(), request.headers()) {
        return error_page(
            StatusCode::FORBIDDEN,
            "Refused",
            "A change must come from the console's own pages.",
        );
    }
    let jar = Jar::default();
    request.extensions_mut().insert(jar.clone());
    let mut response = next.run(request).await;
    let shown = response.status() == StatusCode::OK
        && response
            .headers()
            .get(header::CONTENT_TYPE)
            .is_some_and(|v| v.as_bytes().starts_with(b"text/html"));
    let cookies = jar
        .0
        .lock()
        .map(|mut c| std::mem::take(&mut *c))
        .unwrap_or_default();
    for cookie in cookies {
        let prefix = format!("{}=", cookie.name);
        let already = response
            .headers()
            .get_all(header::SET_COOKIE)
            .iter()
            .any(|v| v.as_bytes().starts_with(prefix.as_bytes()));
        if already || (cookie.only_when_shown && !shown) {
            continue;
        }
        if let Ok(v) = HeaderValue::from_str(&cookie.header) {
            response.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    response
}

/// The session this request carries, if it is open and its key still works
/// and may use the console; decides the cookies to set on the answer.
async fn open_session(parts: &Parts, state: &AppState) -> Result<Option<SignedIn>, DomainError> {
    let jar = parts.extensions.get::<Jar>().cloned().unwrap_or_default();
    let secure = secure(state);
    let Some(cookie) = session::cookie(&parts.headers, session::cookie_name(secure)) else {
        return Ok(None);
    };
    let keys = SessionKeys::of(state);
    let now = state.clock.now().timestamp();
    let signed_in = match keys.open(cookie) {
        Some((hash, last_used)) if session::fresh(last_used, now) => {
            match state.authenticate_hash(&hash).await {
                Ok(caller) if caller.role != Role::Marketplace => Some(SignedIn { caller, hash }),
                Ok(_) | Err(DomainError::Unauthenticated) => None,
                Err(e) => return Err(e),
            }
        }
        _ => None,
    };
    let header = match &signed_in {
        Some(s) => keys.seal(&s.hash, now).map(|v| {
            session::cookie_header(
                session::cookie_name(secure),
                &v,
                session::IDLE_SECONDS,
                secure,
            )
        }),
        None => Some(session::cookie_header(
            session::cookie_name(secure),
            "",
            0,
            secure,
        )),
    };
    if let Some(h) = header {
        jar.push(session::cookie_name(secure), h, false);
    }
    Ok(signed_in)
}

/// The flash message this request carries; cleared once a page shows it.
fn take_flash(parts: &Parts, state: &AppState) -> Option<String> {
    let flash = session::cookie(&parts.headers, FLASH_COOKIE)
        .map(|v| {
            percent_encoding::percent_decode_str(v)
                .decode_utf8_lossy()
                .into_owned()
        })
        .filter(|v| !v.is_empty())?;
    if let Some(jar) = parts.extensions.get::<Jar>() {
        jar.push(
            FLASH_COOKIE,
            session::cookie_header(FLASH_COOKIE, "", 0, secure(state)),
            true,
        );
    }
    Some(flash)
}

/// What every page handler gets: the service, the signed-in caller, and the
/// flash message to show. Without a session it answers with the sign-in page.
pub(crate) struct Ctx {
    service: AppState,
    caller: Caller,
    flash: Option<String>,
}

impl FromRequestParts<AppState> for Ctx {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        match open_session(parts, state).await {
            Ok(Some(s)) => Ok(Ctx {
                service: state.clone(),
                caller: s.caller,
                flash: take_flash(parts, state),
            }),
            Ok(None) => Err(Redirect::to("/console/sign-in").into_response()),
            Err(e) => Err(PageError(e).into_response()),
        }
    }
}

/// A redirect after a form, with a message for the page it lands on.
fn done(location: &str, message: &str, state: &AppState) -> Response {
    let value: String =
        percent_encoding::utf8_percent_encode(message, percent_encoding::NON_ALPHANUMERIC)
            .to_string();
    let mut response = Redirect::to(location).into_response();
    if let Ok(v) = HeaderValue::from_str(&session::cookie_header(
        FLASH_COOKIE,
        &value,
        60,
        secure(state),
    )) {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
    response
}

/// A domain error as a page: the same 404 for what does not exist and what
/// this caller may not see.
pub(crate) struct PageError(pub DomainError);

impl From<DomainError> for PageError {
    fn from(e: DomainError) -> Self {
        PageError(e)
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        match self.0 {
            DomainError::Unauthenticated => Redirect::to("/console/sign-in").into_response(),
            DomainError::NotFound(_) => error_page(
                StatusCode::NOT_FOUND,
                "Not found",
                "There is nothing here, or it is not yours to see.",
            ),
            DomainError::Forbidden => error_page(
                StatusCode::FORBIDDEN,
                "Not allowed",
                "Your role may not do that.",
            ),
            DomainError::Invalid { field, message } => error_page(
                StatusCode::BAD_REQUEST,
                "Not accepted",
                &match field {
                    Some(f) => format!("{f}: {message}"),
                    None => message,
                },
            ),
            DomainError::Conflict(message) => {
                error_page(StatusCode::CONFLICT, "Not done", &message)
            }
            other => {
                // The API's own mapping logs it and decides the status.
                let status = iev_http::ApiError(other).into_response().status();
                error_page(
                    status,
                    "Not available",
                    "The service could not do that now; try again shortly.",
                )
            }
        }
    }
}

/// What a form's failure says, for a flash message.
fn describe(e: &DomainError) -> String {
    match e {
        DomainError::Invalid {
            field: Some(f),
            message,
        } => format!("Not accepted: {f}: {message}"),
        DomainError::Invalid { message, .. } => format!("Not accepted: {message}"),
        DomainError::NotFound(what) => format!("Not found: {what}"),
        DomainError::Forbidden => "Your role may not do that.".into(),
        DomainError::Conflict(m) => format!("Not done: {m}"),
        _ => "The service could not do that now; try again shortly.".into(),
    }
}

fn error_page(status: StatusCode, heading: &str, message: &str) -> Response {
    let body = html! {
        (DOCTYPE)
        html lang="en" {
            (head(heading))
            body {
                main #main {
                    h1 { (heading) }
                    p { (message) }
                    p { a href="/" { "Back to Failed Integration Events" } }
                }
            }
        }
    };
    (status, Html(body)).into_response()
}

async fn not_found_page() -> Response {
    PageError(DomainError::NotFound("page")).into_response()
}

/// An HTML answer.
pub(crate) struct Html(pub Markup);

impl IntoResponse for Html {
    fn into_response(self) -> Response {
        (
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            self.0.into_string(),
        )
            .into_response()
    }
}

fn head(title: &str) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            // htmx must not add inline styles or evaluate code: the CSP refuses both.
            // Error pages (404, a refused sign-in) are swapped in like any other.
            // No page is kept in the browser's storage for Back (htmx's history
            // cache): a new key is shown once, and nothing outlives a sign-out.
            meta name="htmx-config" content=r#"{"includeIndicatorStyles":false,"allowEval":false,"allowScriptTags":false,"historyCacheSize":0,"refreshOnHistoryMiss":true,"responseHandling":[{"code":"204","swap":false},{"code":"...","swap":true}]}"#;
            title { (title) " · Integration Events" }
            link rel="stylesheet" href=(assets::url("console.css"));
            script src=(assets::url("htmx.min.js")) defer {}
            script src=(assets::url("console.js")) defer {}
        }
    }
}

/// The navigation's entries: (path, label), the API keys for admins only.
fn nav(caller: &Caller) -> Vec<(&'static str, &'static str)> {
    let mut items = vec![
        ("/", "Failed Integration Events"),
        ("/console/integrations", "Integrations"),
        ("/console/events", "Events"),
        ("/console/overview", "Overview"),
    ];
    if caller.role == Role::Admin {
        items.push(("/console/api-keys", "API keys"));
    }
    items
}

/// A console page: navigation, the flash message, the page's heading and body.
fn page(ctx: &Ctx, current: &str, heading: &str, body: Markup) -> Html {
    let who = match &ctx.caller.vendor_id {
        Some(v) => format!("{} {}", ctx.caller.role.as_str(), v.as_str()),
        None => ctx.caller.role.as_str().to_owned(),
    };
    Html(html! {
        (DOCTYPE)
        html lang="en" {
            (head(heading))
            body hx-boost="true" {
                a.skip href="#main" { "Skip to content" }
                header.top {
                    span.brand { "Integration Events" }
                    nav aria-label="Main" {
                        ul {
                            @for (path, label) in nav(&ctx.caller) {
                                li {
                                    a href=(path) aria-current=[(path == current).then_some("page")] { (label) }
                                }
                            }
                        }
                    }
                    form.signout method="post" action="/console/sign-out" {
                        span.who { "Signed in as " (who) }
                        button type="submit" { "Sign out" }
                    }
                }
                main #main {
                    @if let Some(message) = &ctx.flash {
                        p.flash role="status" { (message) }
                    }
                    h1 { (heading) }
                    (body)
                }
                (confirm_dialog())
            }
        }
    })
}

/// The confirmation every marked action asks for (console.js opens it).
fn confirm_dialog() -> Markup {
    html! {
        dialog #confirm aria-labelledby="confirm-text" {
            form method="dialog" {
                p #confirm-text { "Are you sure?" }
                div.buttons {
                    button type="submit" value="yes" #confirm-yes { "Yes" }
                    button type="submit" value="cancel" autofocus { "Cancel" }
                }
            }
        }
    }
}

#[derive(serde::Deserialize)]
struct SignInForm {
    #[serde(default)]
    api_key: String,
}

async fn sign_in_page(State(state): State<AppState>, parts: Parts) -> Response {
    match open_session(&parts, &state).await {
        Ok(Some(_)) => return Redirect::to("/").into_response(),
        Ok(None) => {}
        Err(e) => return PageError(e).into_response(),
    }
    let flash = take_flash(&parts, &state);
    sign_in_form(StatusCode::OK, flash.as_deref())
}

fn sign_in_form(status: StatusCode, message: Option<&str>) -> Response {
    let body = html! {
        (DOCTYPE)
        html lang="en" {
            (head("Sign in"))
            body {
                main #main.narrow {
                    h1 { "Sign in" }
                    p { "Integration Events console: failed integration events, integrations, events." }
                    @if let Some(m) = message {
                        p.flash.error role="alert" { (m) }
                    }
                    form method="post" action="/console/sign-in" {
                        label for="api_key" { "API key" }
                        input #api_key type="password" name="api_key" autocomplete="off" required;
                        button type="submit" { "Sign in" }
                    }
                    p.hint { "Use an admin, manager or vendor key. The key is checked once and kept only as a sealed session cookie; it is never shown or stored in the browser." }
                }
            }
        }
    };
    (status, Html(body)).into_response()
}

async fn sign_in(
    State(state): State<AppState>,
    axum::Form(form): axum::Form<SignInForm>,
) -> Response {
    let key = form.api_key.trim();
    match state.authenticate(Some(key)).await {
        Ok(caller) if caller.role == Role::Marketplace => sign_in_form(
            StatusCode::FORBIDDEN,
            Some("The marketplace role has no console: it produces events through the API."),
        ),
        Ok(caller) => {
            let hash = KeyHash::of(key);
            let now = state.clock.now().timestamp();
            let Some(value) = SessionKeys::of(&state).seal(&hash, now) else {
                return PageError(DomainError::Unauthenticated).into_response();
            };
            tracing::info!(key_id = %caller.key_id, role = caller.role.as_str(), "console sign-in");
            let mut response = Redirect::to("/").into_response();
            let secure = secure(&state);
            if let Ok(v) = HeaderValue::from_str(&session::cookie_header(
                session::cookie_name(secure),
                &value,
                session::IDLE_SECONDS,
                secure,
            )) {
                response.headers_mut().append(header::SET_COOKIE, v);
            }
            response
        }
        Err(DomainError::Unauthenticated) => sign_in_form(
            StatusCode::UNAUTHORIZED,
            Some("That key is not known. Check it and try again."),
        ),
        Err(e) => PageError(e).into_response(),
    }
}

async fn sign_out(State(state): State<AppState>) -> Response {
    let mut response = Redirect::to("/console/sign-in").into_response();
    let secure = secure(&state);
    if let Ok(v) = HeaderValue::from_str(&session::cookie_header(
        session::cookie_name(secure),
        "",
        0,
        secure,
    )) {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
    response
}

/// A time as the console shows it: UTC to the second.
fn when(t: &chrono::DateTime<chrono::Utc>) -> Markup {
    html! {
        time datetime=(t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)) {
            (t.format("%Y-%m-%d %H:%M:%S UTC"))
        }
    }
}

/// A query string of the non-empty pairs, URL-encoded.
fn query_string<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let mut out = url::form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        if !v.is_empty() {
            out.append_pair(k, v);
        }
    }
    out.finish()
}

/// What a path segment or query value must not hold as it is.
const SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'&')
    .add(b'+')
    .add(b'/')
    .add(b'<')
    .add(b'=')
    .add(b'>')
    .add(b'?')
    .add(b'[')
    .add(b'\\')
    .add(b']')
    .add(b'^')
    .add(b'`')
    .add(b'{')
    .add(b'|')
    .add(b'}');

/// An id for a path segment or a query value.
fn segment(id: &str) -> String {
    percent_encoding::utf8_percent_encode(id, SEGMENT).to_string()
}

#[cfg(test)]
mod tests;
