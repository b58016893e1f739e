//! `GET /api/v1/suggest` over HTTP: completions from concepts, places and company names
//! (snapshots), deletions respected, and bad query strings answered 400 with the parameter named.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use marketlounge::http::{AppState, app};
use marketlounge::settings::Settings;
use marketlounge_index::record::Company;

mod common;

const NAMES: [&str; 6] = [
    "Découpe Laser Dauphiné",
    "Laser Inox Lyonnais",
    "Usinage Rhône Précision",
    "Décolletage de l'Arve",
    "Électroérosion Savoie",
    "Forez Mécanique",
];

fn state() -> (tempfile::TempDir, Arc<AppState>) {
    let data = tempfile::tempdir().unwrap();
    let state = Arc::new(AppState::open(Settings::default_settings(), data.path()).unwrap());
    let companies: Vec<Company> = NAMES
        .iter()
        .enumerate()
        .map(|(n, name)| {
            let mut record = common::company(n as u32 + 1);
            record["name"] = serde_json::json!(name);
            serde_json::from_value(record).unwrap()
        })
        .collect();
    state.engine.upsert(companies).unwrap();
    state.engine.flush().unwrap();
    (data, state)
}

async fn get(state: &Arc<AppState>, query: &[u8]) -> (StatusCode, serde_json::Value) {
    // The path is built from raw bytes: invalid UTF-8 must reach the handler as sent.
    let mut uri = b"/api/v1/suggest?".to_vec();
    uri.extend_from_slice(query);
    let uri = axum::http::Uri::from_maybe_shared(uri).unwrap();
    let (status, bytes) =
        common::app::checked(&app(Arc::clone(state)), Request::get(uri).body(Body::empty()).unwrap()).await;
    (status, serde_json::from_slice(&bytes).unwrap_or_else(|_| panic!("not JSON: {bytes:?}")))
}

/// The suggestions without the timing.
fn shown(response: &serde_json::Value) -> serde_json::Value {
    let mut response = response.clone();
    response.as_object_mut().unwrap().remove("took_us");
    response
}

#[tokio::test]
async fn completions_by_kind_with_accents_prefixes_and_typos() {
    let (_data, state) = state();
    let cases: [(&str, &str); 8] = [
        ("decoupe_las", "q=decoupe+las&k=5"),
        ("laser_companies", "q=laser&kinds=company"),
        ("electro_accents", "q=ELECTRO&k=4"),
        ("one_char", "q=d&k=5"),
        ("typo_usinage", "q=usnage&k=4"),
        ("lyon_places", "q=lyon&kinds=location&k=3"),
        ("english_label", "q=laser%20cut&k=4&kinds=concept"),
        ("no_typos_when_asked", "q=usnage&k=4&fuzzy=false"),
    ];
    for (name, query) in cases {
        let (status, response) = get(&state, query.as_bytes()).await;
        assert_eq!(status, StatusCode::OK, "{query}: {response}");
        assert!(response["took_us"].as_u64().is_some());
        insta::assert_json_snapshot!(format!("suggest_{name}"), shown(&response));
    }
}

#[tokio::test]
async fn deleted_companies_are_not_suggested() {
    let (_data, state) = state();
    let (_, before) = get(&state, b"q=laser&kinds=company").await;
    assert_eq!(before["suggestions"].as_array().unwrap().len(), 2, "{before}");
    state.engine.delete(&common::siren(1)).unwrap();
    state.engine.flush().unwrap();
    let (_, after) = get(&state, b"q=laser&kinds=company").await;
    let texts: Vec<&str> =
        after["suggestions"].as_array().unwrap().iter().map(|s| s["text"].as_str().unwrap()).collect();
    assert_eq!(texts, ["Laser Inox Lyonnais"], "{after}");
}

