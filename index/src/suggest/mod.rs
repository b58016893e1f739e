//! Typeahead: completions of what a user is typing, from an FST of normalised texts.
//!
//! Every entry (a concept label, a company name, a place, a past query) is normalised — case and
//! accents folded, punctuation as spaces — and indexed once per word start (so "laser" finds
//! "découpe laser"): key `text from that word, 0x00, entry (u32 BE)`, value the entry. A query is
//! normalised the same way and matched as a prefix of a key: earlier words complete, the last
//! one a prefix ("decoupe las" → "découpe laser").
//!
//! Short prefixes match a large share of the keys, and scanning them all to keep the k heaviest
//! would cost milliseconds at a million entries. So every prefix matched by more than
//! [`SCAN_MAX`] keys — a *heavy* prefix — stores its [`TOP_MAX`] heaviest entries, computed at
//! build time; any other prefix is scanned (at most [`SCAN_MAX`] keys). The FST maps each key to
//! its rank in key order, and the matches of the keys sit in that order in one array: the keys
//! below a prefix are one contiguous run of it, found from its first and last key (two descents
//! of the FST), so a scan reads a slice instead of walking the subtree. Typo tolerance walks the
//! FST with a Levenshtein prefix automaton (1 edit from 4 characters, 2 from 8, transpositions
//! count one, the first character as typed) and, where the automaton accepts everything below a node, takes that node's
//! stored top list or scans it, descending further only while a longer path could come closer
//! (an entry's distance is the smallest over its keys' prefixes: [`scan_fuzzy`] is the naive
//! reference). Exact matches rank above fuzzy ones; within each, closer first, then heavier.

use std::collections::HashMap;
use std::sync::OnceLock;

use fst::raw::{Fst, Node, Output};
use fst::{Map, MapBuilder};
use levenshtein_automata::{DFA, Distance, LevenshteinAutomatonBuilder, SINK_STATE};

mod constraints;
mod reference;
mod sources;
pub use constraints::{CONSTRAINT_FACTOR, MAX_TAIL_WORDS, MIN_TAIL_CHARS, SEPARATOR, constraint_id};
pub use reference::{prefix_distance, scan, scan_fuzzy};
use serde::Serialize;
pub use sources::{SYNC_BUILD_MAX, SuggestRequest, Suggester, Suggestions};

use crate::interpret::ConstraintKind;

/// Keys a prefix may match and still be scanned; above, its top list is stored.
pub const SCAN_MAX: usize = 256;
/// Entries stored per heavy prefix: the largest `k` served.
pub const TOP_MAX: usize = 50;
/// Word starts indexed per entry (the first words of long names are the ones people type).
pub const MAX_WORD_STARTS: usize = 8;
/// Normalised bytes kept per key.
pub const MAX_KEY_BYTES: usize = 96;

/// What a suggestion is.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Concept,
    Company,
    Location,
    Query,
    /// The text typed so far completed with a constraint: "usinage ti" → "usinage · titane".
    Constraint,
}

impl Kind {
    pub const ALL: [Kind; 5] = [Kind::Concept, Kind::Company, Kind::Location, Kind::Query, Kind::Constraint];

    pub fn name(self) -> &'static str {
        match self {
            Kind::Concept => "concept",
            Kind::Company => "company",
            Kind::Location => "location",
            Kind::Query => "query",
            Kind::Constraint => "constraint",
        }
    }

    pub fn parse(name: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.name() == name)
    }
}

/// Something to suggest.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// As shown.
    pub text: String,
    pub kind: Kind,
    /// What it designates (a concept id, a company id, a place code), if anything.
    pub id: Option<String>,
    /// Heavier first; finite and ≥ 0.
    pub weight: f32,
}

/// One completion.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct Suggestion {
    pub text: String,
    pub kind: Kind,
    /// For a [`Kind::Constraint`]: which kind of constraint (material, certification, size,
    /// place), `id` being its id ([`constraint_id`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub constraint: Option<ConstraintKind>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Byte ranges of `text` the query matched.
    pub highlight: Vec<[usize; 2]>,
    pub score: f32,
    /// Edits between the query and the text (0: exact).
    pub edits: u8,
}

/// A match before it is shown: which entry (and where), how far, how good.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Candidate {
    hit: Hit,
    pub edits: u8,
    /// The entry's weight (less inside the text), over 1 + edits.
    pub score: f32,
}

