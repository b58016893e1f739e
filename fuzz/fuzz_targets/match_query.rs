//! Fuzz target: any request body or query text through the whole query path (checks,
//! interpretation, filters, retrieval, fusion, explanation, snippets) over two small indexes,
//! one without vectors and one with (hashed-stems vectors: the vector and hybrid passes), never
//! panics, and what it answers respects the request: a page that fits, ordered, finite scores,
//! highlights on character boundaries; never an answer to an `offset + k` that overflows or
//! goes deeper than allowed, nor to a query vector with no direction.
#![no_main]
#![forbid(unsafe_code)]

use std::sync::{Arc, LazyLock};

use libfuzzer_sys::fuzz_target;
use marketlounge_index::embed::{Embedder, HashedEmbedder};
use marketlounge_index::engine::{Engine, EngineOptions};
use marketlounge_index::interpret::Interpreter;
use marketlounge_index::record::Company;
use marketlounge_index::search::request::MAX_DEPTH;
use marketlounge_index::search::{MatchRequest, Matcher, SearchConfig, SearchError};
use marketlounge_index::segment::{Quantization, VectorOptions};

/// Dimensions of the hashed vectors (small: the fixture builds fast, the passes stay cheap).
const DIMS: u32 = 64;

struct Fixture {
    /// The same companies without vectors, and with them.
    plain: Engine,
    hashed: Engine,
    embedder: Arc<dyn Embedder>,
    matcher: Matcher,
}

fn companies() -> Vec<Company> {
    let trades = ["fraisage 5 axes", "découpe laser inox", "soudure TIG", "peinture poudre", "usinage de précision"];
    let places = [("69123", "69001", "Lyon"), ("42218", "42000", "Saint-Étienne"), ("31555", "31000", "Toulouse")];
    (0..30u32)
        .map(|n| {
            let id = marketlounge_index::record::siren_with_check_digit(n + 1);
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
        .collect()
}

static FIXTURE: LazyLock<Fixture> = LazyLock::new(|| {
    let dir = std::env::temp_dir().join(format!("marketlounge-fuzz-match-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let plain = Engine::open(&dir.join("plain"), EngineOptions::default()).expect("index opens");
    plain.upsert(companies()).expect("upsert");
    plain.flush().expect("flush");
    let embedder: Arc<dyn Embedder> = Arc::new(HashedEmbedder::new(DIMS));
    let options = EngineOptions {
        vectors: Some(VectorOptions {
            model: embedder.fingerprint().to_owned(),
            dims: DIMS,
            quantization: Quantization::F32,
        }),
        embedder: Some(Arc::clone(&embedder)),
        vector_cache: Some(dir.join("vector-cache")),
        ..EngineOptions::default()
    };
    let hashed = Engine::open(&dir.join("hashed"), options).expect("index opens");
    hashed.upsert(companies()).expect("upsert");
    hashed.flush().expect("flush");
    let matcher = Matcher::new(Arc::new(Interpreter::embedded().expect("dictionaries")), SearchConfig::default());
    Fixture { plain, hashed, embedder, matcher }
});

/// Whether a request vector has a direction to compare (what the checks demand).
fn has_direction(vector: &[f32]) -> bool {
    let squared_length: f32 = vector.iter().map(|v| v * v).sum();
    !vector.is_empty() && vector.iter().all(|v| v.is_finite()) && squared_length > 0.0 && squared_length.is_finite()
}

fn run(fixture: &Fixture, engine: &Engine, request: &MatchRequest, vector: Option<&[f32]>) {
    let snapshot = engine.snapshot();
    match fixture.matcher.run(&snapshot, request, vector) {
        Ok(response) => {
            let depth = request.offset.checked_add(request.k);
            assert!(
                depth.is_some_and(|depth| depth <= MAX_DEPTH),
                "answered offset {} + k {}",
                request.offset,
                request.k
            );
            if let Some(vector) = &request.vector {
                assert!(has_direction(vector), "answered a query vector with no direction: {vector:?}");
            }
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
        Err(SearchError::Request(error)) => {
            assert!(!error.field.is_empty() && !error.message.is_empty(), "{error:?}");
        }
        Err(SearchError::Index(error)) => panic!("an index error on a valid index: {error}"),
    }
}

fuzz_target!(|bytes: &[u8]| {
    let fixture = &*FIXTURE;
    let request = match serde_json::from_slice::<MatchRequest>(bytes) {
        Ok(request) => request,
        Err(_) => match std::str::from_utf8(bytes) {
            Ok(text) => MatchRequest { explain: true, ..MatchRequest::new(text) },
            Err(_) => return,
        },
    };
    // Without vectors: a request's own vector is refused (or ignored in lexical mode).
    run(fixture, &fixture.plain, &request, request.vector.as_deref());
    // With vectors, as the server does it: the request's own vector, else the query embedded.
    let vector = match &request.vector {
        Some(vector) => Some(vector.clone()),
        None => fixture
            .matcher
            .text_to_embed(&request)
            .map(|text| fixture.embedder.embed_query(&text).expect("the hashed embedder cannot fail")),
    };
    run(fixture, &fixture.hashed, &request, vector.as_deref());
});
