//! Fuzz target: any request body or query text through the whole query path (checks,
//! interpretation, filters, retrieval, fusion, explanation, snippets) over a small index never
//! panics, and what it answers respects the request.
#![no_main]
#![forbid(unsafe_code)]

use std::sync::{Arc, LazyLock};

use libfuzzer_sys::fuzz_target;
use marketlounge_index::engine::{Engine, EngineOptions};
use marketlounge_index::interpret::Interpreter;
use marketlounge_index::record::Company;
use marketlounge_index::search::{MatchRequest, Matcher, SearchConfig};

struct Fixture {
    engine: Engine,
    matcher: Matcher,
}

static FIXTURE: LazyLock<Fixture> = LazyLock::new(|| {
    let dir = std::env::temp_dir().join(format!("marketlounge-fuzz-match-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let engine = Engine::open(&dir, EngineOptions::default()).expect("index opens");
    let trades = ["fraisage 5 axes", "découpe laser inox", "soudure TIG", "peinture poudre", "usinage de précision"];
    let places = [("69123", "69001", "Lyon"), ("42218", "42000", "Saint-Étienne"), ("31555", "31000", "Toulouse")];
    let companies: Vec<Company> = (0..30u32)
        .map(|n| {
            let body = format!("{:08}", n + 1);
            let id = (0..10)
                .map(|c| format!("{body}{c}"))
                .find(|c| marketlounge_index::record::is_valid_siren(c))
                .expect("a check digit fits");
            let (code, postal, commune) = places[n as usize % places.len()];
            serde_json::from_value(serde_json::json!({
                "id": id,
                "name": format!("Atelier {n}"),
                "description": format!("Sous-traitance : {}.", trades[n as usize % trades.len()]),
                "capabilities": [trades[n as usize % trades.len()], trades[(n as usize + 2) % trades.len()]],
                "certifications": ["ISO 9001"],
                "naf": "25.62B",
                "headcount": "20-49",
                "created": "1990-01-01",
                "address": {"postal_code": postal, "commune": commune, "commune_code": code},
                "concepts": [{"id": "usinage.fraisage", "weight": 0.8}]
            }))
            .expect("a valid company")
        })
        .collect();
    engine.upsert(companies).expect("upsert");
    engine.flush().expect("flush");
    let matcher = Matcher::new(Arc::new(Interpreter::embedded().expect("dictionaries")), SearchConfig::default());
    Fixture { engine, matcher }
});

fuzz_target!(|bytes: &[u8]| {
    let fixture = &*FIXTURE;
    let request = match serde_json::from_slice::<MatchRequest>(bytes) {
        Ok(request) => request,
        Err(_) => match std::str::from_utf8(bytes) {
            Ok(text) => MatchRequest { explain: true, ..MatchRequest::new(text) },
            Err(_) => return,
        },
    };
    let snapshot = fixture.engine.snapshot();
    let vector = request.vector.clone();
    // The index has no vectors: a request's own vector is refused with the field named.
    if let Ok(response) = fixture.matcher.run(&snapshot, &request, vector.as_deref()) {
        assert!(response.hits.len() <= request.k);
        assert!(response.hits.windows(2).all(|w| w[0].score >= w[1].score));
        for hit in &response.hits {
            assert!(hit.score.is_finite());
            for [start, end] in &hit.highlights {
                assert!(start < end && *end <= hit.snippet.len());
                assert!(hit.snippet.is_char_boundary(*start) && hit.snippet.is_char_boundary(*end));
            }
        }
    }
});
