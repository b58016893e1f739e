//! A buyer's constraints end to end over a real engine (tantivy, usearch with hashed vectors,
//! segment facets), judged from the stored records only: every constraint a hit is said to meet
//! really holds in its record and every one it is said to miss really fails; required kinds
//! hold for every hit and for every match that meets them; preferred kinds rank results in tiers
//! (the documented rule), partial matches marked; constraints never change a score; pages are the
//! ranking cut into pieces.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, LazyLock};

use marketlounge_index::dict::company_values::Vocabularies;
use marketlounge_index::dict::gazetteer::PlaceKind;
use marketlounge_index::embed::{Embedder, HashedEmbedder};
use marketlounge_index::engine::{Engine, Snapshot};
use marketlounge_index::interpret::{Constraint, ConstraintKind, Interpretation, Interpreter};
use marketlounge_index::record::{Company, HeadcountBand};
use marketlounge_index::search::constraints::GENERIC_WORDS;
use marketlounge_index::search::filter::haversine_km;
use marketlounge_index::search::{
    ConstraintCheck, ConstraintUse, ConstraintUses, LocationUse, MatchHit, MatchRequest, MatchResponse, Matcher,
    SearchConfig,
};
use proptest::prelude::*;

#[path = "support/hashed_engine.rs"]
mod hashed_engine;
use hashed_engine::hashed_engine;

use marketlounge_index::record::siren_with_check_digit as siren;

