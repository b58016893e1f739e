//! The single query path: interpret the need, retrieve lexical ‖ vector ‖ concept candidates
//! under the same filters, score every candidate on every component, calibrate, fuse with the
//! geo and opportunity priors, explain.
//!
//! Every component of every candidate is computed exactly (a candidate found by the vectors
//! gets its true BM25 score, and the other way round), so the ranking is a pure function of the
//! candidate set and the formula in [`fusion`]. Lexical and vector scores are calibrated
//! against the query's own background (its score statistics over every live document, or over a
//! fixed sample of vectors), not min-maxed over the few best.

pub mod fusion;
pub mod request;
pub mod retrieve;
mod snippet;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering as AtomicOrdering};
use std::time::Instant;

use rayon::prelude::*;

use serde::Serialize;
use tantivy::Term;
use tantivy::query::{BooleanQuery, Occur, Query, TermQuery};
use tantivy::schema::{Field, IndexRecordOption};

pub use fusion::{Components, FusionWeights};
pub use request::{Filters, LocationUse, MatchRequest, Mode, Near, RequestError, WeightOverrides};
use retrieve::{Allowed, Circle, DocRef, Scored};

use crate::analysis::{Analyzer, Language};
use crate::dict::gazetteer::PlaceKind;
use crate::engine::Snapshot;
use crate::interpret::{ConceptHit, Interpretation, Interpreter, LocationHit, SynonymHit};
use crate::record::Company;
use crate::refdata::RefData;
use crate::segment::IndexError;
use crate::segment::schema::{CompanyFields, TEXT_FIELDS};

/// The fields expansions search (see [`Matcher::query_terms`]).
const MAIN_TEXT_FIELDS: [&str; 3] = ["name", "capabilities", "description"];

/// The fields searched for phrases: the short curated texts (positions in a long description
/// cost the most to read, and its words are often near each other by chance).
const PHRASE_FIELDS: [&str; 2] = ["name", "capabilities"];

/// How the query path is configured (from the server's settings).
#[derive(Debug, Clone)]
pub struct SearchConfig {
    /// BM25 boost of each text field, by name (see [`TEXT_FIELDS`]).
    pub field_weights: Vec<(String, f32)>,
    /// Weight of a synonym's words relative to the user's own (times the entry's weight).
    pub synonym_weight: f32,
    /// Weight of a detected concept's labels relative to the user's own words.
    pub concept_label_weight: f32,
    /// Weight of the French translations of an English query's words (times the lexicon's).
    pub translation_weight: f32,
    /// Weight of a pair of the user's words found together, in order (a phrase), relative to
    /// the words themselves.
    pub phrase_weight: f32,
    /// Analyse English queries with the English pipeline too.
    pub detect_query_language: bool,
    pub weights: FusionWeights,
    pub geo_half_distance_km: f32,
    pub rrf_k: f32,
    /// Base rate of the opportunity probability: the prior is the log-odds relative to it.
    pub prior_base_rate: f32,
    /// Candidates each retriever contributes at least (pages up to this depth share one pool).
    pub candidates: usize,
    pub max_query_bytes: usize,
}

impl Default for SearchConfig {
    fn default() -> Self {
        SearchConfig {
            field_weights: TEXT_FIELDS.iter().map(|f| ((*f).to_owned(), 1.0)).collect(),
            synonym_weight: 0.6,
            concept_label_weight: 0.5,
            translation_weight: 1.0,
            phrase_weight: 1.0,
            detect_query_language: true,
            weights: FusionWeights::default(),
            geo_half_distance_km: 50.0,
            rrf_k: 60.0,
            prior_base_rate: 0.1,
            candidates: 100,
            max_query_bytes: 2048,
        }
    }
}

