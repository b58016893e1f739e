//! The merge policy: when there are more than `max_segments` segments, the smallest are rebuilt
//! into one, and a segment mostly made of deleted documents is rewritten on its own. A merge
//! builds outside the publish lock, carrying every document's vector and prior over; at commit,
//! deletions made meanwhile are carried to the merged segment through an (old segment, old
//! ordinal) → new ordinal map.

use std::sync::Arc;

use super::build::{SegmentInput, VectorReuse, opportunity_of};
use super::{Change, Engine, Snapshot};
use crate::IndexError;
use crate::record::Company;
use crate::segment::Tombstones;

/// A segment with more than this fraction of its documents deleted is rewritten…
const COMPACT_DELETED_RATIO: f64 = 0.3;
/// …once at least this many are deleted.
const COMPACT_MIN_DELETED: u32 = 1_000;

impl Engine {
    /// Merges the smallest segments when there are more than `max_segments`. Returns whether a
    /// merge was published. Runs beside queries and incremental writes; only one merge runs at a
    /// time, and none while a reindex runs.
    pub fn merge_if_needed(&self) -> Result<bool, IndexError> {
        let Some(_merging) = self.merging.try_lock() else { return Ok(false) };
        let base = self.snapshot();
        if self.publish.lock().reindex.is_some() {
            return Ok(false);
        }
        let max_segments = self.options.max_segments.max(1);
        if base.segments.len() > max_segments {
            let mut order: Vec<usize> = (0..base.segments.len()).collect();
            order.sort_by_key(|&i| (base.segments[i].live_count(), base.segments[i].segment.id()));
            let take = (base.segments.len() - max_segments + 1).max(2);
            let chosen: Vec<usize> = order.into_iter().take(take).collect();
            return self.merge(&base, &chosen);
        }
        // A segment mostly made of deleted documents (a large one updated piecemeal) is rewritten
        // on its own: the smallest-first rule above would never pick it.
        let wasteful = base.segments.iter().position(|live| {
            let deleted = live.tombstones.value.deleted_count();
            deleted >= COMPACT_MIN_DELETED
                && f64::from(deleted) > COMPACT_DELETED_RATIO * f64::from(live.segment.doc_count())
        });
        match wasteful {
            Some(idx) => self.merge(&base, &[idx]),
            None => Ok(false),
        }
    }

    /// Merges every segment into one (for tests and maintenance).
    pub fn merge_all(&self) -> Result<bool, IndexError> {
        let _merging = self.merging.lock();
        let base = self.snapshot();
        if base.segments.len() < 2 {
            return Ok(false);
        }
        let chosen: Vec<usize> = (0..base.segments.len()).collect();
        self.merge(&base, &chosen)
    }

    fn merge(&self, base: &Arc<Snapshot>, chosen: &[usize]) -> Result<bool, IndexError> {
        // New ordinal → (segment id, old ordinal), to carry deletions made during the merge.
        let mut origin: Vec<(u64, u32)> = Vec::new();
        let mut docs = Vec::new();
        for &idx in chosen {
            let live = &base.segments[idx];
            for ord in 0..live.segment.doc_count() {
                if live.is_live(ord) {
                    docs.push((idx, ord));
                    origin.push((live.segment.id(), ord));
                }
            }
        }
        let records = docs.iter().map(|&(idx, ord)| {
            let segment = &base.segments[idx].segment;
            let source = segment.source(ord)?.ok_or_else(|| {
                IndexError::Corrupt(format!("{}: document {ord} has no stored record", segment.dir().display()))
            })?;
            let company: Company = serde_json::from_slice(&source)
                .map_err(|err| IndexError::Corrupt(format!("{}: stored record: {err}", segment.dir().display())))?;
            let vector = if company.vector.is_none() { segment.vector(ord) } else { None };
            let chunks = vector.as_ref().and(segment.chunks()).map(|c| c.vectors(ord));
            let opportunity = opportunity_of(&base.segments[idx], ord);
            Ok(SegmentInput { company, vector, chunks, opportunity })
        });
        let merged = self.build_segment(records, Some(docs.len()), &VectorReuse::None, &mut |_, _| {})?;
        let publish = self.publish.lock();
        let current = self.snapshot();
        let chosen_ids: Vec<u64> = chosen.iter().map(|&i| base.segments[i].segment.id()).collect();
        // The chosen segments must still be live with the priors the merge copied (a priors
        // refresh meanwhile would be undone): otherwise give up, the next round retries.
        let unchanged = chosen.iter().all(|&idx| {
            let before = &base.segments[idx];
            current.segments.iter().any(|now| {
                Arc::ptr_eq(&now.segment, &before.segment)
                    && match (&now.priors, &before.priors) {
                        (None, None) => true,
                        (Some(a), Some(b)) => Arc::ptr_eq(a, b),
                        _ => false,
                    }
            })
        });
        if !unchanged || publish.reindex.is_some() {
            merged.mark_obsolete();
            return Ok(false);
        }
        let mut tombstones = Tombstones::none(merged.doc_count());
        for (new_ord, (segment_id, old_ord)) in origin.iter().enumerate() {
            let live = current.segments.iter().find(|l| l.segment.id() == *segment_id).expect("checked above");
            if !live.is_live(*old_ord) {
                tombstones.delete(new_ord as u32);
            }
        }
        let tombstones = (tombstones.deleted_count() > 0).then_some(tombstones);
        let change = Change { remove: chosen_ids, add: vec![(merged, tombstones)], ..Change::default() };
        self.commit(&current, change)?;
        drop(publish);
        Ok(true)
    }
}
