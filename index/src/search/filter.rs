//! Which documents a request allows: ordinal sets per segment from its filters (a filter query
//! run without scoring, and distance circles), and the great-circle distance the circles and
//! the geo component use.

use tantivy::query::{BooleanQuery, EnableScoring, Occur, Query, TermQuery};
use tantivy::schema::IndexRecordOption;
use tantivy::{SegmentReader, Term};

use super::request::{Filters, MatchRequest};
use crate::IndexError;
use crate::analysis::{Analyzer, Language};
use crate::engine::{LiveSegment, Snapshot};
use crate::segment::schema::CompanyFields;

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

    /// The union of ordinal lists (the count taken once at the end: no branch per ordinal).
    pub fn from_lists<'a>(n_docs: u32, lists: impl Iterator<Item = &'a [u32]>) -> OrdSet {
        let mut set = OrdSet::new(n_docs);
        for list in lists {
            for &ord in list {
                if let Some(word) = set.words.get_mut(ord as usize / 64) {
                    *word |= 1u64 << (ord % 64);
                }
            }
        }
        set.count = set.words.iter().map(|w| w.count_ones()).sum();
        set
    }

    pub fn contains(&self, ord: u32) -> bool {
        self.words.get(ord as usize / 64).is_some_and(|w| w & (1 << (ord % 64)) != 0)
    }

    pub fn count(&self) -> u32 {
        self.count
    }

    /// Keeps the ordinals `other` holds too.
    pub fn intersect_with(&mut self, other: &OrdSet) {
        let mut count = 0;
        for (word, other) in self.words.iter_mut().zip(other.words.iter().chain(std::iter::repeat(&0))) {
            *word &= other;
            count += word.count_ones();
        }
        self.count = count;
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

    /// Keeps the documents `other` allows too (both of `snapshot`): the request's filters ANDed
    /// with a caller's forced filters.
    pub fn intersect(self, other: Allowed, snapshot: &Snapshot) -> Allowed {
        let sets: Vec<Option<OrdSet>> = self
            .sets
            .into_iter()
            .zip(other.sets)
            .map(|(mine, theirs)| match (mine, theirs) {
                (None, set) | (set, None) => set,
                (Some(mut mine), Some(theirs)) => {
                    mine.intersect_with(&theirs);
                    Some(mine)
                }
            })
            .collect();
        let mut allowed = Allowed { sets, count: 0 };
        allowed.count = (0..snapshot.segments.len()).map(|seg| u64::from(allowed.allowed_in(snapshot, seg))).sum();
        allowed
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

    pub(super) fn allowed_in(&self, snapshot: &Snapshot, seg: usize) -> u32 {
        match &self.sets[seg] {
            Some(set) => set.count(),
            None => snapshot.segments[seg].live_count(),
        }
    }
}

/// A circle filter resolved to what the columns hold.
#[derive(Debug, Clone, Copy)]
struct Circle {
    lat: f64,
    lon: f64,
    km: f64,
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
pub(crate) fn coordinates(live: &LiveSegment, ord: u32) -> Option<(f64, f64)> {
    let lat = *live.prior_column("lat")?.get(ord as usize)?;
    let lon = *live.prior_column("lon")?.get(ord as usize)?;
    (lat.is_finite() && lon.is_finite()).then_some((f64::from(lat), f64::from(lon)))
}

/// The documents `filters` allow (ordinal sets per segment; everything without filters).
pub(crate) fn allowed(snapshot: &Snapshot, fields: &CompanyFields, filters: &Filters) -> Result<Allowed, IndexError> {
    let query = filter_query(fields, filters);
    let circles: Vec<Circle> =
        filters.near.iter().map(|near| Circle { lat: near.lat, lon: near.lon, km: near.km }).collect();
    allowed_by(snapshot, query.as_deref(), &circles)
}

/// The documents a request allows: its filters ANDed, list by list, with the caller's forced
/// filters (a signed token's), which a request cannot widen. A request naming other values than
/// the forced ones gets nothing, and a NAF division on one side meets its sous-classes on the
/// other as a filter of either would.
pub(crate) fn allowed_by_request(
    snapshot: &Snapshot,
    fields: &CompanyFields,
    request: &MatchRequest,
) -> Result<Allowed, IndexError> {
    let by_request = allowed(snapshot, fields, &request.filters)?;
    match &request.forced_filters {
        None => Ok(by_request),
        Some(forced) => Ok(by_request.intersect(allowed(snapshot, fields, forced)?, snapshot)),
    }
}

/// The query every allowed document matches (`None` without such filters): each filter of the
/// request must hold, by any of its values.
fn filter_query(f: &CompanyFields, filters: &Filters) -> Option<Box<dyn Query>> {
    let mut groups: Vec<(Occur, Box<dyn Query>)> = Vec::new();
    if !filters.naf.is_empty() {
        let terms = filters.naf.iter().map(|code| {
            let field = if code.len() == 2 { f.naf_division } else { f.naf };
            Term::from_field_text(field, code)
        });
        groups.push((Occur::Must, any_term(terms)));
    }
    if !filters.departement.is_empty() {
        let terms = filters.departement.iter().map(|code| Term::from_field_text(f.departement, code));
        groups.push((Occur::Must, any_term(terms)));
    }
    if !filters.region.is_empty() {
        let terms = filters.region.iter().map(|name| Term::from_field_text(f.region, name));
        groups.push((Occur::Must, any_term(terms)));
    }
    if !filters.headcount.is_empty() {
        let terms = filters.headcount.iter().map(|band| Term::from_field_u64(f.headcount, *band as u64));
        groups.push((Occur::Must, any_term(terms)));
    }
    if !filters.certifications.is_empty() {
        let analyzer = Analyzer::new(Language::French);
        let mut any: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        for value in &filters.certifications {
            let all: Vec<(Occur, Box<dyn Query>)> = analyzer
                .analyze(value)
                .into_iter()
                .filter_map(|t| t.stem)
                .map(|stem| {
                    let term = Term::from_field_text(f.certifications, &stem);
                    (Occur::Must, Box::new(TermQuery::new(term, IndexRecordOption::Basic)) as Box<dyn Query>)
                })
                .collect();
            if !all.is_empty() {
                any.push((Occur::Should, Box::new(BooleanQuery::new(all))));
            }
        }
        // A value with no searchable word matches nothing.
        groups.push((Occur::Must, Box::new(BooleanQuery::new(any))));
    }
    (!groups.is_empty()).then(|| Box::new(BooleanQuery::new(groups)) as _)
}

/// Applies a filter query (no scoring) and circles to every segment.
fn allowed_by(snapshot: &Snapshot, query: Option<&dyn Query>, circles: &[Circle]) -> Result<Allowed, IndexError> {
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
                let lexical = IndexError::lexical_read(segment.dir());
                let weight = query.weight(EnableScoring::disabled_from_searcher(searcher)).map_err(lexical)?;
                for reader in searcher.segment_readers() {
                    let ords = ord_column(reader, segment.dir())?;
                    let mut docs = Vec::new();
                    weight
                        .for_each_no_score(reader, &mut |batch| docs.extend_from_slice(batch))
                        .map_err(IndexError::lexical_read(segment.dir()))?;
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

pub(super) fn ord_column(
    reader: &SegmentReader,
    dir: &std::path::Path,
) -> Result<tantivy::columnar::Column<u64>, IndexError> {
    reader.fast_fields().u64("ord").map_err(IndexError::lexical_read(dir))
}

/// Any of `terms` in `field` (raw terms: codes, names).
fn any_term(terms: impl IntoIterator<Item = Term>) -> Box<dyn Query> {
    let clauses: Vec<(Occur, Box<dyn Query>)> = terms
        .into_iter()
        .map(|term| (Occur::Should, Box::new(TermQuery::new(term, IndexRecordOption::Basic)) as Box<dyn Query>))
        .collect();
    Box::new(BooleanQuery::new(clauses))
}
