//! Lexical retrieval: the top documents of Σ boost × BM25 over term clauses (MaxScore, global
//! statistics), concept candidates level by level, and the background statistics that calibrate
//! a lexical score, from term statistics alone.

use tantivy::fieldnorm::FieldNormReader;
use tantivy::postings::{Postings, SegmentPostings};
use tantivy::query::Bm25Weight;
use tantivy::schema::IndexRecordOption;
use tantivy::{DocSet, SegmentReader, TERMINATED, Term};

use rayon::prelude::*;

use super::filter::{Allowed, ord_column};
use super::top::{DocRef, Scored, TopN};
use crate::IndexError;
use crate::engine::{GlobalStats, Snapshot};

/// Score statistics of a query over the documents of the snapshot (documents it does not match
/// count as 0), estimated from term statistics ([`term_background`]).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Background {
    /// Live documents the query matches (estimated: the largest document frequency of a clause).
    pub matched: u64,
    /// Live documents.
    pub population: u64,
    pub mean: f64,
    pub std: f64,
}

/// The `n` best allowed documents for Σ boost × BM25 of weighted term clauses (global
/// statistics), by MaxScore (Turtle and Flood, 1995): the clauses are ordered by their largest
/// possible contribution, and those whose bounds together cannot lift a document above the
/// current n-th score are "non-essential": they are never iterated, only probed for the
/// documents the essential clauses bring, and not even probed once a document's score plus
/// what they could still add falls short. With many companies saying the same words in texts
/// of about the same length, block maxima are all near the list maximum and block-max WAND
/// skips little; MaxScore lets the common words (the long lists) be probed instead of merged.
///
/// The largest tantivy segment runs first, alone; the others then run side by side on rayon's
/// pool (the two cores; the vector pass runs beside the first), each starting from the first's
/// n-th score: a later document scoring no more than that can never enter, since the first
/// segment already holds n documents as good (of tied documents, the earlier segment's stay).
/// Which documents each segment reports depends only on that threshold, never on timing: the
/// result is deterministic.
pub fn top_pass(
    snapshot: &Snapshot,
    clauses: &[(Term, f32)],
    allowed: &Allowed,
    n: usize,
) -> Result<Vec<Scored>, IndexError> {
    let weights = bm25_weights(&GlobalStats::new(snapshot), clauses)?;
    let mut parts: Vec<(usize, &SegmentReader)> = snapshot
        .segments
        .iter()
        .enumerate()
        .flat_map(|(seg, live)| live.segment.searcher().segment_readers().iter().map(move |reader| (seg, reader)))
        .collect();
    // Largest first (a stable sort: equal sizes keep snapshot order).
    parts.sort_by_key(|(_, reader)| std::cmp::Reverse(reader.max_doc()));
    let Some((&first, rest)) = parts.split_first() else { return Ok(Vec::new()) };
    let mut top = TopN::new(n);
    max_score_segment(snapshot, first, clauses, &weights, allowed, 0.0, &mut top)?;
    let floor = top.threshold().unwrap_or(0.0);
    let tops: Vec<Result<TopN, IndexError>> = rest
        .par_iter()
        .map(|&part| {
            let mut top = TopN::new(n);
            max_score_segment(snapshot, part, clauses, &weights, allowed, floor, &mut top)?;
            Ok(top)
        })
        .collect();
    for part in tops {
        for scored in part?.into_sorted() {
            top.offer(scored);
        }
    }
    Ok(top.into_sorted())
}

