//! The route × key matrix over the real router and a real key table: every route of
//! `auth::routes::ROUTES` with no key, a revoked key, an expired key, a key of every scope and a
//! publishable key from a foreign and from its own origin, each answered as the route's scope
//! says. Generated from the table, so a new route cannot be left out.

mod common;

use std::sync::Arc;

use axum::body::Body;
use axum::http::Request;
use marketlounge::auth::routes::{Access, ROUTES};
use marketlounge::auth::secret::MasterSecret;
use marketlounge::auth::store::{KeySpec, KeyStore};
use marketlounge::auth::{KeyKind, Scope};
use marketlounge::http::{AppState, app};
use marketlounge::settings::Settings;
use tower::ServiceExt;

fn spec(kind: KeyKind, scopes: &[Scope], origins: &[&str], expires_at: Option<i64>) -> KeySpec {
    KeySpec {
        name: "matrix".into(),
        kind,
        scopes: scopes.to_vec(),
        origins: origins.iter().map(|o| (*o).to_owned()).collect(),
        rate: None,
        burst: None,
        quota: None,
        expires_at,
        owner: None,
    }
}

/// (status, error code) of one request.
async fn call(
    state: &Arc<AppState>,
    method: &str,
    path: &str,
    key: Option<&str>,
    origin: Option<&str>,
) -> (u16, String) {
    let uri = path.replace("{id}", "552100554").replace("{task_id}", "t-none");
    let mut request = Request::builder().method(method).uri(uri);
    if let Some(key) = key {
        request = request.header("authorization", format!("Bearer {key}"));
    }
    if let Some(origin) = origin {
        request = request.header("origin", origin);
    }
    let body = if method == "GET" || method == "DELETE" { Body::empty() } else { Body::from("{}") };
    let request = request.header("content-type", "application/json").body(body).unwrap();
    let (status, bytes) = common::app::checked(&app(Arc::clone(state)), request).await;
    let status = status.as_u16();
    let code = serde_json::from_slice::<serde_json::Value>(&bytes)
        .ok()
        .and_then(|v| v["error"]["code"].as_str().map(str::to_owned))
        .unwrap_or_default();
    (status, code)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_answers_every_key_as_its_scope_says() {
    let dir = tempfile::tempdir().unwrap();
    let store = KeyStore::open(dir.path(), MasterSecret::load_or_create(dir.path()).unwrap()).unwrap();
    let now = jiff::Timestamp::now().as_second();
    let mut by_scope = Vec::new();
    for scope in Scope::ALL {
        by_scope.push((scope, store.create(&spec(KeyKind::Secret, &[scope], &[], None), now).unwrap().1));
    }
    let (revoked, revoked_key) = store.create(&spec(KeyKind::Secret, &Scope::ALL, &[], None), now).unwrap();
    store.revoke(&revoked.id, now).unwrap();
    let (_, expired_key) = store.create(&spec(KeyKind::Secret, &Scope::ALL, &[], Some(now - 1)), now - 10).unwrap();
    let (_, publishable) = store
        .create(&spec(KeyKind::Publishable, &[Scope::Search, Scope::Suggest], &["https://shop.example"], None), now)
        .unwrap();
    let state = Arc::new(AppState::open(Settings::default_settings(), dir.path()).unwrap());

    let mut cells = 0;
    for &(method, path, access) in ROUTES {
        let refused = |(status, _): &(u16, String)| *status == 401 || *status == 403;
        let no_key = call(&state, method, path, None, None).await;
        cells += 1;
        // The scopes that open the route: its own, or for `/metrics` `metrics` and `admin`.
        let opening = match access {
            Access::Open => {
                assert!(!refused(&no_key), "{method} {path} is open: {no_key:?}");
                continue;
            }
            Access::Needs(needed) => vec![needed],
            Access::Metrics => vec![Scope::Metrics, Scope::Admin],
        };
        assert_eq!(no_key, (401, "missing_api_key".into()), "{method} {path} without a key");
        for key in [&revoked_key, &expired_key, &"mlk_sec_0000000000000000000000000000000000000000000".to_owned()] {
            let answer = call(&state, method, path, Some(key), None).await;
            assert_eq!(answer, (401, "invalid_api_key".into()), "{method} {path} with a dead key");
            cells += 1;
        }
        for (scope, key) in &by_scope {
            let answer = call(&state, method, path, Some(key), None).await;
            if opening.contains(scope) {
                assert!(!refused(&answer), "{method} {path} with its scope {scope}: {answer:?}");
            } else {
                assert_eq!(answer, (403, "forbidden".into()), "{method} {path} with scope {scope}");
            }
            cells += 1;
        }
        let foreign = call(&state, method, path, Some(&publishable), Some("https://evil.example")).await;
        let own = call(&state, method, path, Some(&publishable), Some("https://shop.example")).await;
        cells += 2;
        if opening.iter().any(|scope| [Scope::Search, Scope::Suggest].contains(scope)) {
            assert_eq!(foreign, (403, "origin_not_allowed".into()), "{method} {path} from a foreign origin");
            assert!(!refused(&own), "{method} {path} from the key's origin: {own:?}");
        } else {
            assert_eq!(foreign, (403, "forbidden".into()), "{method} {path} with a publishable key");
            assert_eq!(own, (403, "forbidden".into()), "{method} {path} with a publishable key");
        }
    }
    assert!(cells >= ROUTES.len() * 10, "{cells} cells");
    println!("route × key matrix: {} routes, {cells} cells", ROUTES.len());
    // The scheme's name in any case; X-API-Key works as Authorization does.
    let suggest_key = &by_scope.iter().find(|(s, _)| *s == Scope::Suggest).unwrap().1;
    let request = Request::get("/api/v1/suggest?q=usi")
        .header("authorization", format!("bearer {suggest_key}"))
        .body(Body::empty())
        .unwrap();
    assert_eq!(app(Arc::clone(&state)).oneshot(request).await.unwrap().status(), 200);
    let request = Request::get("/api/v1/suggest?q=usi")
        .header("x-api-key", &by_scope.iter().find(|(s, _)| *s == Scope::Suggest).unwrap().1)
        .body(Body::empty())
        .unwrap();
    assert_eq!(app(Arc::clone(&state)).oneshot(request).await.unwrap().status(), 200);
}

/// Every answer (the page, an API answer, an error) says: no MIME sniffing, no referrer, no
/// framing.
#[tokio::test]
async fn every_answer_carries_the_security_headers() {
    let dir = tempfile::tempdir().unwrap();
    let state = Arc::new(AppState::open(Settings::default_settings(), dir.path()).unwrap());
    for uri in ["/", "/health", "/nope", "/api/v1/suggest?q=%FF"] {
        let response = app(Arc::clone(&state)).oneshot(Request::get(uri).body(Body::empty()).unwrap()).await.unwrap();
        let headers = response.headers();
        for (name, value) in
            [("x-content-type-options", "nosniff"), ("referrer-policy", "no-referrer"), ("x-frame-options", "DENY")]
        {
            assert_eq!(headers.get(name).and_then(|v| v.to_str().ok()), Some(value), "{uri}: {name}");
        }
        // The page's own policy (tests/browser_api.rs) ends like everyone's.
        let policy = headers.get("content-security-policy").and_then(|v| v.to_str().ok()).unwrap_or("");
        assert!(policy.ends_with("frame-ancestors 'none'"), "{uri}: {policy}");
    }
}
