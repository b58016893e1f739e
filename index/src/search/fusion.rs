//! From raw evidence to one score: calibration of each component against the query's own
//! background, relevance as the weighted sum (hybrid) or reciprocal rank fusion (rrf) of the
//! text components, scaled by the geo and opportunity boosts, and the explanation tree that
//! shows what every component adds.
//!
//! Calibration. Raw scores are not comparable across queries or components: BM25 grows with
//! the number and rarity of the query's words; e5 cosine similarities sit in a narrow band
//! (0.7–0.9) whose position depends on the query. Each is measured against the query's own
//! background over the whole collection, never against the other candidates: BM25 in standard
//! deviations of the query's score distribution (estimated from term statistics, documents it
//! does not match counting 0), cosine as a z-score against a fixed sample of the vectors; both
//! squashed into [0, 1]. Min-max over the top few would stretch a query with no good match into
//! one that looks perfect, and would make a document's score depend on its company.

use serde::Serialize;

use super::lexical::Background;
use super::request::{Mode, WeightOverrides};
use super::{RankedDoc, Ranking};
use crate::analysis::Language;

/// A concept one level below the one the query names counts this much (two levels: squared).
pub const CONCEPT_DESCENDANT_FACTOR: f32 = 0.7;
/// ln(1 + x) of a BM25 score of x background standard deviations that counts as full lexical
/// evidence (x = 40).
pub const LEXICAL_LOG_Z_MAX: f64 = 3.713_572;
/// Vector z-score that counts as full vector evidence.
pub const VECTOR_Z_MAX: f64 = 8.0;
/// Share of the whole-document similarity in the vector evidence (the rest: the best
/// capability's).
pub const DOCUMENT_SHARE: f64 = 0.4;
/// English queries search French documents: their lexical evidence (cognates, codes, names) is
/// worth this much of a French query's.
pub const ENGLISH_LEXICAL_FACTOR: f32 = 0.6;
/// The prior's log-odds are clipped to ± this.
pub const PRIOR_CLIP: f32 = 3.0;

/// Weights of the components in hybrid mode (RRF weights the rank terms the same way).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct FusionWeights {
    pub lexical: f32,
    pub vector: f32,
    pub concept: f32,
    pub geo: f32,
    pub prior: f32,
}

impl Default for FusionWeights {
    fn default() -> Self {
        FusionWeights { lexical: 0.4, vector: 1.0, concept: 0.5, geo: 0.3, prior: 0.2 }
    }
}

impl FusionWeights {
    /// These weights with a request's overrides applied.
    pub fn with(&self, overrides: &WeightOverrides) -> FusionWeights {
        FusionWeights {
            lexical: overrides.lexical.unwrap_or(self.lexical),
            vector: overrides.vector.unwrap_or(self.vector),
            concept: overrides.concept.unwrap_or(self.concept),
            geo: overrides.geo.unwrap_or(self.geo),
            prior: overrides.prior.unwrap_or(self.prior),
        }
    }
}

/// Distance evidence for one candidate.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GeoRaw {
    /// Distance to the place (None: the company has no coordinates).
    pub km: Option<f32>,
    /// 1 at the place (or inside a named département or région), halving with distance.
    pub proximity: f32,
    pub place: String,
}

/// Raw evidence of one candidate (`None`: the component does not apply to this query).
#[derive(Debug, Clone, PartialEq)]
pub struct RawComponents {
    /// BM25 with global statistics (0 when the document does not match), phrases included.
    pub lexical: Option<f32>,
    /// The part of `lexical` from the query's phrases (pairs of its words found together).
    pub phrase: f32,
    /// Cosine similarity of the query and document vectors.
    pub vector: Option<f32>,
    /// Best cosine similarity of the query to one of the document's capability vectors.
    pub chunk: Option<f32>,
    /// Strength of the concept match (1: the concept itself; less for concepts below it).
    pub concept: Option<f32>,
    pub geo: Option<GeoRaw>,
    /// Calibrated opportunity probability (None: unknown).
    pub opportunity: Option<f32>,
    /// Rank (0-based) in each retriever's list, when the document is in it.
    pub lexical_rank: Option<usize>,
    pub vector_rank: Option<usize>,
    pub concept_rank: Option<usize>,
}

/// Calibrated components, each in [0, 1] except the prior in [−1, 1] (0: neutral).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, schemars::JsonSchema)]
pub struct Components {
    pub lexical: Option<f32>,
    pub vector: Option<f32>,
    pub concept: Option<f32>,
    pub geo: Option<f32>,
    pub prior: Option<f32>,
}

/// What calibration knows about the query.
#[derive(Debug, Clone, Copy)]
pub struct Calibration {
    pub lexical: Background,
    /// Mean and standard deviation of the query's cosine over the vector sample.
    pub vector: Option<(f64, f64)>,
    /// The same for the best capability similarity.
    pub chunk: Option<(f64, f64)>,
    pub prior_base_rate: f32,
    pub language: Language,
}

