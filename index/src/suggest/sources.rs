//! What typeahead suggests, and how heavy each thing is: glossary concepts (labels and synonyms,
//! French and English), places, company names (per segment, weighted by the opportunity prior,
//! deleted companies left out), the typed need completed with a constraint (`constraints.rs`),
//! and popular past queries (the kind exists; the log that feeds it comes with query logging).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use parking_lot::Mutex;

use super::constraints::{ConstraintSource, Heads};
use super::{Candidate, Entry, Kind, SuggestIndex, Suggestion, TOP_MAX, Typed};
use crate::IndexError;
use crate::dict::gazetteer::PlaceKind;
use crate::engine::{LiveSegment, Snapshot};
use crate::interpret::Interpreter;
use crate::record::ConceptLevel;
use crate::search::filter::Allowed;

/// Segments up to this many documents get their company index built on the request that first
/// needs it (tens of milliseconds); larger ones are built on a background thread meanwhile, and
/// answers say they are incomplete until it is ready.
pub const SYNC_BUILD_MAX: u32 = 50_000;

/// The opportunity probability assumed where none is known.
const NEUTRAL_OPPORTUNITY: f32 = 0.1;

/// Weight of a company: a base plus the opportunity probability's share.
fn company_weight(opportunity: Option<f32>) -> f32 {
    let p = opportunity.filter(|p| p.is_finite()).unwrap_or(NEUTRAL_OPPORTUNITY).clamp(0.0, 1.0);
    0.2 + 0.6 * p
}

/// Weight of a concept by level: a métier before its operations, before their variants.
fn concept_weight(level: ConceptLevel) -> f32 {
    match level {
        ConceptLevel::Metier => 1.0,
        ConceptLevel::Operation => 0.85,
        ConceptLevel::Variante => 0.7,
    }
}

/// A segment's company names, for the segment as it was read (its id and which prior columns).
struct CompanyNames {
    index: SuggestIndex,
    /// Entry → ordinal in the segment.
    ords: Vec<u32>,
}

type SegmentKey = (u64, usize);

/// A segment (its position in the snapshot, itself) and the ordinal of each of its
/// company-name entries.
type SegmentNames<'a> = (usize, &'a LiveSegment, &'a [u32]);

fn segment_key(live: &LiveSegment) -> SegmentKey {
    (live.segment.id(), live.priors.as_ref().map_or(0, |p| Arc::as_ptr(p) as usize))
}

/// A typeahead request: the text typed so far, how many suggestions, of which kinds (all when
/// empty), with typo tolerance or not.
#[derive(Debug, Clone, PartialEq)]
pub struct SuggestRequest {
    pub q: String,
    pub k: usize,
    pub kinds: Vec<Kind>,
    pub fuzzy: bool,
}

/// The answer to a typeahead request.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Suggestions {
    pub suggestions: Vec<Suggestion>,
    /// Some company names were left out: a large segment's index is still being built.
    pub incomplete: bool,
}

/// Every source of suggestions, ready to answer.
pub struct Suggester {
    concepts: SuggestIndex,
    /// (label, concept id) of every glossary concept, for [`Suggester::keystroke_saving`].
    labels: Vec<(String, String)>,
    locations: SuggestIndex,
    queries: SuggestIndex,
    /// Materials, certifications and sizes, and the interpreter that reads what comes before.
    constraints: ConstraintSource,
    companies: Arc<CompanyIndexes>,
    /// Large segments whose index a background thread is building.
    building: Arc<Mutex<HashSet<SegmentKey>>>,
}

/// The company-name indexes of the live segments, each built once.
#[derive(Default)]
struct CompanyIndexes {
    built: Mutex<HashMap<SegmentKey, Arc<CompanyNames>>>,
    /// Per segment being built, the lock its builder holds: whoever else needs that index
    /// meanwhile waits for it instead of reading every record again.
    gates: Mutex<HashMap<SegmentKey, Arc<Mutex<()>>>>,
    /// Indexes built so far (each reads all of a segment's records).
    builds: std::sync::atomic::AtomicUsize,
}

impl CompanyIndexes {
    fn get(&self, key: SegmentKey) -> Option<Arc<CompanyNames>> {
        self.built.lock().get(&key).cloned()
    }

    /// The segment's index, built here unless it is built already or is being built, in which
    /// case this waits for that build.
    fn get_or_build(&self, live: &LiveSegment) -> Result<Arc<CompanyNames>, IndexError> {
        let key = segment_key(live);
        if let Some(names) = self.get(key) {
            return Ok(names);
        }
        let gate = Arc::clone(self.gates.lock().entry(key).or_default());
        let _building = gate.lock();
        if let Some(names) = self.get(key) {
            return Ok(names);
        }
        let built = build_company_names(live).map(Arc::new);
        if let Ok(names) = &built {
            self.builds.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            self.built.lock().insert(key, Arc::clone(names));
        }
        // Still holding the gate: a caller that finds no gate from now on finds the index (or,
        // after a failure, tries again).
        self.gates.lock().remove(&key);
        built
    }
}

