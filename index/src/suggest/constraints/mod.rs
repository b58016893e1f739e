//! Constraint completions: a need already typed, then the start of a constraint — "usinage ti"
//! → "usinage · titane", "fraisage EN 91" → "fraisage · EN 9100", "usinage plus de 5" →
//! "usinage · plus de 50 salariés", "chaudronnerie près de ly" → "chaudronnerie · près de Lyon".
//!
//! The typed text is split before one of its last [`MAX_TAIL_WORDS`] words: the words after it
//! (the *tail*, at least [`MIN_TAIL_CHARS`] characters, not a lone stopword) must start a
//! constraint's name, and the text before it (the *head*) must already read as something — the
//! interpreter finds at least one constraint in it (a process, a material, a place…). The
//! longest tail that starts a name wins ("usinage iso 90" is "ISO 9001", not "usinage iso" then
//! "904L"). The suggestion is the head as typed, " · " (a space after a stopword: "usinage en
//! titane"), then the name: what goes in the box, and what `/match` then reads.
//!
//! Names (`names.rs`), one [`SuggestIndex`] per language built once, matched from their start
//! only (the tail replaces the last words typed; a name matched in its middle would put words
//! before them):
//! - materials and certifications: every label and alias of the vocabularies, French and
//!   English (a certification's English label is a description, left out); a family before its
//!   grades, a label before its aliases, the head's language before the other; one family takes
//!   at most [`FAMILY_SHARE`] places before the others;
//! - sizes: the named sizes ("PME", "ETI", "grand groupe", "SME"…) and headcount thresholds
//!   ("plus de 50 salariés", "fewer than 20 employees"). A threshold is offered only once its
//!   comparator is typed in full ("usinage plus de" → 10, 20, 50… salariés): before that, "pl"
//!   is as likely "plastique" or "plomb", and which number the buyer means is a guess;
//! - places, from the locations index, only after location words the user typed ("près de",
//!   "autour de", "near"; "en", "dans", "à" for régions, départements and cities the interpreter
//!   reads without one). Nothing is offered for a bare "près de": no place completes it.
//!
//! The contract with the query path: a suggestion's text, interpreted, has the constraint the
//! suggestion names (tested over every name after a dozen heads, and on random input). Each
//! name is kept only when the interpreter reads it alone as exactly its constraint; a head's
//! own constraint (or a grade of the family offered) is not offered again; and a suggestion is
//! read whole before it is offered when its context may change the reading: places (homonyms,
//! capitals, concept words), names after location words or a number, and names the head's last
//! word may merge with ("alliage à base de" + "nickel silver"), at most [`MAX_CHECKS`] readings
//! of a few microseconds each. Typos: one, in a last word of 4 characters or more without
//! digits that starts no name, after a head that reads as something.
//!
//! Cost per keystroke: nothing for a single word; for more, two FST lookups per split (both
//! languages), and once a tail starts a name, the head's reading (`heads.rs`: an interpretation,
//! remembered per thread, so a user's next keystrokes on the same head are lookups).

mod heads;
mod names;

use std::collections::HashSet;
use std::sync::Arc;

use self::heads::HeadReading;
pub(super) use self::heads::Heads;
use self::names::{Names, language_slot};
use super::{Candidate, Kind, SuggestIndex, Suggestion, TOP_MAX, Typed, allowed_edits, highlight};
use crate::analysis::detect_language;
use crate::dict::gazetteer::PlaceKind;
use crate::interpret::{
    BARE_CITY_MIN_POPULATION, Constraint, ConstraintKind, Interpreter, LOCATION_GLUE, STRONG_LOCATION_WORDS,
    WEAK_LOCATION_WORDS,
};

/// Words the tail may span: the longest names buyers type ("acier de construction mécanique",
/// "plus de 50 salariés") have four.
pub const MAX_TAIL_WORDS: usize = 4;
/// Characters the tail needs: one letter starts too many names to be a hint.
pub const MIN_TAIL_CHARS: usize = 2;
/// Score of a constraint suggestion relative to its name's weight: below the glossary's
/// operation labels (0.85), so that a completion of everything typed ("découpe la" → "découpe
/// laser") comes before a reading that replaces the last word ("découpe · laiton").
pub const CONSTRAINT_FACTOR: f32 = 0.6;
/// Weight of a name in the other language than the head's.
const OTHER_LANGUAGE_FACTOR: f32 = 0.8;
/// What goes between the head and the name (unless the head ends with a stopword: "usinage
/// en" + "titane" → "usinage en titane").
pub const SEPARATOR: &str = " · ";