impl Candidate {
    /// The entry matched (an index into [`SuggestIndex::entries`]).
    pub fn entry_index(&self) -> u32 {
        entry_of(self.hit)
    }
}

/// The normalised form of a text — folded, alphanumerics and single spaces — with, for each of
/// its bytes, the byte offset in the original text it comes from.
pub fn normalise(text: &str) -> (String, Vec<usize>) {
    let mut out = String::with_capacity(text.len());
    let mut origin = Vec::with_capacity(text.len());
    let mut folded = String::new();
    let mut pending_space = false;
    for (at, c) in text.char_indices() {
        folded.clear();
        if c.is_ascii() {
            folded.push(c.to_ascii_lowercase());
        } else {
            let mut buf = [0u8; 4];
            crate::analysis::fold_into(c.encode_utf8(&mut buf), &mut folded);
        }
        for f in folded.chars() {
            if f.is_alphanumeric() {
                if pending_space && !out.is_empty() {
                    out.push(' ');
                    origin.push(at);
                }
                pending_space = false;
                let before = out.len();
                out.push(f);
                origin.extend(std::iter::repeat_n(at, out.len() - before));
            } else {
                pending_space = true;
            }
        }
    }
    (out, origin)
}

/// Where the words of a normalised text start, as indexed: the text's start, then every word
/// of two characters or more ("d" of "d'études" and "l" of "l'Arve" are elisions nobody types
/// to find the word after), [`MAX_WORD_STARTS`] at most.
pub fn word_starts(norm: &str) -> impl Iterator<Item = usize> + '_ {
    let later = norm.match_indices(' ').map(|(i, _)| i + 1).filter(move |&start| {
        // At least two characters before the next space (or the end).
        let word = &norm[start..];
        word.split(' ').next().is_some_and(|w| w.chars().nth(1).is_some())
    });
    std::iter::once(0).chain(later).take(MAX_WORD_STARTS)
}

/// The text a key holds from the word starting at `start`: at most [`MAX_KEY_BYTES`], cut on
/// a character boundary.
fn key_text(norm: &str, start: usize) -> &str {
    let mut end = (start + MAX_KEY_BYTES).min(norm.len());
    while !norm.is_char_boundary(end) {
        end -= 1;
    }
    &norm[start..end]
}

/// Weights that are not finite or are negative count as 0.
fn sanitise_weights(entries: &mut [Entry]) {
    for entry in entries {
        if !entry.weight.is_finite() || entry.weight < 0.0 {
            entry.weight = 0.0;
        }
    }
}

/// Edits allowed for a query of `chars` characters.
pub fn allowed_edits(chars: usize) -> u8 {
    match chars {
        0..=3 => 0,
        4..=7 => 1,
        _ => 2,
    }
}

fn automaton_builder(edits: u8) -> &'static LevenshteinAutomatonBuilder {
    static ONE: OnceLock<LevenshteinAutomatonBuilder> = OnceLock::new();
    static TWO: OnceLock<LevenshteinAutomatonBuilder> = OnceLock::new();
    match edits {
        1 => ONE.get_or_init(|| LevenshteinAutomatonBuilder::new(1, true)),
        _ => TWO.get_or_init(|| LevenshteinAutomatonBuilder::new(2, true)),
    }
}

/// A query as typed, normalised, with its typo automata: built on first use (building one costs
/// more than a walk of a small source) and shared by every source the query is matched against.
pub struct Typed {
    norm: String,
    /// For each byte of `norm`, the byte of the query it comes from (empty when built from a
    /// normalised text).
    origin: Vec<usize>,
    /// Levenshtein prefix automata for 1 and 2 edits.
    dfas: [OnceLock<DFA>; 2],
}

impl std::fmt::Debug for Typed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Typed").field("norm", &self.norm).finish_non_exhaustive()
    }
}

impl Typed {
    pub fn new(query: &str) -> Typed {
        let (norm, origin) = normalise(query);
        Typed { norm, origin, dfas: Default::default() }
    }

    /// A text normalised already (part of a normalised query).
    fn from_normalised(norm: &str) -> Typed {
        Typed { norm: norm.to_owned(), origin: Vec::new(), dfas: Default::default() }
    }

    /// The query normalised as the keys are.
    pub fn norm(&self) -> &str {
        &self.norm
    }

    /// For each byte of [`Self::norm`], the byte of the query it comes from.
    fn origin(&self) -> &[usize] {
        &self.origin
    }

