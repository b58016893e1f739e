//! The single query path: interpret the need, retrieve lexical ‖ vector ‖ concept candidates
//! under the same filters, score every candidate on every component, calibrate, fuse with the
//! geo and opportunity priors, explain.
//!
//! Every component of every candidate is computed exactly (a candidate found by the vectors
//! gets its true BM25 score, and the other way round), so the ranking is a pure function of the
//! candidate set and the formula in [`fusion`]. Lexical and vector scores are calibrated
//! against the query's own background (its score statistics over every live document, or over a
//! fixed sample of vectors), not min-maxed over the few best.
//!
//! A request is prepared once ([`Matcher::prepare`]): its interpretation becomes a
//! [`QueryPlan`] (weighted stems, phrases, concepts, the text to embed), which the server embeds
//! from and every phase below reads; nothing after interpretation analyses the query's text.
//! [`Matcher::rank_prepared`] reads as the pipeline; its phases live in: [`query_plan`] (what a
//! query searches for), `terms` (the plan's index terms per field), `geo` (the query's places:
//! filters, proximity), [`filter`] (the documents a
//! request allows), [`lexical`] (BM25 top-N by MaxScore, concept candidates, the lexical
//! background), [`vector`] (nearest vectors, vector and capability similarities, their
//! backgrounds), [`exact`] (every candidate's exact lexical, phrase and concept scores),
//! [`fusion`] (calibration, the formulas, explanations); `snippet` and [`Matcher::run`] build
//! the page's hits.

pub mod constraints;
pub mod exact;
pub mod filter;
pub mod fusion;
mod geo;
pub mod lexical;
mod pool;
pub mod query_plan;
pub mod request;
mod snippet;
mod terms;
mod top;
pub mod vector;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering as AtomicOrdering};
use std::time::{Duration, Instant};

use rayon::prelude::*;

use serde::Serialize;
use tantivy::Term;

pub use constraints::{ConstraintCheck, ConstraintUse, ConstraintUses};
pub use fusion::{Components, FusionWeights};
pub use query_plan::{PreparedQuery, QueryPlan, QueryTerm, TermOrigin};
pub use request::{Filters, LocationUse, MatchRequest, Mode, Near, RequestError, WeightOverrides};
pub use top::{DocRef, Scored};

use constraints::ConstraintPlan;
use exact::Clauses;
use filter::Allowed;
use lexical::Background;
use pool::Candidates;
use vector::VectorPlan;

use crate::IndexError;
use crate::analysis::Language;
use crate::engine::Snapshot;
use crate::interpret::{ConceptHit, ConstraintHit, ConstraintKind, Interpreter, LocationHit, SynonymHit};
use crate::record::Company;
use crate::refdata::RefData;
use crate::segment::schema::{CompanyFields, TEXT_FIELDS};

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
    /// Radius of "près de X" when the query gives no distance (the place constraint's).
    pub near_radius_km: f32,
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
            near_radius_km: 50.0,
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
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct InterpretationView {
    pub language: Language,
    /// The words searched for (folded), stopwords left out.
    pub tokens: Vec<String>,
    pub synonyms: Vec<SynonymHit>,
    pub concepts: Vec<ConceptHit>,
    pub locations: Vec<LocationHit>,
    /// The constraints read from the query (process, material, certification, size, place),
    /// each with its span and how the request uses its kind.
    pub constraints: Vec<ConstraintView>,
    /// The filters in force: the request's plus places used as filters.
    pub filters_applied: Filters,
    /// Filters the caller cannot widen (a signed token's), ANDed with `filters_applied`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub forced_filters: Option<Filters>,
    /// The text searched for once locations are removed.
    pub text_query: String,
}

/// A constraint of the query and how it is used.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct ConstraintView {
    #[serde(flatten)]
    pub hit: ConstraintHit,
    #[serde(rename = "use")]
    pub used: ConstraintUse,
}

/// One ranked company.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
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
    /// Each constraint kind of the query in force, met or missed by this company, and by what.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub constraints: Vec<constraints::ConstraintCheck>,
    /// The company misses a preferred constraint: it follows the companies that meet them all
    /// because fewer than asked for do.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub partial: bool,
}