/// Place candidates considered per request.
pub const MAX_PLACE_CHECKS: usize = 8;
/// Suggestions read whole by the interpreter per request, whatever `k` (places, and names after
/// a head they could merge with): each reading takes 2 to 10 µs, and the request may be
/// answered on an async worker.
pub const MAX_CHECKS: usize = 12;
/// Names read per suggestion asked: an entry has several names (label, aliases, both
/// languages), shown once.
const NAMES_PER_SUGGESTION: usize = 3;
/// Suggestions of one family (a vocabulary's root) before the other families'.
pub const FAMILY_SHARE: usize = 4;

/// The constraint names and the interpreter that reads heads (and checks places).
pub(super) struct ConstraintSource {
    /// Distinct per source built in the process (the key of its remembered heads).
    id: u64,
    interpreter: Arc<Interpreter>,
    /// French and English names.
    names: [Names; 2],
    /// Which words of the vocabularies' names another follows ("alliage à base de" +
    /// "nickel"): a head ending with one may merge with a name.
    joining: names::Joining,
    /// Names the interpreter did not read back as their constraint, left out (name, reason).
    dropped: Vec<(String, String)>,
}

impl std::fmt::Debug for ConstraintSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConstraintSource")
            .field("names", &self.len())
            .field("left_out", &self.dropped.len())
            .finish_non_exhaustive()
    }
}

/// A split of the typed text: the head as typed (trimmed), and where the tail starts in the
/// normalised text.
struct Split<'q> {
    head: &'q str,
    tail_start: usize,
}

/// The id a constraint is suggested with: the vocabulary or glossary id, the place code, or a
/// size's bounds ("50-", "-249", "250-4999").
pub fn constraint_id(constraint: &Constraint) -> String {
    match constraint {
        Constraint::Process { id, .. } | Constraint::Material { id, .. } | Constraint::Certification { id, .. } => {
            id.clone()
        }
        Constraint::Size { min, max, .. } => {
            let bound = |b: &Option<u32>| b.map_or(String::new(), |b| b.to_string());
            format!("{}-{}", bound(min), bound(max))
        }
        Constraint::Place { code, .. } => code.clone(),
    }
}

impl ConstraintSource {
    pub(super) fn build(interpreter: Arc<Interpreter>) -> ConstraintSource {
        let (names, dropped) = names::all_names(&interpreter);
        let joining = names::Joining::build(interpreter.vocabularies());
        ConstraintSource { id: heads::next_source_id(), interpreter, names, joining, dropped }
    }

    /// Names left out because the interpreter does not read them as their own constraint.
    #[cfg(test)]
    fn dropped(&self) -> &[(String, String)] {
        &self.dropped
    }

    /// Names indexed (a designation counts once per language).
    pub(super) fn len(&self) -> usize {
        self.names.iter().map(|n| n.index.len()).sum()
    }

