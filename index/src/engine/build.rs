//! Segment building: one new segment from a stream of records, for a flush, a merge or a
//! reindex. Each document's vector comes from, in order: the merge that carries it, the record
//! itself, the live copy with the same text (`VectorReuse`), the persistent vector cache; only
//! the rest go to the embedder, in batches, and what it computes is appended to the cache.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::{Engine, LiveSegment, SEGMENTS_DIR, Snapshot};
use crate::IndexError;
use crate::record::Company;
use crate::segment::{IndexDoc, OpenOptions, Segment, SegmentBuilder};

/// Progress of a bulk build, reported with the number of records added so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BuildPhase {
    /// Records read and added, their vectors found again (every 1,000 records).
    Reading,
    /// Records added after the embedder computed their vectors (after each batch).
    Embedding,
    /// Every record added; the segment is being written (tantivy's commit, the HNSW graph,
    /// checksums).
    Indexing,
    /// The segment is written; the new generation is being published.
    Publishing,
}

/// Documents whose vectors are computed together (the embedder batches and parallelises them).
const EMBED_BATCH: usize = 128;

/// Segments smaller than this are built with one indexing thread.
const SMALL_SEGMENT_DOCS: usize = 20_000;

/// One document to build: the record, and what an earlier copy of it already had.
pub(super) struct SegmentInput {
    pub(super) company: Company,
    /// Its vector, carried over by a merge.
    pub(super) vector: Option<Vec<f32>>,
    /// Its capability vectors, carried over by a merge.
    pub(super) chunks: Option<Vec<Vec<f32>>>,
    /// Its opportunity prior, carried over from the live copy.
    pub(super) opportunity: Option<f32>,
}

impl SegmentInput {
    pub(super) fn new(company: Company) -> SegmentInput {
        SegmentInput { company, vector: None, chunks: None, opportunity: None }
    }
}

/// The finite opportunity prior of the document at `ord`.
pub(super) fn opportunity_of(live: &LiveSegment, ord: u32) -> Option<f32> {
    live.prior_column("opportunity").and_then(|c| c.get(ord as usize)).copied().filter(|p| p.is_finite())
}

/// A record on its way into a segment, waiting for its vector.
struct Prepared {
    company: Company,
    vector: Option<Vec<f32>>,
    /// The passage text while its vector is still to be computed.
    text: Option<String>,
    opportunity: Option<f32>,
    content_hash: u64,
    /// Capability vectors (`None` when the segment stores none); rows still to compute are
    /// empty until then.
    chunks: Option<Vec<Vec<f32>>>,
    /// Capability texts still to embed: (row, text, content hash).
    chunk_texts: Vec<(usize, String, u64)>,
}

/// A document's capability vectors, one per capability text.
type CapabilityVectors = Vec<Vec<f32>>;

/// Where a build may find vectors already computed for the same text and model.
pub(super) enum VectorReuse<'a> {
    None,
    /// The live copy of the same id (an incremental update whose text did not change).
    SameId(&'a Snapshot),
    /// Any live document with the same content hash (a bulk reindex).
    ByHash(&'a Snapshot, HashMap<u64, (usize, u32)>),
}

impl VectorReuse<'_> {
    /// The vector (and capability vectors, if stored) of a live document with this text.
    fn find(&self, id: &str, content_hash: u64) -> Option<(Vec<f32>, Option<CapabilityVectors>)> {
        let (snapshot, idx, ord) = match self {
            VectorReuse::None => return None,
            VectorReuse::SameId(snapshot) => {
                let (idx, ord) = snapshot.locate(id)?;
                (*snapshot, idx, ord)
            }
            VectorReuse::ByHash(snapshot, by_hash) => {
                let &(idx, ord) = by_hash.get(&content_hash)?;
                (*snapshot, idx, ord)
            }
        };
        let segment = &snapshot.segments[idx].segment;
        if segment.content_hash(ord) != Some(content_hash) {
            return None;
        }
        let vector = segment.vector(ord)?;
        Some((vector, segment.chunks().map(|c| c.vectors(ord))))
    }

    /// Every live document's content hash in `snapshot`, for segments of the same model.
    pub(super) fn by_hash<'a>(snapshot: &'a Snapshot, model: &str) -> VectorReuse<'a> {
        let mut by_hash = HashMap::new();
        for (idx, live) in snapshot.segments.iter().enumerate() {
            if live.segment.meta().vectors.as_ref().is_none_or(|v| v.model != model) {
                continue;
            }
            for ord in 0..live.segment.doc_count() {
                if let Some(hash) = live.segment.content_hash(ord)
                    && live.is_live(ord)
                {
                    by_hash.insert(hash, (idx, ord));
                }
            }
        }
        VectorReuse::ByHash(snapshot, by_hash)
    }
}

