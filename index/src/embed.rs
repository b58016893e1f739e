//! Document embedders: what turns a company into a vector for the HNSW index, and the content
//! hash that lets a rebuild reuse a vector instead of recomputing it.
//!
//! The model embedders (ONNX e5, distilled static) plug in through [`Embedder`]. This module
//! ships [`HashedEmbedder`], a fast feature-hashing bag-of-stems embedder ("random indexing"):
//! each stem gets a fixed pseudo-random direction and a document is the normalised sum of its
//! stems' directions. It carries lexical similarity only, and exists for benchmarks at a million
//! documents and as a dependency-free fallback.

use std::fmt::Debug;

use crate::analysis::{Analyzer, Language};
use crate::record::Company;
use crate::segment::schema::fnv1a64;

/// Turns passages into vectors. Implementations are deterministic for a given fingerprint.
pub trait Embedder: Send + Sync + Debug {
    /// Identifies the model and its version; stored in every segment, checked on open.
    fn fingerprint(&self) -> &str;
    fn dims(&self) -> u32;
    /// The vector of a document passage (unit length).
    fn embed_passage(&self, text: &str) -> Vec<f32>;
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

    fn embed_passage(&self, text: &str) -> Vec<f32> {
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
        let norm = sum.iter().map(|v| v * v).sum::<f32>().sqrt();
        if norm > 0.0 {
            sum.iter_mut().for_each(|v| *v /= norm);
        } else {
            // An empty text still gets a valid unit vector.
            sum[0] = 1.0;
        }
        sum
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cosine(a: &[f32], b: &[f32]) -> f32 {
        a.iter().zip(b).map(|(x, y)| x * y).sum()
    }

    #[test]
    fn shared_stems_make_vectors_close() {
        let embedder = HashedEmbedder::new(384);
        let a = embedder.embed_passage("Découpe laser de tôles inox");
        let b = embedder.embed_passage("découpes laser, tôle inoxydable");
        let c = embedder.embed_passage("fonderie sous pression aluminium");
        assert_eq!(a.len(), 384);
        assert!((cosine(&a, &a) - 1.0).abs() < 1e-5);
        assert!(cosine(&a, &b) > 0.5, "{}", cosine(&a, &b));
        assert!(cosine(&a, &c) < 0.3, "{}", cosine(&a, &c));
        assert_eq!(embedder.embed_passage(""), embedder.embed_passage("le la de"));
        assert_eq!(a, embedder.embed_passage("Découpe laser de tôles inox"), "deterministic");
    }

    #[test]
    fn content_hash_depends_on_model_and_text() {
        assert_eq!(content_hash("m", "x"), content_hash("m", "x"));
        assert_ne!(content_hash("m", "x"), content_hash("n", "x"));
        assert_ne!(content_hash("m", "x"), content_hash("m", "y"));
        assert_ne!(content_hash("ab", "c"), content_hash("a", "bc"));
    }
}