/// The answer of the query path.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct MatchResponse {
    pub query_id: String,
    pub mode: Mode,
    pub interpretation: InterpretationView,
    pub hits: Vec<MatchHit>,
    /// Candidates ranked (the hits are a page of them).
    pub total: u64,
    pub took_ms: f64,
    /// Where the time went and how many candidates each pass found (for the server's metrics,
    /// never sent).
    #[serde(skip)]
    pub stats: QueryStats,
}

/// Where one query's time went and how many candidates each pass found: the index measures, the
/// server records them as metrics (this crate knows nothing of how).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct QueryStats {
    /// The request's filters and required constraints.
    pub filters: Duration,
    /// Each candidate pass's own time, `None` when it did not run. The lexical and vector
    /// passes run side by side, so their sum can exceed the query's time.
    pub lexical: Option<Duration>,
    pub vector: Option<Duration>,
    pub concept: Option<Duration>,
    /// Exact scores of every candidate (both runs when set-aside candidates are scored again).
    pub exact_scoring: Duration,
    /// Calibration, fusion and the tiers of preferred constraints.
    pub fusion: Duration,
    /// The page's records, snippets and explanations.
    pub hits: Duration,
    /// Candidates each pass found (`None`: it did not run), and the pool they made together.
    pub lexical_candidates: Option<usize>,
    pub vector_candidates: Option<usize>,
    pub concept_candidates: Option<usize>,
    pub pool: usize,
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
    /// What the query searched for: its interpretation, stems (for highlights), concepts.
    pub plan: Arc<QueryPlan>,
    pub filters_applied: Filters,
    /// The query's constraints as used (see [`constraints`]).
    pub constraints: ConstraintPlan,
    /// Every candidate, best first, with calibrated components and fused score.
    pub ranked: Vec<RankedDoc>,
    pub lexical_background: Background,
    pub vector_background: Option<(f64, f64)>,
    pub chunk_background: Option<(f64, f64)>,
    pub vector_plans: Vec<VectorPlan>,
    pub weights: FusionWeights,
    /// Where the ranking's time went, pass by pass.
    pub stats: QueryStats,
}

/// One candidate with its components.
#[derive(Debug, Clone)]
pub struct RankedDoc {
    pub doc: DocRef,
    pub raw: fusion::RawComponents,
    pub components: Components,
    pub score: f32,
    /// Preferred constraints met, when the query ranks by them.
    pub tier: Option<u32>,
}

/// How a request's [`QueryPlan`] is searched in a snapshot: the passes, their index terms and
/// depth ([`Matcher::plan`]).
#[derive(Debug)]
struct Plan {
    mode: Mode,
    /// Candidates each pass contributes at most.
    n: usize,
    /// Whether the vector pass runs (and candidates get vector components).
    use_vector: bool,
    language: Language,
    weights: FusionWeights,
    /// Every (term, boost) clause: a candidate's lexical score is their Σ BM25.
    lexical_clauses: Vec<(Term, f32)>,
    /// The user's own words in the main texts: what the lexical pass retrieves on when staged.
    own_clauses: Vec<(Term, f32)>,
    /// Staged hybrid search (see [`Matcher::plan`]).
    staged: bool,
    /// (concept term, level) pairs of the concept pass and component.
    concept_terms: Vec<(Term, f32)>,
}

impl Plan {
    /// Whether the query has lexical clauses (and candidates a lexical component).
    fn has_lexical(&self) -> bool {
        !self.lexical_clauses.is_empty()
    }

    /// The clauses the lexical pass retrieves on.
    fn retrieval_clauses(&self) -> &[(Term, f32)] {
        if self.staged { &self.own_clauses } else { &self.lexical_clauses }
    }
}

/// Exact scores of the candidates, by their index in the pool.
#[derive(Debug)]
struct ExactScores {
    /// Σ BM25 of every lexical clause, phrases included.
    lexical: Vec<f32>,
    phrase: Vec<f32>,
    /// The level of the best concept term held.
    concept: Vec<f32>,
    /// Above 0 when inside a département or région the query names.
    member: Vec<f32>,
    /// Rank among the `n` best lexical scores of the pool.
    lexical_ranks: HashMap<DocRef, usize>,
}

/// Cumulative time at the end of each phase of a ranking (µs), for the debug log.
#[derive(Debug)]
struct Phases {
    started: Instant,
    marks: Vec<(&'static str, u128)>,
    /// The same times per phase (not cumulative), for [`QueryStats`].
    stats: QueryStats,
}

impl Phases {
    fn start() -> Phases {
        Phases { started: Instant::now(), marks: Vec::with_capacity(8), stats: QueryStats::default() }
    }