impl Engine {
    /// Builds and opens one segment from records, in order.
    /// `expected_docs`, when known, sizes the build: small segments use one indexing thread
    /// (one tantivy segment instead of one per thread). Each record may come with its vector
    /// (a merge carries it over); otherwise a provided vector is used, or one is reused through
    /// `reuse`, or the embedder computes it.
    pub(super) fn build_segment(
        &self,
        records: impl Iterator<Item = Result<SegmentInput, IndexError>>,
        expected_docs: Option<usize>,
        reuse: &VectorReuse<'_>,
        progress: &mut dyn FnMut(BuildPhase, u64),
    ) -> Result<Arc<Segment>, IndexError> {
        let segment_id = self.next_segment_id.fetch_add(1, Ordering::SeqCst);
        let segments_dir = self.root.join(SEGMENTS_DIR);
        let mut build_options = self.options.build_options();
        if expected_docs.is_some_and(|n| n < SMALL_SEGMENT_DOCS) {
            build_options.threads = 1;
            build_options.memory_budget_bytes = build_options.memory_budget_bytes.min(32 << 20);
        }
        let chunk_vectors = build_options.chunks;
        let mut builder = SegmentBuilder::new(&segments_dir, segment_id, &build_options)?;
        let model = self.options.vectors.as_ref().map(|v| v.model.as_str());
        let mut count = 0u64;
        // Records wait here until the vectors they need are computed, in batches; they are added
        // in input order, so ordinals follow the input.
        let mut waiting: Vec<Prepared> = Vec::new();
        let mut to_compute = 0usize;
        for record in records {
            let SegmentInput { company, vector: carried, chunks: carried_chunks, opportunity } = record?;
            let mut prepared = Prepared {
                company,
                vector: None,
                text: None,
                opportunity,
                content_hash: 0,
                chunks: None,
                chunk_texts: Vec::new(),
            };
            if let Some(model) = model {
                let text = crate::embed::passage_text(&prepared.company);
                prepared.content_hash = crate::embed::content_hash(model, &text);
                let mut found_chunks = None;
                prepared.vector = if carried.is_some() {
                    found_chunks = carried_chunks;
                    carried
                } else if let Some(provided) = &prepared.company.vector {
                    Some(provided.clone())
                } else if self.options.embedder.is_some() {
                    let found = match reuse.find(&prepared.company.id, prepared.content_hash) {
                        Some((vector, chunks)) => {
                            found_chunks = chunks;
                            Some(vector)
                        }
                        None => self.vector_cache.as_ref().and_then(|cache| cache.get(prepared.content_hash)),
                    };
                    if found.is_some() {
                        self.vectors_reused.fetch_add(1, Ordering::Relaxed);
                    } else {
                        prepared.text = Some(text);
                        to_compute += 1;
                    }
                    found
                } else {
                    None
                };
                // Capability vectors: reused with the document's, else from the cache by text,
                // else computed. A caller-supplied vector brings none.
                if chunk_vectors && prepared.company.vector.is_none() {
                    let texts = crate::embed::capability_texts(&prepared.company);
                    match found_chunks.filter(|c| c.len() == texts.len()) {
                        Some(chunks) => {
                            self.vectors_reused.fetch_add(chunks.len() as u64, Ordering::Relaxed);
                            prepared.chunks = Some(chunks);
                        }
                        None => {
                            let mut rows = Vec::with_capacity(texts.len());
                            for (row, text) in texts.into_iter().enumerate() {
                                let hash = crate::embed::content_hash(model, &text);
                                match self.vector_cache.as_ref().and_then(|cache| cache.get(hash)) {
                                    Some(vector) => {
                                        self.vectors_reused.fetch_add(1, Ordering::Relaxed);
                                        rows.push(vector);
                                    }
                                    None => {
                                        rows.push(Vec::new());
                                        prepared.chunk_texts.push((row, text, hash));
                                        to_compute += 1;
                                    }
                                }
                            }
                            prepared.chunks = Some(rows);
                        }
                    }
                }
            }
            waiting.push(prepared);
            if to_compute == 0 || to_compute >= EMBED_BATCH {
                self.add_waiting(&mut waiting, &mut builder, &mut count, progress)?;
                to_compute = 0;
            }
        }
        self.add_waiting(&mut waiting, &mut builder, &mut count, progress)?;
        progress(BuildPhase::Indexing, count);
        let (_, dir) = builder.finish()?;
        // Checksums were computed from these very files a moment ago: check sizes only.
        let open_options = OpenOptions { verify_checksums: false, ..self.options.open_options() };
        let segment = Segment::open(&dir, &self.fields, &open_options);
        if segment.is_err() {
            let _ = std::fs::remove_dir_all(&dir);
        }
        Ok(Arc::new(segment?))
    }

