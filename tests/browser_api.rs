//! What a browser meets (issue 21): CORS preflights and answers for partners' pages, state
//! changes that a cross-site form or `text/plain` fetch cannot reach, and the demo page's
//! Content-Security-Policy. The real router over a real key table.

mod common;

use std::sync::Arc;

use axum::body::Body;
use axum::http::{HeaderMap, Request};
use marketlounge::auth::routes::ROUTES;
use marketlounge::auth::secret::MasterSecret;
use marketlounge::auth::store::{KeySpec, KeyStore};
use marketlounge::auth::{KeyKind, Scope};
use marketlounge::http::{AppState, app};
use marketlounge::settings::Settings;

const SHOP: &str = "https://shop.example";
const OTHER_SHOP: &str = "https://other-shop.example";

fn spec(kind: KeyKind, scopes: &[Scope], origins: &[&str]) -> KeySpec {
    KeySpec {
        name: "browser".into(),
        owner: None,
        kind,
        scopes: scopes.to_vec(),
        origins: origins.iter().map(|o| (*o).to_owned()).collect(),
        rate: None,
        burst: None,
        quota: None,
        expires_at: None,
    }
}

/// A server with a publishable key for [`SHOP`], another for [`OTHER_SHOP`] and an admin key.
struct Browsed {
    state: Arc<AppState>,
    shop_key: String,
    admin_key: String,
    _dir: tempfile::TempDir,
}

fn browsed() -> Browsed {
    let dir = tempfile::tempdir().unwrap();
    let store = KeyStore::open(dir.path(), MasterSecret::load_or_create(dir.path()).unwrap()).unwrap();
    let now = jiff::Timestamp::now().as_second();
    let browser = [Scope::Search, Scope::Suggest];
    let shop_key = store.create(&spec(KeyKind::Publishable, &browser, &[SHOP]), now).unwrap().1;
    store.create(&spec(KeyKind::Publishable, &browser, &[OTHER_SHOP]), now).unwrap();
    let admin_key = store.create(&spec(KeyKind::Secret, &[Scope::Admin], &[]), now).unwrap().1;
    let state = Arc::new(AppState::open(Settings::default_settings(), dir.path()).unwrap());
    Browsed { state, shop_key, admin_key, _dir: dir }
}

