//! Retrieval over a snapshot: which documents a request allows, the top documents of a scored
//! lexical query (with the background statistics that calibrate its scores), the nearest vectors
//! under the same filters, and exact component scores for any candidate.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use tantivy::fieldnorm::FieldNormReader;
use tantivy::postings::{Postings, SegmentPostings};
use tantivy::query::{Bm25Weight, BooleanQuery, EnableScoring, Occur, PhraseQuery, Query, TermQuery, Weight};
use tantivy::schema::IndexRecordOption;
use tantivy::{DocSet, SegmentReader, TERMINATED, Term};

use crate::engine::{GlobalStats, LiveSegment, Snapshot};
use crate::segment::IndexError;
use crate::segment::forward::{ForwardLists, Lists};
use rayon::prelude::*;

/// A set of ordinals of one segment.
#[derive(Debug, Clone)]
pub struct OrdSet {
    words: Vec<u64>,
    count: u32,
}

impl OrdSet {
    pub fn new(n_docs: u32) -> OrdSet {
        OrdSet { words: vec![0; (n_docs as usize).div_ceil(64)], count: 0 }
    }

    pub fn insert(&mut self, ord: u32) {
        let (word, bit) = (ord as usize / 64, 1u64 << (ord % 64));
        if let Some(w) = self.words.get_mut(word)
            && *w & bit == 0
        {
            *w |= bit;
            self.count += 1;
        }
    }

    pub fn contains(&self, ord: u32) -> bool {
        self.words.get(ord as usize / 64).is_some_and(|w| w & (1 << (ord % 64)) != 0)
    }

    pub fn count(&self) -> u32 {
        self.count
    }

    pub fn iter(&self) -> impl Iterator<Item = u32> + '_ {
        self.words.iter().enumerate().flat_map(|(idx, &word)| {
            let mut bits = word;
            std::iter::from_fn(move || {
                if bits == 0 {
                    return None;
                }
                let bit = bits.trailing_zeros();
                bits &= bits - 1;
                Some(idx as u32 * 64 + bit)
            })
        })
    }
}

/// The documents a request may return, per segment of the snapshot: `None` means every live
/// document of the segment.
#[derive(Debug)]
pub struct Allowed {
    pub sets: Vec<Option<OrdSet>>,
    /// Allowed live documents across segments.
    pub count: u64,
}

impl Allowed {
    pub fn everything(snapshot: &Snapshot) -> Allowed {
        Allowed { sets: vec![None; snapshot.segments.len()], count: snapshot.live_count() }
    }

    pub fn is_restricted(&self) -> bool {
        self.sets.iter().any(Option::is_some)
    }

    /// Whether the live document `ord` of segment `seg` is allowed.
    pub fn allows(&self, snapshot: &Snapshot, seg: usize, ord: u32) -> bool {
        match &self.sets[seg] {
            Some(set) => set.contains(ord),
            None => snapshot.segments[seg].is_live(ord),
        }
    }

    fn allowed_in(&self, snapshot: &Snapshot, seg: usize) -> u32 {
        match &self.sets[seg] {
            Some(set) => set.count(),
            None => snapshot.segments[seg].live_count(),
        }
    }
}

/// A circle filter resolved to what the columns hold.
#[derive(Debug, Clone, Copy)]
pub struct Circle {
    pub lat: f64,
    pub lon: f64,
    pub km: f64,
}

/// Great-circle distance in km.
pub fn haversine_km(lat1: f64, lon1: f64, lat2: f64, lon2: f64) -> f64 {
    let (p1, p2) = (lat1.to_radians(), lat2.to_radians());
    let dp = p2 - p1;
    let dl = (lon2 - lon1).to_radians();
    let a = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
    2.0 * 6371.0088 * a.sqrt().min(1.0).asin()
}

/// The coordinates of live document `ord`, if known.
pub fn coordinates(live: &LiveSegment, ord: u32) -> Option<(f64, f64)> {
    let lat = *live.prior_column("lat")?.get(ord as usize)?;
    let lon = *live.prior_column("lon")?.get(ord as usize)?;
    (lat.is_finite() && lon.is_finite()).then_some((f64::from(lat), f64::from(lon)))
}