impl std::fmt::Debug for Suggester {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Suggester")
            .field("concepts", &self.concepts.len())
            .field("locations", &self.locations.len())
            .field("queries", &self.queries.len())
            .field("constraint_names", &self.constraints.len())
            .field("company_segments", &self.companies.built.lock().len())
            .finish()
    }
}

impl Suggester {
    /// Concepts, places and constraint names from the interpreter's dictionaries (it also reads,
    /// at query time, what comes before a constraint); company names come from each snapshot's
    /// segments as requests need them.
    pub fn new(interpreter: Arc<Interpreter>) -> Suggester {
        Suggester {
            concepts: SuggestIndex::build(concept_entries(&interpreter)),
            labels: interpreter.glossary().concepts().iter().map(|c| (c.label.clone(), c.id.clone())).collect(),
            locations: SuggestIndex::build(location_entries(&interpreter)),
            queries: SuggestIndex::build(Vec::new()),
            constraints: ConstraintSource::build(interpreter),
            companies: Arc::default(),
            building: Arc::default(),
        }
    }

    /// Up to `k` suggestions of the given kinds (all when empty): exact completions first,
    /// then — when `fuzzy` and they are fewer than `k` — the ones within the typo allowance;
    /// within each, by score.
    pub fn suggest(&self, snapshot: &Snapshot, request: &SuggestRequest) -> Result<Suggestions, IndexError> {
        Ok(self.answer(snapshot, request, true, None)?.expect("building allowed: always an answer"))
    }

    /// [`Self::suggest`] with company names limited to the documents `companies` allows (a
    /// signed token's forced filters, computed on the same `snapshot`). Concepts, places,
    /// queries and constraint completions name no company: they are not filtered. A heavy
    /// prefix whose stored top list keeps too few allowed companies is scanned instead, so a
    /// narrow filter costs a scan, never a missed company.
    pub fn suggest_within(
        &self,
        snapshot: &Snapshot,
        request: &SuggestRequest,
        companies: &Allowed,
    ) -> Result<Suggestions, IndexError> {
        Ok(self.answer(snapshot, request, true, Some(companies))?.expect("building allowed: always an answer"))
    }

    /// The answer when every company index is built already (lookups, typo walks of a
    /// millisecond at most, and for constraint completions a few readings of the text typed, of
    /// microseconds each). `None` when a segment's index would have to be built first: then
    /// [`Self::suggest`], off the async workers. The server tries this first, inline.
    pub fn quick(&self, snapshot: &Snapshot, request: &SuggestRequest) -> Result<Option<Suggestions>, IndexError> {
        self.answer(snapshot, request, false, None)
    }