/// (status, headers, error code) of one request.
async fn send(
    state: &Arc<AppState>,
    method: &str,
    uri: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, HeaderMap, String) {
    let mut request = Request::builder().method(method).uri(uri);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let (status, headers, bytes) =
        common::app::checked_parts(&app(Arc::clone(state)), request.body(Body::from(body.to_owned())).unwrap()).await;
    let status = status.as_u16();
    let code = serde_json::from_slice::<serde_json::Value>(&bytes)
        .ok()
        .and_then(|v| v["error"]["code"].as_str().map(str::to_owned))
        .unwrap_or_default();
    (status, headers, code)
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> &'a str {
    headers.get(name).map_or("", |v| v.to_str().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preflights_are_answered_for_the_origins_and_routes_of_pages() {
    let Browsed { state, _dir, .. } = browsed();
    let preflight = |origin: &'static str, method: &'static str, path: &'static str, headers: &'static str| {
        let state = Arc::clone(&state);
        async move {
            send(
                &state,
                "OPTIONS",
                path,
                &[
                    ("origin", origin),
                    ("access-control-request-method", method),
                    ("access-control-request-headers", headers),
                ],
                "",
            )
            .await
        }
    };
    for (method, path) in [("GET", "/api/v1/suggest"), ("POST", "/api/v1/match")] {
        for origin in [SHOP, OTHER_SHOP] {
            let (status, headers, _) = preflight(origin, method, path, "authorization, content-type").await;
            assert_eq!(status, 204, "{origin} {method} {path}");
            assert_eq!(header(&headers, "access-control-allow-origin"), origin);
            assert_eq!(header(&headers, "access-control-allow-methods"), method);
            assert!(header(&headers, "access-control-allow-headers").contains("authorization"));
            assert!(header(&headers, "access-control-allow-headers").contains("x-api-key"));
            assert_eq!(header(&headers, "access-control-max-age"), "600");
            assert!(headers.get_all("vary").iter().any(|v| v.to_str().unwrap().contains("origin")));
        }
    }
    // Refused, without a CORS header the browser could act on: an origin no key lists, a route
    // a page may not call, a header a page may not send.
    let refusals = [
        ("https://evil.example", "GET", "/api/v1/suggest", "authorization"),
        ("https://shop.example:8443", "GET", "/api/v1/suggest", "authorization"),
        (SHOP, "POST", "/admin/snapshot", "content-type"),
        (SHOP, "DELETE", "/api/v1/companies/42", "authorization"),
        (SHOP, "POST", "/api/v1/companies", "content-type"),
        (SHOP, "PUT", "/api/v1/match", "content-type"),
        (SHOP, "GET", "/api/v1/suggest", "authorization, x-forwarded-for"),
    ];
    for (origin, method, path, headers) in refusals {
        let (status, answer, code) = preflight(origin, method, path, headers).await;
        assert_eq!((status, code.as_str()), (403, "origin_not_allowed"), "{origin} {method} {path} {headers}");
        assert!(answer.get("access-control-allow-origin").is_none(), "{origin} {method} {path}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_are_readable_by_the_pages_of_their_origins_only() {
    let Browsed { state, shop_key, admin_key, _dir } = browsed();
    let bearer = format!("Bearer {shop_key}");
    let (status, headers, _) =
        send(&state, "GET", "/api/v1/suggest?q=usin", &[("origin", SHOP), ("authorization", &bearer)], "").await;
    assert_eq!(status, 200);
    assert_eq!(header(&headers, "access-control-allow-origin"), SHOP);
    assert!(header(&headers, "access-control-expose-headers").contains("x-request-id"));
    assert!(headers.get_all("vary").iter().any(|v| v.to_str().unwrap().contains("origin")));

    // The key used from another key's origin: refused, and the page may read why.
    let (status, headers, code) =
        send(&state, "GET", "/api/v1/suggest?q=usin", &[("origin", OTHER_SHOP), ("authorization", &bearer)], "").await;
    assert_eq!((status, code.as_str()), (403, "origin_not_allowed"));
    assert_eq!(header(&headers, "access-control-allow-origin"), OTHER_SHOP);

    // An admin route answers no page, whatever the origin and the key.
    let admin = format!("Bearer {admin_key}");
    let (status, headers, _) = send(
        &state,
        "POST",
        "/admin/snapshot",
        &[("origin", SHOP), ("authorization", &admin), ("content-type", "application/json")],
        "",
    )
    .await;
    assert_eq!(status, 201);
    assert!(headers.get("access-control-allow-origin").is_none());
    // Nor does an origin no key lists.
    let (_, headers, _) = send(
        &state,
        "GET",
        "/api/v1/suggest?q=usin",
        &[("origin", "https://evil.example"), ("authorization", &bearer)],
        "",
    )
    .await;
    assert!(headers.get("access-control-allow-origin").is_none());
}

/// Every `POST` (a state change) refuses what a cross-site form or a `text/plain` fetch sends
/// (a "simple" request, which a browser sends without asking first), even with the right key,
/// before doing anything. Generated from the route table, so a new route cannot be forgotten.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn state_changes_take_json_only() {
    let Browsed { state, _dir, .. } = browsed();
    let store = state.keys.as_ref().unwrap().store();
    let all = spec(KeyKind::Secret, &Scope::ALL, &[]);
    let (_, key) = store.create(&all, jiff::Timestamp::now().as_second()).unwrap();
    state.keys.as_ref().unwrap().reload().unwrap();
    let bearer = format!("Bearer {key}");
    let posts: Vec<&str> = ROUTES.iter().filter(|(method, _, _)| *method == "POST").map(|(_, path, _)| *path).collect();
    assert!(posts.len() >= 10, "{posts:?}");
    let generation = state.engine.snapshot().generation();
    for path in &posts {
        for content_type in [
            None,
            Some("text/plain"),
            Some("application/x-www-form-urlencoded"),
            Some("multipart/form-data; boundary=x"),
        ] {
            let mut headers = vec![("authorization", bearer.as_str())];
            if let Some(content_type) = content_type {
                headers.push(("content-type", content_type));
            }
            let (status, _, code) = send(&state, "POST", path, &headers, r#"{"id": "1"}"#).await;
            assert_eq!((status, code.as_str()), (415, "unsupported_media_type"), "{path} {content_type:?}");
        }
    }
    assert_eq!(state.engine.snapshot().generation(), generation);
    assert!(!state.data_dir.join("snapshots").exists());
    // Without a key, the key is what is missing.
    let (status, _, code) = send(&state, "POST", "/admin/snapshot", &[("content-type", "text/plain")], "").await;
    assert_eq!((status, code.as_str()), (401, "missing_api_key"));
    let (status, _, _) = send(
        &state,
        "POST",
        "/admin/snapshot",
        &[("authorization", &bearer), ("content-type", "application/json")],
        "",
    )
    .await;
    assert_eq!(status, 201);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn development_mode_answers_no_other_origin() {
    let dir = tempfile::tempdir().unwrap();
    let state = Arc::new(AppState::open(Settings::default_settings(), dir.path()).unwrap());
    assert!(state.keys.is_none());
    let (status, headers, _) =
        send(&state, "OPTIONS", "/api/v1/suggest", &[("origin", SHOP), ("access-control-request-method", "GET")], "")
            .await;
    assert_eq!(status, 405);
    assert!(headers.get("access-control-allow-origin").is_none());
    let (status, headers, _) = send(&state, "GET", "/api/v1/suggest?q=usin", &[("origin", SHOP)], "").await;
    assert_eq!(status, 200);
    assert!(headers.get("access-control-allow-origin").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_is_served_with_a_policy_that_allows_only_its_own_blocks() {
    let dir = tempfile::tempdir().unwrap();
    let state = Arc::new(AppState::open(Settings::default_settings(), dir.path()).unwrap());
    let (status, headers, _) = send(&state, "GET", "/", &[], "").await;
    assert_eq!(status, 200);
    let policy = header(&headers, "content-security-policy");
    assert!(policy.starts_with("default-src 'none'; script-src 'sha256-"), "{policy}");
    assert!(policy.contains("connect-src 'self'") && policy.contains("frame-ancestors 'none'"), "{policy}");
    assert!(!policy.contains("unsafe-inline"), "{policy}");
    assert_eq!(header(&headers, "x-frame-options"), "DENY");
}
