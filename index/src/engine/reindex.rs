//! Bulk reindex: a whole new generation built from a stream of records while queries and
//! incremental writes go on, then published in place of every older segment. Writes flushed
//! meanwhile are kept on top of it; one reindex runs at a time. A [`DropLimit`] refuses a new
//! generation that would lose too many of the live documents (an empty or truncated input
//! would otherwise publish an empty index).

use std::collections::{HashMap, HashSet};
use std::sync::atomic::Ordering;

use parking_lot::Mutex;

use super::build::{BuildPhase, SegmentInput, VectorReuse, opportunity_of};
use super::{Change, Engine, LiveSegment, PublishState};
use crate::IndexError;
use crate::record::Company;
use crate::record::{format_id, parse_id};
use crate::segment::Tombstones;

/// How much of the live index a reindex may drop before it is refused.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum DropLimit {
    /// Refused when the new generation would have fewer live documents than the published one
    /// by more than this share of them (0 to 1: 0.5 lets 2,000 documents become 1,000, not
    /// 999). An empty index can always be filled.
    Share(f64),
    /// Published whatever the input holds, nothing included: the caller asked for it.
    Unlimited,
}

impl DropLimit {
    /// The error that refuses going from `live_docs` to `new_docs` live documents, if any.
    fn check(self, live_docs: u64, new_docs: u64) -> Result<(), IndexError> {
        let DropLimit::Share(max_drop_share) = self else { return Ok(()) };
        if live_docs == 0 || new_docs >= live_docs {
            return Ok(());
        }
        let drop_share = (live_docs - new_docs) as f64 / live_docs as f64;
        if drop_share > max_drop_share {
            return Err(IndexError::ShrinkRefused { live_docs, new_docs, drop_share, max_drop_share });
        }
        Ok(())
    }
}

#[derive(Debug)]
pub(super) struct ReindexState {
    /// Segments with this id or above were published by flushes after the reindex started.
    first_new_segment_id: u64,
    /// Ids deleted by flushes since the reindex started.
    pub(super) deleted_since: HashSet<String>,
}

impl Engine {
    /// Replaces the whole index with `companies`, built in the background of running queries
    /// and incremental writes; the new generation is swapped in atomically. Writes acknowledged
    /// while the build runs are kept on top of it. Publishes whatever `companies` holds, even
    /// nothing: a caller acting on outside input uses [`Engine::reindex_with_limit`].
    pub fn reindex(
        &self,
        companies: impl Iterator<Item = Result<Company, IndexError>>,
        progress: &mut dyn FnMut(BuildPhase, u64),
    ) -> Result<u64, IndexError> {
        self.reindex_with_limit(companies, DropLimit::Unlimited, progress)
    }

    /// [`Engine::reindex`], refused with [`IndexError::ShrinkRefused`] when the new generation
    /// would drop more of the live documents than `limit` allows. The check is made once the
    /// new generation's count is known and before anything is published: the live index is
    /// untouched and the built segment deleted.
    pub fn reindex_with_limit(
        &self,
        companies: impl Iterator<Item = Result<Company, IndexError>>,
        limit: DropLimit,
        progress: &mut dyn FnMut(BuildPhase, u64),
    ) -> Result<u64, IndexError> {
        {
            // Flush and mark the start under one lock: a flush in between would publish writes
            // into a segment the swap would then treat as older than the reindex.
            let mut publish = self.publish.lock();
            if publish.reindex.is_some() {
                return Err(IndexError::ReindexRunning);
            }
            self.flush_locked(&mut publish)?;
            publish.reindex = Some(ReindexState {
                first_new_segment_id: self.next_segment_id.load(Ordering::SeqCst),
                deleted_since: HashSet::new(),
            });
        }
        /// Clears the reindex state if the build unwinds before taking it back.
        struct Running<'a> {
            publish: &'a Mutex<PublishState>,
            armed: bool,
        }
        impl Drop for Running<'_> {
            fn drop(&mut self) {
                if self.armed {
                    self.publish.lock().reindex = None;
                }
            }
        }
        let mut running = Running { publish: &self.publish, armed: true };
        let base = self.snapshot();
        let reuse = match (&self.options.embedder, &self.options.vectors) {
            (Some(_), Some(vectors)) => VectorReuse::by_hash(&base, &vectors.model),
            _ => VectorReuse::None,
        };
        // Priors change daily while texts rarely do: a company keeps its prior across a reindex
        // until the next refresh.
        let mut priors: HashMap<u32, f32> = HashMap::new();
        for live in &base.segments {
            for (ord, id) in live.segment.ids().iter() {
                if live.is_live(ord)
                    && let Some(p) = opportunity_of(live, ord)
                {
                    priors.insert(id, p);
                }
            }
        }
        let records = companies.map(|c| {
            c.map(|company| {
                let opportunity = parse_id(&company.id).and_then(|id| priors.get(&id).copied());
                SegmentInput { opportunity, ..SegmentInput::new(company) }
            })
        });
        let built = self.build_segment(records, None, &reuse, progress);
        drop(reuse);
        let mut publish = self.publish.lock();
        let state = publish.reindex.take().expect("set above");
        running.armed = false;
        let segment = built?;
        let current = self.snapshot();
        let keep: Vec<&LiveSegment> =
            current.segments.iter().filter(|l| l.segment.id() >= state.first_new_segment_id).collect();
        let mut tombstones = Tombstones::none(segment.doc_count());
        for live in &keep {
            for (_, id) in live.segment.ids().iter() {
                if let Some(ord) = segment.ord_of(&format_id(id)) {
                    tombstones.delete(ord);
                }
            }
        }
        for id in &state.deleted_since {
            if let Some(ord) = segment.ord_of(id) {
                tombstones.delete(ord);
            }
        }
        // The new generation: the built segment but the ids written meanwhile, and the segments
        // flushed meanwhile.
        let new_docs = u64::from(segment.doc_count() - tombstones.deleted_count())
            + keep.iter().map(|l| u64::from(l.live_count())).sum::<u64>();
        if let Err(err) = limit.check(current.live_count(), new_docs) {
            segment.mark_obsolete();
            return Err(err);
        }
        progress(BuildPhase::Publishing, u64::from(segment.doc_count()));
        let remove =
            current.segments.iter().map(|l| l.segment.id()).filter(|&id| id < state.first_new_segment_id).collect();
        let tombstones = (tombstones.deleted_count() > 0).then_some(tombstones);
        let change = Change { remove, add: vec![(segment, tombstones)], ..Change::default() };
        self.commit(&current, change)?;
        Ok(self.snapshot().generation())
    }
}
