//! The query path end to end over a real engine (tantivy, usearch with hashed vectors): filters
//! are never violated and never starve a page, pages are the exhaustive ranking cut into
//! pieces, and the hybrid score is the documented formula over every component.

use std::collections::HashSet;
use std::sync::Arc;

use marketlounge_index::embed::{Embedder, HashedEmbedder};
use marketlounge_index::engine::{Engine, EngineOptions, Snapshot};
use marketlounge_index::interpret::Interpreter;
use marketlounge_index::record::{Company, HeadcountBand};
use marketlounge_index::search::filter::haversine_km;
use marketlounge_index::search::fusion::{self, Calibration};
use marketlounge_index::search::{
    Filters, LocationUse, MatchRequest, Matcher, Mode, Near, SearchConfig, WeightOverrides,
};
use proptest::prelude::*;

#[path = "support/hashed_engine.rs"]
mod hashed_engine;
use hashed_engine::hashed_engine;

use marketlounge_index::record::siren_with_check_digit as siren;

const CAPABILITIES: [&str; 8] = [
    "fraisage 5 axes",
    "découpe laser",
    "soudage TIG",
    "peinture poudre",
    "tournage de précision",
    "pliage de tôles",
    "traitement thermique",
    "injection plastique",
];
/// (commune code, postal code, commune, département, région, lat, lon)
const PLACES: [(&str, &str, &str, &str, &str, f64, f64); 6] = [
    ("42218", "42000", "Saint-Étienne", "42", "Auvergne-Rhône-Alpes", 45.43959, 4.38748),
    ("69123", "69001", "Lyon", "69", "Auvergne-Rhône-Alpes", 45.758, 4.835),
    ("38185", "38000", "Grenoble", "38", "Auvergne-Rhône-Alpes", 45.18663, 5.73631),
    ("75056", "75001", "Paris", "75", "Île-de-France", 48.85661, 2.35222),
    ("31555", "31000", "Toulouse", "31", "Occitanie", 43.60405, 1.44305),
    ("33063", "33000", "Bordeaux", "33", "Nouvelle-Aquitaine", 44.83802, -0.5796),
];
const NAF: [&str; 3] = ["25.62B", "25.61Z", "28.41Z"];
const HEADCOUNT: [&str; 3] = ["10-19", "20-49", "50-99"];
const CERTIFICATIONS: [&str; 3] = ["ISO 9001", "EN 9100", "IATF 16949"];

/// A company drawn from small vocabularies by the bits of `seed`.
fn company(n: u32, seed: u64) -> Company {
    let pick = |shift: u32, len: usize| ((seed >> shift) as usize + n as usize) % len;
    let place = PLACES[pick(0, PLACES.len())];
    let capabilities = vec![
        CAPABILITIES[pick(3, CAPABILITIES.len())].to_owned(),
        CAPABILITIES[(pick(7, CAPABILITIES.len()) + n as usize / 3) % CAPABILITIES.len()].to_owned(),
    ];
    let certifications: Vec<&str> = (0..CERTIFICATIONS.len())
        .filter(|c| (seed >> (11 + c)) as u32 & 1 == n & 1)
        .map(|c| CERTIFICATIONS[c])
        .collect();
    serde_json::from_value(serde_json::json!({
        "id": siren(n),
        "name": format!("Atelier {n}"),
        "description": format!("Sous-traitance industrielle : {}.", capabilities.join(", ")),
        "capabilities": capabilities,
        "certifications": certifications,
        "naf": NAF[pick(17, NAF.len())],
        "headcount": HEADCOUNT[pick(19, HEADCOUNT.len())],
        "created": "1990-01-01",
        "address": {"postal_code": place.1, "commune": place.2, "commune_code": place.0,
                    "lat": place.5, "lon": place.6}
    }))
    .unwrap()
}

fn matcher(candidates: usize) -> Matcher {
    let config = SearchConfig { candidates, ..SearchConfig::default() };
    Matcher::new(Arc::new(Interpreter::embedded().unwrap()), config)
}

fn query_vector(text: &str) -> Vec<f32> {
    HashedEmbedder::new(64).embed_query(text).unwrap()
}

