//! A snapshot of the live set: the segments a manifest names, with their tombstones and prior
//! columns, held by `Arc` so that a publish never disturbs a query that started before it.
//! The BM25 statistics that make a document score the same whichever segment holds it live
//! here too.

use std::path::Path;
use std::sync::Arc;

use tantivy::Term;
use tantivy::query::Bm25StatisticsProvider;
use tantivy::schema::Field;

use super::manifest::Manifest;
use crate::IndexError;
use crate::record::Company;
use crate::segment::files::OwnedPath;
use crate::segment::{Segment, Tombstones};
use crate::storage::ColumnsReader;

/// A side file of the live set (tombstones, refreshed priors), deleted when obsolete and unused.
#[derive(Debug)]
pub struct Sidecar<T> {
    pub value: T,
    pub(crate) file: Option<OwnedPath>,
}

impl<T> Sidecar<T> {
    pub fn in_memory(value: T) -> Sidecar<T> {
        Sidecar { value, file: None }
    }

    pub(crate) fn mark_obsolete(&self) {
        if let Some(file) = &self.file {
            file.mark_obsolete();
        }
    }
}

/// One segment of the live set.
#[derive(Debug, Clone)]
pub struct LiveSegment {
    pub segment: Arc<Segment>,
    pub tombstones: Arc<Sidecar<Tombstones>>,
    /// Refreshed prior columns, when they replace the segment's own.
    pub priors: Option<Arc<Sidecar<ColumnsReader>>>,
}

impl LiveSegment {
    pub fn is_live(&self, ord: u32) -> bool {
        ord < self.segment.doc_count() && !self.tombstones.value.is_deleted(ord)
    }

    pub fn live_count(&self) -> u32 {
        self.tombstones.value.live_count()
    }

    /// Every live record of the segment, decoded as `T` (the whole `Company`, or a struct of the
    /// fields the caller needs), with its ordinal, in the order the document store holds them.
    /// A stored record that does not decode as `T` is corruption: the walk finishes, then fails
    /// naming the segment, how many did not decode, and the first error.
    pub fn for_each_live_record<T: serde::de::DeserializeOwned>(
        &self,
        mut each: impl FnMut(u32, T),
    ) -> Result<(), IndexError> {
        let mut undecodable = 0usize;
        let mut first_error = None;
        self.segment.for_each_source(|ord, bytes| {
            if !self.is_live(ord) {
                return;
            }
            match serde_json::from_slice::<T>(bytes) {
                Ok(record) => each(ord, record),
                Err(err) => {
                    undecodable += 1;
                    first_error.get_or_insert(err);
                }
            }
        })?;
        match first_error {
            None => Ok(()),
            Some(err) => Err(IndexError::Corrupt(format!(
                "{}: {undecodable} stored record(s) do not read back ({err}); restore from a snapshot or rebuild the index",
                self.segment.dir().display()
            ))),
        }
    }

    /// The prior column `name` in force (refreshed or the segment's own).
    pub fn prior_column(&self, name: &str) -> Option<&[f32]> {
        match &self.priors {
            Some(priors) => priors.value.column(name),
            None => self.segment.priors().column(name),
        }
    }
}

/// An immutable view of the index at one generation.
#[derive(Debug)]
pub struct Snapshot {
    pub manifest: Manifest,
    pub segments: Vec<LiveSegment>,
}

impl Snapshot {
    /// Every live record of the snapshot, decoded as `T`, with its segment and ordinal (see
    /// [`LiveSegment::for_each_live_record`]).
    pub fn for_each_live_record<T: serde::de::DeserializeOwned>(
        &self,
        mut each: impl FnMut(&LiveSegment, u32, T),
    ) -> Result<(), IndexError> {
        for live in &self.segments {
            live.for_each_live_record(|ord, record| each(live, ord, record))?;
        }
        Ok(())
    }

    pub fn generation(&self) -> u64 {
        self.manifest.generation
    }

    /// Live documents across segments.
    pub fn live_count(&self) -> u64 {
        self.segments.iter().map(|s| u64::from(s.live_count())).sum()
    }

    /// Where the live copy of `id` is.
    pub fn locate(&self, id: &str) -> Option<(usize, u32)> {
        self.segments.iter().enumerate().find_map(|(idx, live)| {
            let ord = live.segment.ord_of(id)?;
            live.is_live(ord).then_some((idx, ord))
        })
    }

    /// The stored record of the live copy of `id`.
    pub fn get(&self, id: &str) -> Result<Option<Company>, IndexError> {
        let Some((idx, ord)) = self.locate(id) else { return Ok(None) };
        let segment = &self.segments[idx].segment;
        let Some(source) = segment.source(ord)? else { return Ok(None) };
        serde_json::from_slice(&source).map(Some).map_err(|err| {
            IndexError::Corrupt(format!("{}: stored record {id} is undecodable: {err}", segment.dir().display()))
        })
    }

    /// Every file this snapshot needs, relative to the data directory (for backups).
    pub fn files(&self, root: &Path) -> Vec<std::path::PathBuf> {
        let mut files = Vec::new();
        for live in &self.segments {
            let dir = live.segment.dir();
            files.push(dir.join(crate::segment::files::META_FILE));
            for entry in &live.segment.meta().files {
                files.push(dir.join(&entry.name));
            }
            for sidecar in [live.tombstones.file.as_ref(), live.priors.as_ref().and_then(|p| p.file.as_ref())]
                .into_iter()
                .flatten()
            {
                files.push(sidecar.path().to_owned());
            }
        }
        files.into_iter().filter_map(|f| f.strip_prefix(root).ok().map(Path::to_owned)).collect()
    }
}

/// BM25 statistics summed over all segments of a snapshot.
#[allow(missing_debug_implementations)]
pub struct GlobalStats<'a> {
    snapshot: &'a Snapshot,
}

impl<'a> GlobalStats<'a> {
    pub fn new(snapshot: &'a Snapshot) -> GlobalStats<'a> {
        GlobalStats { snapshot }
    }
}

impl Bm25StatisticsProvider for GlobalStats<'_> {
    fn total_num_tokens(&self, field: Field) -> tantivy::Result<u64> {
        let mut total = 0;
        for live in &self.snapshot.segments {
            total += live.segment.searcher().total_num_tokens(field)?;
        }
        Ok(total)
    }

    fn total_num_docs(&self) -> tantivy::Result<u64> {
        let mut total = 0;
        for live in &self.snapshot.segments {
            total += live.segment.searcher().total_num_docs()?;
        }
        Ok(total)
    }

    fn doc_freq(&self, term: &Term) -> tantivy::Result<u64> {
        let mut total = 0;
        for live in &self.snapshot.segments {
            total += live.segment.searcher().doc_freq(term)?;
        }
        Ok(total)
    }
}