/// (commune code, postal code, commune, département, région, lat, lon), as in `schema/ref`.
type Commune = (&'static str, &'static str, &'static str, &'static str, &'static str, f64, f64);

/// Communes a few kilometres apart (Lyon, Villeurbanne, Vienne), about 50 km apart (Saint-Étienne
/// from Lyon) and far apart, in four régions.
const COMMUNES: [Commune; 9] = [
    ("69123", "69001", "Lyon", "69", "Auvergne-Rhône-Alpes", 45.76769, 4.83537),
    ("69266", "69100", "Villeurbanne", "69", "Auvergne-Rhône-Alpes", 45.7663, 4.87966),
    ("38544", "38200", "Vienne", "38", "Auvergne-Rhône-Alpes", 45.5256, 4.87524),
    ("42218", "42000", "Saint-Étienne", "42", "Auvergne-Rhône-Alpes", 45.43959, 4.38748),
    ("38185", "38000", "Grenoble", "38", "Auvergne-Rhône-Alpes", 45.18663, 5.73631),
    ("31555", "31000", "Toulouse", "31", "Occitanie", 43.60405, 1.44305),
    ("35238", "35000", "Rennes", "35", "Bretagne", 48.09307, -1.67494),
    ("29019", "29200", "Brest", "29", "Bretagne", 48.39169, -4.48454),
    ("33063", "33000", "Bordeaux", "33", "Nouvelle-Aquitaine", 44.83802, -0.57964),
];

/// Place phrases of queries, French and English: communes with and without a distance,
/// départements and régions by name or number.
const PLACE_PHRASES: [&str; 14] = [
    "près de Lyon",
    "à 30 km de Lyon",
    "dans un rayon de 100 km autour de Grenoble",
    "autour de Saint-Étienne",
    "près de Toulouse",
    "near Lyon",
    "within 60 km of Saint-Étienne",
    "en Bretagne",
    "in Brittany",
    "dans le 69",
    "dans l'Isère",
    "en Auvergne-Rhône-Alpes",
    "en Occitanie",
    "à moins de 40 km de Vienne",
];

/// Size phrases of queries, French and English, at the bands' thresholds and between them.
const SIZE_PHRASES: [&str; 14] = [
    "plus de 60 salariés",
    "moins de 80 personnes",
    "entre 30 et 150 salariés",
    "at least 15 employees",
    "plus de 50 salariés",
    "moins de 20 personnes",
    "PME",
    "ETI",
    "grand groupe",
    "over 200 employees",
    "de 20 à 99 salariés",
    "au moins 100 salariés",
    "fewer than 50 staff",
    "SME",
];

/// The métiers whose concepts companies do and queries name.
const METIERS: [&str; 3] = ["usinage", "decoupe", "soudage"];

static INTERPRETER: LazyLock<Arc<Interpreter>> = LazyLock::new(|| Arc::new(Interpreter::embedded().unwrap()));

/// Every name of every entry of a vocabulary (French and English labels and aliases) with the
/// entry's id.
fn names(vocabulary: &marketlounge_index::dict::vocabulary::Vocabulary) -> Vec<(String, String)> {
    vocabulary
        .entries()
        .iter()
        .flat_map(|entry| {
            std::iter::once(&entry.label)
                .chain(&entry.label_en)
                .chain(&entry.aliases)
                .chain(&entry.aliases_en)
                .map(|name| (entry.id.clone(), name.clone()))
        })
        .collect()
}

static MATERIAL_NAMES: LazyLock<Vec<(String, String)>> = LazyLock::new(|| names(&Vocabularies::embedded().materials));
static CERTIFICATION_NAMES: LazyLock<Vec<(String, String)>> =
    LazyLock::new(|| names(&Vocabularies::embedded().certifications));

/// The concepts of [`METIERS`] with their French label.
static CONCEPTS: LazyLock<Vec<(String, String)>> = LazyLock::new(|| {
    INTERPRETER
        .glossary()
        .concepts()
        .iter()
        .filter(|c| METIERS.contains(&c.id.split('.').next().unwrap()))
        .map(|c| (c.id.clone(), c.label.clone()))
        .collect()
});

/// Process phrases: the French and English labels of those concepts that read, alone, as that
/// concept's process and nothing else, and whether the concept is a métier.
static PROCESS_PHRASES: LazyLock<Vec<(String, bool)>> = LazyLock::new(|| {
    let phrases: Vec<(String, bool)> = INTERPRETER
        .glossary()
        .concepts()
        .iter()
        .filter(|c| METIERS.contains(&c.id.split('.').next().unwrap()))
        .flat_map(|c| {
            std::iter::once(c.label.clone())
                .chain(c.label_en.clone())
                .filter(|label| {
                    let constraints = INTERPRETER.interpret(label).constraints;
                    matches!(&constraints[..], [hit] if matches!(&hit.constraint, Constraint::Process { id, .. } if *id == c.id))
                })
                .map(|label| (label, !c.id.contains('.')))
        })
        .collect();
    assert!(phrases.len() >= 60, "{} process phrases", phrases.len());
    assert!(phrases.iter().filter(|(_, metier)| *metier).count() >= 2 * METIERS.len() - 1, "{phrases:?}");
    phrases
});

/// A process phrase: a métier's half the time, else any.
fn process_phrase() -> impl Strategy<Value = usize> {
    let metiers: Vec<usize> = (0..PROCESS_PHRASES.len()).filter(|&idx| PROCESS_PHRASES[idx].1).collect();
    prop_oneof![proptest::sample::select(metiers), 0..PROCESS_PHRASES.len()]
}

/// Names of the families most companies work and most queries name (titanium, stainless steel,
/// aluminium; the aerospace and quality certifications), as indices into the name lists: drawn
/// three times in four, so that constraints are often met and often missed.
static COMMON_MATERIALS: LazyLock<Vec<usize>> =
    LazyLock::new(|| common(&MATERIAL_NAMES, &["titane", "inox", "aluminium"]));
static COMMON_CERTIFICATIONS: LazyLock<Vec<usize>> =
    LazyLock::new(|| common(&CERTIFICATION_NAMES, &["en9100", "iso9001"]));

fn common(names: &[(String, String)], families: &[&str]) -> Vec<usize> {
    (0..names.len()).filter(|&idx| families.contains(&names[idx].0.split('.').next().unwrap())).collect()
}

fn material() -> impl Strategy<Value = usize> {
    prop_oneof![3 => proptest::sample::select(COMMON_MATERIALS.clone()), 1 => 0..MATERIAL_NAMES.len()]
}

fn certification() -> impl Strategy<Value = usize> {
    prop_oneof![3 => proptest::sample::select(COMMON_CERTIFICATIONS.clone()), 1 => 0..CERTIFICATION_NAMES.len()]
}

/// A concept of a company: a métier half the time (most companies of a métier hold it), else any
/// concept below.
fn concept() -> impl Strategy<Value = usize> {
    let metiers: Vec<usize> = (0..CONCEPTS.len()).filter(|&idx| !CONCEPTS[idx].0.contains('.')).collect();
    prop_oneof![proptest::sample::select(metiers), 0..CONCEPTS.len()]
}

/// What a generated company is made of: indices into the lists above.
#[derive(Debug, Clone)]
struct CompanySpec {
    materials: Vec<usize>,
    certifications: Vec<usize>,
    band: usize,
    commune: usize,
    concepts: Vec<usize>,
}

fn company_spec() -> impl Strategy<Value = CompanySpec> {
    (
        proptest::collection::vec(material(), 0..3),
        proptest::collection::vec(certification(), 0..3),
        0..HeadcountBand::ALL.len(),
        0..COMMUNES.len(),
        proptest::collection::vec(concept(), 0..3),
    )
        .prop_map(|(materials, certifications, band, commune, concepts)| CompanySpec {
            materials,
            certifications,
            band,
            commune,
            concepts,
        })
}

fn company(n: u32, spec: &CompanySpec) -> Company {
    let commune = COMMUNES[spec.commune];
    let concepts: Vec<&(String, String)> = spec.concepts.iter().map(|&c| &CONCEPTS[c]).collect();
    let capabilities: Vec<&str> = concepts.iter().map(|(_, label)| label.as_str()).collect();
    let materials: Vec<&str> = spec.materials.iter().map(|&m| MATERIAL_NAMES[m].1.as_str()).collect();
    let certifications: Vec<&str> = spec.certifications.iter().map(|&c| CERTIFICATION_NAMES[c].1.as_str()).collect();
    serde_json::from_value(serde_json::json!({
        "id": siren(n),
        "name": format!("Atelier {n}"),
        "description": format!("Sous-traitance industrielle : {}.", capabilities.join(", ")),
        "capabilities": capabilities,
        "materials": materials,
        "certifications": certifications,
        "naf": "25.62B",
        "headcount": HeadcountBand::ALL[spec.band].as_str(),
        "created": "1990-01-01",
        "address": {"postal_code": commune.1, "commune": commune.2, "commune_code": commune.0,
                    "lat": commune.5, "lon": commune.6},
        "concepts": concepts.iter().map(|(id, _)| serde_json::json!({"id": id, "weight": 0.8})).collect::<Vec<_>>(),
    }))
    .unwrap()
}

/// A constraint phrase of a query.
#[derive(Debug, Clone)]
enum Phrase {
    Material(usize),
    Certification(usize),
    Size(usize),
    Place(usize),
}

impl Phrase {
    fn text(&self) -> &str {
        match self {
            Phrase::Material(m) => &MATERIAL_NAMES[*m].1,
            Phrase::Certification(c) => &CERTIFICATION_NAMES[*c].1,
            Phrase::Size(s) => SIZE_PHRASES[*s],
            Phrase::Place(p) => PLACE_PHRASES[*p],
        }
    }
}

/// A material a query names: a common family by one of its names half the time, else as
/// companies are drawn.
fn query_material() -> impl Strategy<Value = usize> {
    let families: Vec<usize> = COMMON_MATERIALS
        .iter()
        .copied()
        .filter(|&idx| {
            Vocabularies::embedded()
                .materials
                .index_of(&MATERIAL_NAMES[idx].0)
                .is_some_and(|e| Vocabularies::embedded().materials.parent(e).is_none())
        })
        .collect();
    prop_oneof![proptest::sample::select(families), material()]
}

fn phrase() -> impl Strategy<Value = Phrase> {
    prop_oneof![
        query_material().prop_map(Phrase::Material),
        certification().prop_map(Phrase::Certification),
        (0..SIZE_PHRASES.len()).prop_map(Phrase::Size),
        (0..PLACE_PHRASES.len()).prop_map(Phrase::Place),
    ]
}

fn constraint_use() -> impl Strategy<Value = Option<ConstraintUse>> {
    prop_oneof![
        2 => Just(None),
        1 => Just(Some(ConstraintUse::Require)),
        1 => Just(Some(ConstraintUse::Prefer)),
        1 => Just(Some(ConstraintUse::Ignore)),
    ]
}

fn uses() -> impl Strategy<Value = ConstraintUses> {
    (constraint_use(), constraint_use(), constraint_use(), constraint_use(), constraint_use()).prop_map(
        |(process, material, certification, size, place)| ConstraintUses {
            process,
            material,
            certification,
            size,
            place,
        },
    )
}

fn location_use() -> impl Strategy<Value = LocationUse> {
    prop_oneof![Just(LocationUse::Boost), Just(LocationUse::Filter), Just(LocationUse::Ignore)]
}

fn matcher(candidates: usize) -> Matcher {
    Matcher::new(Arc::clone(&INTERPRETER), SearchConfig { candidates, ..SearchConfig::default() })
}

fn query_vector(matcher: &Matcher, request: &MatchRequest) -> Option<Vec<f32>> {
    matcher.text_to_embed(request).map(|text| HashedEmbedder::new(64).embed_query(&text).unwrap())
}

fn run(matcher: &Matcher, snapshot: &Snapshot, request: &MatchRequest) -> MatchResponse {
    matcher.run(snapshot, request, query_vector(matcher, request).as_deref()).unwrap()
}

/// The use of each kind by a request (absent: `prefer`; the place's from `location`).
fn resolved(uses: &ConstraintUses, location: LocationUse, kind: ConstraintKind) -> ConstraintUse {
    let field = match kind {
        ConstraintKind::Process => uses.process,
        ConstraintKind::Material => uses.material,
        ConstraintKind::Certification => uses.certification,
        ConstraintKind::Size => uses.size,
        ConstraintKind::Place => uses.place,
    };
    field.unwrap_or(match (kind, location) {
        (ConstraintKind::Place, LocationUse::Filter) => ConstraintUse::Require,
        (ConstraintKind::Place, LocationUse::Ignore) => ConstraintUse::Ignore,
        _ => ConstraintUse::Prefer,
    })
}

/// Whether a record meets one constraint of the query, decided from the record alone: its
/// texts tagged by the vocabularies (a grade implies its family), its concept ids (a concept's
/// descendants are dotted below it), its headcount band's bounds, its coordinates and address.
/// `None` when the record lies within a metre of a distance asked (f32 coordinates decide).
fn holds(constraint: &Constraint, interpretation: &Interpretation, record: &Company, near_km: f64) -> Option<bool> {
    let tagged = Vocabularies::embedded().company_values(record);
    let commune = COMMUNES.iter().find(|c| Some(c.0) == record.address.commune_code.as_deref()).unwrap();
    Some(match constraint {
        Constraint::Process { id, .. } => {
            record.concepts.iter().any(|c| c.id == *id || c.id.starts_with(&format!("{id}.")))
        }
        Constraint::Material { id, .. } => tagged.materials.contains(id),
        Constraint::Certification { id, .. } => tagged.certifications.contains(id),
        Constraint::Size { min, max, .. } => {
            let (low, high) = record.headcount.bounds();
            low >= min.unwrap_or(0) && high <= max.unwrap_or(u32::MAX)
        }
        Constraint::Place { place_kind: PlaceKind::Departement, code, .. } => commune.3 == code,
        Constraint::Place { place_kind: PlaceKind::Region, name, .. } => commune.4 == name,
        Constraint::Place { place_kind: PlaceKind::Commune, code, radius_km, .. } => {
            let place = interpretation.locations.iter().find(|l| l.place.code == *code).unwrap();
            let (lat, lon) = (place.place.lat.unwrap(), place.place.lon.unwrap());
            let km = radius_km.map_or(near_km, f64::from);
            let distance = haversine_km(lat, lon, record.address.lat.unwrap(), record.address.lon.unwrap());
            if (distance - km).abs() < 0.001 {
                return None;
            }
            distance <= km
        }
    })
}

/// Whether a record meets a kind: any of its alternatives (`None`: too close to a distance).
fn kind_holds(kind: ConstraintKind, interpretation: &Interpretation, record: &Company, near_km: f64) -> Option<bool> {
    let mut any_unknown = false;
    for hit in interpretation.constraints.iter().filter(|c| c.constraint.kind() == kind) {
        match holds(&hit.constraint, interpretation, record, near_km) {
            Some(true) => return Some(true),
            Some(false) => {}
            None => any_unknown = true,
        }
    }
    (!any_unknown).then_some(false)
}

/// The kinds a query names.
fn kinds(interpretation: &Interpretation) -> BTreeSet<ConstraintKind> {
    interpretation.constraints.iter().map(|c| c.constraint.kind()).collect()
}

/// The documented rule: results are tiered when a preferred kind other than the process
/// qualifies a need the query names — a process, or nothing but constraints and generic words.
fn tiered(interpretation: &Interpretation, uses: &ConstraintUses, location: LocationUse) -> bool {
    let kinds = kinds(interpretation);
    let covered = |start: usize, end: usize| {
        interpretation
            .constraints
            .iter()
            .map(|c| c.span)
            .chain(interpretation.locations.iter().map(|l| l.span))
            .any(|[s, e]| start >= s && end <= e)
    };
    let need_is_named = kinds.contains(&ConstraintKind::Process)
        || interpretation
            .tokens
            .iter()
            .filter(|t| !t.is_stopword())
            .all(|t| covered(t.start, t.end) || GENERIC_WORDS.contains(&t.folded.as_str()));
    need_is_named
        && kinds.iter().any(|&k| k != ConstraintKind::Process && resolved(uses, location, k) == ConstraintUse::Prefer)
}

/// A hit's tier by its checks: the preferred kinds met, none when it misses a preferred process.
fn tier(hit: &MatchHit) -> usize {
    let preferred = || hit.constraints.iter().filter(|c| c.used == ConstraintUse::Prefer);
    if preferred().any(|c| c.kind == ConstraintKind::Process && !c.met) {
        return 0;
    }
    preferred().filter(|c| c.met).count()
}

/// Checks every hit's constraint checks, and its `partial`, against its stored record.
fn check_hits(
    snapshot: &Snapshot,
    interpretation: &Interpretation,
    request: &MatchRequest,
    hits: &[MatchHit],
    near_km: f64,
) -> Result<(), TestCaseError> {
    let kinds = kinds(interpretation);
    let active: Vec<ConstraintKind> = kinds
        .iter()
        .copied()
        .filter(|&k| resolved(&request.constraints, request.location, k) != ConstraintUse::Ignore)
        .collect();
    for hit in hits {
        let record = snapshot.get(&hit.id).unwrap().unwrap();
        // The tags the checks are judged by hold what the record lists, named as generated.
        let tagged = Vocabularies::embedded().company_values(&record);
        for (listed, names, ids) in [
            (&record.materials, &*MATERIAL_NAMES, &tagged.materials),
            (&record.certifications, &*CERTIFICATION_NAMES, &tagged.certifications),
        ] {
            for text in listed {
                let (id, _) = names.iter().find(|(_, name)| name == text).unwrap();
                prop_assert!(ids.contains(id), "{}: {:?} is {}, tagged {:?}", hit.id, text, id, ids);
            }
        }
        let listed: Vec<ConstraintKind> = hit.constraints.iter().map(|c| c.kind).collect();
        prop_assert_eq!(&listed, &active, "{}: the kinds in force, once each, in kind order", hit.id);
        for check in &hit.constraints {
            let ConstraintCheck { kind, met, by, used, .. } = check;
            prop_assert_eq!(*used, resolved(&request.constraints, request.location, *kind), "{:?}", kind);
            if let Some(expected) = kind_holds(*kind, interpretation, &record, near_km) {
                prop_assert_eq!(
                    *met,
                    expected,
                    "{} {:?}: checked {:?}, the record says {} (record {:?})",
                    hit.id,
                    kind,
                    check,
                    expected,
                    record
                );
            }
            prop_assert_eq!(by.is_some(), *met, "{:?}", check);
            // What met it is in the record.
            if let Some(by) = by {
                let ok = match by.split_once(':') {
                    Some(("material", id)) => tagged.materials.iter().any(|m| m == id),
                    Some(("certification", id)) => tagged.certifications.iter().any(|c| c == id),
                    Some(("concept", id)) => record.concepts.iter().any(|c| c.id == id),
                    Some(("size", band)) => band == record.headcount.as_str(),
                    Some(("departement", code)) => {
                        COMMUNES.iter().any(|c| Some(c.0) == record.address.commune_code.as_deref() && c.3 == code)
                    }
                    Some(("region", name)) => {
                        COMMUNES.iter().any(|c| Some(c.0) == record.address.commune_code.as_deref() && c.4 == name)
                    }
                    _ => *kind == ConstraintKind::Place && by.ends_with(" km"),
                };
                prop_assert!(ok, "{}: {:?} is not in the record {:?}", hit.id, check, record);
            }
            if *used == ConstraintUse::Require {
                prop_assert!(*met, "{}: a required {:?} missed", hit.id, kind);
            }
        }
        let partial = hit.constraints.iter().any(|c| c.used == ConstraintUse::Prefer && !c.met);
        prop_assert_eq!(hit.partial, partial, "{}: partial exactly when a preferred kind is missed", hit.id);
    }
    Ok(())
}

/// Hits in order: by tier then score when tiered, by score otherwise.
fn check_order(hits: &[MatchHit], tiered: bool) -> Result<(), TestCaseError> {
    for pair in hits.windows(2) {
        let (a, b) = (&pair[0], &pair[1]);
        if tiered {
            prop_assert!(
                tier(a) > tier(b) || (tier(a) == tier(b) && a.score >= b.score),
                "tiers: {} (tier {}, {}) before {} (tier {}, {})",
                a.id,
                tier(a),
                a.score,
                b.id,
                tier(b),
                b.score
            );
        } else {
            prop_assert!(a.score >= b.score, "scores: {} ({}) before {} ({})", a.id, a.score, b.id, b.score);
        }
    }
    Ok(())
}

/// An engine of two segments holding the companies, one of the first segment's deleted when
/// `delete` says.
fn engine_of(dir: &std::path::Path, specs: &[CompanySpec], delete: Option<usize>) -> Engine {
    let engine = hashed_engine(dir);
    let half = specs.len() / 2;
    engine.upsert((0..half).map(|n| company(n as u32, &specs[n])).collect()).unwrap();
    engine.flush().unwrap();
    engine.upsert((half..specs.len()).map(|n| company(n as u32, &specs[n])).collect()).unwrap();
    if let Some(d) = delete {
        engine.delete(&siren((d % half) as u32)).unwrap();
    }
    engine.flush().unwrap();
    engine
}

/// A query of the property: a process, one or two constraint phrases, the uses, a page size.
#[derive(Debug, Clone)]
struct QuerySpec {
    process: usize,
    phrases: Vec<Phrase>,
    uses: ConstraintUses,
    location: LocationUse,
    k: usize,
}

fn query_spec() -> impl Strategy<Value = QuerySpec> {
    (process_phrase(), proptest::collection::vec(phrase(), 1..=2), uses(), location_use(), 1usize..6)
        .prop_map(|(process, phrases, uses, location, k)| QuerySpec { process, phrases, uses, location, k })
}

impl QuerySpec {
    fn text(&self) -> String {
        std::iter::once(PROCESS_PHRASES[self.process].0.as_str())
            .chain(self.phrases.iter().map(Phrase::text))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// Checks one query over `snapshot` (see the property below).
fn check_query(snapshot: &Snapshot, spec: &QuerySpec) -> Result<(), TestCaseError> {
    let (uses, location, k) = (spec.uses, spec.location, spec.k);
    let n_live = snapshot.live_count() as usize;
    let query = spec.text();
    let interpretation = INTERPRETER.interpret(&query);
    let near_km = f64::from(SearchConfig::default().near_radius_km);

    // Every match, with every constraint check (a pool of every document).
    let exhaustive = matcher(1000);
    let request = MatchRequest { k: n_live, location, constraints: uses, ..MatchRequest::new(query.clone()) };
    let response = run(&exhaustive, snapshot, &request);
    prop_assert_eq!(response.interpretation.constraints.len(), interpretation.constraints.len());
    check_hits(snapshot, &interpretation, &request, &response.hits, near_km)?;
    check_order(&response.hits, tiered(&interpretation, &uses, location))?;

    // Every kind ignored: no checks, no tiers, and the same scores (the place aside, whose
    // preference adds the geo component); a required kind keeps exactly the matches that
    // meet it.
    let all_ignored = ConstraintUses {
        process: Some(ConstraintUse::Ignore),
        material: Some(ConstraintUse::Ignore),
        certification: Some(ConstraintUse::Ignore),
        size: Some(ConstraintUse::Ignore),
        place: Some(ConstraintUse::Ignore),
    };
    let ignoring = MatchRequest { constraints: all_ignored, ..request.clone() };
    let plain = run(&exhaustive, snapshot, &ignoring);
    for hit in &plain.hits {
        prop_assert!(hit.constraints.is_empty() && !hit.partial, "{:?}", hit);
    }
    check_order(&plain.hits, false)?;
    let plain_scores: HashMap<&str, f32> = plain.hits.iter().map(|h| (h.id.as_str(), h.score)).collect();
    let place_preferred = kinds(&interpretation).contains(&ConstraintKind::Place)
        && resolved(&uses, location, ConstraintKind::Place) == ConstraintUse::Prefer;
    for hit in &response.hits {
        let score = plain_scores.get(hit.id.as_str()).copied();
        prop_assert!(score.is_some(), "{}: a hit that is no match without constraints", hit.id);
        if !place_preferred {
            prop_assert_eq!(score, Some(hit.score), "{}: constraints changed its score", hit.id);
        }
    }
    let required: Vec<ConstraintKind> = kinds(&interpretation)
        .into_iter()
        .filter(|&k| resolved(&uses, location, k) == ConstraintUse::Require)
        .collect();
    let mut expected: BTreeSet<&str> = BTreeSet::new();
    for hit in &plain.hits {
        let record = snapshot.get(&hit.id).unwrap().unwrap();
        let meets: Vec<Option<bool>> =
            required.iter().map(|&k| kind_holds(k, &interpretation, &record, near_km)).collect();
        if meets.contains(&None) {
            // Too close to a distance to say: whatever the engine decided.
            if response.hits.iter().any(|h| h.id == hit.id) {
                expected.insert(&hit.id);
            }
        } else if meets.iter().all(|m| *m == Some(true)) {
            expected.insert(&hit.id);
        }
    }
    let got: BTreeSet<&str> = response.hits.iter().map(|h| h.id.as_str()).collect();
    prop_assert_eq!(got, expected, "{:?}: the matches meeting every required kind", required);

    // Pages of a smaller pool concatenate to its ranking's head, tiers included.
    let small = matcher(16);
    let vector = query_vector(&small, &request);
    let ranking =
        small.rank(snapshot, &MatchRequest { k: 3 * k, ..request.clone() }, vector.as_deref(), 3 * k).unwrap();
    let mut paged: Vec<MatchHit> = Vec::new();
    for page in 0..3 {
        let response = run(&small, snapshot, &MatchRequest { k, offset: page * k, ..request.clone() });
        check_hits(snapshot, &interpretation, &request, &response.hits, near_km)?;
        paged.extend(response.hits);
    }
    check_order(&paged, tiered(&interpretation, &uses, location))?;
    prop_assert_eq!(paged.len(), ranking.ranked.len().min(3 * k), "pages are full while matches remain");
    let head: Vec<String> = ranking
        .ranked
        .iter()
        .take(paged.len())
        .map(|r| snapshot.segments[r.doc.segment].segment.ids().id(r.doc.ord).unwrap())
        .collect();
    let paged: Vec<String> = paged.into_iter().map(|h| h.id).collect();
    prop_assert_eq!(paged, head);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 8, .. ProptestConfig::default() })]

    /// Every hit's constraint checks agree with its record; required kinds are met by every hit
    /// and every match meeting them is a hit; preferred kinds tier the ranking; `partial` marks
    /// exactly the hits missing a preferred kind; ignored kinds are not checked and tier nothing;
    /// no constraint changes a score; pages concatenate to the ranking. Several queries per
    /// index (building it is what costs).
    #[test]
    fn checks_hold_in_the_records_and_uses_do_what_they_say(
        specs in proptest::collection::vec(company_spec(), 12..40),
        delete in proptest::option::of(0usize..40),
        queries in proptest::collection::vec(query_spec(), 8),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let engine = engine_of(dir.path(), &specs, delete);
        let snapshot = engine.snapshot();
        for query in &queries {
            check_query(&snapshot, query)
                .map_err(|err| TestCaseError::fail(format!("{:?} ({:?}): {err}", query.text(), query)))?;
        }
    }
}