/// Candidates from levelled terms (a concept and those below it): the allowed documents holding
/// a term of the highest level first, then the next level, until `n` are found, each scored by
/// the level of its best term. A document of a level is as good as any other of that level, so
/// the pass stops reading postings at `n` instead of visiting every match (a broad concept holds
/// a large share of the companies); which of the tied documents it keeps follows index order.
pub(crate) fn leveled_pass(
    snapshot: &Snapshot,
    terms: &[(Term, f32)],
    allowed: &Allowed,
    n: usize,
) -> Result<Vec<Scored>, IndexError> {
    if n == 0 {
        return Ok(Vec::new());
    }
    let mut levels: Vec<f32> = terms.iter().map(|(_, level)| *level).filter(|l| *l > 0.0).collect();
    levels.sort_by(|a, b| b.total_cmp(a));
    levels.dedup();
    let mut seen = std::collections::HashSet::with_capacity(n);
    let mut found = Vec::with_capacity(n);
    'levels: for level in levels {
        for (seg, live) in snapshot.segments.iter().enumerate() {
            for reader in live.segment.searcher().segment_readers() {
                let ords = ord_column(reader, live.segment.dir())?;
                for (term, _) in terms.iter().filter(|(_, l)| *l == level) {
                    let index =
                        reader.inverted_index(term.field()).map_err(IndexError::lexical_read(live.segment.dir()))?;
                    let Some(mut postings) = index
                        .read_postings(term, IndexRecordOption::Basic)
                        .map_err(|err| IndexError::lexical_read(live.segment.dir())(err.into()))?
                    else {
                        continue;
                    };
                    let mut doc = postings.doc();
                    while doc != TERMINATED {
                        if let Some(ord) = ords.first(doc) {
                            let doc_ref = DocRef { segment: seg, ord: ord as u32 };
                            if allowed.allows(snapshot, seg, doc_ref.ord) && seen.insert(doc_ref) {
                                found.push(Scored { doc: doc_ref, score: level });
                                if found.len() == n {
                                    break 'levels;
                                }
                            }
                        }
                        doc = postings.advance();
                    }
                }
            }
        }
    }
    found.sort();
    Ok(found)
}

/// The background of a disjunction of weighted term clauses from term statistics alone: each
/// clause adds boost × idf to a document that holds its term once in a field of average length
/// (BM25's typical score), present in a share p = df / N of documents, so the query's score
/// over the collection has mean Σ a·p and variance Σ a²·p·(1 − p) (clauses taken as
/// independent). Exact moments would need every match scored; these cost one dictionary
/// lookup per clause.
pub(crate) fn term_background(snapshot: &Snapshot, clauses: &[(Term, f32)]) -> Result<Background, IndexError> {
    use tantivy::query::Bm25StatisticsProvider;
    let stats = GlobalStats::new(snapshot);
    let lexical = |source| IndexError::Statistics { source };
    let n = stats.total_num_docs().map_err(lexical)? as f64;
    let population = snapshot.live_count();
    if n == 0.0 {
        return Ok(Background { population, ..Background::default() });
    }
    let (mut mean, mut variance, mut matched) = (0f64, 0f64, 0f64);
    for (term, boost) in clauses {
        let df = stats.doc_freq(term).map_err(lexical)? as f64;
        if df == 0.0 {
            continue;
        }
        let idf = (1.0 + (n - df + 0.5) / (df + 0.5)).ln();
        let a = f64::from(*boost) * idf;
        let p = (df / n).min(1.0);
        mean += a * p;
        variance += a * a * p * (1.0 - p);
        matched = f64::max(matched, df);
    }
    Ok(Background { matched: matched as u64, population, mean, std: variance.sqrt() })
}

/// Each clause's BM25 weight (global statistics) times its boost: what tantivy's `TermWeight`
/// hands its `TermScorer` for the same statistics and boost.
pub(super) fn bm25_weights(stats: &GlobalStats<'_>, clauses: &[(Term, f32)]) -> Result<Vec<Bm25Weight>, IndexError> {
    clauses
        .iter()
        .map(|(term, boost)| {
            Bm25Weight::for_terms(stats, std::slice::from_ref(term))
                .map(|weight| weight.boost_by(*boost))
                .map_err(|source| IndexError::Statistics { source })
        })
        .collect()
}

/// One clause's postings in one tantivy segment, for [`max_score_segment`].
struct ClauseCursor {
    postings: SegmentPostings,
    norms: FieldNormReader,
    weight: Bm25Weight,
    /// The largest contribution the clause can make (BM25's saturation: boost × idf × (k1 + 1)).
    bound: f32,
}