    /// The prefix automaton accepting texts within `edits` (1 or 2) of the query.
    fn dfa(&self, edits: u8) -> &DFA {
        let edits = edits.clamp(1, 2);
        self.dfas[usize::from(edits) - 1].get_or_init(|| automaton_builder(edits).build_prefix_dfa(&self.norm))
    }
}

/// The completions of one kind of entry.
pub struct SuggestIndex {
    entries: Vec<Entry>,
    /// Key → its rank in key order.
    keys: Map<Vec<u8>>,
    /// Rank → the key's match.
    hits: Box<[Hit]>,
    /// Heavy prefix → its heaviest entries, heaviest first.
    top: HashMap<Box<[u8]>, Box<[u32]>>,
}

impl std::fmt::Debug for SuggestIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SuggestIndex")
            .field("entries", &self.entries.len())
            .field("keys", &self.keys.len())
            .field("heavy_prefixes", &self.top.len())
            .finish()
    }
}

/// Weight of a match inside a text (at a later word) relative to one at its start: "d" should
/// offer "Découpe" before "Traitement de surface".
pub const INFIX_FACTOR: f32 = 0.8;

/// A match: an entry and where in its text (`entry << 1 | 1` for a later word's start). Keys end
/// with it (which keeps them distinct); [`SuggestIndex::hits`] holds it by key rank.
type Hit = u32;

fn hit(entry: u32, infix: bool) -> Hit {
    entry << 1 | u32::from(infix)
}

fn entry_of(hit: Hit) -> u32 {
    hit >> 1
}

fn hit_weight(entries: &[Entry], hit: Hit) -> f32 {
    let weight = entries[entry_of(hit) as usize].weight;
    if hit & 1 == 1 { weight * INFIX_FACTOR } else { weight }
}

/// Heavier first, then shorter text, then the text, then the entry: a total order.
fn heavier(entries: &[Entry], a: Hit, b: Hit) -> std::cmp::Ordering {
    let (x, y) = (&entries[entry_of(a) as usize], &entries[entry_of(b) as usize]);
    hit_weight(entries, b)
        .total_cmp(&hit_weight(entries, a))
        .then_with(|| x.text.len().cmp(&y.text.len()))
        .then_with(|| x.text.cmp(&y.text))
        .then_with(|| a.cmp(&b))
}

/// The `k` heaviest distinct entries among `hits` (each at its best place), heaviest first.
fn top_k(entries: &[Entry], hits: impl IntoIterator<Item = Hit>, k: usize) -> Vec<Hit> {
    let mut hits: Vec<Hit> = hits.into_iter().collect();
    // Per entry, the start of the text (even) before a later word (odd).
    hits.sort_unstable();
    hits.dedup_by_key(|h| entry_of(*h));
    if hits.len() > k {
        hits.select_nth_unstable_by(k, |a, b| heavier(entries, *a, *b));
        hits.truncate(k);
    }
    hits.sort_by(|a, b| heavier(entries, *a, *b));
    hits
}

impl SuggestIndex {
    /// Indexes `entries` (texts that normalise to nothing are kept but never match; weights that
    /// are not finite or negative count as 0).
    pub fn build(entries: Vec<Entry>) -> SuggestIndex {
        SuggestIndex::build_with(entries, MAX_WORD_STARTS)
    }

    /// Indexes `entries` from the start of their text only: a query never matches inside one.
    pub fn build_from_start(entries: Vec<Entry>) -> SuggestIndex {
        SuggestIndex::build_with(entries, 1)
    }

