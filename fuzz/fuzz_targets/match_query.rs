//! Fuzz target: any request body or query text through the whole query path (checks,
//! interpretation, filters, retrieval, fusion, explanation, snippets) over two small indexes,
//! one without vectors and one with (hashed-stems vectors: the vector and hybrid passes), never
//! panics, and what it answers respects the request: a page that fits, ordered, finite scores,
//! highlights on character boundaries; never an answer to an `offset + k` that overflows or
//! goes deeper than allowed, nor to a query vector with no direction. Constraints are used as
//! asked (a JSON body's `constraints`, or uses drawn from the bytes of a plain query): a required
//! kind is met by every hit, an ignored one checked by none, `partial` marks exactly the hits
//! missing a preferred kind, and hits are in score order within tiers of preferred kinds met.
#![no_main]
#![forbid(unsafe_code)]

use std::sync::{Arc, LazyLock};

use libfuzzer_sys::fuzz_target;
use marketlounge_index::embed::{Embedder, HashedEmbedder};
use marketlounge_index::engine::{Engine, EngineOptions};
use marketlounge_index::interpret::ConstraintKind;
use marketlounge_index::interpret::Interpreter;
use marketlounge_index::record::Company;
use marketlounge_index::search::request::MAX_DEPTH;
use marketlounge_index::search::{
    ConstraintUse, ConstraintUses, MatchHit, MatchRequest, Matcher, PreparedQuery, SearchConfig, SearchError,
};
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
    // Constraint values spread over the companies (cycles of other lengths than the trades').
    let materials = [&["titane TA6V"][..], &["inox 316L", "aluminium"], &[], &["Inconel 718"]];
    let certifications = [&["ISO 9001"][..], &["EN 9100", "ISO 9001"], &[]];
    let headcounts = ["20-49", "50-99", "250-499", "3-5", "10-19", "100-199", "1000-1999"];
    let concepts = ["usinage.fraisage", "usinage.fraisage.5-axes", "decoupe.laser", "soudage"];
    (0..30u32)
        .map(|n| {
            let id = marketlounge_index::record::siren_with_check_digit(n + 1);
            let n = n as usize;
            let (code, postal, commune) = places[n % places.len()];
            serde_json::from_value(serde_json::json!({
                "id": id,
                "name": format!("Atelier {n}"),
                "description": format!("Sous-traitance : {}.", trades[n % trades.len()]),
                "capabilities": [trades[n % trades.len()], trades[(n + 2) % trades.len()]],
                "materials": materials[n % materials.len()],
                "certifications": certifications[n % certifications.len()],
                "naf": "25.62B",
                "headcount": headcounts[n % headcounts.len()],
                "created": "1990-01-01",
                "address": {"postal_code": postal, "commune": commune, "commune_code": code},
                "concepts": [{"id": concepts[n % concepts.len()], "weight": 0.8}]
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

/// A hit's tier by its checks: the preferred kinds met, none when it misses a preferred process.
fn tier(hit: &MatchHit) -> usize {
    let preferred = || hit.constraints.iter().filter(|c| c.used == ConstraintUse::Prefer);
    if preferred().any(|c| c.kind == ConstraintKind::Process && !c.met) {
        return 0;
    }
    preferred().filter(|c| c.met).count()
}

/// Uses of each constraint kind drawn from the bytes (two bits a kind: absent, require, prefer,
/// ignore).
fn uses_from(bytes: &[u8]) -> ConstraintUses {
    let bits = bytes.iter().fold(0u32, |hash, &b| hash.rotate_left(5) ^ u32::from(b));
    let pick = |kind: u32| match (bits >> (2 * kind)) & 3 {
        0 => None,
        1 => Some(ConstraintUse::Require),
        2 => Some(ConstraintUse::Prefer),
        _ => Some(ConstraintUse::Ignore),
    };
    ConstraintUses { process: pick(0), material: pick(1), certification: pick(2), size: pick(3), place: pick(4) }
}

/// Whether a request vector has a direction to compare (what the checks demand).
fn has_direction(vector: &[f32]) -> bool {
    let squared_length: f32 = vector.iter().map(|v| v * v).sum();
    !vector.is_empty() && vector.iter().all(|v| v.is_finite()) && squared_length > 0.0 && squared_length.is_finite()
}

fn run(fixture: &Fixture, engine: &Engine, prepared: &PreparedQuery<'_>, vector: Option<&[f32]>) {
    let snapshot = engine.snapshot();
    let request = prepared.request;
    match fixture.matcher.run_prepared(&snapshot, prepared, vector) {
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
            // In score order, but for tiers: results meeting more preferred kinds come first.
            assert!(response.hits.windows(2).all(|w| w[0].score >= w[1].score || tier(&w[0]) > tier(&w[1])));
            for hit in &response.hits {
                for check in &hit.constraints {
                    assert!(check.used != ConstraintUse::Ignore, "an ignored kind checked: {check:?}");
                    assert!(check.met || check.used != ConstraintUse::Require, "a required kind missed: {check:?}");
                    assert_eq!(check.met, check.by.is_some(), "{check:?}");
                }
                let partial = hit.constraints.iter().any(|c| c.used == ConstraintUse::Prefer && !c.met);
                assert_eq!(hit.partial, partial, "{hit:?}");
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
            Ok(text) => MatchRequest { explain: true, constraints: uses_from(bytes), ..MatchRequest::new(text) },
            Err(_) => return,
        },
    };
    // Interpreted once, as the server does it.
    let prepared = fixture.matcher.prepare(&request);
    // Without vectors: a request's own vector is refused (or ignored in lexical mode).
    run(fixture, &fixture.plain, &prepared, request.vector.as_deref());
    // With vectors: the request's own vector, else the plan's text embedded.
    let vector = match &request.vector {
        Some(vector) => Some(vector.clone()),
        None => prepared
            .text_to_embed()
            .map(|text| fixture.embedder.embed_query(text).expect("the hashed embedder cannot fail")),
    };
    run(fixture, &fixture.hashed, &prepared, vector.as_deref());
});
