//! A reference top-k for tests: the best live documents of a snapshot for any tantivy query,
//! collected by tantivy's own scorers with BM25 statistics summed over every segment (so that a
//! document scores the same whichever segment holds it). It is not the query path (that is
//! `search::Matcher`, which `/match` runs); tests use it to see what an index holds. Included by
//! path from the engine tests here and from the root crate's tests.

use std::collections::BinaryHeap;
use std::sync::Arc;

use marketlounge_index::analysis::{Analyzer, Language};
use marketlounge_index::engine::{GlobalStats, Sidecar, Snapshot};
use marketlounge_index::segment::Tombstones;
use tantivy::collector::{Collector, SegmentCollector};
use tantivy::query::{BooleanQuery, BoostQuery, Occur, Query, TermQuery};
use tantivy::schema::{Field, IndexRecordOption};
use tantivy::{DocId, Score, SegmentReader, Term};

/// A disjunction of the analysed (French) words of `text` over weighted text fields.
pub fn text_query(text: &str, fields: &[(Field, f32)]) -> Box<dyn Query> {
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

/// The top `k` live documents of `snapshot` for `query`: (id, score), best first (ties: lower
/// segment, then lower ordinal).
pub fn search(snapshot: &Snapshot, query: &dyn Query, k: usize) -> tantivy::Result<Vec<(String, f32)>> {
    if k == 0 {
        return Ok(Vec::new());
    }
    let stats = GlobalStats::new(snapshot);
    let mut heap = BinaryHeap::new();
    for (idx, live) in snapshot.segments.iter().enumerate() {
        let collector = LiveTopK { k, tombstones: Arc::clone(&live.tombstones) };
        for (score, ord) in live.segment.searcher().search_with_statistics_provider(query, &collector, &stats)? {
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
        .filter_map(|r| Some((snapshot.segments[r.segment].segment.ids().id(r.ord)?, r.score)))
        .collect())
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