    fn build_with(mut entries: Vec<Entry>, max_word_starts: usize) -> SuggestIndex {
        sanitise_weights(&mut entries);
        let mut keys: Vec<Vec<u8>> = Vec::with_capacity(entries.len() * 3);
        for (idx, entry) in entries.iter().enumerate() {
            let (norm, _) = normalise(&entry.text);
            for start in word_starts(&norm).take(max_word_starts) {
                let text = key_text(&norm, start);
                let mut key = Vec::with_capacity(text.len() + 5);
                key.extend_from_slice(text.as_bytes());
                key.push(0);
                key.extend_from_slice(&hit(idx as u32, start > 0).to_be_bytes());
                keys.push(key);
            }
        }
        keys.sort_unstable();
        keys.dedup();
        let mut top = HashMap::new();
        heavy_prefixes(&entries, &keys, 0, keys.len(), 0, &mut top);
        let mut builder = MapBuilder::memory();
        let mut hits = Vec::with_capacity(keys.len());
        for (rank, key) in keys.iter().enumerate() {
            hits.push(u32::from_be_bytes(key[key.len() - 4..].try_into().expect("4 bytes")));
            builder.insert(key, rank as u64).expect("sorted, distinct keys");
        }
        let keys = Map::new(builder.into_inner().expect("in memory")).expect("just built");
        SuggestIndex { entries, keys, hits: hits.into_boxed_slice(), top }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// Prefixes with a stored top list.
    pub fn heavy_prefixes(&self) -> usize {
        self.top.len()
    }

    /// Up to `k` completions (at most [`TOP_MAX`]) of `query`: exact matches, heaviest first,
    /// then — with typo tolerance and when exact ones are fewer than `k` — fuzzy ones.
    pub fn suggest(&self, query: &str, k: usize, fuzzy: bool) -> Vec<Suggestion> {
        let typed = Typed::new(query);
        self.candidates(&typed, k, fuzzy, &|_| true).into_iter().map(|c| self.suggestion(c, typed.norm())).collect()
    }

    /// The matches of a query, best first, without their text: what [`Suggester`] merges
    /// across sources before materialising the `k` it returns.
    pub fn candidates(&self, typed: &Typed, k: usize, fuzzy: bool, keep: &dyn Fn(u32) -> bool) -> Vec<Candidate> {
        let edits = if fuzzy { allowed_edits(typed.norm().chars().count()) } else { 0 };
        self.candidates_within(typed, k, edits, keep)
    }

    /// [`Self::candidates`] with at most `max_edits` typos (at most 2).
    pub fn candidates_within(
        &self,
        typed: &Typed,
        k: usize,
        max_edits: u8,
        keep: &dyn Fn(u32) -> bool,
    ) -> Vec<Candidate> {
        let norm = typed.norm();
        let k = k.min(TOP_MAX);
        if k == 0 || norm.is_empty() {
            return Vec::new();
        }
        let candidate = |hit: Hit, edits: u8| Candidate {
            hit,
            edits,
            score: hit_weight(&self.entries, hit) / (1.0 + f32::from(edits)),
        };
        let exact = self.complete_normalised(norm.as_bytes(), k, keep);
        let mut out: Vec<Candidate> = exact.iter().map(|&h| candidate(h, 0)).collect();
        let edits = max_edits.min(2);
        if out.len() < k && edits > 0 {
            // Entry → (edits, its best hit). One edit first: when that finds enough, the
            // matches two edits away would rank after them anyway, and their walk is the costly one.
            let mut found: HashMap<u32, (u8, Hit)> = HashMap::new();
            let fst = self.keys.as_fst();
            for allowed in 1..=edits {
                found.clear();
                let dfa = typed.dfa(allowed);
                let mut walk = Walk { index: self, fst, dfa, keep, need: k + exact.len(), path: Vec::new() };
                // The first character is taken as typed (as search engines' `prefix_length` 1):
                // people rarely miss it, and a walk free to change it visits every branch of the
                // root for little.
                let first = norm.as_bytes()[0];
                let root = fst.root();
                if let Some(i) = root.find_input(first) {
                    let t = root.transition(i);
                    let state = dfa.transition(dfa.initial_state(), first);
                    if state != SINK_STATE {
                        walk.path.push(first);
                        walk.visit(fst.node(t.addr), state, t.out, None, &mut found);
                    }
                }
                for h in &exact {
                    found.remove(&entry_of(*h));
                }
                if found.len() >= k - out.len() {
                    break;
                }
            }
            let mut fuzzy: Vec<(u8, Hit)> = found.into_values().collect();
            let order = |a: &(u8, Hit), b: &(u8, Hit)| a.0.cmp(&b.0).then_with(|| heavier(&self.entries, a.1, b.1));
            let wanted = k - out.len();
            if fuzzy.len() > wanted {
                // Thousands may match a short query within its edits: select, then sort the few.
                fuzzy.select_nth_unstable_by(wanted, order);
                fuzzy.truncate(wanted);
            }
            fuzzy.sort_by(order);
            out.extend(fuzzy.into_iter().map(|(d, h)| candidate(h, d.max(1))));
        }
        out
    }

    /// The entry a candidate designates.
    pub fn entry(&self, candidate: &Candidate) -> &Entry {
        &self.entries[entry_of(candidate.hit) as usize]
    }

    /// The `k` heaviest kept entries (indexes into [`Self::entries`]) that `query` completes
    /// exactly: the fast path [`scan`] checks.
    pub fn complete(&self, query: &str, k: usize, keep: &dyn Fn(u32) -> bool) -> Vec<u32> {
        let (norm, _) = normalise(query);
        if norm.is_empty() || k == 0 {
            return Vec::new();
        }
        self.complete_normalised(norm.as_bytes(), k.min(TOP_MAX), keep).into_iter().map(entry_of).collect()
    }

    /// The exact matches of a normalised text, heaviest first: [`Self::candidates`] without
    /// typos, and without a [`Typed`] to build.
    fn exact_candidates(&self, norm: &str, k: usize, keep: &dyn Fn(u32) -> bool) -> Vec<Candidate> {
        let k = k.min(TOP_MAX);
        if k == 0 || norm.is_empty() {
            return Vec::new();
        }
        let hits = self.complete_normalised(norm.as_bytes(), k, keep);
        hits.into_iter().map(|hit| Candidate { hit, edits: 0, score: hit_weight(&self.entries, hit) }).collect()
    }

    /// The `k` heaviest kept entries with a key starting with `prefix` (their best hits).
    fn complete_normalised(&self, prefix: &[u8], k: usize, keep: &dyn Fn(u32) -> bool) -> Vec<Hit> {
        let fst = self.keys.as_fst();
        let mut node = fst.root();
        let mut output = Output::zero();
        for &b in prefix {
            let Some(i) = node.find_input(b) else { return Vec::new() };
            let t = node.transition(i);
            output = output.cat(t.out);
            node = fst.node(t.addr);
        }
        let (ids, sorted) = self.below(prefix, node, output, k, keep);
        if sorted {
            return ids.into_iter().take(k).collect();
        }
        top_k(&self.entries, ids, k)
    }

    /// The kept entries below a node (at `path`), enough of them to hold the `need` heaviest:
    /// the stored list of a heavy prefix (heaviest first: `true`) when it keeps `need` of them,
    /// every key below otherwise (unordered: `false`).
    fn below(
        &self,
        path: &[u8],
        node: Node<'_>,
        output: Output,
        need: usize,
        keep: &dyn Fn(u32) -> bool,
    ) -> (Vec<u32>, bool) {
        if let Some(list) = self.top.get(path) {
            let kept: Vec<Hit> = list.iter().copied().filter(|&h| keep(entry_of(h))).collect();
            // A list shorter than TOP_MAX holds every entry below.
            if kept.len() >= need || list.len() < TOP_MAX {
                return (kept, true);
            }
        }
        let ids = self.hits[self.ranks_below(node, output)].iter().copied().filter(|&h| keep(entry_of(h))).collect();
        (ids, false)
    }

    /// The ranks of the keys below a node (reached with `output`): from its first key (smallest
    /// inputs down to a final node) to its last (largest inputs down to a node without any).
    fn ranks_below(&self, node: Node<'_>, output: Output) -> std::ops::Range<usize> {
        let fst = self.keys.as_fst();
        let (mut first, mut out) = (node, output);
        while !first.is_final() {
            if first.is_empty() {
                return 0..0;
            }
            let t = first.transition(0);
            out = out.cat(t.out);
            first = fst.node(t.addr);
        }
        let lo = out.cat(first.final_output()).value() as usize;
        let (mut last, mut out) = (node, output);
        while !last.is_empty() {
            let t = last.transition(last.len() - 1);
            out = out.cat(t.out);
            last = fst.node(t.addr);
        }
        let hi = out.cat(last.final_output()).value() as usize;
        lo..hi + 1
    }

    /// A candidate with its text and where the (normalised) query matched it.
    pub fn suggestion(&self, candidate: Candidate, norm: &str) -> Suggestion {
        let e = self.entry(&candidate);
        Suggestion {
            text: e.text.clone(),
            kind: e.kind,
            constraint: None,
            id: e.id.clone(),
            highlight: highlight(&e.text, norm),
            score: candidate.score,
            edits: candidate.edits,
        }
    }
}

/// A Levenshtein prefix automaton's walk over the keys.
struct Walk<'a> {
    index: &'a SuggestIndex,
    fst: &'a Fst<Vec<u8>>,
    dfa: &'a DFA,
    keep: &'a dyn Fn(u32) -> bool,
    need: usize,
    path: Vec<u8>,
}

