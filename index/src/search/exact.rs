//! Exact scores of any candidate for weighted clauses (terms, phrases, concept levels): term
//! clauses from the candidates' forward lists where a segment has them, otherwise (and for
//! phrases and levels) by seeking each clause's postings to each candidate. The one place a
//! candidate's lexical, phrase and concept scores come from.

use tantivy::fieldnorm::FieldNormReader;
use tantivy::query::{Bm25Weight, EnableScoring, PhraseQuery, Query, TermQuery, Weight};
use tantivy::schema::IndexRecordOption;
use tantivy::{DocSet, SegmentReader, TERMINATED, Term};

use super::lexical::bm25_weights;
use super::top::DocRef;
use crate::IndexError;
use crate::engine::{GlobalStats, LiveSegment, Snapshot};
use crate::segment::forward::{ForwardLists, Lists};

/// Weighted clauses to score candidates by, and how they combine ([`score_clauses`]).
#[derive(Debug, Clone, Copy)]
pub enum Clauses<'a> {
    /// Σ boost × BM25 of each term (global statistics), summed in clause order.
    Bm25(&'a [(Term, f32)]),
    /// Σ boost × BM25 of each phrase: its terms at their offsets, [`PHRASE_SLOP`] apart at most.
    Phrases(&'a [Phrase]),
    /// The largest weight of a term the document holds (concept levels).
    MaxWeight(&'a [(Term, f32)]),
}

/// How many extra positions a phrase's words may be apart (an adjective, a word order change).
pub const PHRASE_SLOP: u32 = 1;

/// A phrase: its terms at their offsets, and its boost.
pub type Phrase = (Vec<(usize, Term)>, f32);

/// A candidate with its place in the lexical index (looked up once, used by every exact score).
#[derive(Debug, Clone, Copy)]
pub struct DocAddressed {
    pub doc: DocRef,
    pub address: Option<tantivy::DocAddress>,
}

pub fn address(snapshot: &Snapshot, docs: &[DocRef]) -> Result<Vec<DocAddressed>, IndexError> {
    docs.iter()
        .map(|&doc| {
            let address = snapshot.segments[doc.segment].segment.doc_address(doc.ord)?;
            Ok(DocAddressed { doc, address })
        })
        .collect()
}

/// Exact scores of candidates for weighted clauses. Term clauses on a segment with forward
/// lists read each candidate's lists ([`crate::segment::forward`]: a merge of a few dozen
/// ordinals per field); otherwise, and for phrases and concept levels, each clause's postings
/// are sought to each candidate in document order (a term's own seek skips through its block
/// index, but decodes a block of 128 postings per candidate it lands on: on a million
/// companies that was most of the exact phase). Both give the same scores to the bit. Every
/// score of a clause set comes from here, so a document scores the same whichever pool it is in.
///
/// The candidates, in index order, are cut in two halves scored side by side (each half reads
/// its own lists or postings: the scores do not depend on the cut).
pub fn score_clauses(snapshot: &Snapshot, clauses: Clauses<'_>, docs: &[DocAddressed]) -> Result<Vec<f32>, IndexError> {
    score_clauses_using(snapshot, clauses, docs, true)
}

/// [`score_clauses`] seeking every clause's postings even where forward lists exist: the
/// reference the forward lists are checked against.
pub fn score_clauses_by_postings(
    snapshot: &Snapshot,
    clauses: Clauses<'_>,
    docs: &[DocAddressed],
) -> Result<Vec<f32>, IndexError> {
    score_clauses_using(snapshot, clauses, docs, false)
}

fn score_clauses_using(
    snapshot: &Snapshot,
    clauses: Clauses<'_>,
    docs: &[DocAddressed],
    use_forward: bool,
) -> Result<Vec<f32>, IndexError> {
    /// Below this many candidates, one thread.
    const PARALLEL_MIN: usize = 64;
    let mut order: Vec<usize> = (0..docs.len()).filter(|&i| docs[i].address.is_some()).collect();
    order.sort_by_key(|&i| {
        let address = docs[i].address.expect("filtered");
        (docs[i].doc.segment, address.segment_ord, address.doc_id)
    });
    // A clause's weight (its global statistics: a dictionary lookup per tantivy segment) is the
    // same in every tantivy segment of a hybrid segment and for both halves: made once per
    // hybrid segment holding candidates.
    let mut weights: Vec<Option<SegmentWeights>> = snapshot.segments.iter().map(|_| None).collect();
    if matches!(clauses, Clauses::Bm25(_) | Clauses::Phrases(_)) {
        let stats = GlobalStats::new(snapshot);
        // Term clauses on a segment with forward lists: BM25 weights alone (the same for every
        // segment: global statistics).
        let mut bm25: Option<std::sync::Arc<Vec<Bm25Weight>>> = None;
        for &i in &order {
            let seg = docs[i].doc.segment;
            if weights[seg].is_some() {
                continue;
            }
            let live = &snapshot.segments[seg];
            weights[seg] = Some(match (clauses, live.segment.forward().filter(|_| use_forward)) {
                (Clauses::Bm25(terms), Some(forward))
                    if terms.iter().all(|(term, _)| forward.field_index(term.field()).is_some()) =>
                {
                    let bm25 = match &bm25 {
                        Some(bm25) => std::sync::Arc::clone(bm25),
                        None => {
                            let made = std::sync::Arc::new(bm25_weights(&stats, terms)?);
                            bm25 = Some(std::sync::Arc::clone(&made));
                            made
                        }
                    };
                    SegmentWeights::Forward(bm25)
                }
                (Clauses::Phrases(phrases), Some(forward))
                    if phrases
                        .iter()
                        .flat_map(|(terms, _)| terms)
                        .all(|(_, t)| forward.field_index(t.field()).is_some()) =>
                {
                    SegmentWeights::Postings { weights: clause_weights(&stats, live, clauses)?, forward_filter: true }
                }
                _ => {
                    SegmentWeights::Postings { weights: clause_weights(&stats, live, clauses)?, forward_filter: false }
                }
            });
        }
    }
    let weights = &weights;
    let mut scores = vec![0f32; docs.len()];
    if order.len() < PARALLEL_MIN {
        score_in_order(snapshot, clauses, weights, docs, &order, &mut scores)?;
        return Ok(scores);
    }
    // At the run boundary nearest the middle: a half that starts inside a tantivy segment
    // walks that segment's skip lists from their start all the same.
    let key = |i: usize| run_key(&docs[i]);
    let middle = order.len() / 2;
    let before = order[..middle].iter().rev().take_while(|&&i| key(i) == key(order[middle])).count();
    let after = order[middle..].iter().take_while(|&&i| key(i) == key(order[middle])).count();
    let cut = if before <= after { middle - before } else { middle + after };
    let (first, second) = order.split_at(cut);
    let mut second_scores = vec![0f32; docs.len()];
    let (a, b) = rayon::join(
        || score_in_order(snapshot, clauses, weights, docs, first, &mut scores),
        || score_in_order(snapshot, clauses, weights, docs, second, &mut second_scores),
    );
    a?;
    b?;
    for &i in second {
        scores[i] = second_scores[i];
    }
    Ok(scores)
}

/// The hybrid segment and the tantivy segment of a candidate (one with an address).
fn run_key(doc: &DocAddressed) -> (usize, u32) {
    (doc.doc.segment, doc.address.expect("only candidates with an address are scored").segment_ord)
}

/// [`score_clauses`] of the candidates `order` (indices into `docs`, in index order), into
/// `scores`, with the clause weights of each hybrid segment holding candidates (term clauses and
/// phrases).
fn score_in_order(
    snapshot: &Snapshot,
    clauses: Clauses<'_>,
    weights: &[Option<SegmentWeights>],
    docs: &[DocAddressed],
    order: &[usize],
    scores: &mut [f32],
) -> Result<(), IndexError> {
    // Runs of candidates in one tantivy segment of one hybrid segment.
    let mut start = 0;
    while start < order.len() {
        let key = |i: usize| run_key(&docs[i]);
        let (seg, segment_ord) = key(order[start]);
        let end = start + order[start..].iter().take_while(|&&i| key(i) == (seg, segment_ord)).count();
        let run = &order[start..end];
        let live = &snapshot.segments[seg];
        let dir = live.segment.dir();
        let reader = &live.segment.searcher().segment_readers()[segment_ord as usize];
        match clauses {
            Clauses::Bm25(terms) if matches!(weights[seg], Some(SegmentWeights::Forward(_))) => {
                let Some(SegmentWeights::Forward(bm25)) = &weights[seg] else { unreachable!("matched above") };
                let forward = live.segment.forward().expect("forward weights only with forward lists");
                score_forward(forward, segment_ord as usize, reader, terms, bm25, docs, run, scores).map_err(
                    |err| match err {
                        ForwardError::Lexical(err) => IndexError::lexical_read(dir)(err),
                        ForwardError::Corrupt => malformed_forward(dir),
                    },
                )?;
            }
            Clauses::Bm25(_) | Clauses::Phrases(_) => {
                let Some(SegmentWeights::Postings { weights, forward_filter }) = weights[seg].as_ref() else {
                    unreachable!("weights are made for every hybrid segment with candidates")
                };
                // Made when first needed: a phrase no candidate here may match never opens its
                // postings and positions.
                let mut scorers: Vec<Option<Box<dyn tantivy::query::Scorer>>> = weights.iter().map(|_| None).collect();
                let mut filter = match (clauses, *forward_filter) {
                    (Clauses::Phrases(phrases), true) => {
                        let forward = live.segment.forward().expect("a forward filter only with forward lists");
                        Some(
                            PhraseFilter::new(forward, segment_ord as usize, reader, phrases)
                                .map_err(IndexError::lexical_read(dir))?,
                        )
                    }
                    _ => None,
                };
                for &i in run {
                    let target = docs[i].address.expect("filtered").doc_id;
                    if let Some(filter) = &mut filter {
                        filter.load(target).map_err(|_| malformed_forward(dir))?;
                    }
                    let mut sum = 0f32;
                    for (clause, scorer) in scorers.iter_mut().enumerate() {
                        if filter.as_ref().is_some_and(|filter| !filter.may_match(clause)) {
                            continue;
                        }
                        let scorer = match scorer {
                            Some(scorer) => scorer,
                            None => {
                                let (weight, boost) = &weights[clause];
                                scorer.insert(weight.scorer(reader, *boost).map_err(IndexError::lexical_read(dir))?)
                            }
                        };
                        let current = scorer.doc();
                        let at = if current != TERMINATED && current < target { scorer.seek(target) } else { current };
                        if at == target {
                            sum += scorer.score();
                        }
                    }
                    scores[i] = sum;
                }
            }
            Clauses::MaxWeight(terms) => {
                let mut postings = Vec::with_capacity(terms.len());
                for (term, weight) in terms {
                    let index = reader.inverted_index(term.field()).map_err(IndexError::lexical_read(dir))?;
                    if let Some(p) = index
                        .read_postings(term, IndexRecordOption::Basic)
                        .map_err(|err| IndexError::lexical_read(dir)(err.into()))?
                    {
                        postings.push((p, *weight));
                    }
                }
                for &i in run {
                    let target = docs[i].address.expect("filtered").doc_id;
                    let mut best = 0f32;
                    for (p, weight) in postings.iter_mut() {
                        let current = p.doc();
                        let at = if current != TERMINATED && current < target { p.seek(target) } else { current };
                        if at == target {
                            best = best.max(*weight);
                        }
                    }
                    scores[i] = best;
                }
            }
        }
        start = end;
    }
    Ok(())
}

/// What [`score_in_order`] scores a hybrid segment's candidates with.
enum SegmentWeights {
    /// tantivy weights, whose scorers seek each clause's postings to each candidate; with
    /// `forward_filter` (phrases on a segment with forward lists), only to the candidates whose
    /// lists hold every word of the phrase.
    Postings { weights: BoostedWeights, forward_filter: bool },
    /// BM25 weights of term clauses, applied to the candidates' forward lists.
    Forward(std::sync::Arc<Vec<Bm25Weight>>),
}

/// Clause weights and their boosts.
type BoostedWeights = Vec<(Box<dyn Weight>, f32)>;

/// The weight of each clause with global statistics, for one hybrid segment.
fn clause_weights(
    stats: &GlobalStats<'_>,
    live: &LiveSegment,
    clauses: Clauses<'_>,
) -> Result<BoostedWeights, IndexError> {
    let queries: Vec<(Box<dyn Query>, f32)> = match clauses {
        Clauses::Phrases(phrases) => phrases
            .iter()
            .map(|(terms, boost)| {
                let mut phrase = PhraseQuery::new_with_offset(terms.clone());
                phrase.set_slop(PHRASE_SLOP);
                (Box::new(phrase) as Box<dyn Query>, *boost)
            })
            .collect(),
        Clauses::Bm25(terms) | Clauses::MaxWeight(terms) => terms
            .iter()
            .map(|(term, boost)| {
                let query = TermQuery::new(term.clone(), IndexRecordOption::WithFreqs);
                (Box::new(query) as Box<dyn Query>, *boost)
            })
            .collect(),
    };
    queries.into_iter().map(|(query, boost)| Ok((weight_of(query.as_ref(), live, stats)?, boost))).collect()
}

fn weight_of(query: &dyn Query, live: &LiveSegment, stats: &GlobalStats<'_>) -> Result<Box<dyn Weight>, IndexError> {
    let searcher = live.segment.searcher();
    query
        .weight(EnableScoring::enabled_from_statistics_provider(stats, searcher))
        .map_err(IndexError::lexical_read(live.segment.dir()))
}

/// Σ boost × BM25 of term `clauses` for the candidates `run` (one tantivy segment, `part` in
/// its searcher, in doc-id order) from their forward lists: each clause's term ordinal is
/// looked up once, then every candidate's entries of the fields queried are merged with the
/// clauses' ordinals. Each clause's contribution is `bm25[i].score(fieldnorm, tf)` as in
/// tantivy's `TermScorer`, and the contributions are summed in clause order as the postings
/// path does: the scores are the same to the bit.
#[allow(clippy::too_many_arguments)]
fn score_forward(
    forward: &ForwardLists,
    part: usize,
    reader: &SegmentReader,
    clauses: &[(Term, f32)],
    bm25: &[Bm25Weight],
    docs: &[DocAddressed],
    run: &[usize],
    scores: &mut [f32],
) -> Result<(), ForwardError> {
    let lexical = |err: tantivy::TantivyError| ForwardError::Lexical(err);
    /// A forward field queried: its index, the clauses' (term ordinal, clause) pairs by
    /// ordinal, its norms.
    struct Wanted {
        index: usize,
        pairs: Vec<(u32, u32)>,
        norms: FieldNormReader,
    }
    let mut wanted: Vec<Wanted> = Vec::new();
    for (clause, (term, _)) in clauses.iter().enumerate() {
        let field = term.field();
        let index = forward.field_index(field).expect("checked before choosing the forward lists");
        let inverted = reader.inverted_index(field).map_err(lexical)?;
        let Some(ord) = inverted.terms().term_ord(term.serialized_value_bytes()).map_err(|e| lexical(e.into()))? else {
            continue;
        };
        let ord = u32::try_from(ord).map_err(|_| ForwardError::Corrupt)?;
        let slot = match wanted.iter().position(|w| w.index == index) {
            Some(slot) => slot,
            None => {
                // As tantivy's `TermWeight`: a field without norms counts every document as 1.
                let norms = match reader.fieldnorms_readers().get_field(field).map_err(lexical)? {
                    Some(norms) => norms,
                    None => FieldNormReader::constant(reader.max_doc(), 1),
                };
                wanted.push(Wanted { index, pairs: Vec::new(), norms });
                wanted.len() - 1
            }
        };
        wanted[slot].pairs.push((ord, clause as u32));
    }
    for w in &mut wanted {
        w.pairs.sort_unstable();
    }
    // Which of `wanted` queries each forward field.
    let mut slot_of = vec![None; forward.fields().len()];
    for (slot, w) in wanted.iter().enumerate() {
        slot_of[w.index] = Some(slot);
    }
    // Every candidate's lists are located (and their first bytes read) before any is decoded:
    // these loads of different candidates are independent, so the memory system serves them
    // together instead of one miss after another inside the decoding loop.
    let doc_of = |i: usize| docs[i].address.expect("only candidates with an address are scored").doc_id;
    let lists: Vec<Lists<'_>> = run.iter().map(|&i| forward.document(part, doc_of(i))).collect();
    std::hint::black_box(lists.iter().fold(0u8, |acc, lists| acc ^ lists.first_byte()));
    let mut parts = vec![0f32; clauses.len()];
    for (&i, mut lists) in run.iter().zip(lists) {
        let doc = doc_of(i);
        parts.fill(0.0);
        for (index, mut entries) in lists.by_ref() {
            let Some(Wanted { pairs, norms, .. }) = slot_of.get(index).copied().flatten().map(|slot| &wanted[slot])
            else {
                continue;
            };
            let mut next = 0;
            let mut norm = None;
            for (ord, tf) in entries.by_ref() {
                while next < pairs.len() && pairs[next].0 < ord {
                    next += 1;
                }
                if next == pairs.len() {
                    break;
                }
                let norm = *norm.get_or_insert_with(|| norms.fieldnorm_id(doc));
                let mut at = next;
                while at < pairs.len() && pairs[at].0 == ord {
                    let clause = pairs[at].1 as usize;
                    parts[clause] = bm25[clause].score(norm, tf);
                    at += 1;
                }
            }
            if entries.is_corrupt() {
                return Err(ForwardError::Corrupt);
            }
        }
        if lists.is_corrupt() {
            return Err(ForwardError::Corrupt);
        }
        scores[i] = parts.iter().fold(0f32, |sum, part| sum + part);
    }
    Ok(())
}

/// Which phrases a candidate may match, from its forward lists: those whose every word it holds
/// in the phrase's field. A phrase scorer seeks (and decodes postings and positions) only for
/// those; for the others the score is 0 all the same.
struct PhraseFilter<'a> {
    forward: &'a ForwardLists,
    part: usize,
    /// Per phrase: its words' (forward field, term ordinal); `None` when a word is not in this
    /// tantivy segment at all (the phrase matches nothing here).
    words: Vec<Option<Vec<(usize, u32)>>>,
    /// The forward fields the phrases use, and the current candidate's ordinals in each.
    fields: Vec<(usize, Vec<u32>)>,
}

impl<'a> PhraseFilter<'a> {
    fn new(
        forward: &'a ForwardLists,
        part: usize,
        reader: &SegmentReader,
        phrases: &[Phrase],
    ) -> Result<PhraseFilter<'a>, tantivy::TantivyError> {
        let mut fields: Vec<(usize, Vec<u32>)> = Vec::new();
        let mut words = Vec::with_capacity(phrases.len());
        for (terms, _) in phrases {
            let mut phrase = Vec::with_capacity(terms.len());
            for (_, term) in terms {
                let index = forward.field_index(term.field()).expect("checked before choosing the filter");
                let ord = reader.inverted_index(term.field())?.terms().term_ord(term.serialized_value_bytes())?;
                let Some(ord) = ord.and_then(|ord| u32::try_from(ord).ok()) else {
                    phrase.clear();
                    break;
                };
                phrase.push((index, ord));
                if !fields.iter().any(|(i, _)| *i == index) {
                    fields.push((index, Vec::new()));
                }
            }
            words.push((!phrase.is_empty()).then_some(phrase));
        }
        Ok(PhraseFilter { forward, part, words, fields })
    }

    /// Reads document `doc`'s ordinals in the phrases' fields.
    fn load(&mut self, doc: u32) -> Result<(), ForwardError> {
        for (_, ords) in &mut self.fields {
            ords.clear();
        }
        let mut lists = self.forward.document(self.part, doc);
        for (index, mut entries) in lists.by_ref() {
            if let Some((_, ords)) = self.fields.iter_mut().find(|(i, _)| *i == index) {
                ords.extend(entries.by_ref().map(|(ord, _)| ord));
                if entries.is_corrupt() {
                    return Err(ForwardError::Corrupt);
                }
            }
        }
        if lists.is_corrupt() {
            return Err(ForwardError::Corrupt);
        }
        Ok(())
    }

    /// Whether the loaded document holds every word of phrase `phrase`.
    fn may_match(&self, phrase: usize) -> bool {
        let Some(words) = &self.words[phrase] else { return false };
        words.iter().all(|(index, ord)| {
            self.fields.iter().find(|(i, _)| i == index).is_some_and(|(_, ords)| ords.binary_search(ord).is_ok())
        })
    }
}

enum ForwardError {
    Lexical(tantivy::TantivyError),
    Corrupt,
}

fn malformed_forward(dir: &std::path::Path) -> IndexError {
    IndexError::Corrupt(format!(
        "{}: forward lists hold a malformed entry; restore from a snapshot or rebuild the index",
        dir.display()
    ))
}