    /// Computes the vectors `waiting` records still need, in one batch (remembered in the vector
    /// cache), then adds the records to `builder` in order.
    fn add_waiting(
        &self,
        waiting: &mut Vec<Prepared>,
        builder: &mut SegmentBuilder,
        count: &mut u64,
        progress: &mut dyn FnMut(BuildPhase, u64),
    ) -> Result<(), IndexError> {
        let embedded = self.embed_waiting(waiting)?;
        for prepared in waiting.drain(..) {
            builder.add(IndexDoc {
                company: &prepared.company,
                vector: prepared.vector.as_deref(),
                opportunity: prepared.opportunity,
                content_hash: prepared.content_hash,
                chunks: prepared.chunks.as_deref(),
            })?;
            *count += 1;
            if embedded == 0 && count.is_multiple_of(1_000) {
                progress(BuildPhase::Reading, *count);
            }
        }
        // A batch of vectors takes seconds with a model: report each one.
        if embedded > 0 {
            progress(BuildPhase::Embedding, *count);
        }
        Ok(())
    }

    /// Computes the vectors `waiting` records still need, in one batch, and remembers them in the
    /// vector cache.
    fn embed_waiting(&self, waiting: &mut [Prepared]) -> Result<usize, IndexError> {
        let Some(embedder) = &self.options.embedder else { return Ok(0) };
        let mut texts: Vec<&str> = Vec::new();
        for prepared in waiting.iter() {
            texts.extend(prepared.text.as_deref());
            texts.extend(prepared.chunk_texts.iter().map(|(_, text, _)| text.as_str()));
        }
        if texts.is_empty() {
            return Ok(0);
        }
        let vectors =
            embedder.embed(crate::embed::TextKind::Passage, &texts).map_err(|err| IndexError::Embedding(err.0))?;
        if vectors.len() != texts.len() {
            return Err(IndexError::Embedding(format!(
                "the embedder returned {} vectors for {} texts",
                vectors.len(),
                texts.len()
            )));
        }
        self.vectors_computed.fetch_add(vectors.len() as u64, Ordering::Relaxed);
        let mut vectors = vectors.into_iter();
        let mut computed: Vec<(u64, Vec<f32>)> = Vec::new();
        for prepared in waiting.iter_mut() {
            if prepared.text.take().is_some() {
                let vector = vectors.next().expect("one vector per text");
                computed.push((prepared.content_hash, vector.clone()));
                prepared.vector = Some(vector);
            }
            for (row, _, hash) in std::mem::take(&mut prepared.chunk_texts) {
                let vector = vectors.next().expect("one vector per text");
                computed.push((hash, vector.clone()));
                if let Some(rows) = prepared.chunks.as_mut() {
                    rows[row] = vector;
                }
            }
        }
        if let Some(cache) = &self.vector_cache
            && let Err(err) = cache.put_many(computed.iter().map(|(hash, vector)| (*hash, vector.as_slice())))
        {
            // A cache: the build goes on, the next one recomputes.
            tracing::warn!(path = %cache.path().display(), error = %err, "vector cache: cannot append");
        }
        Ok(computed.len())
    }
}