/// Calibrated lexical evidence of a BM25 score: the score in units of the query's background
/// standard deviation, log-compressed and scaled to [0, 1] (40 sd and above: 1). Measuring in
/// the background's spread makes scores of different queries comparable; not centring on its
/// mean keeps every document that holds a query word above zero, even when every document
/// does (a directory of machine shops searched for "usinage"). The log keeps a query whose
/// rare words give its matches huge scores from drowning the other components.
pub fn calibrate_lexical(score: f32, background: &Background, language: Language) -> f32 {
    if score <= 0.0 {
        return 0.0;
    }
    // A word in every document has no spread: a tenth of the mean stands in for it.
    let spread = background.std.max(background.mean * 0.1).max(1e-6);
    let units = f64::from(score) / spread;
    let factor = if language == Language::English { ENGLISH_LEXICAL_FACTOR } else { 1.0 };
    ((units.ln_1p() / LEXICAL_LOG_Z_MAX).min(1.0) as f32) * factor
}

fn z_score(value: f32, background: Option<(f64, f64)>) -> Option<f64> {
    background.map(|(mean, std)| (f64::from(value) - mean) / std)
}

/// Calibrated vector evidence: the z-scores of the document's cosine and of its best
/// capability's against the query's background, mixed, scaled to [0, 1] (z = 8 and above: 1).
pub fn calibrate_vector(raw: &RawComponents, calibration: &Calibration) -> Option<f32> {
    let cosine = raw.vector?;
    let z_doc = match z_score(cosine, calibration.vector) {
        Some(z) => z,
        // Too few vectors to know the background: cosine itself.
        None => return Some(cosine.clamp(0.0, 1.0)),
    };
    let z = match raw.chunk.and_then(|c| z_score(c, calibration.chunk)) {
        Some(z_chunk) => DOCUMENT_SHARE * z_doc + (1.0 - DOCUMENT_SHARE) * z_chunk,
        None => z_doc,
    };
    Some((z / VECTOR_Z_MAX).clamp(0.0, 1.0) as f32)
}

/// Clipped log-odds of the probability relative to the base rate, scaled to [−1, 1].
pub fn prior_value(probability: f32, base_rate: f32) -> f32 {
    let logit = |p: f32| {
        let p = p.clamp(1e-4, 1.0 - 1e-4);
        (p / (1.0 - p)).ln()
    };
    ((logit(probability) - logit(base_rate)).clamp(-PRIOR_CLIP, PRIOR_CLIP)) / PRIOR_CLIP
}

pub fn calibrate(raw: &RawComponents, calibration: &Calibration) -> Components {
    Components {
        lexical: raw.lexical.map(|s| calibrate_lexical(s, &calibration.lexical, calibration.language)),
        vector: calibrate_vector(raw, calibration),
        concept: raw.concept,
        geo: raw.geo.as_ref().map(|g| g.proximity),
        prior: Some(raw.opportunity.map_or(0.0, |p| prior_value(p, calibration.prior_base_rate))),
    }
}

/// What each component adds to a score, in the order lexical, vector, concept, geo, prior;
/// they sum to the score.
///
/// The text components (lexical, vector, concept) make the relevance R: their weighted sum
/// (hybrid) or their reciprocal-rank terms Σ weight / (k + rank) (rrf). Place and opportunity
/// then scale it: score = R × (1 + w_geo × geo) × (1 + w_prior × prior). A boost multiplies
/// relevance instead of adding to it, so a company next door that does not do the job never
/// outranks one that does; the geo term adds R × w_geo × geo, the prior term the rest.
pub fn contributions(mode: Mode, raw: &RawComponents, c: &Components, w: &FusionWeights, rrf_k: f32) -> [f32; 5] {
    let text = match mode {
        Mode::Hybrid => [
            c.lexical.unwrap_or(0.0) * w.lexical,
            c.vector.unwrap_or(0.0) * w.vector,
            c.concept.unwrap_or(0.0) * w.concept,
        ],
        Mode::Rrf => {
            let term = |rank: Option<usize>, weight: f32| rank.map_or(0.0, |r| weight / (rrf_k + r as f32 + 1.0));
            [term(raw.lexical_rank, w.lexical), term(raw.vector_rank, w.vector), term(raw.concept_rank, w.concept)]
        }
        // One component alone ranks, unweighted and unboosted.
        Mode::Lexical => return [c.lexical.unwrap_or(0.0), 0.0, 0.0, 0.0, 0.0],
        Mode::Vector => return [0.0, c.vector.unwrap_or(0.0), 0.0, 0.0, 0.0],
    };
    let geo = 1.0 + w.geo * c.geo.unwrap_or(0.0);
    let prior = 1.0 + w.prior * c.prior.unwrap_or(0.0);
    if raw.lexical.is_none() && raw.vector.is_none() && raw.concept.is_none() {
        // Nothing but a place or filters to go by (e.g. "près de Lyon"): relevance is 1 for all,
        // so the boosts alone rank.
        return [0.0, 0.0, 0.0, geo, geo * (prior - 1.0)];
    }
    let relevance: f32 = text.iter().sum();
    [text[0], text[1], text[2], relevance * (geo - 1.0), relevance * geo * (prior - 1.0)]
}

