//! `POST /admin/snapshot` under its bounds (issue 21): admin scope, a retention count, a free
//! disk check, and the access state inside every snapshot so a restored server accepts the same
//! keys.

mod common;

use std::sync::Arc;

use axum::body::Body;
use axum::http::Request;
use marketlounge::auth::secret::MasterSecret;
use marketlounge::auth::store::{KeySpec, KeyStore};
use marketlounge::auth::{KeyKind, Scope};
use marketlounge::http::{AppState, app};
use marketlounge::settings::Settings;
use tower::ServiceExt;

fn admin_spec() -> KeySpec {
    KeySpec {
        name: "operator".into(),
        owner: None,
        kind: KeyKind::Secret,
        scopes: vec![Scope::Admin, Scope::Suggest],
        origins: Vec::new(),
        rate: None,
        burst: None,
        quota: None,
        expires_at: None,
    }
}

async fn take_snapshot(state: &Arc<AppState>, key: &str) -> (u16, serde_json::Value) {
    let request = Request::post("/admin/snapshot")
        .header("authorization", format!("Bearer {key}"))
        .header("content-type", "application/json")
        .body(Body::empty())
        .unwrap();
    let (status, bytes) = common::app::checked(&app(Arc::clone(state)), request).await;
    (status.as_u16(), serde_json::from_slice(&bytes).unwrap())
}

fn snapshots(data: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(data.join("snapshots"))
        .map(|entries| entries.map(|e| e.unwrap().file_name().into_string().unwrap()).collect())
        .unwrap_or_default();
    names.sort();
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshots_are_kept_to_their_count_and_carry_the_keys() {
    let data = tempfile::tempdir().unwrap();
    let store = KeyStore::open(data.path(), MasterSecret::load_or_create(data.path()).unwrap()).unwrap();
    let (_, key) = store.create(&admin_spec(), jiff::Timestamp::now().as_second()).unwrap();
    let mut settings = Settings::default_settings();
    settings.admin.snapshot_retention = 2;
    settings.admin.snapshot_min_free_mb = 0;
    let state = Arc::new(AppState::open(settings, data.path()).unwrap());

    let mut paths = Vec::new();
    for _ in 0..4 {
        let (status, taken) = take_snapshot(&state, &key).await;
        assert_eq!(status, 201, "{taken}");
        paths.push(taken["path"].as_str().unwrap().to_owned());
    }
    let kept = snapshots(data.path());
    assert_eq!(kept.len(), 2, "{kept:?}");
    for path in &paths[..2] {
        assert!(!std::path::Path::new(path).exists(), "{path} should have been pruned");
    }
    let newest = std::path::Path::new(&paths[3]);
    assert!(newest.join("auth").join("keys.sqlite").is_file() && newest.join("auth").join("master.key").is_file());

    // A restore of the newest one accepts the same key.
    let restored = tempfile::tempdir().unwrap();
    let target = restored.path().join("data");
    let output = common::run(&["restore", "--backup", newest.to_str().unwrap(), "--data", target.to_str().unwrap()]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(String::from_utf8_lossy(&output.stdout).contains("keys.sqlite"));
    let again = Arc::new(AppState::open(Settings::default_settings(), &target).unwrap());
    let request = Request::get("/api/v1/suggest?q=usin").header("x-api-key", &key).body(Body::empty()).unwrap();
    assert_eq!(app(again).oneshot(request).await.unwrap().status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snapshot_needs_free_disk_space() {
    let data = tempfile::tempdir().unwrap();
    let store = KeyStore::open(data.path(), MasterSecret::load_or_create(data.path()).unwrap()).unwrap();
    let (_, key) = store.create(&admin_spec(), jiff::Timestamp::now().as_second()).unwrap();
    let mut settings = Settings::default_settings();
    // More than any disk here.
    settings.admin.snapshot_min_free_mb = 1 << 40;
    let state = Arc::new(AppState::open(settings, data.path()).unwrap());
    let (status, body) = take_snapshot(&state, &key).await;
    assert_eq!((status, body["error"]["code"].as_str()), (507, Some("insufficient_storage")), "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("admin.snapshot_min_free_mb"));
    assert!(snapshots(data.path()).is_empty());
}
