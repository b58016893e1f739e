//! Vector retrieval: the nearest allowed documents (HNSW, filtered HNSW or an exact scan, by
//! the filter's selectivity), any candidate's document and capability similarities, and their
//! backgrounds over the segments' fixed vector samples.

use super::filter::Allowed;
use super::top::{DocRef, Scored, TopN};
use crate::IndexError;
use crate::engine::Snapshot;

/// Allowed documents of a segment below which vector search scans them exactly instead of
/// filtering inside the HNSW graph (whose cost grows as the filter gets selective).
pub(crate) const EXACT_SCAN_MAX: u32 = 4096;
/// Below this share of a segment's documents allowed, exact scan too.
pub(crate) const EXACT_SCAN_SHARE: f64 = 0.02;

/// How the vector search of one segment ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum VectorPlan {
    Hnsw,
    FilteredHnsw,
    ExactScan,
}

/// Nearest allowed documents to `query` (a normalised vector), best first, with cosine
/// similarity as the score; the plan used per segment with vectors.
pub(crate) fn vector_pass(
    snapshot: &Snapshot,
    query: &[f32],
    allowed: &Allowed,
    n: usize,
) -> Result<(Vec<Scored>, Vec<VectorPlan>), IndexError> {
    let mut top = TopN::new(n);
    let mut plans = Vec::new();
    for (seg, live) in snapshot.segments.iter().enumerate() {
        let segment = &live.segment;
        let Some(index) = segment.vectors() else { continue };
        if index.dimensions() != query.len() {
            return Err(IndexError::QueryDimensions { found: query.len(), expected: index.dimensions() });
        }
        let in_segment = allowed.allowed_in(snapshot, seg);
        if in_segment == 0 {
            continue;
        }
        let share = f64::from(in_segment) / f64::from(segment.doc_count().max(1));
        let vector_error = |message: String| IndexError::Vectors { path: segment.dir().to_owned(), message };
        let plan = match &allowed.sets[seg] {
            Some(_) if in_segment <= EXACT_SCAN_MAX || share < EXACT_SCAN_SHARE => VectorPlan::ExactScan,
            Some(_) => VectorPlan::FilteredHnsw,
            None if live.tombstones.value.deleted_count() > 0 => VectorPlan::FilteredHnsw,
            None => VectorPlan::Hnsw,
        };
        plans.push(plan);
        let count = n.min(in_segment as usize);
        match plan {
            VectorPlan::ExactScan => {
                let set = allowed.sets[seg].as_ref().expect("exact scan only with a set");
                // Read as the candidates' vectors are (`vector_into`: f16 widened in bulk, not
                // usearch's element-by-element cast).
                let mut buffer = vec![0f32; index.dimensions()];
                for ord in set.iter() {
                    if segment.vector_into(ord, &mut buffer) {
                        let score = crate::embed::cosine(query, &buffer);
                        top.offer(Scored { doc: DocRef { segment: seg, ord }, score });
                    }
                }
            }
            VectorPlan::FilteredHnsw => {
                let matches = index
                    .filtered_search(query, count, |key| allowed.allows(snapshot, seg, key as u32))
                    .map_err(|err| vector_error(err.to_string()))?;
                for (key, distance) in matches.keys.iter().zip(&matches.distances) {
                    top.offer(Scored { doc: DocRef { segment: seg, ord: *key as u32 }, score: 1.0 - distance });
                }
            }
            VectorPlan::Hnsw => {
                let matches = index.search(query, count).map_err(|err| vector_error(err.to_string()))?;
                for (key, distance) in matches.keys.iter().zip(&matches.distances) {
                    top.offer(Scored { doc: DocRef { segment: seg, ord: *key as u32 }, score: 1.0 - distance });
                }
            }
        }
    }
    Ok((top.into_sorted(), plans))
}

/// Scratch buffers for scoring candidates' vectors without allocating per candidate.
#[derive(Debug, Default)]
pub(crate) struct VectorScratch {
    vector: Vec<f32>,
    chunks: Vec<f32>,
}

/// Cosine similarity of `query` (unit length) to document `doc` (`None` without a vector).
pub(crate) fn vector_score(
    snapshot: &Snapshot,
    query: &[f32],
    doc: DocRef,
    scratch: &mut VectorScratch,
) -> Option<f32> {
    scratch.vector.resize(query.len(), 0.0);
    snapshot.segments[doc.segment]
        .segment
        .vector_into(doc.ord, &mut scratch.vector)
        .then(|| crate::embed::cosine(query, &scratch.vector))
}

/// The best capability-vector similarity of `query` to document `doc` (`None` without them).
pub(crate) fn chunk_score(snapshot: &Snapshot, query: &[f32], doc: DocRef, scratch: &mut VectorScratch) -> Option<f32> {
    snapshot.segments[doc.segment].segment.chunks()?.max_similarity(doc.ord, query, &mut scratch.chunks)
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    crate::embed::dot_and_norm(a, b).0
}

/// Mean and standard deviation of the query's similarity to the segments' vector samples.
pub(crate) fn vector_background(snapshot: &Snapshot, query: &[f32]) -> Option<(f64, f64)> {
    moments(snapshot.segments.iter().flat_map(|live| {
        let sample = live.segment.vector_sample();
        let rows = if sample.len() % query.len() == 0 { sample } else { &[] };
        rows.chunks_exact(query.len()).map(|row| dot(query, row))
    }))
}

/// Mean and standard deviation of the best capability similarity over the sampled documents.
pub(crate) fn chunk_background(snapshot: &Snapshot, query: &[f32]) -> Option<(f64, f64)> {
    moments(snapshot.segments.iter().flat_map(|live| {
        let sample = live.segment.chunk_sample();
        sample.starts.iter().enumerate().filter_map(move |(idx, &start)| {
            let end = sample.starts.get(idx + 1).copied().unwrap_or(sample.rows.len());
            let best = sample.rows[start..end]
                .chunks_exact(query.len())
                .map(|row| dot(query, row))
                .fold(f32::NEG_INFINITY, f32::max);
            best.is_finite().then_some(best)
        })
    }))
}

/// Mean and standard deviation of `values` (`None` for fewer than two).
fn moments(values: impl Iterator<Item = f32>) -> Option<(f64, f64)> {
    let (mut n, mut sum, mut sumsq) = (0usize, 0f64, 0f64);
    for value in values {
        let value = f64::from(value);
        n += 1;
        sum += value;
        sumsq += value * value;
    }
    if n < 2 {
        return None;
    }
    let mean = sum / n as f64;
    Some((mean, (sumsq / n as f64 - mean * mean).max(1e-12).sqrt()))
}
