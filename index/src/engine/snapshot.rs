//! A snapshot of the live set: the segments a manifest names, with their tombstones and prior
//! columns, held by `Arc` so that a publish never disturbs a query that started before it.
//! Lexical retrieval with BM25 statistics that are global across segments lives here too.

use std::collections::BinaryHeap;
use std::path::Path;
use std::sync::Arc;

use tantivy::collector::{Collector, SegmentCollector};
use tantivy::query::{Bm25StatisticsProvider, BooleanQuery, BoostQuery, Occur, Query, TermQuery};
use tantivy::schema::{Field, IndexRecordOption};
use tantivy::{DocId, Score, SegmentReader, Term};

use super::manifest::Manifest;
use crate::analysis::{Analyzer, Language};
use crate::record::Company;
use crate::segment::files::OwnedPath;
use crate::segment::{IndexError, Segment, Tombstones};
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

/// A document found by retrieval.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    pub id: String,
    /// Index of the segment in `Snapshot::segments`.
    pub segment: usize,
    pub ord: u32,
    pub score: f32,
}

impl Snapshot {
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

    /// Top `k` live documents for a tantivy query, scored with BM25 statistics summed over every
    /// segment, so that a document scores the same whichever segment holds it.
    pub fn search(&self, query: &dyn Query, k: usize) -> Result<Vec<Hit>, IndexError> {
        if k == 0 {
            return Ok(Vec::new());
        }
        let stats = GlobalStats { snapshot: self };
        let mut heap = BinaryHeap::new();
        for (idx, live) in self.segments.iter().enumerate() {
            let searcher = live.segment.searcher();
            let collector = LiveTopK { k, tombstones: Arc::clone(&live.tombstones) };
            let hits = searcher
                .search_with_statistics_provider(query, &collector, &stats)
                .map_err(IndexError::lexical(live.segment.dir()))?;
            for (score, ord) in hits {
                heap.push(Ranked { score, segment: idx, ord });
                if heap.len() > k {
                    heap.pop();
                }
            }
        }
        let mut ranked = heap.into_vec();
        ranked.sort();
        Ok(ranked
            .into_iter()
            .filter_map(|r| {
                let id = self.segments[r.segment].segment.ids().id(r.ord)?;
                Some(Hit { id, segment: r.segment, ord: r.ord, score: r.score })
            })
            .collect())
    }

    /// A disjunction of the analysed words of `text` over weighted text fields.
    pub fn text_query(&self, text: &str, fields: &[(Field, f32)]) -> Box<dyn Query> {
        let tokens = Analyzer::new(Language::French).analyze(text);
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        for token in tokens {
            let Some(stem) = token.stem else { continue };
            for &(field, weight) in fields {
                let term = Term::from_field_text(field, &stem);
                let query = TermQuery::new(term, IndexRecordOption::WithFreqs);
                clauses.push((Occur::Should, Box::new(BoostQuery::new(Box::new(query), weight))));
            }
        }
        Box::new(BooleanQuery::new(clauses))
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

#[derive(Debug, PartialEq)]
struct Ranked {
    score: f32,
    segment: usize,
    ord: u32,
}

impl Eq for Ranked {}

impl Ord for Ranked {
    /// Best first: higher score, then lower (segment, ord) for a stable order among ties. In a
    /// max-heap the *worst* is on top, which is what a bounded top-k heap pops.
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        other
            .score
            .total_cmp(&self.score)
            .then_with(|| self.segment.cmp(&other.segment))
            .then_with(|| self.ord.cmp(&other.ord))
    }
}

impl PartialOrd for Ranked {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
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

/// Top-k by score over the live documents of one hybrid segment, returning ordinals.
struct LiveTopK {
    k: usize,
    tombstones: Arc<Sidecar<Tombstones>>,
}

struct LiveTopKSegment {
    k: usize,
    tombstones: Arc<Sidecar<Tombstones>>,
    ords: tantivy::columnar::Column<u64>,
    heap: BinaryHeap<Ranked>,
}

impl Collector for LiveTopK {
    type Fruit = Vec<(f32, u32)>;
    type Child = LiveTopKSegment;

    fn for_segment(&self, _segment_local_id: u32, reader: &SegmentReader) -> tantivy::Result<LiveTopKSegment> {
        let ords = reader.fast_fields().u64("ord")?;
        Ok(LiveTopKSegment { k: self.k, tombstones: Arc::clone(&self.tombstones), ords, heap: BinaryHeap::new() })
    }

    fn requires_scoring(&self) -> bool {
        true
    }

    fn merge_fruits(&self, fruits: Vec<Vec<(f32, u32)>>) -> tantivy::Result<Vec<(f32, u32)>> {
        let mut all: Vec<(f32, u32)> = fruits.into_iter().flatten().collect();
        all.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        all.truncate(self.k);
        Ok(all)
    }
}

impl SegmentCollector for LiveTopKSegment {
    type Fruit = Vec<(f32, u32)>;

    fn collect(&mut self, doc: DocId, score: Score) {
        let Some(ord) = self.ords.first(doc) else { return };
        let ord = ord as u32;
        if self.tombstones.value.is_deleted(ord) {
            return;
        }
        if self.heap.len() == self.k {
            let worst = self.heap.peek().expect("k > 0");
            if score < worst.score || (score == worst.score && ord > worst.ord) {
                return;
            }
        }
        self.heap.push(Ranked { score, segment: 0, ord });
        if self.heap.len() > self.k {
            self.heap.pop();
        }
    }

    fn harvest(self) -> Vec<(f32, u32)> {
        self.heap.into_iter().map(|r| (r.score, r.ord)).collect()
    }
}