/// Why a query could not run.
#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    /// The request is wrong (the field is named).
    #[error(transparent)]
    Request(#[from] RequestError),
    #[error(transparent)]
    Index(#[from] IndexError),
}

/// The interpretation returned to the caller.
#[derive(Debug, Clone, Serialize)]
pub struct InterpretationView {
    pub language: Language,
    /// The words searched for (folded), stopwords left out.
    pub tokens: Vec<String>,
    pub synonyms: Vec<SynonymHit>,
    pub concepts: Vec<ConceptHit>,
    pub locations: Vec<LocationHit>,
    /// The filters in force: the request's plus places used as filters.
    pub filters_applied: Filters,
    /// The text searched for once locations are removed.
    pub text_query: String,
}

/// One ranked company.
#[derive(Debug, Clone, Serialize)]
pub struct MatchHit {
    pub id: String,
    pub name: String,
    pub score: f32,
    pub components: Components,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub explanation: Option<fusion::Explanation>,
    pub snippet: String,
    /// Byte ranges of matched words in `snippet`.
    pub highlights: Vec<[usize; 2]>,
}

/// The answer of the query path.
#[derive(Debug, Clone, Serialize)]
pub struct MatchResponse {
    pub query_id: String,
    pub mode: Mode,
    pub interpretation: InterpretationView,
    pub hits: Vec<MatchHit>,
    /// Candidates ranked (the hits are a page of them).
    pub total: u64,
    pub took_ms: f64,
}

/// The query path over an interpreter and a configuration; cheap to share.
#[derive(Debug)]
pub struct Matcher {
    interpreter: Arc<Interpreter>,
    refdata: &'static RefData,
    config: SearchConfig,
    fields: CompanyFields,
    next_id: AtomicU64,
    started: u64,
    /// The opportunity base rate in force (f32 bits): the configured one until the scorer sets
    /// its model's.
    prior_base_rate: std::sync::atomic::AtomicU32,
}

/// Everything known about the candidates of one query, before paging.
#[derive(Debug)]
pub struct Ranking {
    pub interpretation: Interpretation,
    pub filters_applied: Filters,
    /// Every candidate, best first, with calibrated components and fused score.
    pub ranked: Vec<RankedDoc>,
    pub lexical_background: retrieve::Background,
    pub vector_background: Option<(f64, f64)>,
    pub chunk_background: Option<(f64, f64)>,
    pub vector_plans: Vec<retrieve::VectorPlan>,
    /// Query stems with their weights (for highlights).
    pub query_terms: Vec<(String, f32)>,
    pub weights: FusionWeights,
}

/// One candidate with its components.
#[derive(Debug, Clone)]
pub struct RankedDoc {
    pub doc: DocRef,
    pub raw: fusion::RawComponents,
    pub components: Components,
    pub score: f32,
}

impl Matcher {
    /// The opportunity base rate the prior's log-odds are relative to.
    pub fn prior_base_rate(&self) -> f32 {
        f32::from_bits(self.prior_base_rate.load(AtomicOrdering::Relaxed))
    }

    /// Sets the base rate (a new opportunity model's), clamped to [0.001, 0.999]; queries
    /// started after the call use it.
    pub fn set_prior_base_rate(&self, rate: f32) {
        let rate = if rate.is_finite() { rate.clamp(0.001, 0.999) } else { self.config.prior_base_rate };
        self.prior_base_rate.store(rate.to_bits(), AtomicOrdering::Relaxed);
    }

    pub fn new(interpreter: Arc<Interpreter>, config: SearchConfig) -> Matcher {
        let started =
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or_default();
        Matcher {
            interpreter,
            refdata: RefData::embedded(),
            fields: CompanyFields::new(),
            next_id: AtomicU64::new(0),
            started,
            prior_base_rate: std::sync::atomic::AtomicU32::new(config.prior_base_rate.to_bits()),
            config,
        }
    }

    pub fn config(&self) -> &SearchConfig {
        &self.config
    }

    pub fn interpreter(&self) -> &Interpreter {
        &self.interpreter
    }

    /// Checks a request (the field is named in the error).
    pub fn check(&self, request: &MatchRequest) -> Result<(), RequestError> {
        request.check(self.config.max_query_bytes, self.refdata)
    }

    /// The text to embed for a request: the query without its locations (`None` when nothing
    /// remains, or when the request brings its own vector or does not use vectors).
    pub fn text_to_embed(&self, request: &MatchRequest) -> Option<String> {
        if request.vector.is_some() || request.mode == Mode::Lexical {
            return None;
        }
        let interpretation = self.interpreter.interpret(&request.query);
        let text = interpretation.text_query.trim();
        (!text.is_empty()).then(|| text.to_owned())
    }

    /// Runs a checked request. `query_vector` is the embedded query (normalised), if any.
    pub fn run(
        &self,
        snapshot: &Snapshot,
        request: &MatchRequest,
        query_vector: Option<&[f32]>,
    ) -> Result<MatchResponse, SearchError> {
        let start = Instant::now();
        self.check(request)?;
        let depth = request.offset + request.k;
        let ranking = self.rank(snapshot, request, query_vector, depth)?;
        let ranked_at = start.elapsed();
        let total = ranking.ranked.len() as u64;
        // Each hit reads its record and picks its snippet (tens of µs): on both cores.
        let page = ranking.ranked.get(request.offset..).unwrap_or_default();
        let hits = page[..request.k.min(page.len())]
            .par_iter()
            .map(|ranked| self.hit(snapshot, &ranking, ranked, request))
            .collect::<Result<Vec<_>, _>>()?;
        tracing::debug!(
            rank_us = ranked_at.as_micros() as u64,
            hits_us = (start.elapsed() - ranked_at).as_micros() as u64,
            hits = hits.len(),
            "answered (ranking, then the hits' records, snippets and explanations)"
        );
        let Ranking { interpretation, filters_applied, .. } = ranking;
        let n = self.next_id.fetch_add(1, AtomicOrdering::Relaxed);
        Ok(MatchResponse {
            query_id: format!("q{:x}-{n:x}", self.started),
            mode: request.mode,
            interpretation: InterpretationView {
                language: interpretation.language,
                tokens: interpretation
                    .tokens
                    .iter()
                    .filter(|t| !t.is_stopword() && !in_any(t.start, &interpretation.locations))
                    .map(|t| t.folded.clone())
                    .collect(),
                synonyms: interpretation.synonyms,
                concepts: interpretation.concepts,
                locations: interpretation.locations,
                filters_applied,
                text_query: interpretation.text_query,
            },
            hits,
            total,
            took_ms: start.elapsed().as_secs_f64() * 1000.0,
        })
    }

    /// Candidates of a request, scored and sorted, deep enough for `depth` hits.
    pub fn rank(
        &self,
        snapshot: &Snapshot,
        request: &MatchRequest,
        query_vector: Option<&[f32]>,
        depth: usize,
    ) -> Result<Ranking, SearchError> {
        let interpretation = self.interpreter.interpret(&request.query);
        let weights = self.config.weights.with(&request.weights);
        // Similarities below are dot products with unit vectors.
        let unit_query: Option<Vec<f32>> = query_vector.map(|v| {
            let mut v = v.to_vec();
            crate::embed::normalise(&mut v);
            v
        });
        let query_vector = unit_query.as_deref();

        // Filters: the request's, plus places used as filters.
        let mut filters = request.filters.clone();
        let mut geo_targets: Vec<&LocationHit> = Vec::new();
        for location in &interpretation.locations {
            match request.location {
                LocationUse::Ignore => {}
                LocationUse::Boost => geo_targets.push(location),
                LocationUse::Filter => match location.place.kind {
                    PlaceKind::Departement => filters.departement.push(location.place.code.clone()),
                    PlaceKind::Region => filters.region.push(location.place.name.clone()),
                    PlaceKind::Commune => {
                        if let (Some(lat), Some(lon)) = (location.place.lat, location.place.lon) {
                            filters.near = Some(Near { lat, lon, km: f64::from(self.config.geo_half_distance_km) });
                        }
                    }
                },
            }
        }
        let started = Instant::now();
        let mut phases: Vec<(&str, u128)> = Vec::with_capacity(8);
        let mark = |name: &'static str, phases: &mut Vec<(&str, u128)>| {
            phases.push((name, started.elapsed().as_micros()));
        };
        let allowed = self.allowed(snapshot, &filters)?;
        mark("filters", &mut phases);

        // The pool: every retriever contributes at least `candidates`, more for deep pages
        // (rounded to a power of two so that nearby pages share a pool).
        let n = self.config.candidates.max(depth.next_power_of_two());
        let has_vectors = snapshot.segments.iter().any(|s| s.segment.vectors().is_some());
        if request.mode == Mode::Vector && !has_vectors {
            return Err(RequestError::new(
                "mode",
                "vector mode needs an index built with an embedder (index.embedder); this one has no vectors",
            )
            .into());
        }
        if let Some(vector) = query_vector {
            let dims = snapshot.segments.iter().find_map(|s| s.segment.vectors().map(|v| v.dimensions()));
            if let Some(dims) = dims
                && dims != vector.len()
            {
                return Err(RequestError::new(
                    "vector",
                    format!("has {} dimensions, the index's vectors have {dims}", vector.len()),
                )
                .into());
            }
        }
        let use_lexical = request.mode != Mode::Vector;
        let use_vector = request.mode != Mode::Lexical && has_vectors && query_vector.is_some();
        let use_concept = matches!(request.mode, Mode::Hybrid | Mode::Rrf);

        let query_terms = if use_lexical { self.query_terms(&interpretation) } else { Vec::new() };
        let lexical_clauses = self.lexical_clauses(&query_terms, false);
        let has_lexical = !lexical_clauses.is_empty();
        // Staged hybrid search: the lexical pass retrieves on the user's own words in the main
        // texts; expansions (synonyms, translations, concept labels) and the other fields only
        // score the candidates. Recall beyond the user's words is the vector and concept passes'
        // job, and every clause left out of the top-N pass is a posting list it need not merge.
        // Scores stay exact: every candidate's lexical score is the full query's.
        let own_clauses = self.lexical_clauses(&query_terms, true);
        let staged = request.mode == Mode::Hybrid
            && use_vector
            && !own_clauses.is_empty()
            && own_clauses.len() < lexical_clauses.len();
        let concept_terms = if use_concept { self.concept_terms(&interpretation) } else { Vec::new() };

        let mut lexical_ranks: HashMap<DocRef, usize> = HashMap::new();
        let mut vector_ranks: HashMap<DocRef, usize> = HashMap::new();
        let mut concept_ranks: HashMap<DocRef, usize> = HashMap::new();
        let mut pool: Vec<DocRef> = Vec::new();
        let add = |docs: &[Scored], ranks: &mut HashMap<DocRef, usize>, pool: &mut Vec<DocRef>| {
            for (rank, scored) in docs.iter().enumerate() {
                ranks.insert(scored.doc, rank);
                pool.push(scored.doc);
            }
        };

        // The lexical and the vector passes are independent: with both, they run side by side
        // (rayon's pool, one thread per core; the lexical pass spreads its tantivy segments
        // over both once the largest is done).
        let vector_job = || -> Result<_, IndexError> {
            let _time = TimeOnDrop("vector pass", Instant::now());
            match query_vector {
                Some(vector) if use_vector => {
                    let (top, plans) = retrieve::vector_pass(snapshot, vector, &allowed, n)?;
                    let background = retrieve::vector_background(snapshot, vector);
                    let chunks = retrieve::chunk_background(snapshot, vector);
                    Ok(Some((top, plans, background, chunks)))
                }
                _ => Ok(None),
            }
        };
        let lexical_job = || -> Result<_, IndexError> {
            let _time = TimeOnDrop("lexical pass", Instant::now());
            if !has_lexical {
                return Ok(None);
            }
            let background = retrieve::term_background(snapshot, &lexical_clauses)?;
            // The pass only chooses candidates: every candidate's lexical score (and rank) is
            // computed below by one function, so a document scores the same in any pool.
            let top = retrieve::top_pass(snapshot, if staged { &own_clauses } else { &lexical_clauses }, &allowed, n)?;
            Ok(Some((top, background)))
        };
        let (lexical_pass, vector_pass) = if has_lexical && use_vector && query_vector.is_some() {
            rayon::join(lexical_job, vector_job)
        } else {
            (lexical_job(), vector_job())
        };
        let mut lexical_background = retrieve::Background::default();
        if let Some((top, background)) = lexical_pass? {
            lexical_background = background;
            pool.extend(top.iter().map(|s| s.doc));
        }
        mark("lexical", &mut phases);
        let mut vector_plans = Vec::new();
        let mut vector_background = None;
        let mut chunk_background = None;
        if let Some((top, plans, background, chunks)) = vector_pass? {
            vector_plans = plans;
            vector_background = background;
            chunk_background = chunks;
            add(&top, &mut vector_ranks, &mut pool);
        }
        mark("vector", &mut phases);
        if !concept_terms.is_empty() {
            let top = retrieve::leveled_pass(snapshot, &concept_terms, &allowed, n)?;
            add(&top, &mut concept_ranks, &mut pool);
        }
        if !has_lexical && !use_vector && concept_terms.is_empty() {
            // Nothing to match on but a place or the filters: the allowed documents nearest
            // the place (or in ordinal order).
            pool.extend(self.geo_pool(snapshot, &allowed, &geo_targets, n));
        }
        pool.sort_unstable();
        pool.dedup();

        // Exact components for every candidate.
        mark("concept", &mut phases);
        let membership = self.membership_terms(&geo_targets);
        // Exact scores of every candidate (one lexical-index lookup each, when a query needs it).
        let addressed = if has_lexical || !concept_terms.is_empty() || !membership.is_empty() {
            retrieve::address(snapshot, &pool)?
        } else {
            Vec::new()
        };
        mark("address", &mut phases);
        let by_terms = |clauses: retrieve::Clauses<'_>| -> Result<Vec<f32>, IndexError> {
            match clauses {
                retrieve::Clauses::Bm25(c) | retrieve::Clauses::MaxWeight(c) if c.is_empty() => {
                    Ok(vec![0.0; pool.len()])
                }
                _ => retrieve::score_clauses(snapshot, clauses, &addressed),
            }
        };
        let mut lexical_raw = by_terms(retrieve::Clauses::Bm25(&lexical_clauses))?;
        mark("exact_lexical", &mut phases);
        let phrases = if has_lexical { self.phrases(&interpretation) } else { Vec::new() };
        let phrase_raw = if phrases.is_empty() {
            vec![0.0; pool.len()]
        } else {
            retrieve::score_clauses(snapshot, retrieve::Clauses::Phrases(&phrases), &addressed)?
        };
        mark("phrases", &mut phases);
        for (raw, phrase) in lexical_raw.iter_mut().zip(&phrase_raw) {
            *raw += phrase;
        }
        // Lexical ranks: the order of the `n` best lexical scores among the candidates (the
        // pass's own order when it ran the full query).
        let mut by_score: Vec<(f32, DocRef)> =
            pool.iter().zip(&lexical_raw).filter(|(_, s)| **s > 0.0).map(|(d, s)| (*s, *d)).collect();
        by_score.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
        lexical_ranks.extend(by_score.iter().take(n).enumerate().map(|(rank, (_, doc))| (*doc, rank)));
        let concept_raw = by_terms(retrieve::Clauses::MaxWeight(&concept_terms))?;
        let member = by_terms(retrieve::Clauses::MaxWeight(&membership))?;
        mark("exact_lexical_concept", &mut phases);
        let calibration = fusion::Calibration {
            lexical: lexical_background,
            vector: vector_background,
            chunk: chunk_background,
            prior_base_rate: self.prior_base_rate(),
            language: interpretation.language,
        };
        // Vector similarities read each candidate's vector: side by side over the pool.
        let mut ranked: Vec<RankedDoc> = pool
            .par_iter()
            .enumerate()
            .map_init(retrieve::VectorScratch::default, |scratch, (idx, &doc)| {
                let live = &snapshot.segments[doc.segment];
                let (vector, chunk) = match query_vector {
                    Some(q) if use_vector => (
                        retrieve::vector_score(snapshot, q, doc, scratch),
                        retrieve::chunk_score(snapshot, q, doc, scratch),
                    ),
                    _ => (None, None),
                };
                let geo = self.geo_raw(live, doc.ord, &geo_targets, member[idx] > 0.0);
                let opportunity = live.prior_column("opportunity").and_then(|c| c.get(doc.ord as usize)).copied();
                let raw = fusion::RawComponents {
                    lexical: has_lexical.then(|| lexical_raw[idx]),
                    phrase: phrase_raw[idx],
                    vector,
                    chunk,
                    concept: (!concept_terms.is_empty()).then(|| concept_raw[idx]),
                    geo,
                    opportunity: opportunity.filter(|p| p.is_finite()),
                    lexical_rank: lexical_ranks.get(&doc).copied(),
                    vector_rank: vector_ranks.get(&doc).copied(),
                    concept_rank: concept_ranks.get(&doc).copied(),
                };
                let components = fusion::calibrate(&raw, &calibration);
                let score = fusion::score(request.mode, &raw, &components, &weights, self.config.rrf_k);
                RankedDoc { doc, raw, components, score }
            })
            .collect();
        // A candidate without evidence (no word matched, a similarity no better than the
        // query's background, no concept) is not a match; vector mode ranks every neighbour.
        if request.mode != Mode::Vector {
            ranked.retain(|r| r.score > 0.0);
        }
        ranked.sort_by(|a, b| b.score.total_cmp(&a.score).then_with(|| a.doc.cmp(&b.doc)));
        mark("vectors_and_fusion", &mut phases);
        tracing::debug!(
            query = %request.query,
            candidates = pool.len(),
            clauses = lexical_clauses.len(),
            retrieval_clauses = if staged { own_clauses.len() } else { lexical_clauses.len() },
            ?phases,
            "ranked (cumulative µs per phase)"
        );
        Ok(Ranking {
            interpretation,
            filters_applied: filters,
            ranked,
            lexical_background,
            vector_background,
            chunk_background,
            vector_plans,
            query_terms,
            weights,
        })
    }

    /// The documents `filters` allow (ordinal sets per segment; everything without filters).
    pub fn allowed(&self, snapshot: &Snapshot, filters: &Filters) -> Result<Allowed, IndexError> {
        let f = &self.fields;
        let mut groups: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        if !filters.naf.is_empty() {
            let terms = filters.naf.iter().map(|code| {
                let field = if code.len() == 2 { f.naf_division } else { f.naf };
                Term::from_field_text(field, code)
            });
            groups.push((Occur::Must, retrieve::any_term(terms)));
        }
        if !filters.departement.is_empty() {
            let terms = filters.departement.iter().map(|code| Term::from_field_text(f.departement, code));
            groups.push((Occur::Must, retrieve::any_term(terms)));
        }
        if !filters.region.is_empty() {
            let terms = filters.region.iter().map(|name| Term::from_field_text(f.region, name));
            groups.push((Occur::Must, retrieve::any_term(terms)));
        }
        if !filters.headcount.is_empty() {
            let terms = filters.headcount.iter().map(|band| Term::from_field_u64(f.headcount, *band as u64));
            groups.push((Occur::Must, retrieve::any_term(terms)));
        }
        if !filters.certifications.is_empty() {
            let analyzer = Analyzer::new(Language::French);
            let mut any: Vec<(Occur, Box<dyn Query>)> = Vec::new();
            for value in &filters.certifications {
                let all: Vec<(Occur, Box<dyn Query>)> = analyzer
                    .analyze(value)
                    .into_iter()
                    .filter_map(|t| t.stem)
                    .map(|stem| {
                        let term = Term::from_field_text(f.certifications, &stem);
                        (Occur::Must, Box::new(TermQuery::new(term, IndexRecordOption::Basic)) as Box<dyn Query>)
                    })
                    .collect();
                if !all.is_empty() {
                    any.push((Occur::Should, Box::new(BooleanQuery::new(all))));
                }
            }
            // A value with no searchable word matches nothing.
            groups.push((Occur::Must, Box::new(BooleanQuery::new(any))));
        }
        let query: Option<Box<dyn Query>> = (!groups.is_empty()).then(|| Box::new(BooleanQuery::new(groups)) as _);
        let circles: Vec<Circle> =
            filters.near.iter().map(|near| Circle { lat: near.lat, lon: near.lon, km: near.km }).collect();
        retrieve::allowed(snapshot, query.as_deref(), &circles)
    }

    /// The stems searched for with their weights: the user's words (1.0; in English queries
    /// both pipelines), synonym expansions and the labels of detected concepts (lower).
    pub fn query_terms(&self, interpretation: &Interpretation) -> Vec<(String, f32)> {
        let mut weights: HashMap<String, f32> = HashMap::new();
        let mut put = |stem: &str, weight: f32| {
            if stem.is_empty() || weight <= 0.0 {
                return;
            }
            let entry = weights.entry(stem.to_owned()).or_insert(0.0);
            *entry = entry.max(weight);
        };
        let text = &interpretation.text_query;
        let french = Analyzer::new(Language::French);
        for token in french.analyze(text) {
            if let Some(stem) = &token.stem {
                put(stem, 1.0);
            }
        }
        if interpretation.language == Language::English && self.config.detect_query_language {
            // English stems (cognates, names, codes) and their French translations.
            let lexicon = crate::dict::lexicon::Lexicon::embedded();
            for token in Analyzer::new(Language::English).analyze(text) {
                if let Some(stem) = &token.stem {
                    put(stem, 1.0);
                    for (french, weight) in lexicon.translate(stem) {
                        put(french, self.config.translation_weight * weight);
                    }
                }
            }
        }
        for hit in &interpretation.synonyms {
            for expansion in &hit.expansions {
                // The documents are French: an English synonym of a French query's words adds
                // clauses that cost time and rarely match.
                if interpretation.language == Language::French
                    && crate::analysis::detect_language(&expansion.text) == Language::English
                {
                    continue;
                }
                for stem in expansion.key.split(' ') {
                    put(stem, self.config.synonym_weight * expansion.weight);
                }
            }
        }
        let glossary = self.interpreter.glossary();
        for hit in &interpretation.concepts {
            let Some(idx) = glossary.index_of(&hit.id) else { continue };
            let concept = glossary.concept(idx);
            for label in std::iter::once(&concept.label).chain(&concept.synonyms) {
                for token in french.analyze(label) {
                    if let Some(stem) = &token.stem {
                        put(stem, self.config.concept_label_weight);
                    }
                }
            }
        }
        let mut terms: Vec<(String, f32)> = weights.into_iter().collect();
        terms.sort_by(|a, b| a.0.cmp(&b.0));
        terms
    }

    /// (term, boost) for every query stem in every weighted field.
    /// The user's own words search every weighted field; expansions (weight below 1: synonyms,
    /// concept labels, translations) only the main texts — name, savoir-faire, description —
    /// which halves the clauses a long expansion adds, for little lost. `own_words_only` keeps
    /// the user's words in the main texts alone: the retrieval query of a staged search.
    fn lexical_clauses(&self, terms: &[(String, f32)], own_words_only: bool) -> Vec<(Term, f32)> {
        let fields: Vec<(&str, Field, f32)> = self
            .config
            .field_weights
            .iter()
            .filter(|(_, w)| *w > 0.0)
            .filter_map(|(name, w)| Some((name.as_str(), self.fields.text_field(name)?, *w)))
            .collect();
        let mut clauses = Vec::with_capacity(terms.len() * fields.len());
        for (stem, term_weight) in terms {
            let own_word = *term_weight >= 1.0;
            if own_words_only && !own_word {
                continue;
            }
            for &(name, field, field_weight) in &fields {
                if (own_word && !own_words_only) || MAIN_TEXT_FIELDS.contains(&name) {
                    clauses.push((Term::from_field_text(field, stem), term_weight * field_weight));
                }
            }
        }
        clauses
    }

    /// Pairs of consecutive words of the user's (French stems, at their distance in the query)
    /// in the name and the savoir-faire: a company whose savoir-faire says "découpe laser" scores above one
    /// that has "découpe" and "laser" in different lines.
    fn phrases(&self, interpretation: &Interpretation) -> Vec<retrieve::Phrase> {
        if self.config.phrase_weight <= 0.0 {
            return Vec::new();
        }
        let words: Vec<(usize, String)> = Analyzer::new(Language::French)
            .analyze(&interpretation.text_query)
            .into_iter()
            .filter_map(|t| Some((t.position, t.stem?)))
            .collect();
        let fields: Vec<(Field, f32)> = self
            .config
            .field_weights
            .iter()
            .filter(|(name, w)| *w > 0.0 && PHRASE_FIELDS.contains(&name.as_str()))
            .filter_map(|(name, w)| Some((self.fields.text_field(name)?, *w)))
            .collect();
        let mut phrases = Vec::new();
        for pair in words.windows(2) {
            let ((first_at, first), (second_at, second)) = (&pair[0], &pair[1]);
            let gap = second_at.saturating_sub(*first_at);
            if gap == 0 || gap > 3 || first == second {
                continue;
            }
            for &(field, weight) in &fields {
                let terms = vec![(0, Term::from_field_text(field, first)), (gap, Term::from_field_text(field, second))];
                phrases.push((terms, self.config.phrase_weight * weight));
            }
        }
        phrases
    }

    /// Companies activated with a detected concept (1.0) or one below it (weaker by level):
    /// (concept term, level) pairs. A company's concept score is the level of its best term.
    fn concept_terms(&self, interpretation: &Interpretation) -> Vec<(Term, f32)> {
        let glossary = self.interpreter.glossary();
        let mut factors: HashMap<String, f32> = HashMap::new();
        for hit in &interpretation.concepts {
            let Some(idx) = glossary.index_of(&hit.id) else { continue };
            let depth = glossary.path(idx).len();
            let mut put = |id: &str, factor: f32| {
                let entry = factors.entry(id.to_owned()).or_insert(0.0);
                *entry = entry.max(factor);
            };
            put(&hit.id, 1.0);
            for child in glossary.descendants(idx) {
                let below = glossary.path(child).len().saturating_sub(depth) as i32;
                put(&glossary.concept(child).id, fusion::CONCEPT_DESCENDANT_FACTOR.powi(below));
            }
        }
        let mut factors: Vec<(String, f32)> = factors.into_iter().collect();
        factors.sort_by(|a, b| a.0.cmp(&b.0));
        factors.into_iter().map(|(id, factor)| (Term::from_field_text(self.fields.concept, &id), factor)).collect()
    }

    /// Companies inside a département or région named in the query: (term, 1) pairs, any of
    /// which a company holds when it is inside.
    fn membership_terms(&self, targets: &[&LocationHit]) -> Vec<(Term, f32)> {
        targets
            .iter()
            .filter_map(|t| match t.place.kind {
                PlaceKind::Departement => Some(Term::from_field_text(self.fields.departement, &t.place.code)),
                PlaceKind::Region => Some(Term::from_field_text(self.fields.region, &t.place.name)),
                PlaceKind::Commune => None,
            })
            .map(|term| (term, 1.0))
            .collect()
    }

    /// Proximity to the nearest place of the query, from 1 (there) halving every
    /// `geo_half_distance_km`; inside a named département or région counts as there.
    fn geo_raw(
        &self,
        live: &crate::engine::LiveSegment,
        ord: u32,
        targets: &[&LocationHit],
        member: bool,
    ) -> Option<fusion::GeoRaw> {
        if targets.is_empty() {
            return None;
        }
        let coordinates = retrieve::coordinates(live, ord);
        let mut best: Option<fusion::GeoRaw> = None;
        for target in targets {
            let (Some(lat), Some(lon)) = (target.place.lat, target.place.lon) else { continue };
            let km = coordinates.map(|(clat, clon)| retrieve::haversine_km(lat, lon, clat, clon));
            let inside = member && target.place.kind != PlaceKind::Commune;
            let proximity = if inside {
                1.0
            } else {
                km.map_or(0.0, |km| 0.5f64.powf(km / f64::from(self.config.geo_half_distance_km)) as f32)
            };
            if best.as_ref().is_none_or(|b| proximity > b.proximity) {
                best = Some(fusion::GeoRaw { km: km.map(|k| k as f32), proximity, place: target.place.name.clone() });
            }
        }
        best
    }

    fn geo_pool(&self, snapshot: &Snapshot, allowed: &Allowed, targets: &[&LocationHit], n: usize) -> Vec<DocRef> {
        let mut top = retrieve::TopN::new(n);
        for (seg, live) in snapshot.segments.iter().enumerate() {
            for ord in 0..live.segment.doc_count() {
                if !allowed.allows(snapshot, seg, ord) {
                    continue;
                }
                let proximity = self.geo_raw(live, ord, targets, false).map_or(0.0, |g| g.proximity);
                top.offer(Scored { doc: DocRef { segment: seg, ord }, score: proximity });
            }
        }
        top.into_sorted().into_iter().map(|s| s.doc).collect()
    }

    fn hit(
        &self,
        snapshot: &Snapshot,
        ranking: &Ranking,
        ranked: &RankedDoc,
        request: &MatchRequest,
    ) -> Result<MatchHit, IndexError> {
        let segment = &snapshot.segments[ranked.doc.segment].segment;
        let id = segment.ids().id(ranked.doc.ord).unwrap_or_default();
        let company: Option<Company> = match segment.source(ranked.doc.ord)? {
            Some(source) => serde_json::from_slice(&source).ok(),
            None => None,
        };
        let name = company.as_ref().map(|c| c.name.clone()).unwrap_or_default();
        let (snippet, highlights) = match &company {
            Some(company) => snippet::snippet(company, &ranking.query_terms),
            None => (String::new(), Vec::new()),
        };
        let explanation = request.explain.then(|| {
            let concepts = company
                .as_ref()
                .map(|c| snippet::matched_concepts(c, &ranking.interpretation, self.interpreter.glossary()))
                .unwrap_or_default();
            fusion::explain(ranked, ranking, request.mode, self.config.rrf_k, concepts)
        });
        Ok(MatchHit { id, name, score: ranked.score, components: ranked.components, explanation, snippet, highlights })
    }
}

fn in_any(offset: usize, locations: &[LocationHit]) -> bool {
    locations.iter().any(|l| offset >= l.span[0] && offset < l.span[1])
}

/// Logs (at trace level) how long a scope took: the two retrieval passes run on two threads,
/// so the cumulative phases alone cannot say which one a query waited for.
struct TimeOnDrop(&'static str, Instant);

impl Drop for TimeOnDrop {
    fn drop(&mut self) {
        tracing::trace!(pass = self.0, us = self.1.elapsed().as_micros() as u64, "retrieval pass");
    }
}