/// Requests that need a new segment's company index at the same moment wait for one build of
/// it, instead of each reading every record of the segment.
#[test]
fn a_segment_company_index_is_built_once_for_concurrent_requests() {
    let data = tempfile::tempdir().unwrap();
    let state = Arc::new(AppState::open(Settings::default_settings(), data.path()).unwrap());
    // Enough records that the build takes a while and every request arrives during it.
    let companies: Vec<Company> = (1..=3000).map(|n| serde_json::from_value(common::company(n)).unwrap()).collect();
    state.engine.upsert(companies).unwrap();
    state.engine.flush().unwrap();
    let snapshot = state.engine.snapshot();
    let before = state.suggester.company_index_builds();
    let request = marketlounge_index::suggest::SuggestRequest {
        q: "meca".into(),
        k: 8,
        kinds: vec![marketlounge_index::suggest::Kind::Company],
        fuzzy: true,
    };
    let start = std::sync::Barrier::new(8);
    let answers: Vec<_> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..8)
            .map(|_| {
                scope.spawn(|| {
                    start.wait();
                    state.suggester.suggest(&snapshot, &request).unwrap()
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).collect()
    });
    assert_eq!(state.suggester.company_index_builds() - before, snapshot.segments.len());
    assert!(!answers[0].suggestions.is_empty());
    assert!(answers.iter().all(|a| a == &answers[0]));
}

#[tokio::test]
async fn bad_query_strings_are_400_with_the_parameter_named() {
    let (_data, state) = state();
    let long = format!("q={}", "a".repeat(10_000));
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (b"".to_vec(), "q"),
        (b"q=".to_vec(), "q"),
        (b"q=+++".to_vec(), "q"),
        (long.into_bytes(), "q"),
        (b"q=%FF%FE".to_vec(), "q"),
        (b"q=laser&k=0".to_vec(), "k"),
        (b"q=laser&k=-3".to_vec(), "k"),
        (b"q=laser&k=ten".to_vec(), "k"),
        (b"q=laser&kinds=robots".to_vec(), "kinds"),
        (b"q=laser&fuzzy=maybe".to_vec(), "fuzzy"),
        (b"q=laser&colour=red".to_vec(), "colour"),
        (b"q=%01laser".to_vec(), "q"),
    ];
    for (query, field) in cases {
        let shown = String::from_utf8_lossy(&query).chars().take(60).collect::<String>();
        let (status, response) = get(&state, &query).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{shown}: {response}");
        assert_eq!(response["error"]["code"], "invalid_field", "{shown}: {response}");
        assert_eq!(response["error"]["details"]["field"], field, "{shown}: {response}");
    }
    // A huge k is clamped, not refused.
    let (status, response) = get(&state, b"q=d&k=100000").await;
    assert_eq!(status, StatusCode::OK, "{response}");
    assert!(response["suggestions"].as_array().unwrap().len() <= marketlounge_index::suggest::TOP_MAX);
}

/// The demo page at `/` is the search box that calls this endpoint.
#[tokio::test]
async fn the_search_box_page_is_served_at_the_root() {
    let (_data, state) = state();
    let (status, headers, page) =
        common::app::checked_parts(&app(Arc::clone(&state)), Request::get("/").body(Body::empty()).unwrap()).await;
    assert_eq!(status, StatusCode::OK);
    let content_type = headers["content-type"].to_str().unwrap().to_owned();
    assert!(content_type.starts_with("text/html"), "{content_type}");
    let page = String::from_utf8(page.to_vec()).unwrap();
    assert!(page.contains("/api/v1/suggest?q="), "the box asks for suggestions");
    assert!(page.contains("/api/v1/match"), "and searches on Enter");
    assert!(page.contains("ArrowDown") && page.contains("setTimeout(suggest"), "keyboard navigation, debouncing");
}

