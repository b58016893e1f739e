//! The candidate pool of a query: the lexical and vector passes side by side, then the concept
//! pass (or the documents nearest the query's places), each document once; and the union of two
//! pools (the documents meeting every preferred constraint, then the rest).

use std::collections::HashMap;
use std::time::Instant;

use super::constraints::ConstraintPlan;
use super::filter::Allowed;
use super::lexical::{self, Background};
use super::top::{DocRef, Scored};
use super::vector::{self, VectorPlan};
use super::{Matcher, Mode, Phases, Plan, TimeOnDrop};
use crate::IndexError;
use crate::engine::Snapshot;
use crate::interpret::{ConstraintKind, LocationHit};

/// Documents meeting every preferred constraint scored one by one at most, lexically and by
/// vector (see [`Matcher::full_match_candidates`]): beyond, they are a large share of what the
/// query matches, and the pool's passes found many of them already.
const FULL_SCORED_MAX: usize = 4096;
const FULL_SCANNED_MAX: usize = 1024;

/// The candidate pool and what the passes that found it know about the query.
#[derive(Debug)]
pub(super) struct Candidates {
    /// Each candidate once, in index order.
    pub(super) pool: Vec<DocRef>,
    pub(super) vector_ranks: HashMap<DocRef, usize>,
    pub(super) concept_ranks: HashMap<DocRef, usize>,
    pub(super) lexical_background: Background,
    pub(super) vector_background: Option<(f64, f64)>,
    pub(super) chunk_background: Option<(f64, f64)>,
    pub(super) vector_plans: Vec<VectorPlan>,
}

impl Candidates {
    /// Adds the candidates of another pass over the same query (their ranks kept where better).
    pub(super) fn absorb(&mut self, other: Candidates) {
        self.pool.extend(other.pool);
        self.pool.sort_unstable();
        self.pool.dedup();
        for (mine, theirs) in
            [(&mut self.vector_ranks, other.vector_ranks), (&mut self.concept_ranks, other.concept_ranks)]
        {
            for (doc, rank) in theirs {
                let entry = mine.entry(doc).or_insert(rank);
                *entry = (*entry).min(rank);
            }
        }
    }
}