/// A known corpus, so that the property above cannot pass by finding nothing: titanium milling
/// in Lyon (the one full answer to "fraisage titane"), stainless milling in Rennes, titanium
/// turning, a titanium foundry, 5-axis aluminium milling in Saint-Étienne.
#[test]
fn a_known_corpus_meets_misses_and_tiers_as_expected() {
    let dir = tempfile::tempdir().unwrap();
    let engine = hashed_engine(dir.path());
    // (n, concept, capability, material, certification, headcount, commune)
    let rows = [
        (1, "usinage.fraisage", "Fraisage", "titane TA6V", "EN 9100", "50-99", 0),
        (2, "usinage.fraisage", "Fraisage", "inox 316L", "ISO 9001", "20-49", 6),
        (3, "usinage.tournage", "Tournage", "titanium grade 5", "ISO 9001", "100-199", 5),
        (4, "fonderie", "Fonderie", "titane", "ISO 9001", "250-499", 6),
        (5, "usinage.fraisage.5-axes", "Fraisage 5 axes", "aluminium 7075", "AS9100D", "10-19", 3),
    ];
    let companies: Vec<Company> = rows
        .iter()
        .map(|&(n, concept, capability, material, certification, headcount, commune)| {
            let c = COMMUNES[commune];
            serde_json::from_value(serde_json::json!({
                "id": siren(n), "name": format!("Atelier {n}"),
                "description": format!("Sous-traitance : {capability}, {material}."),
                "capabilities": [capability], "materials": [material], "certifications": [certification],
                "naf": "25.62B", "headcount": headcount, "created": "1990-01-01",
                "address": {"postal_code": c.1, "commune": c.2, "commune_code": c.0, "lat": c.5, "lon": c.6},
                "concepts": [{"id": concept, "weight": 0.8}],
            }))
            .unwrap()
        })
        .collect();
    engine.upsert(companies).unwrap();
    engine.flush().unwrap();
    let snapshot = engine.snapshot();
    let matcher = matcher(100);
    let ask = |query: &str, uses: ConstraintUses| {
        run(&matcher, &snapshot, &MatchRequest { constraints: uses, ..MatchRequest::new(query) })
    };
    let ids = |response: &MatchResponse| -> Vec<String> { response.hits.iter().map(|h| h.id.clone()).collect() };
    let check = |hit: &MatchHit, kind: ConstraintKind| -> (bool, Option<String>) {
        let found = hit.constraints.iter().find(|c| c.kind == kind).unwrap_or_else(|| panic!("{kind:?} of {hit:?}"));
        (found.met, found.by.clone())
    };

    // Preferred: titanium milling first and complete; the descendant concept meets the process;
    // the foundry, which does not mill, comes after every miller.
    let response = ask("fraisage titane", ConstraintUses::default());
    let order = ids(&response);
    assert_eq!(order[0], siren(1), "{order:?}");
    let first = &response.hits[0];
    assert!(!first.partial);
    assert_eq!(check(first, ConstraintKind::Process), (true, Some("concept:usinage.fraisage".into())));
    assert_eq!(check(first, ConstraintKind::Material), (true, Some("material:titane".into())));
    let position = |n: u32| order.iter().position(|id| *id == siren(n));
    for hit in &response.hits[1..] {
        assert!(hit.partial, "{hit:?}");
    }
    if let (Some(foundry), Some(five_axis)) = (position(4), position(5)) {
        assert!(five_axis < foundry, "{order:?}");
    }
    let five_axis = response.hits.iter().find(|h| h.id == siren(5)).expect("a 5-axis miller mills");
    assert_eq!(check(five_axis, ConstraintKind::Process), (true, Some("concept:usinage.fraisage.5-axes".into())));
    assert!(!check(five_axis, ConstraintKind::Material).0);

    // Required: only titanium, the turner's English grade name included, whatever the process.
    let response =
        ask("fraisage titane", ConstraintUses { material: Some(ConstraintUse::Require), ..Default::default() });
    let titanium: BTreeSet<String> = ids(&response).into_iter().collect();
    assert!(titanium.contains(&siren(1)), "{titanium:?}");
    assert!(titanium.is_subset(&[1, 3, 4].map(siren).into_iter().collect()), "{titanium:?}");
    // Ignored: not checked, no tier.
    let response =
        ask("fraisage titane", ConstraintUses { material: Some(ConstraintUse::Ignore), ..Default::default() });
    assert!(response.hits.iter().all(|h| h.constraints.iter().all(|c| c.kind != ConstraintKind::Material)));
    assert!(response.interpretation.constraints.iter().any(|c| c.used == ConstraintUse::Ignore));

    // Certification by another name, size bands, places by distance, département and région.
    let response = ask("fraisage EN 9100", ConstraintUses::default());
    let met: Vec<(String, bool)> =
        response.hits.iter().map(|h| (h.id.clone(), check(h, ConstraintKind::Certification).0)).collect();
    assert!(
        met.contains(&(siren(1), true)) && met.contains(&(siren(5), true)) && met.contains(&(siren(2), false)),
        "{met:?}"
    );
    let response = ask("fraisage plus de 50 salariés", ConstraintUses::default());
    let met: Vec<(String, bool)> =
        response.hits.iter().map(|h| (h.id.clone(), check(h, ConstraintKind::Size).0)).collect();
    assert!(met.contains(&(siren(1), true)) && met.contains(&(siren(2), false)), "{met:?}");
    for (query, inside, outside) in [
        ("fraisage près de Lyon", 1, 5),
        ("fraisage à 30 km de Saint-Étienne", 5, 1),
        ("fraisage dans le 69", 1, 2),
        ("fraisage dans le 42", 5, 2),
        ("fraisage en Bretagne", 2, 1),
        ("milling in Brittany", 2, 5),
    ] {
        let response = ask(query, ConstraintUses { process: Some(ConstraintUse::Ignore), ..Default::default() });
        let place = |n: u32| response.hits.iter().find(|h| h.id == siren(n)).map(|h| check(h, ConstraintKind::Place).0);
        assert_eq!(place(inside), Some(true), "{query}: {response:#?}");
        assert_eq!(place(outside), Some(false), "{query}");
    }

    // Places required are alternatives, like the places preferred: any of them meets the kind.
    for (query, expected) in
        [("fraisage dans le 69 en Bretagne", [1, 2]), ("fraisage à 10 km de Lyon ou à 10 km de Saint-Étienne", [1, 5])]
    {
        let request = MatchRequest { location: LocationUse::Filter, ..MatchRequest::new(query) };
        let response = run(&matcher, &snapshot, &request);
        let mut got = ids(&response);
        got.sort();
        assert_eq!(got, expected.map(siren), "{query}: {:?}", response.interpretation.constraints);
    }
}