    /// Up to `k` constraint completions of `query`, best first (exact ones before the others).
    ///
    /// The splits are tried from the longest tail; the first whose tail starts names (or, after
    /// location words, places) and whose head reads as something is the one: its tail is what
    /// the user is typing ("usinage iso 90" is "ISO 9001", not "usinage iso" + "904L"). Typos
    /// are tolerated in a last word without digits only: "titnae" is "titane", but "ISO 13" is
    /// not "ISO 14001" nor "plus de 5" "plus de 10" (and each tolerant tail costs an automaton).
    pub(super) fn suggest(
        &self,
        query: &str,
        typed: &Typed,
        k: usize,
        fuzzy: bool,
        locations: &SuggestIndex,
        heads: &mut Heads,
    ) -> Vec<Suggestion> {
        let (norm, origin) = (typed.norm(), typed.origin());
        for split in splits(query, norm, origin) {
            let tail = &norm[split.tail_start..];
            if tail.chars().count() < MIN_TAIL_CHARS {
                continue;
            }
            let n_names = (NAMES_PER_SUGGESTION * k).min(TOP_MAX);
            let keep_for = |slot: usize| {
                let info = &self.names[slot].info;
                move |entry: u32| info[entry as usize].min_typed <= tail.len()
            };
            let mut named: [Vec<Candidate>; 2] =
                std::array::from_fn(|slot| self.names[slot].index.exact_candidates(tail, n_names, &keep_for(slot)));
            let place = place_tail(tail);
            let place_name = place.map(|place| &tail[place.name_start..]);
            let n_places = k.min(MAX_PLACE_CHECKS);
            let mut places =
                place_name.map_or_else(Vec::new, |name| locations.exact_candidates(name, n_places, &|_| true));
            let exact = named.iter().any(|n| !n.is_empty()) || !places.is_empty();
            if !exact && !fuzzy {
                continue;
            }
            // A stopword on its own is a word of the need far more often than the start of a
            // constraint ("usinage de", "découpe la").
            if !tail.contains(' ') && detect_language(split.head).is_stopword(tail) {
                continue;
            }
            let Some(head) = heads.read(self, split.head) else { continue };
            let head = &head;
            if !exact {
                // Typos only where nothing starts with what was typed, after a head that reads
                // as something (the automaton costs more than both lookups).
                if let Some(typed) = tolerant(tail) {
                    for (slot, found) in named.iter_mut().enumerate() {
                        *found = self.names[slot].index.candidates_within(&typed, n_names, 1, &keep_for(slot));
                    }
                }
                if let Some(typed) = place_name.and_then(tolerant) {
                    places = locations.candidates_within(&typed, n_places, 1, &|_| true);
                }
                if named.iter().all(Vec::is_empty) && places.is_empty() {
                    continue;
                }
            }
            let mut found: Vec<Found<'_>> = Vec::new();
            for (slot, candidates) in named.iter().enumerate() {
                let names = &self.names[slot];
                let factor = if slot == language_slot(head.language) { 1.0 } else { OTHER_LANGUAGE_FACTOR };
                for candidate in candidates {
                    let entry = names.index.entry(candidate);
                    let kind = names.info[candidate.entry_index() as usize].kind;
                    let id = entry.id.as_deref().unwrap_or_default();
                    if self.implied_by_head(head, kind, id) {
                        continue;
                    }
                    let first_stem = &names.first_stems[candidate.entry_index() as usize];
                    found.push(Found {
                        kind,
                        id,
                        check: head.open_ended || self.joining.may_join(head.last_stem.as_deref(), first_stem),
                        head: split.head,
                        ends_with_stopword: head.ends_with_stopword,
                        phrase: None,
                        name: &entry.text,
                        name_query: tail,
                        edits: candidate.edits,
                        score: candidate.score * factor * CONSTRAINT_FACTOR,
                    });
                }
            }
            if let Some(place) = place {
                // The location words as typed ("près de"), then the name.
                let at = split.tail_start;
                let phrase = query[origin[at]..origin[at + place.name_start]].trim_end();
                let name_query = &tail[place.name_start..];
                found.extend(self.places(&split, phrase, name_query, place.strong, &places, head));
            }
            if found.is_empty() {
                continue;
            }
            // Read whole before being offered: places (homonyms, capitals and concept words
            // decide whether a name is read as one), names after location words or a number,
            // and names the head's last word may merge with. At most MAX_CHECKS readings per
            // request.
            let mut out = Vec::new();
            for f in best_per_constraint(&mut found) {
                if f.check {
                    match heads.check(f.text().0, f.kind, f.id, |text| self.reads_as_named(text, f)) {
                        None => break,
                        Some(false) => continue,
                        Some(true) => {}
                    }
                }
                out.push(f.suggestion());
                if out.len() == k {
                    break;
                }
            }
            return out;
        }
        Vec::new()
    }

    /// Whether the whole text of a suggestion reads as the constraint it names.
    fn reads_as_named(&self, text: &str, found: &Found<'_>) -> bool {
        self.interpreter
            .interpret(text)
            .constraints
            .iter()
            .any(|c| c.constraint.kind() == found.kind && constraint_id(&c.constraint) == found.id)
    }

    /// Whether the head names this constraint already, or a more specific one of its family (a
    /// grade after which its family would be dropped: "usinage TA6V" + "titane").
    fn implied_by_head(&self, head: &HeadReading, kind: ConstraintKind, id: &str) -> bool {
        let vocabularies = self.interpreter.vocabularies();
        let vocabulary = match kind {
            ConstraintKind::Material => Some(&vocabularies.materials),
            ConstraintKind::Certification => Some(&vocabularies.certifications),
            _ => None,
        };
        head.constraints.iter().filter(|(known_kind, _)| *known_kind == kind).any(|(_, known)| {
            known == id
                || vocabulary.is_some_and(|v| match (v.index_of(id), v.index_of(known)) {
                    (Some(candidate), Some(known)) => v.is_ancestor(candidate, known),
                    _ => false,
                })
        })
    }

