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

/// `GET /health` of a running server.
fn health(addr: &str) -> serde_json::Value {
    let (status, body) = common::http(addr, "GET", "/health", "application/json", b"").unwrap();
    assert_eq!(status, 200, "{body}");
    serde_json::from_str(&body).unwrap()
}

/// Scheduled backups (`backup.interval_hours`): taken by a running server without a call, shown
/// in `/health`, kept to `backup.keep`, and the latest restores to the live index, company by
/// company and query by query.
#[test]
fn scheduled_backups_are_taken_kept_to_their_count_and_restore_the_live_index() {
    let dir = tempfile::tempdir().unwrap();
    let (data, settings) = (dir.path().join("data"), dir.path().join("settings.json"));
    let mut values: serde_json::Value = serde_json::from_str(include_str!("../schema/settings.default.json")).unwrap();
    // About every 1.4 s.
    values["backup"] = serde_json::json!({"interval_hours": 0.0004, "keep": 2});
    values["admin"]["snapshot_min_free_mb"] = serde_json::json!(0);
    std::fs::write(&settings, values.to_string()).unwrap();
    let server = common::serve(&data, Some(&settings));

    let companies: String = (1..=40).map(|n| format!("{}\n", common::company(n))).collect();
    let (status, body) =
        common::http(&server.addr, "POST", "/api/v1/companies", "application/x-ndjson", companies.as_bytes()).unwrap();
    assert_eq!(status, 200, "{body}");
    let (status, body) = common::http(
        &server.addr,
        "DELETE",
        &format!("/api/v1/companies/{}", common::siren(7)),
        "application/json",
        b"",
    )
    .unwrap();
    assert!(status < 300, "{body}");

    // Wait for two backups holding the published generation, so the schedule has pruned once.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let mut names = Vec::new();
    let last = loop {
        assert!(
            std::time::Instant::now() < deadline,
            "no two backups of the published writes in 60 s: {}",
            health(&server.addr)
        );
        let health = health(&server.addr);
        assert_eq!(health["backup"]["interval_hours"], 0.0004, "{health}");
        let last = &health["backup"]["last"];
        if health["pending_writes"] == 0 && last["result"] == "ok" && last["generation"] == health["generation"] {
            let name = last["name"].as_str().unwrap().to_owned();
            if !names.contains(&name) {
                names.push(name);
            }
            if names.len() >= 3 {
                break last.clone();
            }
        } else {
            assert_ne!(last["result"], "failed", "{health}");
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    assert!(last["duration_ms"].as_f64().unwrap() >= 0.0 && last["at"].as_str().unwrap().ends_with('Z'), "{last}");
    // The metrics say the same (what the `MarketLoungeBackupFailed` alert reads).
    let (status, metrics) = common::http(&server.addr, "GET", "/metrics", "text/plain", b"").unwrap();
    assert_eq!(status, 200);
    let succeeded = common::metrics::value(&metrics, "marketlounge_backups_succeeded_total", &[]).unwrap();
    assert!(succeeded >= 3.0, "{metrics}");
    assert_eq!(common::metrics::value(&metrics, "marketlounge_backups_failed_total", &[]), Some(0.0));
    assert_eq!(common::metrics::value(&metrics, "marketlounge_backup_last_failed", &[]), Some(0.0));
    let at = common::metrics::value(&metrics, "marketlounge_backup_last_success_timestamp_seconds", &[]).unwrap();
    assert!((at - jiff::Timestamp::now().as_second() as f64).abs() < 120.0, "{at}");
    // Kept to their count (one more may be being written: its name is not final until done).
    let kept = marketlounge::backup::list(&data.join("backups")).unwrap();
    assert!((2..=3).contains(&kept.len()), "{kept:?}");
    let latest = data.join("backups").join(last["name"].as_str().unwrap());
    assert!(kept.contains(&latest), "{latest:?} in {kept:?}");

    // The latest restores into a new data directory; a server on it answers like the live one.
    let restored = dir.path().join("restored");
    let output = common::run(&["restore", "--backup", latest.to_str().unwrap(), "--data", restored.to_str().unwrap()]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let copy = common::serve(&restored, None);
    let (live_health, copy_health) = (health(&server.addr), health(&copy.addr));
    assert_eq!(copy_health["documents"], live_health["documents"]);
    assert_eq!(copy_health["documents"], 39);
    for n in 1..=41 {
        let path = format!("/api/v1/companies/{}", common::siren(n));
        let live = common::http(&server.addr, "GET", &path, "application/json", b"").unwrap();
        let copied = common::http(&copy.addr, "GET", &path, "application/json", b"").unwrap();
        assert_eq!(live.0, copied.0, "{path}");
        if live.0 == 200 {
            assert_eq!(
                serde_json::from_str::<serde_json::Value>(&live.1).unwrap(),
                serde_json::from_str::<serde_json::Value>(&copied.1).unwrap(),
                "{path}"
            );
        }
    }
    for query in ["usinage de précision", "mécanique", "précision 12"] {
        let body = serde_json::json!({"query": query, "k": 10}).to_string();
        let ids = |addr: &str| {
            let (status, answer) =
                common::http(addr, "POST", "/api/v1/match", "application/json", body.as_bytes()).unwrap();
            assert_eq!(status, 200, "{answer}");
            let answer: serde_json::Value = serde_json::from_str(&answer).unwrap();
            answer["hits"].as_array().unwrap().iter().map(|hit| hit["id"].clone()).collect::<Vec<_>>()
        };
        let live = ids(&server.addr);
        assert!(!live.is_empty(), "{query}");
        assert_eq!(live, ids(&copy.addr), "{query}");
    }
}
