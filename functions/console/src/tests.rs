//! The console through its router, over the embedded store: sessions,
//! refusals, escaping and scoping, as a browser would meet them.

use super::*;
use axum::body::Body;
use axum::http::Request;
use http_body_util::BodyExt;
use iev_domain::clock::{RandomIds, SystemClock};
use iev_domain::service::{Service, ServiceConfig};
use std::sync::Arc;
use tower::ServiceExt;

const ADMIN: &str = "iev_console_test_admin";

struct App {
    router: Router,
    service: AppState,
    _queue: iev_local::LocalQueueReceiver,
    _dir: tempfile::TempDir,
}

async fn app_at(public_url: &str) -> App {
    let dir = tempfile::tempdir().unwrap();
    let store = iev_local::SqliteStore::open(&dir.path().join("iev.sqlite3")).unwrap();
    let (queue, receiver) = iev_local::LocalQueue::new();
    let service = Arc::new(Service {
        store: Arc::new(store),
        queue: Arc::new(queue),
        outbound: Arc::new(iev_outbound::HttpOutbound::new(Default::default()).unwrap()),
        exports: Arc::new(iev_local::LocalExports::new(dir.path().join("exports"))),
        clock: Arc::new(SystemClock),
        ids: Arc::new(RandomIds),
        caches: Default::default(),
        config: ServiceConfig::new(public_url.parse().unwrap()),
    });
    service.ensure_admin_key(ADMIN).await.unwrap();
    App {
        router: iev_http::with_fallbacks(router()).with_state(service.clone()),
        service,
        _queue: receiver,
        _dir: dir,
    }
}

async fn app() -> App {
    app_at("http://127.0.0.1:8080").await
}

struct Answer {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: String,
}

impl App {
    async fn send(&self, request: Request<Body>) -> Answer {
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        Answer {
            status,
            headers,
            body: String::from_utf8_lossy(&bytes).into_owned(),
        }
    }

    async fn sign_in(&self, key: &str) -> Answer {
        self.send(
            Request::post("/console/sign-in")
                .header(header::HOST, "127.0.0.1:8080")
                .header(header::ORIGIN, "http://127.0.0.1:8080")
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(Body::from(format!("api_key={key}")))
                .unwrap(),
        )
        .await
    }

    /// The `name=value` of the session cookie a sign-in sets.
    async fn session(&self, key: &str) -> String {
        let answer = self.sign_in(key).await;
        assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.body);
        session_cookie(&answer).expect("a session cookie")
    }

    async fn get(&self, path: &str, cookie: &str) -> Answer {
        self.send(
            Request::get(path)
                .header(header::COOKIE, cookie)
                .body(Body::empty())
                .unwrap(),
        )
        .await
    }

    async fn key(&self, role: &str, vendor: Option<&str>) -> String {
        let admin = self.service.authenticate(Some(ADMIN)).await.unwrap();
        let mut body = serde_json::json!({ "role": role });
        if let Some(v) = vendor {
            body["vendorId"] = v.into();
        }
        self.service
            .create_key(&admin, body.to_string().as_bytes())
            .await
            .unwrap()
            .key
    }

    /// An integration of `vendor` and one failure of it with `message`; answers its id.
    async fn failure(&self, app: &str, vendor: &str, message: &str) -> String {
        let admin = self.service.authenticate(Some(ADMIN)).await.unwrap();
        let integration = serde_json::json!({
            "applicationName": format!("{app} product"), "vendorId": vendor,
            "notificationUrls": {}, "oauth": {"consumerKey": "k", "consumerSecret": "s"}
        });
        self.service
            .put_integration(&admin, app, integration.to_string().as_bytes())
            .await
            .unwrap();
        let record = serde_json::json!({
            "applicationId": app, "errorCode": "UNKNOWN_ERROR", "message": message
        });
        self.service
            .create_error(&admin, record.to_string().as_bytes())
            .await
            .unwrap()
            .id
    }
}

fn session_cookie(answer: &Answer) -> Option<String> {
    set_cookie(answer, session::COOKIE).map(|c| c.split(';').next().unwrap().to_owned())
}

fn set_cookie(answer: &Answer, name: &str) -> Option<String> {
    answer
        .headers
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(str::to_owned)
}

#[tokio::test]
async fn a_page_without_a_session_sends_the_browser_to_sign_in() {
    let app = app().await;
    let answer = app.get("/", "").await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER);
    assert_eq!(answer.headers[header::LOCATION], "/console/sign-in");
    let page = app.get("/console/sign-in", "").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("API key") && page.body.contains("Sign in"));
}