/// Applies a filter query (no scoring) and circles to every segment.
pub fn allowed(snapshot: &Snapshot, query: Option<&dyn Query>, circles: &[Circle]) -> Result<Allowed, IndexError> {
    if query.is_none() && circles.is_empty() {
        return Ok(Allowed::everything(snapshot));
    }
    let mut sets = Vec::with_capacity(snapshot.segments.len());
    let mut count = 0u64;
    for live in &snapshot.segments {
        let segment = &live.segment;
        let mut set = OrdSet::new(segment.doc_count());
        let keep = |ord: u32| {
            live.is_live(ord)
                && circles.iter().all(|c| {
                    coordinates(live, ord).is_some_and(|(lat, lon)| haversine_km(c.lat, c.lon, lat, lon) <= c.km)
                })
        };
        match query {
            Some(query) => {
                let searcher = segment.searcher();
                let lexical = IndexError::lexical(segment.dir());
                let weight = query.weight(EnableScoring::disabled_from_searcher(searcher)).map_err(lexical)?;
                for reader in searcher.segment_readers() {
                    let ords = ord_column(reader, segment.dir())?;
                    let mut docs = Vec::new();
                    weight
                        .for_each_no_score(reader, &mut |batch| docs.extend_from_slice(batch))
                        .map_err(IndexError::lexical(segment.dir()))?;
                    for doc in docs {
                        if let Some(ord) = ords.first(doc)
                            && keep(ord as u32)
                        {
                            set.insert(ord as u32);
                        }
                    }
                }
            }
            None => {
                for ord in 0..segment.doc_count() {
                    if keep(ord) {
                        set.insert(ord);
                    }
                }
            }
        }
        count += u64::from(set.count());
        sets.push(Some(set));
    }
    Ok(Allowed { sets, count })
}

fn ord_column(reader: &SegmentReader, dir: &std::path::Path) -> Result<tantivy::columnar::Column<u64>, IndexError> {
    reader.fast_fields().u64("ord").map_err(IndexError::lexical(dir))
}

/// A document of the snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DocRef {
    pub segment: usize,
    pub ord: u32,
}

/// A document with a score, ordered best first (ties: lower segment, then lower ordinal).
#[derive(Debug, Clone, Copy)]
pub struct Scored {
    pub doc: DocRef,
    pub score: f32,
}

impl PartialEq for Scored {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Scored {}
impl Ord for Scored {
    fn cmp(&self, other: &Self) -> Ordering {
        other.score.total_cmp(&self.score).then_with(|| self.doc.cmp(&other.doc))
    }
}
impl PartialOrd for Scored {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Keeps the `n` best of what it is offered.
#[derive(Debug)]
pub struct TopN {
    n: usize,
    heap: BinaryHeap<Scored>,
}

impl TopN {
    pub fn new(n: usize) -> TopN {
        TopN { n, heap: BinaryHeap::with_capacity(n + 1) }
    }

    pub fn offer(&mut self, item: Scored) {
        if self.n == 0 {
            return;
        }
        if self.heap.len() == self.n {
            let worst = self.heap.peek().expect("n > 0");
            if item >= *worst {
                return;
            }
        }
        self.heap.push(item);
        if self.heap.len() > self.n {
            self.heap.pop();
        }
    }

    /// The score a document must beat to enter, once `n` are kept.
    pub fn threshold(&self) -> Option<f32> {
        (self.heap.len() == self.n).then(|| self.heap.peek().map(|worst| worst.score)).flatten()
    }