    fn answer(
        &self,
        snapshot: &Snapshot,
        request: &SuggestRequest,
        build: bool,
        companies: Option<&Allowed>,
    ) -> Result<Option<Suggestions>, IndexError> {
        // Sets of another snapshot would name other documents: none is kept then.
        let companies_of_snapshot = companies.is_none_or(|allowed| allowed.sets.len() == snapshot.segments.len());
        let SuggestRequest { q: query, k, kinds, fuzzy } = request;
        let (k, fuzzy) = ((*k).min(TOP_MAX), *fuzzy);
        let typed = Typed::new(query);
        let norm = typed.norm();
        let wanted = |kind: Kind| kinds.is_empty() || kinds.contains(&kind);
        // Candidates of every source (with the index they come from), merged, then only the
        // best k materialised (text, highlight).
        let mut incomplete = false;
        let mut segments = Vec::new();
        if wanted(Kind::Company) {
            for (seg, live) in snapshot.segments.iter().enumerate() {
                if !build && self.companies.get(segment_key(live)).is_none() {
                    return Ok(None);
                }
                match self.company_names(live)? {
                    Some(names) => segments.push((seg, live, names)),
                    None => incomplete = true,
                }
            }
            self.forget_unused(snapshot);
        }
        // Each source, with the segment and entry → ordinal table of company names.
        let mut sources: Vec<(&SuggestIndex, Option<SegmentNames<'_>>)> = Vec::new();
        for (kind, index) in
            [(Kind::Concept, &self.concepts), (Kind::Location, &self.locations), (Kind::Query, &self.queries)]
        {
            if wanted(kind) {
                sources.push((index, None));
            }
        }
        for (seg, live, names) in &segments {
            sources.push((&names.index, Some((*seg, *live, &names.ords))));
        }
        // Constraint completions come whole (a few per request); the others are matches whose
        // text is read only for the k shown.
        let gather = |fuzzy: bool, heads: &mut Heads, completed: &mut Vec<Suggestion>| -> Vec<Pending<'_>> {
            let mut all = Vec::new();
            for &(index, segment) in &sources {
                let keep = |entry: u32| {
                    segment.is_none_or(|(seg, live, ords)| {
                        let ord = ords[entry as usize];
                        match companies {
                            None => live.is_live(ord),
                            Some(allowed) => companies_of_snapshot && allowed.allows(snapshot, seg, ord),
                        }
                    })
                };
                all.extend(index.candidates(&typed, k, fuzzy, &keep).into_iter().map(|c| Pending::Entry(c, index)));
            }
            if wanted(Kind::Constraint) {
                *completed = self.constraints.suggest(query, &typed, k, fuzzy, &self.locations, heads);
                all.extend((0..completed.len()).map(Pending::Constraint));
            }
            all
        };
        // Exact completions of every source first: typo tolerance only when together they are
        // fewer than k (fuzzy matches rank after them anyway, and their walks cost the most).
        let (mut heads, mut completed) = (Heads::default(), Vec::new());
        let mut all = gather(false, &mut heads, &mut completed);
        let distinct = |all: &[Pending<'_>], completed: &[Suggestion]| {
            all.iter().map(|p| p.thing(completed)).collect::<HashSet<_>>().len()
        };
        if fuzzy && distinct(&all, &completed) < k {
            all = gather(true, &mut heads, &mut completed);
        }
        // Exact before fuzzy, then by score, then text; one suggestion per thing.
        let completed = &completed;
        all.sort_by(|a, b| {
            a.edits(completed)
                .cmp(&b.edits(completed))
                .then_with(|| b.score(completed).total_cmp(&a.score(completed)))
                .then_with(|| a.text(completed).cmp(b.text(completed)))
        });
        let mut seen = HashSet::new();
        let mut suggestions = Vec::with_capacity(k);
        for pending in all {
            let (kind, id) = pending.thing(completed);
            if seen.insert((kind, id.to_owned())) {
                suggestions.push(match pending {
                    Pending::Entry(candidate, index) => index.suggestion(candidate, norm),
                    Pending::Constraint(at) => completed[at].clone(),
                });
                if suggestions.len() == k {
                    break;
                }
            }
        }
        Ok(Some(Suggestions { suggestions, incomplete }))
    }

    /// The share of a concept label's characters a user need not type before the concept is
    /// among the first `top` concept suggestions, averaged over the glossary's labels (0 for a
    /// label never reached). With `typo`, the typed part has one character replaced (the middle
    /// one), so the label can only be reached once typo tolerance applies.
    pub fn keystroke_saving(&self, top: usize, typo: bool) -> f64 {
        let mut total = 0.0;
        for (label, id) in &self.labels {
            let chars: Vec<char> = label.chars().collect();
            let reached = (1..=chars.len()).find(|&typed| {
                let mut prefix: Vec<char> = chars[..typed].to_vec();
                if typo {
                    let middle = typed / 2;
                    prefix[middle] = if prefix[middle] == 'x' { 'q' } else { 'x' };
                }
                let prefix: String = prefix.into_iter().collect();
                self.concepts.suggest(&prefix, top, true).iter().any(|s| s.id.as_deref() == Some(id))
            });
            if let Some(typed) = reached {
                total += (chars.len() - typed) as f64 / chars.len() as f64;
            }
        }
        total / self.labels.len().max(1) as f64
    }

    /// Builds the company index of every segment of `snapshot` that lacks one (for warming up
    /// after opening or publishing, off the request path).
    pub fn warm(&self, snapshot: &Snapshot) -> Result<(), IndexError> {
        for live in &snapshot.segments {
            self.companies.get_or_build(live)?;
        }
        Ok(())
    }