/// The score of a candidate: the sum of its [`contributions`].
pub fn score(mode: Mode, raw: &RawComponents, components: &Components, weights: &FusionWeights, rrf_k: f32) -> f32 {
    contributions(mode, raw, components, weights, rrf_k).iter().sum()
}

/// Why a hit has its score: every component, raw and calibrated, with its weight.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Explanation {
    pub score: f32,
    pub mode: Mode,
    pub components: Vec<ComponentExplanation>,
}

/// One term of the fused score.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct ComponentExplanation {
    pub name: &'static str,
    /// The evidence as measured (BM25, cosine, concept strength, km, probability).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub raw: Option<f64>,
    /// Calibrated value.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<f32>,
    pub weight: f32,
    /// What it adds to the score.
    pub contribution: f32,
    /// Rank in this retriever's list (0 = first), if the document is in it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rank: Option<usize>,
    pub detail: String,
}

pub fn explain(ranked: &RankedDoc, ranking: &Ranking, mode: Mode, rrf_k: f32, concepts: Vec<String>) -> Explanation {
    let raw = &ranked.raw;
    let c = &ranked.components;
    let w = &ranking.weights;
    let bg = &ranking.lexical_background;
    let added = contributions(mode, raw, c, w, rrf_k);
    let weight = |idx: usize, weight: f32| match mode {
        Mode::Lexical => f32::from(idx == 0),
        Mode::Vector => f32::from(idx == 1),
        Mode::Hybrid | Mode::Rrf => weight,
    };
    let lexical_detail = format!(
        "BM25 {:.3}{}; the query's background: at least {} of {} documents hold one of its words (mean {:.3}, sd {:.3}, from term statistics){}",
        raw.lexical.unwrap_or(0.0),
        if raw.phrase > 0.0 {
            format!(" (of which {:.3} for its words found together, in order)", raw.phrase)
        } else {
            String::new()
        },
        bg.matched,
        bg.population,
        bg.mean,
        bg.std,
        if ranking.plan.interpretation.language == Language::English {
            format!(", English query: lexical evidence × {ENGLISH_LEXICAL_FACTOR}")
        } else {
            String::new()
        }
    );
    let vector_detail = match (raw.vector, ranking.vector_background) {
        (Some(cosine), Some((mean, std))) => {
            let chunk = match (raw.chunk, ranking.chunk_background) {
                (Some(best), Some((cmean, cstd))) => format!(
                    "; best capability {best:.4} (background mean {cmean:.4}, sd {cstd:.4}), weighted {:.0} %",
                    (1.0 - DOCUMENT_SHARE) * 100.0
                ),
                _ => String::new(),
            };
            format!("cosine {cosine:.4}; the query's background: mean {mean:.4}, sd {std:.4}{chunk}")
        }
        (Some(cosine), None) => format!("cosine {cosine:.4}"),
        (None, _) => "no query vector or no document vector".to_owned(),
    };
    let concept_detail = if concepts.is_empty() {
        "no activated concept matches the query's".to_owned()
    } else {
        format!("activated concepts matching the query: {}", concepts.join(", "))
    };
    let geo_detail = match &raw.geo {
        Some(geo) => {
            let place = match geo.km {
                Some(km) => format!("{km:.1} km from {}", geo.place),
                None => format!("no coordinates to compare with {}", geo.place),
            };
            format!("{place}; multiplies relevance by 1 + weight × proximity")
        }
        None => "no place in the query".to_owned(),
    };
    let prior_detail = match raw.opportunity {
        Some(p) => format!(
            "opportunity probability {:.1} %: clipped log-odds against the base rate; multiplies relevance by 1 + weight × value",
            p * 100.0
        ),
        None => "no opportunity score yet: neutral".to_owned(),
    };
    let components = vec![
        ComponentExplanation {
            name: "lexical",
            raw: raw.lexical.map(f64::from),
            value: c.lexical,
            weight: weight(0, w.lexical),
            contribution: added[0],
            rank: raw.lexical_rank,
            detail: lexical_detail,
        },
        ComponentExplanation {
            name: "vector",
            raw: raw.vector.map(f64::from),
            value: c.vector,
            weight: weight(1, w.vector),
            contribution: added[1],
            rank: raw.vector_rank,
            detail: vector_detail,
        },
        ComponentExplanation {
            name: "concept",
            raw: raw.concept.map(f64::from),
            value: c.concept,
            weight: weight(2, w.concept),
            contribution: added[2],
            rank: raw.concept_rank,
            detail: concept_detail,
        },
        ComponentExplanation {
            name: "geo",
            raw: raw.geo.as_ref().and_then(|g| g.km).map(f64::from),
            value: c.geo,
            weight: weight(3, w.geo),
            contribution: added[3],
            rank: None,
            detail: geo_detail,
        },
        ComponentExplanation {
            name: "prior",
            raw: raw.opportunity.map(f64::from),
            value: c.prior,
            weight: weight(4, w.prior),
            contribution: added[4],
            rank: None,
            detail: prior_detail,
        },
    ];
    Explanation { score: ranked.score, mode, components }
}
