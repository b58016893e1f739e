//! Query vectors through an LRU cache: typeahead and repeated searches send the same texts
//! again and again, and a transformer pass costs milliseconds where a cache hit costs well under
//! a microsecond.

use std::num::NonZeroUsize;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use lru::LruCache;
use parking_lot::Mutex;
use unicode_normalization::UnicodeNormalization;

use super::{EmbedError, Embedder};

/// The form of a query that is embedded and cached: Unicode NFC, whitespace runs collapsed to
/// one space, trimmed. Two queries that differ only there share one vector.
pub fn normalise_query(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for word in text.split_whitespace() {
        if !out.is_empty() {
            out.push(' ');
        }
        out.extend(word.nfc());
    }
    out
}

/// Hits and misses since start.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct QueryCacheStats {
    pub hits: u64,
    pub misses: u64,
    pub entries: usize,
}

type Lru = LruCache<Box<str>, Arc<[f32]>>;

/// An embedder for queries with an LRU cache in front (see the module documentation).
#[derive(Debug)]
pub struct QueryEmbedder {
    embedder: Arc<dyn Embedder>,
    cache: Option<Mutex<Lru>>,
    hits: AtomicU64,
    misses: AtomicU64,
}

impl QueryEmbedder {
    /// `capacity` queries are remembered (0: no cache).
    pub fn new(embedder: Arc<dyn Embedder>, capacity: usize) -> QueryEmbedder {
        QueryEmbedder {
            embedder,
            cache: NonZeroUsize::new(capacity).map(|n| Mutex::new(LruCache::new(n))),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    pub fn embedder(&self) -> &Arc<dyn Embedder> {
        &self.embedder
    }

    /// The vector of `query` (normalised first, see [`normalise_query`]).
    pub fn embed(&self, query: &str) -> Result<Arc<[f32]>, EmbedError> {
        let key = normalise_query(query);
        if let Some(cache) = &self.cache
            && let Some(found) = cache.lock().get(key.as_str())
        {
            self.hits.fetch_add(1, Ordering::Relaxed);
            return Ok(found.clone());
        }
        self.misses.fetch_add(1, Ordering::Relaxed);
        // Computed outside the lock: a slow model run never blocks hits.
        let vector: Arc<[f32]> = self.embedder.embed_query(&key)?.into();
        if let Some(cache) = &self.cache {
            cache.lock().put(key.into_boxed_str(), vector.clone());
        }
        Ok(vector)
    }

    pub fn stats(&self) -> QueryCacheStats {
        QueryCacheStats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            entries: self.cache.as_ref().map_or(0, |cache| cache.lock().len()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::embed::HashedEmbedder;

    #[test]
    fn normalisation_collapses_spacing_and_composes() {
        assert_eq!(normalise_query("  découpe \t laser\n"), "découpe laser");
        assert_eq!(normalise_query("de\u{301}coupe"), "découpe");
        assert_eq!(normalise_query(""), "");
    }

    #[test]
    fn hits_return_the_computed_vector_and_the_lru_evicts() {
        let embedder: Arc<dyn Embedder> = Arc::new(HashedEmbedder::new(16));
        let queries = QueryEmbedder::new(embedder.clone(), 2);
        let first = queries.embed("découpe laser").unwrap();
        assert_eq!(&first[..], &embedder.embed_query("découpe laser").unwrap()[..]);
        let again = queries.embed("  découpe   laser ").unwrap();
        assert!(Arc::ptr_eq(&first, &again), "a normalised repeat is a hit");
        queries.embed("fonderie").unwrap();
        queries.embed("usinage").unwrap();
        let evicted = queries.embed("découpe laser").unwrap();
        assert!(!Arc::ptr_eq(&first, &evicted), "capacity 2: the oldest went");
        assert_eq!(first, evicted);
        assert_eq!(queries.stats(), QueryCacheStats { hits: 1, misses: 4, entries: 2 });
        let uncached = QueryEmbedder::new(embedder, 0);
        uncached.embed("x").unwrap();
        uncached.embed("x").unwrap();
        assert_eq!(uncached.stats(), QueryCacheStats { hits: 0, misses: 2, entries: 0 });
    }
}
