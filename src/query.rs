//! The query side shared by the HTTP API, `marketlounge eval` and `marketlounge bench`: the
//! query path's configuration from settings, and query vectors (cached).

use std::sync::Arc;

use marketlounge_index::embed::{EmbedError, Embedder, QueryEmbedder};
use marketlounge_index::interpret::Interpreter;
use marketlounge_index::search::{FusionWeights, Matcher, PreparedQuery, SearchConfig};

use crate::settings::Settings;

/// The query path's configuration from the server's settings.
pub fn search_config(settings: &Settings) -> SearchConfig {
    let f = &settings.fields;
    let fusion = &settings.fusion;
    SearchConfig {
        field_weights: [
            ("name", f.name),
            ("capabilities", f.capabilities),
            ("description", f.description),
            ("machines", f.machines),
            ("materials", f.materials),
            ("certifications", f.certifications),
        ]
        .into_iter()
        .map(|(name, weight)| (name.to_owned(), weight))
        .collect(),
        synonym_weight: settings.analysis.synonym_weight,
        concept_label_weight: settings.analysis.concept_label_weight,
        translation_weight: settings.analysis.translation_weight,
        phrase_weight: settings.analysis.phrase_weight,
        detect_query_language: settings.analysis.detect_query_language,
        weights: FusionWeights {
            lexical: fusion.lexical,
            vector: fusion.vector,
            concept: fusion.concept,
            geo: fusion.geo,
            prior: fusion.prior,
        },
        geo_half_distance_km: fusion.geo_half_distance_km,
        near_radius_km: fusion.near_radius_km,
        rrf_k: fusion.rrf_k,
        prior_base_rate: fusion.prior_base_rate,
        candidates: fusion.candidates,
        max_query_bytes: settings.limits.max_query_bytes,
    }
}

/// The matcher over the shipped dictionaries.
pub fn matcher(settings: &Settings) -> anyhow::Result<Matcher> {
    let interpreter = Interpreter::embedded().map_err(|err| anyhow::anyhow!("loading the dictionaries: {err}"))?;
    Ok(Matcher::new(Arc::new(interpreter), search_config(settings)))
}

/// The query vector of a prepared request: the caller's own (checked and normalised), else the
/// plan's text to embed (through the cache), else none (lexical mode, nothing left to embed, no
/// model).
pub fn query_vector(
    prepared: &PreparedQuery<'_>,
    embedder: Option<&QueryEmbedder>,
    dims: Option<u32>,
) -> Result<Option<Arc<[f32]>>, EmbedError> {
    if let Some(vector) = &prepared.request.vector {
        let dims = dims.ok_or_else(|| EmbedError("this index has no vectors to compare a query vector with".into()))?;
        return Ok(Some(marketlounge_index::embed::provided_vector(vector, dims)?.into()));
    }
    let (Some(embedder), Some(text)) = (embedder, prepared.text_to_embed()) else { return Ok(None) };
    embedder.embed(text).map(Some)
}

/// Whether `embedder` produces the vectors stored in the index (same model fingerprint).
pub fn same_model(embedder: &dyn Embedder, index_model: Option<&str>) -> bool {
    index_model == Some(embedder.fingerprint())
}