/// The typed need completed with a constraint: its kind, id and highlights, filtered by `kinds`,
/// and nothing when the last word starts no constraint.
#[tokio::test]
async fn a_need_then_a_constraint_completes_to_both() {
    let (_data, state) = state();
    let constraints = |response: &serde_json::Value| -> Vec<serde_json::Value> {
        response["suggestions"].as_array().unwrap().iter().filter(|s| s["kind"] == "constraint").cloned().collect()
    };
    let (status, response) = get(&state, "q=usinage+ti".as_bytes()).await;
    assert_eq!(status, StatusCode::OK, "{response}");
    let first = &constraints(&response)[0];
    assert_eq!(first["text"], "usinage · titane", "{response}");
    assert_eq!(first["constraint"], "material");
    assert_eq!(first["id"], "titane");
    assert_eq!(first["edits"], 0);
    assert_eq!(first["highlight"], serde_json::json!([[0, 7], [11, 13]]), "\"usinage\" and \"ti\"");

    let (_, response) = get(&state, "q=usinage+iso+90".as_bytes()).await;
    let iso = constraints(&response);
    assert_eq!(iso[0]["text"], "usinage · ISO 9001", "{response}");
    assert_eq!((&iso[0]["constraint"], &iso[0]["id"]), (&"certification".into(), &"iso9001".into()));

    let (_, response) = get(&state, "q=usinage+zqx".as_bytes()).await;
    assert_eq!(constraints(&response), Vec::<serde_json::Value>::new(), "{response}");

    // Only constraints when asked; none when not.
    let (_, response) = get(&state, "q=d%C3%A9coupe+laser+in&kinds=constraint&k=3".as_bytes()).await;
    insta::assert_json_snapshot!("suggest_constraint_inox", shown(&response));
    let all = response["suggestions"].as_array().unwrap();
    assert!(!all.is_empty() && all.iter().all(|s| s["kind"] == "constraint"), "{response}");
    let (_, response) = get(&state, "q=usinage+ti&kinds=concept,company,location,query".as_bytes()).await;
    assert_eq!(constraints(&response), Vec::<serde_json::Value>::new(), "{response}");
    // Other kinds carry no constraint field.
    let (_, response) = get(&state, "q=decoupe+las".as_bytes()).await;
    assert!(response["suggestions"].as_array().unwrap().iter().all(|s| s.get("constraint").is_none()), "{response}");
}

/// Every constraint suggestion, searched, is read as the constraint it names: the contract
/// between the typeahead and `/match`.
#[tokio::test]
async fn a_constraint_suggestion_is_read_as_its_constraint_by_match() {
    let (_data, state) = state();
    for query in
        ["usinage+ti", "fraisage+EN+91", "chaudronnerie+pr%C3%A8s+de+ly", "usinage+plus+de+5", "turning+stainl"]
    {
        let (_, response) = get(&state, format!("q={query}&kinds=constraint&k=4").as_bytes()).await;
        let suggestions = response["suggestions"].as_array().unwrap();
        assert!(!suggestions.is_empty(), "{query}: {response}");
        for suggestion in suggestions {
            let body = serde_json::json!({"query": suggestion["text"], "k": 1}).to_string();
            let request =
                Request::post("/api/v1/match").header("content-type", "application/json").body(Body::from(body));
            let (status, answer) = common::app::checked(&app(Arc::clone(&state)), request.unwrap()).await;
            assert_eq!(status, StatusCode::OK);
            let answer: serde_json::Value = serde_json::from_slice(&answer).unwrap();
            let read = answer["interpretation"]["constraints"].as_array().cloned().unwrap_or_default();
            // A constraint's id as suggestions give it: the id, the place code, a size's bounds.
            let id_of = |c: &serde_json::Value| match c["kind"].as_str() {
                Some("size") => {
                    let bound = |b: &serde_json::Value| b.as_u64().map_or(String::new(), |b| b.to_string());
                    format!("{}-{}", bound(&c["min"]), bound(&c["max"]))
                }
                Some("place") => c["code"].as_str().unwrap_or_default().to_owned(),
                _ => c["id"].as_str().unwrap_or_default().to_owned(),
            };
            let named = read.iter().any(|c| c["kind"] == suggestion["constraint"] && id_of(c) == suggestion["id"]);
            assert!(named, "{} is not read as {}: {}", suggestion["text"], suggestion["id"], answer["interpretation"]);
        }
    }
}