#[tokio::test]
async fn signing_in_sets_an_http_only_strict_cookie_that_holds_neither_the_key_nor_its_hash() {
    let app = app().await;
    let answer = app.sign_in(ADMIN).await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER);
    let cookie = set_cookie(&answer, session::COOKIE).unwrap();
    assert!(cookie.contains("; HttpOnly"), "{cookie}");
    assert!(cookie.contains("; SameSite=Strict"), "{cookie}");
    assert!(cookie.contains("; Max-Age=43200"), "{cookie}");
    assert!(cookie.contains("; Path=/"), "{cookie}");
    assert!(!cookie.contains("Secure"), "http: no Secure flag");
    assert!(!cookie.contains(ADMIN));
    assert!(!cookie.contains(&KeyHash::of(ADMIN).0));
    let page = app.get("/", &session_cookie(&answer).unwrap()).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("<h1>Failed Integration Events</h1>"));
    assert!(!page.body.contains(ADMIN));
    let renewed = set_cookie(&page, session::COOKIE).unwrap();
    assert!(
        renewed.contains("Max-Age=43200"),
        "each answer re-issues the session"
    );
}

#[tokio::test]
async fn the_session_cookie_is_secure_when_the_public_url_is_https() {
    let app = app_at("https://events.example").await;
    let answer = app.sign_in(ADMIN).await;
    assert_eq!(set_cookie(&answer, session::COOKIE), None);
    // The __Host- prefix: the browser keeps it to this host, Secure, Path=/.
    let cookie = set_cookie(&answer, "__Host-iev_session").unwrap();
    assert!(
        cookie.contains("; Secure") && cookie.contains("Path=/"),
        "{cookie}"
    );
    assert!(!cookie.contains("Domain"), "{cookie}");
    let session = cookie.split(';').next().unwrap().to_owned();
    let page = app
        .send(
            Request::get("/")
                .header(header::HOST, "events.example")
                .header(header::COOKIE, &session)
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(
        page.status,
        StatusCode::OK,
        "the prefixed cookie opens the session"
    );
}

#[tokio::test]
async fn the_marketplace_role_and_an_unknown_key_cannot_sign_in() {
    let app = app().await;
    let marketplace = app.key("marketplace", None).await;
    let refused = app.sign_in(&marketplace).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert!(refused.body.contains("The marketplace role has no console"));
    assert!(session_cookie(&refused).is_none());
    let unknown = app.sign_in("iev_made_up").await;
    assert_eq!(unknown.status, StatusCode::UNAUTHORIZED);
    assert!(session_cookie(&unknown).is_none());
}

#[tokio::test]
async fn a_change_sent_from_another_site_is_refused_even_with_a_session() {
    let app = app().await;
    let cookie = app.session(ADMIN).await;
    let id = app.failure("app-1", "v-1", "boom").await;
    for origin in [Some("http://evil.example"), None] {
        let mut request = Request::post(format!("/console/failures/{id}/resolve"))
            .header(header::HOST, "127.0.0.1:8080")
            .header(header::COOKIE, &cookie);
        if let Some(o) = origin {
            request = request.header(header::ORIGIN, o);
        }
        let answer = app.send(request.body(Body::empty()).unwrap()).await;
        assert_eq!(answer.status, StatusCode::FORBIDDEN, "{origin:?}");
    }
    let cross_site = Request::post(format!("/console/failures/{id}/resolve"))
        .header(header::COOKIE, &cookie)
        .header("sec-fetch-site", "cross-site")
        .header(header::ORIGIN, "http://127.0.0.1:8080")
        .header(header::HOST, "127.0.0.1:8080")
        .body(Body::empty())
        .unwrap();
    assert_eq!(app.send(cross_site).await.status, StatusCode::FORBIDDEN);
    let admin = app.service.authenticate(Some(ADMIN)).await.unwrap();
    let record = app.service.get_error(&admin, &id).await.unwrap();
    assert!(!record.manually_resolved, "nothing was changed");
}

#[tokio::test]
async fn a_vendors_message_is_shown_as_text_on_every_page() {
    let app = app().await;
    let cookie = app.session(ADMIN).await;
    let id = app
        .failure("app-1", "v-1", "<img src=x onerror=alert(1)>")
        .await;
    for path in ["/".to_owned(), format!("/console/failures/{id}")] {
        let page = app.get(&path, &cookie).await;
        assert_eq!(page.status, StatusCode::OK, "{path}");
        assert!(
            page.body.contains("&lt;img src=x onerror=alert(1)&gt;"),
            "{path}"
        );
        assert!(!page.body.contains("<img"), "{path}");
        assert!(
            !page.body.contains("<script>"),
            "no inline script on {path}"
        );
        let csp = page.headers[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap();
        assert!(csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"));
        assert!(csp.contains("frame-ancestors 'none'"));
    }
}

#[tokio::test]
async fn another_vendors_failure_answers_the_same_not_found_page_as_a_made_up_id() {
    let app = app().await;
    let theirs = app.failure("app-a", "vendor-a", "theirs").await;
    let ours = app.failure("app-b", "vendor-b", "ours").await;
    let cookie = app
        .session(&app.key("vendor", Some("vendor-b")).await)
        .await;
    let landing = app.get("/?resolved=all", &cookie).await;
    assert!(landing.body.contains(&ours));
    assert!(!landing.body.contains(&theirs) && !landing.body.contains("app-a"));
    let foreign = app
        .get(&format!("/console/failures/{theirs}"), &cookie)
        .await;
    let made_up = app.get("/console/failures/no-such.1", &cookie).await;
    assert_eq!(foreign.status, StatusCode::NOT_FOUND);
    assert_eq!(made_up.status, StatusCode::NOT_FOUND);
    assert_eq!(foreign.body, made_up.body);
    let integration = app.get("/console/integrations/app-a", &cookie).await;
    assert_eq!(integration.status, StatusCode::NOT_FOUND);
    assert_eq!(integration.body, made_up.body);
}

#[tokio::test]
async fn a_revoked_key_ends_its_sessions() {
    let app = app().await;
    let manager = app.key("manager", None).await;
    let cookie = app.session(&manager).await;
    assert_eq!(app.get("/", &cookie).await.status, StatusCode::OK);
    let admin = app.service.authenticate(Some(ADMIN)).await.unwrap();
    let id = iev_domain::auth::key_id_of(&KeyHash::of(&manager));
    app.service.revoke_key(&admin, &id).await.unwrap();
    let after = app.get("/", &cookie).await;
    assert_eq!(after.status, StatusCode::SEE_OTHER);
    assert_eq!(after.headers[header::LOCATION], "/console/sign-in");
    let cleared = set_cookie(&after, session::COOKIE).unwrap();
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
}

#[tokio::test]
async fn the_api_keys_page_is_for_admins_only() {
    let app = app().await;
    let manager = app.session(&app.key("manager", None).await).await;
    assert_eq!(
        app.get("/console/api-keys", &manager).await.status,
        StatusCode::FORBIDDEN
    );
    let admin = app.session(ADMIN).await;
    let page = app.get("/console/api-keys", &admin).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(!page.body.contains(ADMIN));
}

#[tokio::test]
async fn assets_are_versioned_kept_for_a_year_and_small() {
    let app = app().await;
    let url = assets::url("htmx.min.js");
    let answer = app
        .send(
            Request::get(&url)
                .header(header::ACCEPT_ENCODING, "gzip, br")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK);
    assert_eq!(answer.headers[header::CONTENT_ENCODING], "gzip");
    assert!(answer.headers[header::CACHE_CONTROL]
        .to_str()
        .unwrap()
        .contains("immutable"));
    let stale = app
        .send(
            Request::get("/console/assets/0000/htmx.min.js")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(stale.status, StatusCode::NOT_FOUND);
    assert!(
        assets::served_bytes() < 150 * 1024,
        "{} bytes",
        assets::served_bytes()
    );
}

#[tokio::test]
async fn a_csv_download_stops_whole_rows_below_the_byte_bound_a_lambda_answer_allows() {
    let app = app().await;
    let cookie = app.session(ADMIN).await;
    // 100 failures of 60 KiB each: 6 MB in all, past the bound.
    let long = "m".repeat(60 * 1024);
    for _ in 0..100 {
        app.failure("app-1", "v-1", &long).await;
    }
    let csv = app.get("/console/failures.csv", &cookie).await;
    assert_eq!(csv.status, StatusCode::OK);
    assert!(
        csv.body.len() <= failures::CSV_MAX_BYTES,
        "{} bytes",
        csv.body.len()
    );
    let mut reader = ::csv::Reader::from_reader(csv.body.as_bytes());
    let rows: Vec<::csv::StringRecord> = reader.records().map(|r| r.unwrap()).collect();
    assert!(
        (70..100).contains(&rows.len()),
        "whole rows up to the bound: {}",
        rows.len()
    );
    assert!(rows.iter().all(|r| r.iter().any(|cell| cell == long)));
}

#[tokio::test]
async fn saving_a_failures_form_sends_only_what_changed_and_keeps_a_change_made_meanwhile() {
    let app = app().await;
    let cookie = app.session(ADMIN).await;
    let id = app.failure("app-1", "v-1", "boom").await;
    let admin = app.service.authenticate(Some(ADMIN)).await.unwrap();
    let page = app.get(&format!("/console/failures/{id}"), &cookie).await;
    assert!(
        page.body.contains(r#"name="was.note""#),
        "the form says what it showed"
    );
    // Someone else writes a note after this page was loaded.
    app.service
        .patch_error(&admin, &id, br#"{"note": "theirs"}"#)
        .await
        .unwrap();
    // This user changes only the external id; the note field is as shown.
    let form = "was.note=&note=&was.externalId=&externalId=TICKET-7";
    let saved = app
        .send(
            Request::post(format!("/console/failures/{id}"))
                .header(header::HOST, "127.0.0.1:8080")
                .header(header::ORIGIN, "http://127.0.0.1:8080")
                .header(header::COOKIE, &cookie)
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body(Body::from(form))
                .unwrap(),
        )
        .await;
    assert!(
        saved.status.is_redirection() || saved.status.is_success(),
        "{}",
        saved.body
    );
    let record = app.service.get_error(&admin, &id).await.unwrap();
    assert_eq!(record.external_id.as_deref(), Some("TICKET-7"));
    assert_eq!(
        record.note.as_deref(),
        Some("theirs"),
        "the other change stays"
    );
}
