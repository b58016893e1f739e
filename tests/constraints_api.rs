//! Constraints through `POST /api/v1/match`: `constraints` turns a kind into a filter or drops it,
//! a bad kind or use is a 400 naming the field, the interpretation shows each constraint with its
//! span and use, explanations and `location` work as before beside them.

mod common;

use axum::http::StatusCode;
use marketlounge::settings::Settings;
use marketlounge_index::record::Company;
use serde_json::{Value, json};

use common::app::TestApp;

/// (n, capability, materials, commune code, postal code, commune)
type Sample = (u32, &'static str, &'static [&'static str], &'static str, &'static str, &'static str);

const COMPANIES: [Sample; 6] = [
    (1, "usinage de pièces aéronautiques", &["titane TA6V", "inox 316L"], "69123", "69001", "Lyon"),
    (2, "usinage de précision", &["aluminium 7075"], "69266", "69100", "Villeurbanne"),
    (3, "usinage grande série", &["Ti-6Al-4V"], "31555", "31000", "Toulouse"),
    (4, "usinage de prototypes", &["acier S355"], "42218", "42000", "Saint-Étienne"),
    (5, "usinage et tournage", &["titanium grade 2", "PEEK"], "38185", "38000", "Grenoble"),
    (6, "usinage CN", &[], "38544", "38200", "Vienne"),
];

/// Companies with titanium among their materials, by the vocabulary (grades and English names
/// included).
const TITANIUM: [u32; 3] = [1, 3, 5];

async fn server() -> TestApp {
    let app = TestApp::open(Settings::default_settings());
    let companies: Vec<Company> = COMPANIES
        .iter()
        .map(|(n, capability, materials, code, postal, commune)| {
            serde_json::from_value(json!({
                "id": common::siren(*n),
                "name": format!("Atelier {n}"),
                "description": format!("Sous-traitance : {capability}."),
                "capabilities": [capability],
                "materials": materials,
                "naf": "25.62B",
                "headcount": "20-49",
                "created": "1995-06-01",
                "address": {"postal_code": postal, "commune": commune, "commune_code": code},
                "concepts": [{"id": "usinage", "weight": 0.9}],
            }))
            .unwrap()
        })
        .collect();
    app.state.engine.upsert(companies).unwrap();
    app.state.engine.flush().unwrap();
    app
}

async fn ask(app: &TestApp, body: Value) -> (StatusCode, Value) {
    app.post("/api/v1/match", "application/json", body.to_string()).await
}

fn ids(response: &Value) -> Vec<String> {
    response["hits"].as_array().unwrap().iter().map(|h| h["id"].as_str().unwrap().to_owned()).collect()
}

/// The check of one kind of a hit.
fn check<'h>(hit: &'h Value, kind: &str) -> Option<&'h Value> {
    hit["constraints"].as_array().and_then(|checks| checks.iter().find(|c| c["kind"] == kind))
}

#[tokio::test]
async fn a_required_material_returns_only_the_companies_working_it() {
    let app = server().await;
    let (status, response) =
        ask(&app, json!({"query": "usinage titane", "constraints": {"material": "require"}})).await;
    assert_eq!(status, StatusCode::OK, "{response}");
    let mut got = ids(&response);
    got.sort();
    let expected: Vec<String> = TITANIUM.map(common::siren).to_vec();
    assert_eq!(got, expected, "{response}");
    for hit in response["hits"].as_array().unwrap() {
        let material = check(hit, "material").unwrap();
        assert_eq!(material["met"], true, "{hit}");
        assert_eq!(material["use"], "require");
        assert!(material["by"].as_str().unwrap().starts_with("material:titane"), "{hit}");
        assert!(hit.get("partial").is_none(), "{hit}");
    }
    // Preferred (the default): every machining company, the titanium ones first, the others marked.
    let (_, response) = ask(&app, json!({"query": "usinage titane", "k": 10})).await;
    let hits = response["hits"].as_array().unwrap();
    assert_eq!(hits.len(), COMPANIES.len(), "{response}");
    let first: Vec<String> = ids(&response)[..TITANIUM.len()].to_vec();
    assert!(first.iter().all(|id| expected.contains(id)), "{response}");
    for hit in &hits[TITANIUM.len()..] {
        assert_eq!(hit["partial"], true, "{hit}");
        assert_eq!(check(hit, "material").unwrap()["met"], false, "{hit}");
    }
    // Ignored: reported as such, checked nowhere.
    let (_, response) =
        ask(&app, json!({"query": "usinage titane", "k": 10, "constraints": {"material": "ignore"}})).await;
    let material =
        response["interpretation"]["constraints"].as_array().unwrap().iter().find(|c| c["kind"] == "material");
    assert_eq!(material.unwrap()["use"], "ignore", "{response}");
    assert!(response["hits"].as_array().unwrap().iter().all(|h| check(h, "material").is_none()), "{response}");
}