/// Whether `company` satisfies every filter (the definition the API documents).
fn satisfies(company: &Company, filters: &Filters) -> bool {
    let place = PLACES.iter().find(|p| Some(p.0) == company.address.commune_code.as_deref()).unwrap();
    let naf_ok = filters.naf.is_empty()
        || filters
            .naf
            .iter()
            .any(|code| code == &company.naf || (code.len() == 2 && company.naf.starts_with(code.as_str())));
    let dep_ok = filters.departement.is_empty() || filters.departement.iter().any(|d| d == place.3);
    let region_ok = filters.region.is_empty() || filters.region.iter().any(|r| r == place.4);
    let headcount_ok = filters.headcount.is_empty() || filters.headcount.contains(&company.headcount);
    let certification_ok = filters.certifications.is_empty()
        || filters.certifications.iter().any(|wanted| company.certifications.iter().any(|c| c == wanted));
    let near_ok = filters.near.is_none_or(|n| haversine_km(n.lat, n.lon, place.5, place.6) <= n.km);
    naf_ok && dep_ok && region_ok && headcount_ok && certification_ok && near_ok
}

fn filters_strategy() -> impl Strategy<Value = Filters> {
    let naf = proptest::sample::subsequence(vec!["25.62B", "25.61Z", "28.41Z", "25"], 0..=2);
    let dep = proptest::sample::subsequence(vec!["42", "69", "38", "75", "31", "33"], 0..=2);
    let region = proptest::sample::subsequence(vec!["Auvergne-Rhône-Alpes", "Occitanie", "Île-de-France"], 0..=1);
    let headcount = proptest::sample::subsequence(
        vec![HeadcountBand::From10To19, HeadcountBand::From20To49, HeadcountBand::From50To99],
        0..=2,
    );
    let certification = proptest::sample::subsequence(CERTIFICATIONS.to_vec(), 0..=1);
    let near = proptest::option::weighted(0.3, (0usize..PLACES.len(), 1.0f64..600.0));
    (naf, dep, region, headcount, certification, near).prop_map(|(naf, dep, region, headcount, cert, near)| Filters {
        naf: naf.into_iter().map(str::to_owned).collect(),
        departement: dep.into_iter().map(str::to_owned).collect(),
        region: region.into_iter().map(str::to_owned).collect(),
        near: near.map(|(p, km)| Near { lat: PLACES[p].5, lon: PLACES[p].6, km }),
        headcount,
        certifications: cert.into_iter().map(str::to_owned).collect(),
    })
}

/// Every live company of the snapshot.
/// A hashed-vector engine holding the companies of each range (seeded by `seed`) in a segment of
/// its own, with the companies numbered in `deleted` (those that exist) deleted.
fn segmented_engine<const N: usize>(
    dir: &std::path::Path,
    seed: u64,
    ranges: [std::ops::Range<u32>; N],
    deleted: &[u32],
) -> Engine {
    let engine = hashed_engine(dir);
    for range in ranges {
        engine.upsert(range.map(|i| company(i, seed)).collect()).unwrap();
        engine.flush().unwrap();
    }
    for d in deleted {
        let _ = engine.delete(&siren(*d));
    }
    engine.flush().unwrap();
    engine
}

/// Every live document of the snapshot, in index order.
fn live_docs(snapshot: &Snapshot) -> Vec<marketlounge_index::search::DocRef> {
    snapshot
        .segments
        .iter()
        .enumerate()
        .flat_map(|(segment, live)| {
            (0..live.segment.doc_count())
                .filter(move |&ord| live.is_live(ord))
                .map(move |ord| marketlounge_index::search::DocRef { segment, ord })
        })
        .collect()
}