    /// The place candidates of a split, as suggestions to check: after `phrase`, the location
    /// words typed (`strong`: "près de", not only "en"), and `name_query`, what was typed of the
    /// name.
    fn places<'q>(
        &'q self,
        split: &Split<'q>,
        phrase: &'q str,
        name_query: &'q str,
        strong: bool,
        candidates: &[Candidate],
        head: &HeadReading,
    ) -> Vec<Found<'q>> {
        let mut found = Vec::new();
        let gazetteer = self.interpreter.gazetteer();
        for candidate in candidates.iter().take(MAX_PLACE_CHECKS) {
            let place_info = gazetteer.place(candidate.entry_index() as usize);
            let read_without_strong_word = match place_info.kind {
                PlaceKind::Region | PlaceKind::Departement => true,
                PlaceKind::Commune => place_info.population >= BARE_CITY_MIN_POPULATION,
            };
            if !strong && !read_without_strong_word {
                continue;
            }
            if self.implied_by_head(head, ConstraintKind::Place, &place_info.code) {
                continue;
            }
            let found_place = Found {
                kind: ConstraintKind::Place,
                id: &place_info.code,
                check: true,
                head: split.head,
                ends_with_stopword: false,
                phrase: Some(phrase),
                name: &place_info.name,
                name_query,
                edits: candidate.edits,
                score: candidate.score * CONSTRAINT_FACTOR,
            };
            found.push(found_place);
        }
        found
    }
}

/// The typed text of a tail (normalised) that typos are tolerated in: a last word without
/// digits of at least 4 characters, one typo ([`allowed_edits`] capped at one: the whole-text
/// rule's second typo from 8 characters would cost a second automaton for a single word, where
/// one typo is the usual slip). "ISO 13" is not "ISO 14001", nor "plus de 5" "plus de 10".
fn tolerant(norm: &str) -> Option<Typed> {
    let word = !norm.contains(' ') && !norm.bytes().any(|b| b.is_ascii_digit());
    (word && allowed_edits(norm.chars().count()) > 0).then(|| Typed::from_normalised(norm))
}

/// One per constraint (its best name), best first: closest first, then by score, then shorter,
/// then by name;
/// one family (the vocabulary's root: "inox" for every stainless grade) takes at most
/// [`FAMILY_SHARE`] places before the others ("usinage in": a few stainless grades, then
/// Inconel).
fn best_per_constraint<'f, 'q>(found: &'f mut [Found<'q>]) -> impl Iterator<Item = &'f Found<'q>> {
    found.sort_by(|a, b| {
        a.edits
            .cmp(&b.edits)
            .then_with(|| b.score.total_cmp(&a.score))
            .then_with(|| a.name.len().cmp(&b.name.len()))
            .then_with(|| a.name.cmp(b.name))
    });
    let found: &'f [Found<'q>] = found;
    let mut seen: HashSet<(ConstraintKind, &str)> = HashSet::with_capacity(found.len());
    let distinct: Vec<&'f Found<'q>> = found.iter().filter(|f| seen.insert((f.kind, f.id))).collect();
    let family = |f: &Found<'q>| (f.kind, f.id.split('.').next().unwrap_or(f.id));
    let per_family = FAMILY_SHARE;
    let mut taken = vec![false; distinct.len()];
    let mut families: Vec<((ConstraintKind, &'q str), usize)> = Vec::new();
    for (at, f) in distinct.iter().enumerate() {
        let key = family(f);
        let count = match families.iter_mut().find(|(family, _)| *family == key) {
            Some((_, count)) => count,
            None => {
                families.push((key, 0));
                &mut families.last_mut().expect("just pushed").1
            }
        };
        if *count < per_family {
            *count += 1;
            taken[at] = true;
        }
    }
    // Those within their family's share first, then the others, in order.
    let order: Vec<usize> =
        (0..distinct.len()).filter(|&at| taken[at]).chain((0..distinct.len()).filter(|&at| !taken[at])).collect();
    order.into_iter().map(move |at| distinct[at])
}

/// A constraint found for a query, before it is shown.
struct Found<'q> {
    kind: ConstraintKind,
    id: &'q str,
    /// Whether it must be read whole before it is offered.
    check: bool,
    head: &'q str,
    ends_with_stopword: bool,
    /// The location words typed before a place ("près de").
    phrase: Option<&'q str>,
    /// The name as shown.
    name: &'q str,
    /// What the user typed of the name (normalised).
    name_query: &'q str,
    edits: u8,
    score: f32,
}