impl Walk<'_> {
    /// Entries whose key has a prefix within the automaton's distance, with the smallest such
    /// distance. `best` is the distance already reached higher on this path: everything below
    /// was taken with it, and only a closer match deeper down adds anything.
    fn visit(
        &mut self,
        node: Node<'_>,
        state: u32,
        output: Output,
        best: Option<u8>,
        found: &mut HashMap<u32, (u8, Hit)>,
    ) {
        let mut best = best;
        if let Distance::Exact(d) = self.dfa.distance(state) {
            if best.is_none_or(|b| d < b) {
                // A prefix automaton accepts everything below an accepted node.
                let (ids, _) = self.index.below(&self.path, node, output, self.need, self.keep);
                for h in ids {
                    let seen = found.entry(entry_of(h)).or_insert((d, h));
                    *seen = (*seen).min((d, h));
                }
                best = Some(d);
            }
            // Deeper, the distance can only fall, and the automaton stops on a state that maps
            // every character to itself once it cannot ("usinnage" is 2 edits from "usinag"
            // but 1 from "usinage").
            if d == 0 || self.dfa.transition(state, 1) == state {
                return;
            }
        }
        for t in node.transitions() {
            if t.inp == 0 {
                // The end of a text: what follows is the entry number, not text.
                continue;
            }
            let next = self.dfa.transition(state, t.inp);
            if next == SINK_STATE {
                continue;
            }
            self.path.push(t.inp);
            self.visit(self.fst.node(t.addr), next, output.cat(t.out), best, found);
            self.path.pop();
        }
    }
}

