//! Embedders: what turns a text into a vector, and the content hash that lets a rebuild reuse a
//! vector instead of recomputing it.
//!
//! Four kinds (settings `index.embedder`):
//! - [`OnnxEmbedder`]: multilingual-e5-small run by ONNX Runtime (`ort`, library loaded at run
//!   time), e5 prefixes, mean pooling, L2; a pool of sessions, documents in batches;
//! - [`StaticEmbedder`]: a token table distilled from the same model (model2vec-style): the mean
//!   of the text's token rows, microseconds per text, weaker;
//! - provided: vectors come with the documents and the queries (no embedder object);
//! - [`HashedEmbedder`]: feature hashing over French stems ("random indexing"): lexical
//!   similarity only, no model files; for benchmarks at a million documents and tests.
//!
//! [`QueryEmbedder`] puts an LRU cache of query vectors in front of any of them, and
//! [`VectorCache`] keeps document vectors by content hash across reindexes.
//! `tools/setup-model` installs the model files; [`ModelPaths`] finds them.

mod onnx;
mod paths;
mod query_cache;
mod static_table;
mod vector_cache;

pub use onnx::{OnnxEmbedder, OnnxOptions};
pub use paths::ModelPaths;
pub use query_cache::{QueryCacheStats, QueryEmbedder, normalise_query};
pub use static_table::StaticEmbedder;
pub use vector_cache::VectorCache;

use std::fmt::Debug;

use crate::analysis::{Analyzer, Language};
use crate::math::fnv1a64;
pub(crate) use crate::math::normalise;
pub use crate::math::{cosine, dot_and_norm};
use crate::record::Company;

/// An embedding failed (the model could not run): the message says why.
#[derive(Debug, Clone, thiserror::Error)]
#[error("embedding failed: {0}")]
pub struct EmbedError(pub String);

/// Whether a text is a query or a document passage (e5 embeds them with different prefixes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextKind {
    Query,
    Passage,
}

/// Turns texts into unit vectors. Implementations are deterministic for a given fingerprint and
/// never run on the async runtime's threads (callers use blocking threads).
pub trait Embedder: Send + Sync + Debug {
    /// Identifies the model and its version; stored in every segment, checked on open.
    fn fingerprint(&self) -> &str;
    fn dims(&self) -> u32;
    /// The vectors of `texts`, in order (unit length). Documents go through here in batches.
    fn embed(&self, kind: TextKind, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError>;

    /// Whether computed document vectors are worth keeping in the persistent [`VectorCache`]:
    /// true for a model that takes milliseconds per text; the table and hashing embedders
    /// recompute faster than the cache would grow (1.5 KB per document at 384 dimensions).
    fn worth_caching(&self) -> bool {
        true
    }

    /// Whether documents also get one vector per capability ([`capability_texts`]): true for
    /// the language models, whose whole-profile vector dilutes any single capability.
    fn embeds_capabilities(&self) -> bool {
        false
    }

    /// The vector of one document passage.
    fn embed_passage(&self, text: &str) -> Result<Vec<f32>, EmbedError> {
        Ok(self.embed(TextKind::Passage, &[text])?.pop().expect("one vector per text"))
    }

    /// The vector of one query.
    fn embed_query(&self, text: &str) -> Result<Vec<f32>, EmbedError> {
        Ok(self.embed(TextKind::Query, &[text])?.pop().expect("one vector per text"))
    }
}

/// A vector supplied by the caller (a `provided` document or query vector): checked against the
/// index's dimension and for finite values, then normalised like every computed vector.
pub fn provided_vector(vector: &[f32], dims: u32) -> Result<Vec<f32>, EmbedError> {
    if vector.len() != dims as usize {
        return Err(EmbedError(format!("the vector has {} dimensions, the index stores {dims}", vector.len())));
    }
    if let Some(at) = vector.iter().position(|v| !v.is_finite()) {
        return Err(EmbedError(format!("vector component {at} is not a finite number")));
    }
    let mut vector = vector.to_vec();
    normalise(&mut vector);
    Ok(vector)
}

/// The text of a company that is embedded: name, savoir-faire, then the description.
pub fn passage_text(company: &Company) -> String {
    let mut text = String::with_capacity(company.description.len() + 256);
    text.push_str(&company.name);
    for capability in &company.capabilities {
        text.push_str(". ");
        text.push_str(capability);
    }
    if !company.description.is_empty() {
        text.push_str(". ");
        text.push_str(&company.description);
    }
    text
}

/// Capability vectors per document at most (the name and the first capabilities).
pub const MAX_CAPABILITY_TEXTS: usize = 16;

/// The texts of a company's capability vectors: its name, then "name. capability" for each
/// savoir-faire phrase (the name gives the phrase its context).
pub fn capability_texts(company: &Company) -> Vec<String> {
    let mut texts = Vec::with_capacity(company.capabilities.len().min(MAX_CAPABILITY_TEXTS - 1) + 1);
    texts.push(company.name.clone());
    for capability in company.capabilities.iter().take(MAX_CAPABILITY_TEXTS - 1) {
        texts.push(format!("{}. {capability}", company.name));
    }
    texts
}

/// Hash of what a vector depends on: the embedded text and the model. Equal hashes mean the
/// vector can be reused.
pub fn content_hash(model: &str, text: &str) -> u64 {
    let hash = fnv1a64(0xcbf2_9ce4_8422_2325, model.as_bytes());
    fnv1a64(fnv1a64(hash, &[0xff]), text.as_bytes())
}

/// Feature-hashing embedder over French stems (see the module documentation).
#[derive(Debug, Clone)]
pub struct HashedEmbedder {
    dims: u32,
    fingerprint: String,
}

impl HashedEmbedder {
    pub fn new(dims: u32) -> HashedEmbedder {
        HashedEmbedder { dims, fingerprint: format!("hashed-stems-v1:{dims}") }
    }
}

impl Embedder for HashedEmbedder {
    fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    fn dims(&self) -> u32 {
        self.dims
    }

