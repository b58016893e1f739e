//! `POST /api/v1/match` over HTTP: the response shape, explanation trees (snapshots) and every
//! kind of bad input answered 400 with a stable code and the field named.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use marketlounge::http::{AppState, app};
use marketlounge::settings::Settings;
use marketlounge_index::record::Company;
use tower::ServiceExt;

mod common;

/// (name, capabilities, commune code, postal code, commune, concepts)
type Sample =
    (&'static str, &'static [&'static str], &'static str, &'static str, &'static str, &'static [&'static str]);

const COMPANIES: [Sample; 6] = [
    (
        "Usinage Rhône Précision",
        &["fraisage 5 axes", "tournage CN"],
        "69123",
        "69001",
        "Lyon",
        &["usinage.fraisage.5-axes"],
    ),
    (
        "Forez Mécanique",
        &["fraisage 3 axes", "alésage"],
        "42218",
        "42000",
        "Saint-Étienne",
        &["usinage.fraisage.3-axes"],
    ),
    ("Laser Inox Dauphiné", &["découpe laser inox", "pliage"], "38185", "38000", "Grenoble", &[]),
    ("Garonne Découpe", &["découpe laser acier", "découpe jet d'eau"], "31555", "31000", "Toulouse", &[]),
    ("Atelier TIG Lyonnais", &["soudure TIG inox", "chaudronnerie fine"], "69123", "69002", "Lyon", &["chaudronnerie"]),
    (
        "Aquitaine Aéro Usinage",
        &["usinage aéronautique", "fraisage grande vitesse"],
        "33063",
        "33000",
        "Bordeaux",
        &["usinage"],
    ),
];

fn state() -> (tempfile::TempDir, Arc<AppState>) {
    let data = tempfile::tempdir().unwrap();
    let state = Arc::new(AppState::open(Settings::default_settings(), data.path()).unwrap());
    let companies: Vec<Company> = COMPANIES
        .iter()
        .enumerate()
        .map(|(n, (name, capabilities, code, postal, commune, concepts))| {
            let concepts: Vec<serde_json::Value> =
                concepts.iter().map(|id| serde_json::json!({"id": id, "weight": 0.9})).collect();
            serde_json::from_value(serde_json::json!({
                "id": common::siren(n as u32 + 1),
                "name": name,
                "description": format!("{name} : sous-traitance industrielle, {}.", capabilities.join(", ")),
                "capabilities": capabilities,
                "certifications": if n % 2 == 0 { vec!["ISO 9001"] } else { vec!["EN 9100"] },
                "naf": "25.62B",
                "headcount": "20-49",
                "created": "1995-06-01",
                "address": {"postal_code": postal, "commune": commune, "commune_code": code},
                "concepts": concepts,
            }))
            .unwrap()
        })
        .collect();
    state.engine.upsert(companies).unwrap();
    state.engine.flush().unwrap();
    (data, state)
}

async fn post(state: &Arc<AppState>, content_type: &str, body: impl Into<Body>) -> (StatusCode, serde_json::Value) {
    let request = Request::post("/api/v1/match").header("content-type", content_type).body(body.into()).unwrap();
    let (status, bytes) = common::app::checked(&app(Arc::clone(state)), request).await;
    (status, serde_json::from_slice(&bytes).unwrap_or_else(|_| panic!("not JSON: {bytes:?}")))
}

#[tokio::test]
async fn answers_ranked_explained_hits() {
    let (_data, state) = state();
    let queries = [
        ("fraisage_5_axes", "fraisage 5 axes"),
        ("laser_inox_near_lyon", "découpe laser inox près de Lyon"),
        ("english_milling", "5-axis milling"),
        ("tig_in_69", "soudure TIG dans le 69"),
        ("usinage_metier", "usinage"),
    ];
    for (name, query) in queries {
        let body = serde_json::json!({"query": query, "k": 3, "explain": true}).to_string();
        let (status, mut response) = post(&state, "application/json", body).await;
        assert_eq!(status, StatusCode::OK, "{query}: {response}");
        assert!(response["query_id"].as_str().is_some_and(|id| !id.is_empty()));
        assert!(response["took_ms"].as_f64().is_some());
        response["query_id"] = "<id>".into();
        response["took_ms"] = 0.into();
        insta::assert_json_snapshot!(format!("match_{name}"), response);
    }
    // Pages continue each other; filters hold.
    let page = |offset: usize| serde_json::json!({"query": "usinage fraisage", "k": 2, "offset": offset}).to_string();
    let (_, first) = post(&state, "application/json", page(0)).await;
    let (_, second) = post(&state, "application/json", page(2)).await;
    let (_, both) =
        post(&state, "application/json", serde_json::json!({"query": "usinage fraisage", "k": 4}).to_string()).await;
    let ids = |v: &serde_json::Value| -> Vec<String> {
        v["hits"].as_array().unwrap().iter().map(|h| h["id"].as_str().unwrap().to_owned()).collect()
    };
    assert_eq!([ids(&first), ids(&second)].concat(), ids(&both));
    let filtered =
        serde_json::json!({"query": "découpe", "filters": {"departement": ["31"], "certifications": ["ISO 9001"]}});
    let (status, response) = post(&state, "application/json", filtered.to_string()).await;
    assert_eq!(status, StatusCode::OK);
    assert!(response["hits"].as_array().unwrap().is_empty(), "Garonne Découpe is EN 9100: {response}");
    let filtered = serde_json::json!({"query": "découpe", "filters": {"region": ["Occitanie"]}});
    let (_, response) = post(&state, "application/json", filtered.to_string()).await;
    assert_eq!(ids(&response), [common::siren(4)]);
}