impl ClauseCursor {
    fn score(&self) -> f32 {
        self.weight.score(self.norms.fieldnorm_id(self.postings.doc()), self.postings.term_freq())
    }
}

/// MaxScore over one tantivy segment, offering into `top` (see [`top_pass`]) the documents
/// scoring above `floor`. Only a document scoring above the current n-th can enter: of
/// documents tied on the threshold, the first visited stays.
fn max_score_segment(
    snapshot: &Snapshot,
    (seg, reader): (usize, &SegmentReader),
    clauses: &[(Term, f32)],
    weights: &[Bm25Weight],
    allowed: &Allowed,
    floor: f32,
    top: &mut TopN,
) -> Result<(), IndexError> {
    let dir = snapshot.segments[seg].segment.dir();
    let io = |err: std::io::Error| IndexError::lexical_read(dir)(err.into());
    let mut cursors: Vec<ClauseCursor> = Vec::with_capacity(clauses.len());
    for ((term, _), weight) in clauses.iter().zip(weights) {
        let index = reader.inverted_index(term.field()).map_err(IndexError::lexical_read(dir))?;
        let Some(postings) = index.read_postings(term, IndexRecordOption::WithFreqs).map_err(io)? else {
            continue;
        };
        if postings.doc() == TERMINATED {
            continue;
        }
        let norms = reader.get_fieldnorms_reader(term.field()).map_err(IndexError::lexical_read(dir))?;
        cursors.push(ClauseCursor { postings, norms, bound: weight.max_score(), weight: weight.clone() });
    }
    // Smallest bound first; `below[i]` is what the clauses before `i` can add together.
    cursors.sort_by(|a, b| a.bound.total_cmp(&b.bound));
    let mut below = Vec::with_capacity(cursors.len() + 1);
    below.push(0f32);
    for cursor in &cursors {
        below.push(below.last().copied().unwrap_or(0.0) + cursor.bound);
    }
    let ords = ord_column(reader, dir)?;
    let mut threshold = top.threshold().unwrap_or(0.0).max(floor);
    // The first essential clause: those before it cannot reach the threshold together.
    let essential_from = |threshold: f32| below.iter().skip(1).take_while(|&&sum| sum <= threshold).count();
    let mut first_essential = essential_from(threshold);
    // On a subset (filters), a document the subset leaves out is skipped before it is scored:
    // the threshold rises slowly there, so most postings are visited.
    let subset = allowed.sets[seg].is_some();
    while first_essential < cursors.len() {
        let doc = cursors[first_essential..].iter().map(|c| c.postings.doc()).min().unwrap_or(TERMINATED);
        if doc == TERMINATED {
            break;
        }
        if subset && !ords.first(doc).is_some_and(|ord| allowed.allows(snapshot, seg, ord as u32)) {
            for cursor in &mut cursors[first_essential..] {
                if cursor.postings.doc() == doc {
                    cursor.postings.advance();
                }
            }
            continue;
        }
        let mut score = 0f32;
        for cursor in &mut cursors[first_essential..] {
            if cursor.postings.doc() == doc {
                score += cursor.score();
                cursor.postings.advance();
            }
        }
        let mut pruned = false;
        for i in (0..first_essential).rev() {
            if score + below[i + 1] <= threshold {
                pruned = true;
                break;
            }
            let cursor = &mut cursors[i];
            if cursor.postings.doc() < doc {
                cursor.postings.seek(doc);
            }
            if cursor.postings.doc() == doc {
                score += cursor.score();
            }
        }
        if pruned || score <= threshold {
            continue;
        }
        if let Some(ord) = ords.first(doc) {
            let ord = ord as u32;
            if allowed.allows(snapshot, seg, ord) {
                top.offer(Scored { doc: DocRef { segment: seg, ord }, score });
                if let Some(t) = top.threshold()
                    && t > threshold
                {
                    threshold = t;
                    first_essential = essential_from(threshold);
                }
            }
        }
    }
    Ok(())
}