    fn embed(&self, _kind: TextKind, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        Ok(texts.iter().map(|text| self.embed_one(text)).collect())
    }

    fn worth_caching(&self) -> bool {
        false
    }
}

impl HashedEmbedder {
    fn embed_one(&self, text: &str) -> Vec<f32> {
        let mut sum = vec![0f32; self.dims as usize];
        for token in Analyzer::new(Language::French).analyze(text) {
            let Some(stem) = token.stem else { continue };
            // splitmix64 seeded by the stem: a fixed ±1 direction per stem.
            let mut state = fnv1a64(0x9e37_79b9_7f4a_7c15, stem.as_bytes());
            for chunk in sum.chunks_mut(64) {
                state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
                let mut z = state;
                z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
                z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
                z ^= z >> 31;
                for (bit, value) in chunk.iter_mut().enumerate() {
                    *value += if z >> bit & 1 == 1 { 1.0 } else { -1.0 };
                }
            }
        }
        normalise(&mut sum);
        sum
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The laned kernel against plain sums in f64, for lengths around the lane width (the
    /// remainder loop included) and mismatched lengths (the common prefix counts).
    #[test]
    fn dot_and_norm_match_plain_sums() {
        for (len_a, len_b) in [(0, 0), (1, 1), (7, 7), (8, 8), (9, 9), (384, 384), (385, 385), (20, 13)] {
            let a: Vec<f32> = (0..len_a).map(|i| ((i * 37 % 11) as f32 - 5.0) / 3.0).collect();
            let b: Vec<f32> = (0..len_b).map(|i| ((i * 53 % 17) as f32 - 8.0) / 7.0).collect();
            let n = len_a.min(len_b);
            let dot: f64 = (0..n).map(|i| f64::from(a[i]) * f64::from(b[i])).sum();
            let norm: f64 = (0..n).map(|i| f64::from(b[i]) * f64::from(b[i])).sum();
            let (got_dot, got_norm) = dot_and_norm(&a, &b);
            assert!(
                (f64::from(got_dot) - dot).abs() <= 1e-4 * dot.abs().max(1.0),
                "{len_a}/{len_b}: {got_dot} vs {dot}"
            );
            assert!(
                (f64::from(got_norm) - norm).abs() <= 1e-4 * norm.max(1.0),
                "{len_a}/{len_b}: {got_norm} vs {norm}"
            );
        }
        assert_eq!(cosine(&[0.0, 0.0], &[1.0, 2.0]), 0.0);
        assert!((cosine(&[3.0, 4.0], &[4.0, 3.0]) - 0.96).abs() < 1e-6);
    }

    #[test]
    fn shared_stems_make_vectors_close() {
        let embedder = HashedEmbedder::new(384);
        let embed = |text: &str| embedder.embed_passage(text).unwrap();
        let a = embed("Découpe laser de tôles inox");
        let b = embed("découpes laser, tôle inoxydable");
        let c = embed("fonderie sous pression aluminium");
        assert_eq!(a.len(), 384);
        assert!((cosine(&a, &a) - 1.0).abs() < 1e-5);
        assert!(cosine(&a, &b) > 0.5, "{}", cosine(&a, &b));
        assert!(cosine(&a, &c) < 0.3, "{}", cosine(&a, &c));
        assert_eq!(embed(""), embed("le la de"));
        assert_eq!(a, embed("Découpe laser de tôles inox"), "deterministic");
    }

    #[test]
    fn provided_vectors_are_checked_and_normalised() {
        assert_eq!(provided_vector(&[3.0, 4.0], 2).unwrap(), vec![0.6, 0.8]);
        assert!(provided_vector(&[1.0; 3], 2).unwrap_err().0.contains("3 dimensions, the index stores 2"));
        assert!(provided_vector(&[1.0, f32::NAN], 2).unwrap_err().0.contains("component 1"));
        assert_eq!(provided_vector(&[0.0, 0.0], 2).unwrap(), vec![1.0, 0.0], "a zero vector still has a direction");
    }

    #[test]
    fn content_hash_depends_on_model_and_text() {
        assert_eq!(content_hash("m", "x"), content_hash("m", "x"));
        assert_ne!(content_hash("m", "x"), content_hash("n", "x"));
        assert_ne!(content_hash("m", "x"), content_hash("m", "y"));
        assert_ne!(content_hash("ab", "c"), content_hash("a", "bc"));
    }
}