impl Found<'_> {
    /// The text and where its name starts.
    fn text(&self) -> (String, usize) {
        let separator = if self.ends_with_stopword { " " } else { SEPARATOR };
        let mut text = String::with_capacity(self.head.len() + separator.len() + self.name.len() + 16);
        text.push_str(self.head);
        text.push_str(separator);
        if let Some(phrase) = self.phrase {
            text.push_str(phrase);
            text.push(' ');
        }
        let name_start = text.len();
        text.push_str(self.name);
        (text, name_start)
    }

    fn suggestion(&self) -> Suggestion {
        let (text, name_start) = self.text();
        // Every word typed before the name, then what the name's start matched.
        let typed_end = if self.phrase.is_some() { name_start } else { self.head.len() };
        let mut spans: Vec<[usize; 2]> = word_ranges(&text[..typed_end]);
        spans.extend(highlight(self.name, self.name_query).into_iter().map(|[s, e]| [s + name_start, e + name_start]));
        Suggestion {
            text,
            kind: Kind::Constraint,
            constraint: Some(self.kind),
            id: Some(self.id.to_owned()),
            highlight: spans,
            score: self.score,
            edits: self.edits,
        }
    }
}

/// The byte ranges of the alphanumeric runs of a text.
fn word_ranges(text: &str) -> Vec<[usize; 2]> {
    let mut spans = Vec::new();
    let mut start = None;
    for (at, c) in text.char_indices() {
        match (c.is_alphanumeric(), start) {
            (true, None) => start = Some(at),
            (false, Some(s)) => {
                spans.push([s, at]);
                start = None;
            }
            _ => {}
        }
    }
    if let Some(s) = start {
        spans.push([s, text.len()]);
    }
    spans
}

/// The splits of a query before each of its last [`MAX_TAIL_WORDS`] words, longest tail first;
/// a split leaves a head of at least one word.
fn splits<'q>(query: &'q str, norm: &str, origin: &[usize]) -> Vec<Split<'q>> {
    let starts: Vec<usize> = norm.match_indices(' ').map(|(i, _)| i + 1).collect();
    let first = starts.len().saturating_sub(MAX_TAIL_WORDS);
    starts[first..]
        .iter()
        .filter_map(|&tail_start| {
            let head = trim_head(&query[..origin[tail_start]]);
            (!head.is_empty()).then_some(Split { head, tail_start })
        })
        .collect()
}

/// The head without what separates it from the tail (spaces, "·", commas).
fn trim_head(head: &str) -> &str {
    head.trim_end_matches(|c: char| c.is_whitespace() || matches!(c, '·' | ',' | ';' | '|' | '-' | '+' | '/' | '&'))
}

/// Location words at the start of a tail and where the place's name starts after them.
#[derive(Debug, Clone, Copy, PartialEq)]
struct PlaceTail {
    /// Byte offset of the name in the tail.
    name_start: usize,
    /// Whether a strong location word ("près", "autour", "near") is among them.
    strong: bool,
}

/// A tail that is location words ("près de", "dans le", "en") then the start of a name: no
/// digit (département codes are read by the interpreter, and "EN 91" is a certification), at
/// least [`MIN_TAIL_CHARS`].
fn place_tail(tail: &str) -> Option<PlaceTail> {
    let mut offset = 0;
    let mut strong = false;
    let mut located = false;
    for word in tail.split(' ') {
        let is_strong = STRONG_LOCATION_WORDS.contains(&word);
        let is_weak = WEAK_LOCATION_WORDS.contains(&word);
        let is_glue = LOCATION_GLUE.contains(&word);
        if offset == 0 && !is_strong && !is_weak {
            return None;
        }
        if !(is_strong || is_weak || is_glue) {
            break;
        }
        strong |= is_strong;
        located |= is_strong || is_weak;
        offset += word.len() + 1;
    }
    let name = tail.get(offset..)?;
    let usable =
        located && name.chars().count() >= MIN_TAIL_CHARS && name.chars().next().is_some_and(|c| !c.is_ascii_digit());
    usable.then_some(PlaceTail { name_start: offset, strong })
}

#[cfg(test)]
mod tests;