    /// Company-name indexes built since start: one per segment, however many requests needed
    /// it at once.
    pub fn company_index_builds(&self) -> usize {
        self.companies.builds.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn company_names(&self, live: &LiveSegment) -> Result<Option<Arc<CompanyNames>>, IndexError> {
        let key = segment_key(live);
        if let Some(names) = self.companies.get(key) {
            return Ok(Some(names));
        }
        if live.segment.doc_count() <= SYNC_BUILD_MAX {
            return self.companies.get_or_build(live).map(Some);
        }
        if self.building.lock().insert(key) {
            let live_dir = live.segment.dir().to_owned();
            let (companies, building, live) = (Arc::clone(&self.companies), Arc::clone(&self.building), live.clone());
            std::thread::Builder::new()
                .name("suggest-build".into())
                .spawn(move || {
                    if let Err(err) = companies.get_or_build(&live) {
                        tracing::error!(segment = key.0, %err, "building the company suggestions failed");
                    }
                    building.lock().remove(&key);
                })
                .map_err(|source| {
                    self.building.lock().remove(&key);
                    IndexError::Io { path: live_dir, source }
                })?;
        }
        Ok(None)
    }

    /// Drops the indexes of segments no longer in the live set (merged away).
    fn forget_unused(&self, snapshot: &Snapshot) {
        let mut companies = self.companies.built.lock();
        if companies.len() > snapshot.segments.len() {
            let live: HashSet<SegmentKey> = snapshot.segments.iter().map(segment_key).collect();
            companies.retain(|key, _| live.contains(key));
        }
    }
}

/// A suggestion before the best k are chosen: a source's match (its text read only for the k
/// shown), or the index of a constraint completion (built whole: a few per request).
#[derive(Clone, Copy)]
enum Pending<'a> {
    Entry(Candidate, &'a SuggestIndex),
    Constraint(usize),
}

impl<'a> Pending<'a> {
    fn edits(self, completed: &[Suggestion]) -> u8 {
        match self {
            Pending::Entry(candidate, _) => candidate.edits,
            Pending::Constraint(at) => completed[at].edits,
        }
    }

    fn score(self, completed: &[Suggestion]) -> f32 {
        match self {
            Pending::Entry(candidate, _) => candidate.score,
            Pending::Constraint(at) => completed[at].score,
        }
    }

    fn text<'c>(self, completed: &'c [Suggestion]) -> &'c str
    where
        'a: 'c,
    {
        match self {
            Pending::Entry(candidate, index) => &index.entry(&candidate).text,
            Pending::Constraint(at) => &completed[at].text,
        }
    }

    /// What it designates, suggested once: a concept, a company, a place by id (or text); a
    /// constraint completion by its text (the constraint source gives one per constraint).
    fn thing<'c>(self, completed: &'c [Suggestion]) -> (Kind, &'c str)
    where
        'a: 'c,
    {
        match self {
            Pending::Entry(candidate, index) => {
                let entry = index.entry(&candidate);
                (entry.kind, entry.id.as_deref().unwrap_or(&entry.text))
            }
            Pending::Constraint(at) => (Kind::Constraint, &completed[at].text),
        }
    }
}

fn build_company_names(live: &LiveSegment) -> Result<CompanyNames, IndexError> {
    #[derive(serde::Deserialize)]
    struct Named {
        id: String,
        name: String,
    }
    let opportunity = live.prior_column("opportunity");
    let mut entries = Vec::with_capacity(live.segment.doc_count() as usize);
    let mut ords = Vec::with_capacity(entries.capacity());
    // Live records only: a deletion is never undone (an upsert writes a new copy elsewhere), and
    // the tombstones of later snapshots are filtered at query time.
    live.for_each_live_record(|ord, named: Named| {
        let p = opportunity.and_then(|c| c.get(ord as usize)).copied();
        entries.push(Entry { text: named.name, kind: Kind::Company, id: Some(named.id), weight: company_weight(p) });
        ords.push(ord);
    })?;
    Ok(CompanyNames { index: SuggestIndex::build(entries), ords })
}

fn concept_entries(interpreter: &Interpreter) -> Vec<Entry> {
    let mut entries = Vec::new();
    for concept in interpreter.glossary().concepts() {
        let weight = concept_weight(concept.level);
        let mut add = |text: &str, factor: f32| {
            if !text.trim().is_empty() {
                entries.push(Entry {
                    text: text.to_owned(),
                    kind: Kind::Concept,
                    id: Some(concept.id.clone()),
                    weight: weight * factor,
                });
            }
        };
        add(&concept.label, 1.0);
        for synonym in &concept.synonyms {
            add(synonym, 0.9);
        }
        if let Some(label) = &concept.label_en {
            add(label, 0.8);
        }
        for synonym in &concept.synonyms_en {
            add(synonym, 0.7);
        }
    }
    entries
}

pub(super) fn location_entries(interpreter: &Interpreter) -> Vec<Entry> {
    let gazetteer = interpreter.gazetteer();
    let places: Vec<_> = (0..gazetteer.len()).map(|i| gazetteer.place(i)).collect();
    let max_population = places.iter().map(|p| p.population).max().unwrap_or(1).max(1) as f32;
    places
        .into_iter()
        .map(|place| {
            let text = match (&place.kind, &place.departement) {
                (PlaceKind::Commune, Some(dep)) => format!("{} ({dep})", place.name),
                (PlaceKind::Departement, _) => format!("{} ({})", place.name, place.code),
                _ => place.name.clone(),
            };
            let weight = 0.3 + 0.5 * (1.0 + place.population as f32).ln() / (1.0 + max_population).ln();
            Entry { text, kind: Kind::Location, id: Some(place.code.clone()), weight }
        })
        .collect()
}