    /// Best first.
    pub fn into_sorted(self) -> Vec<Scored> {
        let mut items = self.heap.into_vec();
        items.sort();
        items
    }
}

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

fn weight_of(query: &dyn Query, live: &LiveSegment, stats: &GlobalStats<'_>) -> Result<Box<dyn Weight>, IndexError> {
    let searcher = live.segment.searcher();
    query
        .weight(EnableScoring::enabled_from_statistics_provider(stats, searcher))
        .map_err(IndexError::lexical(live.segment.dir()))
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

/// Each clause's BM25 weight (global statistics) times its boost: what tantivy's `TermWeight`
/// hands its `TermScorer` for the same statistics and boost.
fn bm25_weights(stats: &GlobalStats<'_>, clauses: &[(Term, f32)]) -> Result<Vec<Bm25Weight>, IndexError> {
    clauses
        .iter()
        .map(|(term, boost)| {
            Bm25Weight::for_terms(stats, std::slice::from_ref(term))
                .map(|weight| weight.boost_by(*boost))
                .map_err(|err| IndexError::Invalid(format!("term statistics: {err}")))
        })
        .collect()
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

/// What [`score_in_order`] scores a hybrid segment's candidates with.
enum SegmentWeights {
    /// tantivy weights, whose scorers seek each clause's postings to each candidate; with
    /// `forward_filter` (phrases on a segment with forward lists), only to the candidates whose
    /// lists hold every word of the phrase.
    Postings { weights: BoostedWeights, forward_filter: bool },
    /// BM25 weights of term clauses, applied to the candidates' forward lists.
    Forward(std::sync::Arc<Vec<Bm25Weight>>),
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
    let io = |err: std::io::Error| IndexError::lexical(dir)(err.into());
    let mut cursors: Vec<ClauseCursor> = Vec::with_capacity(clauses.len());
    for ((term, _), weight) in clauses.iter().zip(weights) {
        let index = reader.inverted_index(term.field()).map_err(IndexError::lexical(dir))?;
        let Some(postings) = index.read_postings(term, IndexRecordOption::WithFreqs).map_err(io)? else {
            continue;
        };
        if postings.doc() == TERMINATED {
            continue;
        }
        let norms = reader.get_fieldnorms_reader(term.field()).map_err(IndexError::lexical(dir))?;
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
    while first_essential < cursors.len() {
        let doc = cursors[first_essential..].iter().map(|c| c.postings.doc()).min().unwrap_or(TERMINATED);
        if doc == TERMINATED {
            break;
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

/// Candidates from levelled terms (a concept and those below it): the allowed documents holding
/// a term of the highest level first, then the next level, until `n` are found, each scored by
/// the level of its best term. A document of a level is as good as any other of that level, so
/// the pass stops reading postings at `n` instead of visiting every match (a broad concept holds
/// a large share of the companies); which of the tied documents it keeps follows index order.
pub fn leveled_pass(
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
                    let index = reader.inverted_index(term.field()).map_err(IndexError::lexical(live.segment.dir()))?;
                    let Some(mut postings) = index
                        .read_postings(term, IndexRecordOption::Basic)
                        .map_err(|err| IndexError::lexical(live.segment.dir())(err.into()))?
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
pub fn term_background(snapshot: &Snapshot, clauses: &[(Term, f32)]) -> Result<Background, IndexError> {
    use tantivy::query::Bm25StatisticsProvider;
    let stats = GlobalStats::new(snapshot);
    let lexical = |err| IndexError::Invalid(format!("term statistics: {err}"));
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
                        ForwardError::Lexical(err) => IndexError::lexical(dir)(err),
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
                                .map_err(IndexError::lexical(dir))?,
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
                                scorer.insert(weight.scorer(reader, *boost).map_err(IndexError::lexical(dir))?)
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
                    let index = reader.inverted_index(term.field()).map_err(IndexError::lexical(dir))?;
                    if let Some(p) = index
                        .read_postings(term, IndexRecordOption::Basic)
                        .map_err(|err| IndexError::lexical(dir)(err.into()))?
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

/// Allowed documents of a segment below which vector search scans them exactly instead of
/// filtering inside the HNSW graph (whose cost grows as the filter gets selective).
pub const EXACT_SCAN_MAX: u32 = 4096;
/// Below this share of a segment's documents allowed, exact scan too.
pub const EXACT_SCAN_SHARE: f64 = 0.02;

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
pub fn vector_pass(
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
            return Err(IndexError::Invalid(format!(
                "the query vector has {} dimensions, the index's vectors {}",
                query.len(),
                index.dimensions()
            )));
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
                let mut buffer = vec![0f32; index.dimensions()];
                for ord in set.iter() {
                    if let Ok(got) = index.get(u64::from(ord), &mut buffer)
                        && got > 0
                    {
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
pub struct VectorScratch {
    vector: Vec<f32>,
    chunks: Vec<f32>,
}

/// Cosine similarity of `query` (unit length) to document `doc` (`None` without a vector).
pub fn vector_score(snapshot: &Snapshot, query: &[f32], doc: DocRef, scratch: &mut VectorScratch) -> Option<f32> {
    scratch.vector.resize(query.len(), 0.0);
    snapshot.segments[doc.segment]
        .segment
        .vector_into(doc.ord, &mut scratch.vector)
        .then(|| crate::embed::cosine(query, &scratch.vector))
}

/// The best capability-vector similarity of `query` to document `doc` (`None` without them).
pub fn chunk_score(snapshot: &Snapshot, query: &[f32], doc: DocRef, scratch: &mut VectorScratch) -> Option<f32> {
    snapshot.segments[doc.segment].segment.chunks()?.max_similarity(doc.ord, query, &mut scratch.chunks)
}

fn dot(a: &[f32], b: &[f32]) -> f32 {
    crate::embed::dot_and_norm(a, b).0
}

/// Mean and standard deviation of the query's similarity to the segments' vector samples.
pub fn vector_background(snapshot: &Snapshot, query: &[f32]) -> Option<(f64, f64)> {
    moments(snapshot.segments.iter().flat_map(|live| {
        let sample = live.segment.vector_sample();
        let rows = if sample.len() % query.len() == 0 { sample } else { &[] };
        rows.chunks_exact(query.len()).map(|row| dot(query, row))
    }))
}

/// Mean and standard deviation of the best capability similarity over the sampled documents.
pub fn chunk_background(snapshot: &Snapshot, query: &[f32]) -> Option<(f64, f64)> {
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

/// Any of `terms` in `field` (raw terms: codes, names).
pub fn any_term(terms: impl IntoIterator<Item = Term>) -> Box<dyn Query> {
    let clauses: Vec<(Occur, Box<dyn Query>)> = terms
        .into_iter()
        .map(|term| (Occur::Should, Box::new(TermQuery::new(term, IndexRecordOption::Basic)) as Box<dyn Query>))
        .collect();
    Box::new(BooleanQuery::new(clauses))
}