#[tokio::test]
async fn bad_constraints_are_400_naming_the_field() {
    let app = server().await;
    for (constraints, field) in [
        (json!({"xyz": "require"}), "constraints.xyz"),
        (json!({"material": "must"}), "constraints.material"),
        (json!({"material": true}), "constraints.material"),
        (json!({"place": null, "size": "Require"}), "constraints.size"),
        (json!("require"), "constraints"),
    ] {
        let (status, response) = ask(&app, json!({"query": "usinage titane", "constraints": constraints})).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{constraints}: {response}");
        assert_eq!(response["error"]["code"], "invalid_field", "{constraints}: {response}");
        assert_eq!(response["error"]["details"]["field"], field, "{constraints}: {response}");
        assert!(response["error"]["message"].as_str().unwrap().contains(field), "{response}");
    }
}

#[tokio::test]
async fn the_interpretation_shows_each_constraint_with_its_span_and_use() {
    let app = server().await;
    let query = "Usinage titane TA6V certifié EN 9100, plus de 50 salariés, à 30 km de Lyon";
    let (status, response) = ask(&app, json!({"query": query, "constraints": {"size": "ignore"}})).await;
    assert_eq!(status, StatusCode::OK, "{response}");
    let constraints = response["interpretation"]["constraints"].as_array().unwrap();
    let kinds: Vec<&str> = constraints.iter().map(|c| c["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["process", "material", "certification", "size", "place"], "{response}");
    for constraint in constraints {
        let [start, end] = [0, 1].map(|i| constraint["span"][i].as_u64().unwrap() as usize);
        assert_eq!(&query[start..end], constraint["matched"].as_str().unwrap(), "{constraint}");
        let expected_use = if constraint["kind"] == "size" { "ignore" } else { "prefer" };
        assert_eq!(constraint["use"], expected_use, "{constraint}");
    }
    assert_eq!(constraints[1]["id"], "titane.ta6v");
    assert_eq!(constraints[4]["radius_km"], 30.0);
}

#[tokio::test]
async fn explanations_work_beside_constraints() {
    let app = server().await;
    let (status, response) = ask(&app, json!({"query": "usinage titane près de Lyon", "k": 6, "explain": true})).await;
    assert_eq!(status, StatusCode::OK, "{response}");
    let hits = response["hits"].as_array().unwrap();
    assert!(!hits.is_empty());
    for hit in hits {
        let explanation = &hit["explanation"];
        let sum: f64 =
            explanation["components"].as_array().unwrap().iter().map(|c| c["contribution"].as_f64().unwrap()).sum();
        assert!((sum - hit["score"].as_f64().unwrap()).abs() < 1e-4, "{hit}");
        let kinds: Vec<&str> =
            hit["constraints"].as_array().unwrap().iter().map(|c| c["kind"].as_str().unwrap()).collect();
        assert_eq!(kinds, ["process", "material", "place"], "{hit}");
    }
    // Lyon's titanium machinist meets everything and comes first.
    assert_eq!(hits[0]["id"], common::siren(1), "{response}");
    assert!(hits[0].get("partial").is_none(), "{}", hits[0]);
}

/// `location: "filter"` keeps only the companies within the default distance of the place, as
/// before constraints existed (Saint-Étienne is 50.4 km from Lyon, Vienne 27 km).
#[tokio::test]
async fn a_place_used_as_a_filter_still_filters() {
    let app = server().await;
    let (status, response) = ask(&app, json!({"query": "usinage près de Lyon", "location": "filter", "k": 10})).await;
    assert_eq!(status, StatusCode::OK, "{response}");
    let mut got = ids(&response);
    got.sort();
    assert_eq!(got, [1, 2, 6].map(common::siren), "{response}");
    let near = &response["interpretation"]["filters_applied"]["near"];
    assert_eq!(near["km"], 50.0, "{response}");
    for hit in response["hits"].as_array().unwrap() {
        let place = check(hit, "place").unwrap();
        assert_eq!((place["met"].clone(), place["use"].clone()), (json!(true), json!("require")), "{hit}");
    }
    // And boosting keeps every company, the near ones first.
    let (_, response) = ask(&app, json!({"query": "usinage près de Lyon", "k": 10})).await;
    let all = ids(&response);
    assert_eq!(all.len(), COMPANIES.len(), "{response}");
    let mut first: Vec<String> = all[..3].to_vec();
    first.sort();
    assert_eq!(first, [1, 2, 6].map(common::siren), "{response}");
}