fn live_companies(snapshot: &Snapshot, n: u32) -> Vec<Company> {
    (0..n).filter_map(|i| snapshot.get(&siren(i)).unwrap()).collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, .. ProptestConfig::default() })]

    /// No hit violates a filter; a page is full whenever enough companies pass the filters
    /// (vector retrieval reaches every allowed company); pages are the exhaustive ranking.
    #[test]
    fn filters_hold_pages_fill_and_match_exhaustive_ranking(
        seed in any::<u64>(),
        n_docs in 12u32..60,
        deleted in proptest::collection::vec(0u32..60, 0..6),
        filters in filters_strategy(),
        query_idx in 0usize..CAPABILITIES.len(),
        k in 1usize..8,
        lexical in 0.0f32..2.0,
        geo in 0.0f32..1.0,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let engine = hashed_engine(dir.path());
        // Two segments and some deletions: global statistics and tombstones in play.
        let half = n_docs / 2;
        engine.upsert((0..half).map(|i| company(i, seed)).collect()).unwrap();
        engine.flush().unwrap();
        engine.upsert((half..n_docs).map(|i| company(i, seed)).collect()).unwrap();
        engine.flush().unwrap();
        for d in &deleted {
            let _ = engine.delete(&siren(*d));
        }
        engine.flush().unwrap();
        let snapshot = engine.snapshot();
        let companies = live_companies(&snapshot, n_docs);
        let allowed: HashSet<String> =
            companies.iter().filter(|c| satisfies(c, &filters)).map(|c| c.id.clone()).collect();

        let query = format!("{} près de Lyon", CAPABILITIES[query_idx]);
        let vector = query_vector(CAPABILITIES[query_idx]);
        let request = MatchRequest {
            k,
            filters: filters.clone(),
            weights: WeightOverrides { lexical: Some(lexical), geo: Some(geo), ..WeightOverrides::default() },
            ..MatchRequest::new(query)
        };
        // A pool of at least every document: the exhaustive ranking.
        let all = matcher(1000).rank(&snapshot, &request, Some(&vector), 1000).unwrap();
        let exhaustive: Vec<(String, f32)> = all
            .ranked
            .iter()
            .map(|r| (snapshot.segments[r.doc.segment].segment.ids().id(r.doc.ord).unwrap(), r.score))
            .collect();
        for (id, _) in &exhaustive {
            prop_assert!(allowed.contains(id), "{} violates {:?}", id, filters);
        }
        // Filtering happens inside retrieval: vector mode (which ranks every neighbour)
        // reaches every allowed company, however selective the filter.
        let every = matcher(1000)
            .rank(&snapshot, &MatchRequest { mode: Mode::Vector, ..request.clone() }, Some(&vector), 1000)
            .unwrap();
        prop_assert_eq!(every.ranked.len(), allowed.len(), "every allowed company is a candidate");
        // The score is the documented formula over the calibrated components.
        let weights = fusion::FusionWeights::default().with(&request.weights);
        for r in &all.ranked {
            let calibration = Calibration {
                lexical: all.lexical_background,
                vector: all.vector_background,
                chunk: all.chunk_background,
                prior_base_rate: SearchConfig::default().prior_base_rate,
                language: all.plan.interpretation.language,
            };
            let components = fusion::calibrate(&r.raw, &calibration);
            prop_assert_eq!(components, r.components);
            prop_assert!((fusion::score(Mode::Hybrid, &r.raw, &components, &weights, 60.0) - r.score).abs() < 1e-6);
        }
        // A smaller pool scores each of its candidates exactly as the exhaustive ranking does
        // (calibration never depends on the pool), and pages sharing the pool, concatenated,
        // are its ranking's head.
        let small = matcher(32);
        let pool = small.rank(&snapshot, &request, Some(&vector), 3 * k).unwrap();
        for r in &pool.ranked {
            let id = snapshot.segments[r.doc.segment].segment.ids().id(r.doc.ord).unwrap();
            let full = exhaustive.iter().find(|(i, _)| *i == id).map(|(_, s)| *s);
            prop_assert_eq!(full, Some(r.score), "{} scores the same in any pool", id);
        }
        let mut paged: Vec<String> = Vec::new();
        for page in 0..3 {
            let response = small
                .run(&snapshot, &MatchRequest { offset: page * k, ..request.clone() }, Some(&vector))
                .unwrap();
            // Every company with evidence for the query is a match: pages are full while
            // matches remain.
            let expected = exhaustive.len().saturating_sub(page * k).min(k);
            prop_assert_eq!(response.hits.len(), expected, "page {} of {} allowed", page, allowed.len());
            paged.extend(response.hits.into_iter().map(|h| h.id));
        }
        let head: Vec<String> = pool
            .ranked
            .iter()
            .take(paged.len())
            .map(|r| snapshot.segments[r.doc.segment].segment.ids().id(r.doc.ord).unwrap())
            .collect();
        prop_assert_eq!(paged, head);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, .. ProptestConfig::default() })]

    /// Forced filters (a signed token's) are ANDed with the request's, list by list: the
    /// companies ranked are exactly those meeting both (a request cannot widen them), and the
    /// answer shows them.
    #[test]
    fn forced_filters_and_the_requests_both_hold(
        seed in any::<u64>(),
        filters in filters_strategy(),
        forced in filters_strategy(),
        query_idx in 0usize..CAPABILITIES.len(),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let engine = segmented_engine(dir.path(), seed, [0..20, 20..40], &[3, 25]);
        let snapshot = engine.snapshot();
        let both: HashSet<String> = live_companies(&snapshot, 40)
            .iter()
            .filter(|c| satisfies(c, &filters) && satisfies(c, &forced))
            .map(|c| c.id.clone())
            .collect();
        let vector = query_vector(CAPABILITIES[query_idx]);
        let request = MatchRequest {
            k: 100,
            mode: Mode::Vector,
            filters: filters.clone(),
            forced_filters: Some(forced.clone()),
            ..MatchRequest::new(CAPABILITIES[query_idx])
        };
        let response = matcher(1000).run(&snapshot, &request, Some(&vector)).unwrap();
        let ranked: HashSet<String> = response.hits.into_iter().map(|h| h.id).collect();
        prop_assert_eq!(ranked, both, "filters {:?} and forced {:?}", filters, forced);
        prop_assert_eq!(response.interpretation.forced_filters, Some(forced));
    }
}