    fn mark(&mut self, name: &'static str) {
        self.marks.push((name, self.started.elapsed().as_micros()));
    }
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

    /// The interpreter, to share (typeahead reads queries with the same one).
    pub fn shared_interpreter(&self) -> Arc<Interpreter> {
        Arc::clone(&self.interpreter)
    }

    /// Checks a request (the field is named in the error).
    pub fn check(&self, request: &MatchRequest) -> Result<(), RequestError> {
        request.check(self.config.max_query_bytes, self.refdata)
    }

    /// Interprets a request's query and plans what it searches for: the one analysis of the
    /// query; embed [`PreparedQuery::text_to_embed`], then [`Self::run_prepared`].
    pub fn prepare<'r>(&self, request: &'r MatchRequest) -> PreparedQuery<'r> {
        let interpretation = self.interpreter.interpret(&request.query);
        let plan = QueryPlan::new(
            interpretation,
            request.mode,
            request.vector.is_some(),
            &self.config,
            self.interpreter.glossary(),
        );
        PreparedQuery { request, plan: Arc::new(plan) }
    }

    /// The text to embed for a request (see [`PreparedQuery::text_to_embed`]). It interprets the
    /// query: a caller that runs the request too prepares it once instead.
    pub fn text_to_embed(&self, request: &MatchRequest) -> Option<String> {
        self.prepare(request).text_to_embed().map(str::to_owned)
    }

    /// Prepares and runs a request (see [`Self::run_prepared`]).
    pub fn run(
        &self,
        snapshot: &Snapshot,
        request: &MatchRequest,
        query_vector: Option<&[f32]>,
    ) -> Result<MatchResponse, SearchError> {
        self.run_prepared(snapshot, &self.prepare(request), query_vector)
    }

    /// Runs a prepared request, checking it first. `query_vector` is the embedded query
    /// (normalised), if any.
    pub fn run_prepared(
        &self,
        snapshot: &Snapshot,
        prepared: &PreparedQuery<'_>,
        query_vector: Option<&[f32]>,
    ) -> Result<MatchResponse, SearchError> {
        let start = Instant::now();
        let request = prepared.request;
        self.check(request)?;
        let depth = request.offset + request.k;
        let ranking = self.rank_prepared(snapshot, prepared, query_vector, depth)?;
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
        let Ranking { plan, filters_applied, constraints, mut stats, .. } = ranking;
        stats.hits = start.elapsed() - ranked_at;
        let interpretation = &plan.interpretation;
        let constraint_views = interpretation
            .constraints
            .iter()
            .map(|hit| ConstraintView {
                hit: hit.clone(),
                used: constraints
                    .groups
                    .iter()
                    .find(|g| g.kind == hit.constraint.kind())
                    .map_or(ConstraintUse::Ignore, |g| g.used),
            })
            .collect();
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
                synonyms: interpretation.synonyms.clone(),
                concepts: interpretation.concepts.clone(),
                locations: interpretation.locations.clone(),
                constraints: constraint_views,
                filters_applied,
                forced_filters: request.forced_filters.clone(),
                text_query: interpretation.text_query.clone(),
            },
            hits,
            total,
            took_ms: start.elapsed().as_secs_f64() * 1000.0,
            stats,
        })
    }

    /// Prepares a request and ranks its candidates (see [`Self::rank_prepared`]).
    pub fn rank(
        &self,
        snapshot: &Snapshot,
        request: &MatchRequest,
        query_vector: Option<&[f32]>,
        depth: usize,
    ) -> Result<Ranking, SearchError> {
        self.rank_prepared(snapshot, &self.prepare(request), query_vector, depth)
    }

    /// Candidates of a prepared request, scored and sorted, deep enough for `depth` hits. The
    /// pipeline: the request's filters and the places used as filters, the plan (which passes
    /// run, with which clauses), the candidate passes, exact scores of every candidate,
    /// calibration and fusion. Each phase's cumulative time is logged at debug level.
    pub fn rank_prepared(
        &self,
        snapshot: &Snapshot,
        prepared: &PreparedQuery<'_>,
        query_vector: Option<&[f32]>,
        depth: usize,
    ) -> Result<Ranking, SearchError> {
        let (request, query_plan) = (prepared.request, &prepared.plan);
        let interpretation = &query_plan.interpretation;
        // Similarities below are dot products with unit vectors.
        let unit_query: Option<Vec<f32>> = query_vector.map(|v| {
            let mut v = v.to_vec();
            crate::embed::normalise(&mut v);
            v
        });
        let query_vector = unit_query.as_deref();
        let (filters, geo_targets) = self.place_filters(request, interpretation);
        let constraints = ConstraintPlan::new(
            snapshot,
            interpretation,
            &request.constraints,
            request.location.constraint_use(),
            self.interpreter.glossary(),
            f64::from(self.config.near_radius_km),
        )?;
        let mut phases = Phases::start();
        // The request's own filters; the query's places, when required, are the place
        // constraint's alternatives (any of them meets it), which `restrict` applies: as filters
        // they would all have to hold ("dans le 69 en Auvergne-Rhône-Alpes" kept the 69 only).
        let mut allowed = filter::allowed_by_request(snapshot, &self.fields, request)?;
        if constraints.has_required() {
            allowed = constraints.restrict(snapshot, &allowed, |used| used == ConstraintUse::Require)?;
        }
        phases.mark("filters");
        phases.stats.filters = phases.started.elapsed();
        let plan = self.plan(snapshot, request, query_plan, query_vector, depth)?;
        // With preferred constraints, the documents meeting all of them must be candidates:
        // when the pool holds fewer than a fifth of its depth of them, they join it (every one
        // when they are few, else the best of them; see `full_match_candidates`). The rule
        // depends on the pool's depth only, never on the page's: pages of one pool continue
        // each other. A preferred place is no word the passes search for, so the pool then
        // rarely holds enough of them: they are found beside the passes (after the vector pass,
        // on its core, while the lexical pass runs) instead of after them, and used by the
        // same rule.
        let full_matches = || -> Result<Option<Candidates>, IndexError> {
            let full = constraints.restrict(snapshot, &allowed, |used| used == ConstraintUse::Prefer)?;
            tracing::debug!(full_matches = full.count, "documents meeting every preferred constraint");
            if full.count == 0 {
                return Ok(None);
            }
            self.full_match_candidates(snapshot, &plan, &full, query_vector).map(Some)
        };
        let speculate = constraints.tiers() && constraints.prefers(ConstraintKind::Place);
        let (candidates, early) =
            self.candidates(snapshot, &plan, &allowed, query_vector, &geo_targets, &mut phases, || {
                speculate.then(&full_matches)
            })?;
        let mut candidates = candidates;
        if constraints.tiers() && constraints.full_matches_in(snapshot, &candidates.pool)? < plan.n / 5 {
            let full = match early {
                Some(full) => full?,
                None => full_matches()?,
            };
            if let Some(full) = full {
                candidates.absorb(full);
            }
            phases.mark("full_match_candidates");
        }
        let mut set_aside = self.set_aside_partials(snapshot, &constraints, &plan, &mut candidates)?;
        let exact = self.exact_scores(snapshot, &plan, query_plan, &candidates.pool, &geo_targets, &mut phases)?;
        let fusion_started = Instant::now();
        let mut ranked = self.fuse(snapshot, &plan, &candidates, &exact, query_vector, &geo_targets);
        phases.stats.fusion += fusion_started.elapsed();
        if ranked.len() < plan.n && !set_aside.is_empty() {
            candidates.pool.append(&mut set_aside);
            candidates.pool.sort_unstable();
            let exact = self.exact_scores(snapshot, &plan, query_plan, &candidates.pool, &geo_targets, &mut phases)?;
            let fusion_started = Instant::now();
            ranked = self.fuse(snapshot, &plan, &candidates, &exact, query_vector, &geo_targets);
            phases.stats.fusion += fusion_started.elapsed();
        }
        let tiers_started = Instant::now();
        if constraints.tiers() {
            for doc in &mut ranked {
                doc.tier = Some(constraints.tier(snapshot, doc.doc)?);
            }
            ranked.sort_by(|a, b| {
                constraints::tier_order((a.tier.unwrap_or(0), a.score), (b.tier.unwrap_or(0), b.score))
                    .then_with(|| a.doc.cmp(&b.doc))
            });
        }
        phases.stats.fusion += tiers_started.elapsed();
        phases.stats.pool = candidates.pool.len();
        phases.mark("vectors_and_fusion");
        tracing::debug!(
            query = %request.query,
            terms = query_plan.terms.len(),
            phrases = query_plan.phrases.len(),
            concepts = query_plan.concepts.len(),
            candidates = candidates.pool.len(),
            clauses = plan.lexical_clauses.len(),
            retrieval_clauses = plan.retrieval_clauses().len(),
            phases = ?phases.marks,
            "ranked (cumulative µs per phase)"
        );
        Ok(Ranking {
            plan: Arc::clone(query_plan),
            filters_applied: filters,
            constraints,
            ranked,
            lexical_background: candidates.lexical_background,
            vector_background: candidates.vector_background,
            chunk_background: candidates.chunk_background,
            vector_plans: candidates.vector_plans,
            weights: plan.weights,
            stats: phases.stats,
        })
    }

    /// The documents `filters` allow (ordinal sets per segment; everything without filters).
    pub fn allowed(&self, snapshot: &Snapshot, filters: &Filters) -> Result<Allowed, IndexError> {
        filter::allowed(snapshot, &self.fields, filters)
    }

    /// Which passes run with which clauses, and how deep; refuses a vector request the index
    /// cannot answer (no vectors, or vectors of another dimension).
    fn plan(
        &self,
        snapshot: &Snapshot,
        request: &MatchRequest,
        query_plan: &QueryPlan,
        query_vector: Option<&[f32]>,
        depth: usize,
    ) -> Result<Plan, SearchError> {
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

        // The plan has no terms in vector mode.
        debug_assert!(use_lexical || query_plan.terms.is_empty());
        let lexical_clauses = self.lexical_clauses(&query_plan.terms, false);
        // Staged hybrid search: the lexical pass retrieves on the user's own words in the main
        // texts; expansions (synonyms, translations, concept labels) and the other fields only
        // score the candidates. Recall beyond the user's words is the vector and concept passes'
        // job, and every clause left out of the top-N pass is a posting list it need not merge.
        // Scores stay exact: every candidate's lexical score is the full query's.
        let own_clauses = self.lexical_clauses(&query_plan.terms, true);
        let staged = request.mode == Mode::Hybrid
            && use_vector
            && !own_clauses.is_empty()
            && own_clauses.len() < lexical_clauses.len();
        let concept_terms = if use_concept { self.concept_terms(&query_plan.concepts) } else { Vec::new() };
        Ok(Plan {
            mode: request.mode,
            n,
            use_vector,
            language: query_plan.interpretation.language,
            weights: self.config.weights.with(&request.weights),
            lexical_clauses,
            own_clauses,
            staged,
            concept_terms,
        })
    }

    /// Exact lexical (with phrases), concept and membership scores of every candidate, and the
    /// lexical ranks among them.
    fn exact_scores(
        &self,
        snapshot: &Snapshot,
        plan: &Plan,
        query_plan: &QueryPlan,
        pool: &[DocRef],
        geo_targets: &[&LocationHit],
        phases: &mut Phases,
    ) -> Result<ExactScores, IndexError> {
        let started = Instant::now();
        let has_lexical = plan.has_lexical();
        let membership = self.membership_terms(geo_targets);
        // Exact scores of every candidate (one lexical-index lookup each, when a query needs it).
        let addressed = if has_lexical || !plan.concept_terms.is_empty() || !membership.is_empty() {
            exact::address(snapshot, pool)?
        } else {
            Vec::new()
        };
        phases.mark("address");
        let by_terms = |clauses: Clauses<'_>| -> Result<Vec<f32>, IndexError> {
            match clauses {
                Clauses::Bm25(c) | Clauses::MaxWeight(c) if c.is_empty() => Ok(vec![0.0; pool.len()]),
                _ => exact::score_clauses(snapshot, clauses, &addressed),
            }
        };
        let mut lexical_raw = by_terms(Clauses::Bm25(&plan.lexical_clauses))?;
        phases.mark("exact_lexical");
        let phrases = if has_lexical { self.phrases(&query_plan.phrases) } else { Vec::new() };
        let phrase_raw = if phrases.is_empty() {
            vec![0.0; pool.len()]
        } else {
            exact::score_clauses(snapshot, Clauses::Phrases(&phrases), &addressed)?
        };
        phases.mark("phrases");
        for (raw, phrase) in lexical_raw.iter_mut().zip(&phrase_raw) {
            *raw += phrase;
        }
        // Lexical ranks: the order of the `n` best lexical scores among the candidates (the
        // pass's own order when it ran the full query).
        let mut by_score: Vec<(f32, DocRef)> =
            pool.iter().zip(&lexical_raw).filter(|(_, s)| **s > 0.0).map(|(d, s)| (*s, *d)).collect();
        by_score.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
        let lexical_ranks = by_score.iter().take(plan.n).enumerate().map(|(rank, (_, doc))| (*doc, rank)).collect();
        let concept_raw = by_terms(Clauses::MaxWeight(&plan.concept_terms))?;
        let member = by_terms(Clauses::MaxWeight(&membership))?;
        phases.mark("exact_lexical_concept");
        phases.stats.exact_scoring += started.elapsed();
        Ok(ExactScores { lexical: lexical_raw, phrase: phrase_raw, concept: concept_raw, member, lexical_ranks })
    }

    /// Every candidate's components calibrated against the query's backgrounds and fused into
    /// its score; the candidates with evidence, best first.
    fn fuse(
        &self,
        snapshot: &Snapshot,
        plan: &Plan,
        candidates: &Candidates,
        exact: &ExactScores,
        query_vector: Option<&[f32]>,
        geo_targets: &[&LocationHit],
    ) -> Vec<RankedDoc> {
        let calibration = fusion::Calibration {
            lexical: candidates.lexical_background,
            vector: candidates.vector_background,
            chunk: candidates.chunk_background,
            prior_base_rate: self.prior_base_rate(),
            language: plan.language,
        };
        // Vector similarities read each candidate's vector: side by side over the pool.
        let mut ranked: Vec<RankedDoc> = candidates
            .pool
            .par_iter()
            .enumerate()
            .map_init(vector::VectorScratch::default, |scratch, (idx, &doc)| {
                let live = &snapshot.segments[doc.segment];
                let (vector, chunk) = match query_vector {
                    Some(q) if plan.use_vector => (
                        vector::vector_score(snapshot, q, doc, scratch),
                        vector::chunk_score(snapshot, q, doc, scratch),
                    ),
                    _ => (None, None),
                };
                let geo = self.geo_raw(live, doc.ord, geo_targets, exact.member[idx] > 0.0);
                let opportunity = live.prior_column("opportunity").and_then(|c| c.get(doc.ord as usize)).copied();
                let raw = fusion::RawComponents {
                    lexical: plan.has_lexical().then(|| exact.lexical[idx]),
                    phrase: exact.phrase[idx],
                    vector,
                    chunk,
                    concept: (!plan.concept_terms.is_empty()).then(|| exact.concept[idx]),
                    geo,
                    opportunity: opportunity.filter(|p| p.is_finite()),
                    lexical_rank: exact.lexical_ranks.get(&doc).copied(),
                    vector_rank: candidates.vector_ranks.get(&doc).copied(),
                    concept_rank: candidates.concept_ranks.get(&doc).copied(),
                };
                let components = fusion::calibrate(&raw, &calibration);
                let score = fusion::score(plan.mode, &raw, &components, &plan.weights, self.config.rrf_k);
                RankedDoc { doc, raw, components, score, tier: None }
            })
            .collect();
        // A candidate without evidence (no word matched, a similarity no better than the
        // query's background, no concept) is not a match; vector mode ranks every neighbour.
        if plan.mode != Mode::Vector {
            ranked.retain(|r| r.score > 0.0);
        }
        ranked.sort_by(|a, b| b.score.total_cmp(&a.score).then_with(|| a.doc.cmp(&b.doc)));
        ranked
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
            Some(company) => snippet::snippet(company, &ranking.plan.terms),
            None => (String::new(), Vec::new()),
        };
        let explanation = request.explain.then(|| {
            let concepts =
                company.as_ref().map(|c| snippet::matched_concepts(c, &ranking.plan.concepts)).unwrap_or_default();
            fusion::explain(ranked, ranking, request.mode, self.config.rrf_k, concepts)
        });
        let constraints = if ranking.constraints.active().next().is_some() {
            ranking.constraints.check(snapshot, ranked.doc)?
        } else {
            Vec::new()
        };
        let partial = constraints.iter().any(|c| c.used == ConstraintUse::Prefer && !c.met);
        Ok(MatchHit {
            id,
            name,
            score: ranked.score,
            components: ranked.components,
            explanation,
            snippet,
            highlights,
            constraints,
            partial,
        })
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