#[tokio::test]
async fn bad_input_is_400_with_code_and_field() {
    let (_data, state) = state();
    let json = "application/json";
    let cases: Vec<(&str, Vec<u8>, &str, Option<&str>)> = vec![
        (json, b"{\"query\": ".to_vec(), "invalid_json", None),
        (json, b"{\"query\": \"a\"} trailing".to_vec(), "invalid_json", None),
        (json, vec![b'{', 0xff, b'}'], "invalid_json", None),
        (json, br#"{"query": ""}"#.to_vec(), "invalid_field", Some("query")),
        (json, format!(r#"{{"query": "{}"}}"#, "x".repeat(10_000)).into_bytes(), "invalid_field", Some("query")),
        (json, br#"{"query": "laser", "k": 0}"#.to_vec(), "invalid_field", Some("k")),
        (json, br#"{"query": "laser", "k": 10000}"#.to_vec(), "invalid_field", Some("k")),
        (json, br#"{"query": "laser", "k": -1}"#.to_vec(), "invalid_field", Some("k")),
        (json, br#"{"query": "laser", "k": "ten"}"#.to_vec(), "invalid_field", Some("k")),
        (json, br#"{"query": "laser", "filters": {"color": ["red"]}}"#.to_vec(), "invalid_field", Some("filters")),
        (json, br#"{"query": "laser", "colour": 1}"#.to_vec(), "invalid_field", Some("colour")),
        (
            json,
            br#"{"query": "laser", "filters": {"near": {"lat": 123, "lon": 4, "km": 10}}}"#.to_vec(),
            "invalid_field",
            Some("filters.near.lat"),
        ),
        (
            json,
            br#"{"query": "laser", "filters": {"near": {"lat": 45, "lon": 4}}}"#.to_vec(),
            "invalid_field",
            Some("filters.near"),
        ),
        (
            json,
            br#"{"query": "laser", "weights": {"lexical": -0.5}}"#.to_vec(),
            "invalid_field",
            Some("weights.lexical"),
        ),
        (json, br#"{"query": "laser", "mode": "magic"}"#.to_vec(), "invalid_field", Some("mode")),
        // Valid JSON of the wrong type for an enum: serde_json calls it a syntax error.
        (json, br#"{"query": "laser", "mode": 1}"#.to_vec(), "invalid_field", Some("mode")),
        (json, br#"{"query": "laser", "location": [], "k": 3}"#.to_vec(), "invalid_field", Some("location")),
        (json, br#"{"query": "laser", "mode": }"#.to_vec(), "invalid_json", None),
        (json, br#"{"query": "laser", "mode": "vector"}"#.to_vec(), "invalid_field", Some("mode")),
        (
            json,
            br#"{"query": "laser", "filters": {"naf": ["25.62"]}}"#.to_vec(),
            "invalid_field",
            Some("filters.naf[0]"),
        ),
        (json, br#"{"query": "laser", "vector": [0.1, 0.2]}"#.to_vec(), "invalid_field", Some("vector")),
        // Client arithmetic is checked: 2^64 - 1 + 10 does not wrap to a small depth.
        (json, br#"{"query": "laser", "offset": 18446744073709551615}"#.to_vec(), "invalid_field", Some("offset")),
        (json, br#"{"query": "laser", "offset": 9995, "k": 10}"#.to_vec(), "invalid_field", Some("offset")),
        // Query vectors with nothing to normalise.
        (json, br#"{"query": "laser", "vector": [0, 0, 0]}"#.to_vec(), "invalid_field", Some("vector")),
        (json, br#"{"query": "laser", "vector": [1e39, 0.5]}"#.to_vec(), "invalid_field", Some("vector")),
        (json, br#"{"query": "laser", "vector": [1e30, 1e30]}"#.to_vec(), "invalid_field", Some("vector")),
        (json, br#"{"query": "laser", "vector": []}"#.to_vec(), "invalid_field", Some("vector")),
        (
            json,
            br#"{"query": "laser", "filters": {"near": {"lat": 45, "lon": 4, "km": 0}}}"#.to_vec(),
            "invalid_field",
            Some("filters.near.km"),
        ),
        ("application/x-ndjson", b"{\"query\": \"laser\"}\n".to_vec(), "unsupported_media_type", None),
        ("text/plain", b"laser".to_vec(), "unsupported_media_type", None),
    ];
    for (content_type, body, code, field) in cases {
        let shown = String::from_utf8_lossy(&body).chars().take(80).collect::<String>();
        let (status, response) = post(&state, content_type, body).await;
        assert!(status.is_client_error(), "{shown}: {status} {response}");
        assert_eq!(response["error"]["code"], code, "{shown}: {response}");
        if let Some(field) = field {
            let named = response["error"]["details"]["field"].as_str().unwrap_or_default();
            assert!(named.starts_with(field), "{shown}: field {named:?}, expected {field:?}: {response}");
            assert!(response["error"]["message"].as_str().unwrap().contains(named), "{response}");
        }
    }
}

/// Messages say what the endpoint takes, and what the rule is; client strings come back cut.
#[tokio::test]
async fn messages_name_what_is_accepted_and_cut_client_strings() {
    let (_data, state) = state();
    for content_type in ["text/plain", "application/x-ndjson"] {
        let (status, response) = post(&state, content_type, r#"{"query": "laser"}"#).await;
        assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
        let message = response["error"]["message"].as_str().unwrap();
        assert!(message.contains("takes application/json"), "{message}");
        assert!(!message.contains("ndjson (") && !message.contains("takes application/x-ndjson"), "{message}");
    }
    let near = r#"{"query": "laser", "filters": {"near": {"lat": 45, "lon": 4, "km": 0}}}"#;
    let (_, response) = post(&state, "application/json", near).await;
    assert!(response["error"]["message"].as_str().unwrap().contains("must be > 0"), "{response}");
    // A 60 KB unknown field, NAF code or département is not sent back whole.
    let long = "x".repeat(60_000);
    for body in [
        serde_json::json!({"query": "laser", long.clone(): 1}),
        serde_json::json!({"query": "laser", "filters": {"naf": [long.clone()]}}),
        serde_json::json!({"query": "laser", "filters": {"departement": [long.clone()]}}),
    ] {
        let (status, response) = post(&state, "application/json", body.to_string()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        let text = response.to_string();
        assert!(text.len() < 2000, "{} bytes: {}", text.len(), &text[..200]);
    }
}

/// Over capacity, a query that cannot start within `limits.queue_timeout_ms` is shed with 503
/// `overloaded` and `Retry-After`, instead of waiting up to the request timeout; once no query
/// found a slot within the sojourn target for an interval (a standing queue, not a burst), the
/// wait is the target; once a slot is free again, queries are answered.
#[tokio::test]
async fn queries_waiting_past_the_queue_timeout_are_shed() {
    let data = tempfile::tempdir().unwrap();
    let mut settings = Settings::default_settings();
    settings.limits.queue_timeout_ms = 300;
    let state = Arc::new(AppState::open(settings, data.path()).unwrap());
    let body = serde_json::json!({"query": "usinage"}).to_string();
    let shed = |state: &Arc<AppState>| {
        let request =
            Request::post("/api/v1/match").header("content-type", "application/json").body(Body::from(body.clone()));
        let app = app(Arc::clone(state));
        async move {
            let started = std::time::Instant::now();
            let response = app.oneshot(request.unwrap()).await.unwrap();
            let waited = started.elapsed();
            assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
            assert_eq!(response.headers()["retry-after"], "1");
            let bytes = response.into_body().collect().await.unwrap().to_bytes();
            let error: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
            assert_eq!(error["error"]["code"], "overloaded", "{error}");
            (waited, error["error"]["message"].as_str().unwrap().to_owned())
        }
    };
    // Every search slot busy, as when more queries arrive than the machine answers.
    let slots = u32::try_from(state.search_queue.slots.available_permits()).unwrap();
    let busy = Arc::clone(&state.search_queue.slots).acquire_many_owned(slots).await.unwrap();
    // A burst: the query waits the whole queue timeout.
    let (waited, message) = shed(&state).await;
    assert!(waited >= std::time::Duration::from_millis(300), "shed after {waited:?}, before the timeout");
    assert!(message.contains("limits.queue_timeout_ms"), "{message}");
    // No query found a slot within the sojourn target for a whole interval: the queue stands,
    // and the next query waits only the target.
    let (waited, message) = shed(&state).await;
    assert!(waited < std::time::Duration::from_millis(250), "a standing queue still waited {waited:?}");
    assert!(message.contains("a standing queue"), "{message}");
    drop(busy);
    let (status, response) = post(&state, "application/json", body.clone()).await;
    assert_eq!(status, StatusCode::OK, "{response}");
}

/// Queries keep answering, from the old generation then the new one, while a bulk reindex
/// builds and swaps the index underneath them: the reindex is held before it publishes until
/// queries have been answered from the old generation during the build.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queries_answer_throughout_a_reindex() {
    use marketlounge_index::engine::BuildPhase;
    let (_data, state) = state();
    let old_generation = state.engine.snapshot().generation();
    let old_ids: std::collections::HashSet<String> = (1..=COMPANIES.len() as u32).map(common::siren).collect();
    let engine = Arc::clone(&state.engine);
    let (publishing, publishing_seen) = std::sync::mpsc::channel::<()>();
    let (go, go_seen) = std::sync::mpsc::channel::<()>();
    let reindex = tokio::task::spawn_blocking(move || {
        let companies: Vec<Result<Company, marketlounge_index::IndexError>> = (0..400)
            .map(|n| {
                let mut company = common::company(n + 100);
                company["capabilities"] = serde_json::json!(["fraisage 5 axes", format!("série {n}")]);
                Ok(serde_json::from_value(company).unwrap())
            })
            .collect();
        engine
            .reindex(companies.into_iter(), &mut |phase, _| {
                if phase == BuildPhase::Publishing {
                    publishing.send(()).unwrap();
                    go_seen.recv().unwrap();
                }
            })
            .unwrap()
    });
    let mut answers = Vec::new();
    // While the build runs, and once it waits to publish: the old generation answers.
    loop {
        match publishing_seen.try_recv() {
            Ok(()) => break,
            Err(std::sync::mpsc::TryRecvError::Empty) => answers.push(answered_by_old(&state, &old_ids).await),
            Err(std::sync::mpsc::TryRecvError::Disconnected) => panic!("the reindex ended before publishing"),
        }
    }
    for _ in 0..5 {
        answers.push(answered_by_old(&state, &old_ids).await);
    }
    assert_eq!(state.engine.snapshot().generation(), old_generation, "nothing published yet");
    go.send(()).unwrap();
    while !reindex.is_finished() {
        answers.push(answered_by_old(&state, &old_ids).await);
    }
    let generation = reindex.await.unwrap();
    answers.push(answered_by_old(&state, &old_ids).await);
    // Old answers, then new ones, never back.
    let first_new = answers.iter().position(|old| !old).expect("the new generation answered");
    assert!(first_new >= 5, "the old generation answered during the build: {answers:?}");
    assert!(answers[first_new..].iter().all(|old| !old), "an old answer after a new one: {answers:?}");
    assert!(generation > old_generation);
    let (_, response) = post(&state, "application/json", r#"{"query": "fraisage 5 axes", "k": 5}"#).await;
    let first = response["hits"][0]["id"].as_str().unwrap().to_owned();
    assert!(state.engine.snapshot().generation() >= generation);
    assert!(
        state.engine.get(&first).unwrap().unwrap().name.starts_with("Mécanique Précision"),
        "new generation serves"
    );
}

/// Whether the old generation answered a query, from its hits: the first companies or the
/// reindexed ones (a page never mixes them).
async fn answered_by_old(state: &Arc<AppState>, old_ids: &std::collections::HashSet<String>) -> bool {
    let body = serde_json::json!({"query": "fraisage 5 axes", "k": 5}).to_string();
    let (status, response) = post(state, "application/json", body).await;
    assert_eq!(status, StatusCode::OK, "{response}");
    let hits = response["hits"].as_array().unwrap();
    assert!(!hits.is_empty(), "{response}");
    let old = hits.iter().filter(|hit| old_ids.contains(hit["id"].as_str().unwrap())).count();
    assert!(old == 0 || old == hits.len(), "one page mixes generations: {response}");
    old > 0
}