#[test]
fn modes_locations_concepts_and_explanations() {
    let dir = tempfile::tempdir().unwrap();
    let engine = hashed_engine(dir.path());
    engine.upsert((0..40).map(|i| company(i, 0x5eed)).collect()).unwrap();
    engine.flush().unwrap();
    let snapshot = engine.snapshot();
    let matcher = matcher(200);

    // Lexical mode returns only companies that match the words, best first.
    let request = MatchRequest { mode: Mode::Lexical, explain: true, ..MatchRequest::new("découpe laser") };
    let response = matcher.run(&snapshot, &request, None).unwrap();
    assert!(!response.hits.is_empty());
    for hit in &response.hits {
        let company = snapshot.get(&hit.id).unwrap().unwrap();
        assert!(company.capabilities.iter().any(|c| c == "découpe laser"), "{}", hit.id);
        assert!(hit.highlights.iter().all(|[s, e]| s < e && *e <= hit.snippet.len()));
        let explanation = hit.explanation.as_ref().unwrap();
        let names: Vec<&str> = explanation.components.iter().map(|c| c.name).collect();
        assert_eq!(names, ["lexical", "vector", "concept", "geo", "prior"]);
        let sum: f32 = explanation.components.iter().map(|c| c.contribution).sum();
        assert!((sum - hit.score).abs() < 1e-5, "contributions add up to the score");
    }
    assert!(response.hits.windows(2).all(|w| w[0].score >= w[1].score));

    // A place in the query is a geo boost, removed from the text, or a filter when asked.
    let boosted = MatchRequest { explain: true, ..MatchRequest::new("découpe laser près de Lyon") };
    let vector = query_vector("découpe laser");
    let response = matcher.run(&snapshot, &boosted, Some(&vector)).unwrap();
    assert_eq!(response.interpretation.text_query.trim(), "découpe laser");
    assert_eq!(response.interpretation.locations.len(), 1);
    let top = snapshot.get(&response.hits[0].id).unwrap().unwrap();
    assert!(response.hits[0].components.geo.unwrap() > 0.5, "{:?} is far from Lyon", top.address);
    let filtered = MatchRequest { location: LocationUse::Filter, ..boosted.clone() };
    let response = matcher.run(&snapshot, &filtered, Some(&vector)).unwrap();
    assert!(!response.hits.is_empty());
    for hit in &response.hits {
        let company = snapshot.get(&hit.id).unwrap().unwrap();
        assert!(["69123", "42218", "38185"].contains(&company.address.commune_code.as_deref().unwrap()));
    }
    assert!(response.interpretation.filters_applied.near.is_some());

    // RRF and vector modes rank too; vector mode needs vectors.
    for mode in [Mode::Rrf, Mode::Vector] {
        let request = MatchRequest { mode, ..MatchRequest::new("soudage TIG") };
        let response = matcher.run(&snapshot, &request, Some(&query_vector("soudage TIG"))).unwrap();
        assert_eq!(response.hits.len(), 10, "{mode:?}");
    }
}