impl Matcher {
    /// The candidate pool: the lexical and vector passes side by side, then the concept pass
    /// (or, with nothing to match on, the allowed documents nearest the query's places), each
    /// document once, in index order. `beside` runs after the vector pass, on its thread: the
    /// lexical pass usually takes longer, and the core would wait.
    // The query's parts as `rank` holds them; a struct for one call would only rename them.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn candidates<T: Send>(
        &self,
        snapshot: &Snapshot,
        plan: &Plan,
        allowed: &Allowed,
        query_vector: Option<&[f32]>,
        geo_targets: &[&LocationHit],
        phases: &mut Phases,
        beside: impl FnOnce() -> T + Send,
    ) -> Result<(Candidates, T), IndexError> {
        let n = plan.n;
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
                Some(vector) if plan.use_vector => {
                    let (top, plans) = vector::vector_pass(snapshot, vector, allowed, n)?;
                    let background = vector::vector_background(snapshot, vector);
                    let chunks = vector::chunk_background(snapshot, vector);
                    Ok(Some((top, plans, background, chunks)))
                }
                _ => Ok(None),
            }
        };
        let lexical_job = || -> Result<_, IndexError> {
            let _time = TimeOnDrop("lexical pass", Instant::now());
            if !plan.has_lexical() {
                return Ok(None);
            }
            let background = lexical::term_background(snapshot, &plan.lexical_clauses)?;
            // The pass only chooses candidates: every candidate's lexical score (and rank) is
            // computed by one function ([`Matcher::exact_scores`]), so a document scores the
            // same in any pool.
            let top = lexical::top_pass(snapshot, plan.retrieval_clauses(), allowed, n)?;
            Ok(Some((top, background)))
        };
        // Each pass's own time: side by side, the phases' marks cannot tell them apart.
        let ((lexical_pass, lexical_time), ((vector_pass, vector_time), beside)) =
            if plan.has_lexical() && plan.use_vector && query_vector.is_some() {
                rayon::join(|| timed(lexical_job), || (timed(vector_job), beside()))
            } else {
                (timed(lexical_job), (timed(vector_job), beside()))
            };
        let mut lexical_background = Background::default();
        if let Some((top, background)) = lexical_pass? {
            lexical_background = background;
            phases.stats.lexical = Some(lexical_time);
            phases.stats.lexical_candidates = Some(top.len());
            pool.extend(top.iter().map(|s| s.doc));
        }
        phases.mark("lexical");
        let mut vector_plans = Vec::new();
        let mut vector_background = None;
        let mut chunk_background = None;
        if let Some((top, plans, background, chunks)) = vector_pass? {
            vector_plans = plans;
            vector_background = background;
            chunk_background = chunks;
            phases.stats.vector = Some(vector_time);
            phases.stats.vector_candidates = Some(top.len());
            add(&top, &mut vector_ranks, &mut pool);
        }
        phases.mark("vector");
        if !plan.concept_terms.is_empty() {
            let started = Instant::now();
            let top = lexical::leveled_pass(snapshot, &plan.concept_terms, allowed, n)?;
            phases.stats.concept = Some(started.elapsed());
            phases.stats.concept_candidates = Some(top.len());
            add(&top, &mut concept_ranks, &mut pool);
        }
        if !plan.has_lexical() && !plan.use_vector && plan.concept_terms.is_empty() {
            // Nothing to match on but a place or the filters: the allowed documents nearest
            // the place (or in ordinal order).
            pool.extend(self.geo_pool(snapshot, allowed, geo_targets, n));
        }
        pool.sort_unstable();
        pool.dedup();
        phases.mark("concept");
        let candidates = Candidates {
            pool,
            vector_ranks,
            concept_ranks,
            lexical_background,
            vector_background,
            chunk_background,
            vector_plans,
        };
        Ok((candidates, beside))
    }

    /// Candidates among the documents meeting every preferred constraint (`full`), for a pool
    /// that holds too few of them: all of them when they are at most the pool depth, else the
    /// best of them by vector similarity and by their exact lexical scores, while they are few
    /// enough to score one by one.
    pub(super) fn full_match_candidates(
        &self,
        snapshot: &Snapshot,
        plan: &Plan,
        full: &Allowed,
        query_vector: Option<&[f32]>,
    ) -> Result<Candidates, IndexError> {
        let mut extra = Candidates {
            pool: Vec::new(),
            vector_ranks: HashMap::new(),
            concept_ranks: HashMap::new(),
            lexical_background: Background::default(),
            vector_background: None,
            chunk_background: None,
            vector_plans: Vec::new(),
        };
        if full.count as usize <= plan.n {
            for (segment, set) in full.sets.iter().enumerate() {
                if let Some(set) = set {
                    extra.pool.extend(set.iter().map(|ord| DocRef { segment, ord }));
                }
            }
            return Ok(extra);
        }
        // The two scorings are independent: side by side.
        let by_vector = || -> Result<Vec<DocRef>, IndexError> {
            match query_vector.filter(|_| plan.use_vector && full.count as usize <= FULL_SCANNED_MAX) {
                Some(vector) => {
                    Ok(vector::vector_pass(snapshot, vector, full, plan.n)?.0.iter().map(|s| s.doc).collect())
                }
                None => Ok(Vec::new()),
            }
        };
        // Lexically, the `n` best of them: each scored exactly (its forward lists) while they
        // are a few thousand; beyond, they are a large share of what the query matches and the
        // full pass's best already hold many (a pass pruned on a subset would read most
        // postings: slower than scoring them one by one).
        let by_words = || -> Result<Vec<DocRef>, IndexError> {
            if !plan.has_lexical() || full.count as usize > FULL_SCORED_MAX {
                return Ok(Vec::new());
            }
            let docs: Vec<DocRef> = full
                .sets
                .iter()
                .enumerate()
                .flat_map(|(segment, set)| {
                    set.iter().flat_map(move |set| set.iter().map(move |ord| DocRef { segment, ord }))
                })
                .collect();
            let addressed = super::exact::address(snapshot, &docs)?;
            let scores = super::exact::score_clauses(
                snapshot,
                super::exact::Clauses::Bm25(plan.retrieval_clauses()),
                &addressed,
            )?;
            let mut top = super::top::TopN::new(plan.n);
            for (doc, score) in docs.into_iter().zip(scores) {
                if score > 0.0 {
                    top.offer(Scored { doc, score });
                }
            }
            Ok(top.into_sorted().iter().map(|s| s.doc).collect())
        };
        let (vector_docs, word_docs) = rayon::join(by_vector, by_words);
        extra.pool.extend(vector_docs?);
        extra.pool.extend(word_docs?);
        Ok(extra)
    }

    /// With at least the pool's depth of full matches (documents meeting every preferred
    /// constraint) and the process among the preferred kinds, in hybrid mode, the other
    /// candidates rank below every full match with evidence, and a hybrid score is the
    /// document's own (no other candidate changes it): they leave the pool unscored, and are
    /// returned to be scored only if too few full matches turn out to have evidence.
    pub(super) fn set_aside_partials(
        &self,
        snapshot: &Snapshot,
        constraints: &ConstraintPlan,
        plan: &Plan,
        candidates: &mut Candidates,
    ) -> Result<Vec<DocRef>, IndexError> {
        if !(constraints.tiers() && plan.mode == Mode::Hybrid && constraints.prefers(ConstraintKind::Process)) {
            return Ok(Vec::new());
        }
        let mut full = Vec::with_capacity(candidates.pool.len());
        let mut partial = Vec::new();
        for &doc in &candidates.pool {
            if constraints.is_full_match(snapshot, doc)? {
                full.push(doc);
            } else {
                partial.push(doc);
            }
        }
        if full.len() < plan.n {
            return Ok(Vec::new());
        }
        candidates.pool = full;
        Ok(partial)
    }
}

/// What `job` returns and how long it took.
fn timed<T>(job: impl FnOnce() -> T) -> (T, std::time::Duration) {
    let started = Instant::now();
    (job(), started.elapsed())
}
