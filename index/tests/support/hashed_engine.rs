//! An engine over a fresh directory with the hashed embedder (64 dimensions, f32 vectors): the
//! index the query-path tests build. Included by path from the search and constraints tests.

use std::sync::Arc;

use marketlounge_index::embed::{Embedder, HashedEmbedder};
use marketlounge_index::engine::{Engine, EngineOptions};
use marketlounge_index::segment::{Quantization, VectorOptions};

pub fn hashed_engine(dir: &std::path::Path) -> Engine {
    let embedder: Arc<dyn Embedder> = Arc::new(HashedEmbedder::new(64));
    let options = EngineOptions {
        vectors: Some(VectorOptions {
            model: embedder.fingerprint().to_owned(),
            dims: 64,
            quantization: Quantization::F32,
        }),
        embedder: Some(embedder),
        ..EngineOptions::default()
    };
    Engine::open(dir, options).unwrap()
}