#[test]
fn bad_requests_name_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Engine::open(dir.path(), EngineOptions::default()).unwrap();
    let snapshot = engine.snapshot();
    let matcher = matcher(200);
    let field_of = |request: MatchRequest| match matcher.run(&snapshot, &request, None) {
        Err(marketlounge_index::search::SearchError::Request(err)) => err.field,
        other => panic!("{other:?}"),
    };
    assert_eq!(field_of(MatchRequest::new("  ")), "query");
    assert_eq!(field_of(MatchRequest::new("x".repeat(10_000))), "query");
    assert_eq!(field_of(MatchRequest { k: 0, ..MatchRequest::new("laser") }), "k");
    assert_eq!(field_of(MatchRequest { k: 10_000, ..MatchRequest::new("laser") }), "k");
    assert_eq!(field_of(MatchRequest { offset: 9_995, ..MatchRequest::new("laser") }), "offset");
    let negative = WeightOverrides { vector: Some(-1.0), ..WeightOverrides::default() };
    assert_eq!(field_of(MatchRequest { weights: negative, ..MatchRequest::new("laser") }), "weights.vector");
    let near = Filters { near: Some(Near { lat: 91.0, lon: 0.0, km: 10.0 }), ..Filters::default() };
    assert_eq!(field_of(MatchRequest { filters: near, ..MatchRequest::new("laser") }), "filters.near.lat");
    let naf = Filters { naf: vec!["99.99X".into()], ..Filters::default() };
    assert_eq!(field_of(MatchRequest { filters: naf, ..MatchRequest::new("laser") }), "filters.naf[0]");
    let dep = Filters { departement: vec!["69".into(), "1000".into()], ..Filters::default() };
    assert_eq!(field_of(MatchRequest { filters: dep, ..MatchRequest::new("laser") }), "filters.departement[1]");
    // Vector mode on an index without vectors.
    assert_eq!(field_of(MatchRequest { mode: Mode::Vector, ..MatchRequest::new("laser") }), "mode");
    // An empty index answers an empty page, not an error.
    let response = matcher.run(&snapshot, &MatchRequest::new("laser"), None).unwrap();
    assert!(response.hits.is_empty());
    assert_eq!(response.total, 0);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, .. ProptestConfig::default() })]

    /// The lexical pass (MaxScore over term clauses; the largest tantivy segment first, the
    /// others side by side from its n-th score) returns
    /// the exact top n of Σ boost × BM25: its scores are the n best of every allowed document's
    /// exact score, and any document scoring above the n-th is in it.
    #[test]
    fn lexical_pass_is_the_exact_top_n(
        seed in any::<u64>(),
        n_docs in 12u32..200,
        deleted in proptest::collection::vec(0u32..200, 0..6),
        clauses in proptest::collection::vec((0usize..6, 0usize..3, 0.1f32..3.0), 1..7),
        n in 1usize..12,
        certification in proptest::option::of(0usize..CERTIFICATIONS.len()),
    ) {
        use marketlounge_index::search::{DocRef, exact, lexical};
        use marketlounge_index::segment::schema::CompanyFields;
        use tantivy::Term;

        let dir = tempfile::tempdir().unwrap();
        let third = n_docs / 3;
        let engine = segmented_engine(dir.path(), seed, [0..third, third..2 * third, 2 * third..n_docs], &deleted);
        let snapshot = engine.snapshot();
        let fields = CompanyFields::new();
        let stems = ["frais", "las", "decoup", "soudag", "sous", "tol"];
        let field_names = ["name", "capabilities", "description"];
        let clauses: Vec<(Term, f32)> = clauses
            .iter()
            .map(|&(stem, field, boost)| {
                (Term::from_field_text(fields.text_field(field_names[field]).unwrap(), stems[stem]), boost)
            })
            .collect();
        let filters = Filters {
            certifications: certification.map(|c| vec![CERTIFICATIONS[c].to_owned()]).unwrap_or_default(),
            ..Filters::default()
        };
        let matcher = matcher(n);
        let allowed = matcher.allowed(&snapshot, &filters).unwrap();

        let top = lexical::top_pass(&snapshot, &clauses, &allowed, n).unwrap();
        let every: Vec<DocRef> =
            live_docs(&snapshot).into_iter().filter(|doc| allowed.allows(&snapshot, doc.segment, doc.ord)).collect();
        let addressed = exact::address(&snapshot, &every).unwrap();
        let scores = exact::score_clauses(&snapshot, exact::Clauses::Bm25(&clauses), &addressed).unwrap();
        let mut expected: Vec<f32> = scores.iter().copied().filter(|s| *s > 0.0).collect();
        expected.sort_by(|a, b| b.total_cmp(a));
        expected.truncate(n);
        let close = |a: f32, b: f32| (a - b).abs() <= 1e-4 * a.abs().max(1.0);
        prop_assert_eq!(top.len(), expected.len());
        for (got, want) in top.iter().zip(&expected) {
            prop_assert!(close(got.score, *want), "{} vs {}", got.score, want);
        }
        if let Some(last) = top.last() {
            for (doc, score) in every.iter().zip(&scores) {
                if *score > last.score && !close(*score, last.score) {
                    prop_assert!(top.iter().any(|s| s.doc == *doc), "{:?} ({}) missing", doc, score);
                }
            }
        }
    }

    /// Exact scores from the forward lists equal, to the bit, those from seeking every clause's
    /// postings (tantivy's `TermScorer`), for every live document of two hybrid segments, with
    /// repeated words (frequencies above one), duplicate clauses, absent terms and every scored
    /// field; and so do phrases, which the forward lists only filter.
    #[test]
    fn forward_lists_score_as_the_postings(
        seed in any::<u64>(),
        n_docs in 12u32..160,
        deleted in proptest::collection::vec(0u32..160, 0..6),
        clauses in proptest::collection::vec((0usize..8, 0usize..6, 0.1f32..3.0), 1..12),
        phrase_picks in proptest::collection::vec((0usize..6, 0usize..3, 0.1f32..3.0), 1..6),
    ) {
        use marketlounge_index::search::exact;
        use marketlounge_index::segment::schema::{CompanyFields, TEXT_FIELDS};
        use tantivy::Term;

        let dir = tempfile::tempdir().unwrap();
        let half = n_docs / 2;
        let engine = segmented_engine(dir.path(), seed, [0..half, half..n_docs], &deleted);
        let snapshot = engine.snapshot();
        prop_assert!(snapshot.segments.iter().all(|live| live.segment.forward().is_some()));
        let fields = CompanyFields::new();
        let stems = ["frais", "las", "decoup", "soudag", "sous", "tol", "atelier", "absentissim"];
        let clauses: Vec<(Term, f32)> = clauses
            .iter()
            .map(|&(stem, field, boost)| {
                (Term::from_field_text(fields.text_field(TEXT_FIELDS[field]).unwrap(), stems[stem]), boost)
            })
            .collect();
        let every = live_docs(&snapshot);
        let addressed = exact::address(&snapshot, &every).unwrap();
        let forward = exact::score_clauses(&snapshot, exact::Clauses::Bm25(&clauses), &addressed).unwrap();
        let postings = exact::score_clauses_by_postings(&snapshot, exact::Clauses::Bm25(&clauses), &addressed).unwrap();
        for ((doc, f), p) in every.iter().zip(&forward).zip(&postings) {
            prop_assert_eq!(f.to_bits(), p.to_bits(), "{:?}: forward {} postings {}", doc, f, p);
        }

        // Phrases: the forward lists only spare the phrase scorers the candidates lacking a word.
        let pairs = [("decoup", "las"), ("las", "decoup"), ("soud", "tig"), ("pli", "tol"), ("trait", "thermiqu"), ("decoup", "absentissim")];
        let phrases: Vec<exact::Phrase> = phrase_picks
            .iter()
            .map(|&(pair, field, boost)| {
                let field = fields.text_field(["name", "capabilities", "description"][field]).unwrap();
                let (a, b) = pairs[pair];
                (vec![(0, Term::from_field_text(field, a)), (1, Term::from_field_text(field, b))], boost)
            })
            .collect();
        let forward = exact::score_clauses(&snapshot, exact::Clauses::Phrases(&phrases), &addressed).unwrap();
        let postings = exact::score_clauses_by_postings(&snapshot, exact::Clauses::Phrases(&phrases), &addressed).unwrap();
        for ((doc, f), p) in every.iter().zip(&forward).zip(&postings) {
            prop_assert_eq!(f.to_bits(), p.to_bits(), "{:?}: phrases, forward {} postings {}", doc, f, p);
        }
    }
}