/// Stores the top list of every prefix of `keys[lo..hi]` (which share their first `depth`
/// bytes) matched by more than [`SCAN_MAX`] keys.
fn heavy_prefixes(
    entries: &[Entry],
    keys: &[Vec<u8>],
    lo: usize,
    hi: usize,
    depth: usize,
    top: &mut HashMap<Box<[u8]>, Box<[u32]>>,
) {
    if hi - lo <= SCAN_MAX {
        return;
    }
    if depth > 0 {
        let ids = keys[lo..hi].iter().map(|k| u32::from_be_bytes(k[k.len() - 4..].try_into().expect("4 bytes")));
        top.insert(keys[lo][..depth].into(), top_k(entries, ids, TOP_MAX).into_boxed_slice());
    }
    // Children by the next text byte (a 0 ends the text: no longer prefix there).
    let mut start = lo;
    while start < hi {
        let byte = keys[start][depth];
        let end = start + keys[start..hi].partition_point(|k| k[depth] == byte);
        if byte != 0 {
            heavy_prefixes(entries, keys, start, end, depth + 1, top);
        }
        start = end;
    }
}

/// Where `query` (normalised) matches `text`: the word-start run of text whose normalised form
/// starts with the query, or failing that (a fuzzy match), the words the query's length covers
/// from the best-matching word start.
pub fn highlight(text: &str, query: &str) -> Vec<[usize; 2]> {
    let (norm, origin) = normalise(text);
    if norm.is_empty() || query.is_empty() {
        return Vec::new();
    }
    let starts: Vec<usize> = word_starts(&norm).collect();
    let start = starts
        .iter()
        .copied()
        .find(|&s| norm[s..].starts_with(query))
        .or_else(|| {
            starts
                .iter()
                .copied()
                // The first start sharing the longest prefix with the query.
                .min_by_key(|&s| std::cmp::Reverse(common_prefix(&norm.as_bytes()[s..], query.as_bytes())))
        })
        .unwrap_or(0);
    let mut end = (start + query.len()).min(norm.len());
    while !norm.is_char_boundary(end) {
        end -= 1;
    }
    // A space's origin is the next word's first character: never end on one.
    while end > start + 1 && norm.as_bytes()[end - 1] == b' ' {
        end -= 1;
    }
    // Original byte range: from the first byte of the match to the end of its last character.
    let from = origin[start];
    let last = origin[end - 1];
    let to = last + text[last..].chars().next().map_or(0, char::len_utf8);
    // Spans split at spaces, so that highlights cover words, not the gaps.
    let mut spans = Vec::new();
    let mut span_start = from;
    for (i, c) in text[from..to].char_indices() {
        if !c.is_alphanumeric() {
            if from + i > span_start {
                spans.push([span_start, from + i]);
            }
            span_start = from + i + c.len_utf8();
        }
    }
    if to > span_start {
        spans.push([span_start, to]);
    }
    spans
}

fn common_prefix(a: &[u8], b: &[u8]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}
