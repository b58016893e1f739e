//! Places in a query: when a name or a number means a location, the words that introduce it, and
//! the distance around it ("dans un rayon de 30 km autour de Lyon", "within 30 km of Lyon").

use super::{Interpreter, LocationHit};
use crate::analysis::Token;
use crate::dict::PhraseMatch;
use crate::dict::gazetteer::PlaceKind;
use crate::dict::vocabulary::{VocabularyHit, is_unit_word};

/// A commune named without a location word must be at least this large to count as a place
/// (Lyon, Grenoble: yes; the hamlet that shares its name with a trade word: no).
pub const BARE_CITY_MIN_POPULATION: u64 = 30_000;

/// Folded words that always introduce a location.
pub(crate) const STRONG_LOCATION_WORDS: &[&str] = &[
    "alentours",
    "around",
    "autour",
    "departement",
    "environs",
    "near",
    "pres",
    "proche",
    "proximite",
    "region",
    "secteur",
    "vers",
    "zone",
];
/// Folded words that introduce a location only when what follows is clearly a place.
pub(crate) const WEAK_LOCATION_WORDS: &[&str] = &["a", "au", "aux", "dans", "en", "in", "sur"];
/// Folded words that may stand between a location word and the place ("près de la", "dans le").
pub(crate) const LOCATION_GLUE: &[&str] = &["d", "de", "des", "du", "l", "la", "le", "les", "the"];
/// Folded units of a distance.
const DISTANCE_UNITS: &[&str] = &["kilometer", "kilometers", "kilometre", "kilometres", "km", "kms"];
/// Folded words between a distance and its place ("30 km autour de", "30 km radius of").
const DISTANCE_TO_PLACE: &[&str] = &[
    "around", "autour", "d", "de", "des", "du", "from", "l", "la", "le", "les", "max", "maxi", "maximum", "of",
    "radius", "rayon", "the",
];
/// Folded words that lead to a distance ("dans un rayon de", "à moins de", "within a", "up to").
const DISTANCE_LEAD: &[&str] = &[
    "a", "an", "d", "dans", "de", "des", "environ", "in", "inside", "jusqu", "les", "less", "max", "maximum", "moins",
    "radius", "rayon", "than", "the", "to", "un", "under", "up", "within",
];
/// Longest distance a query may ask for, in km (mainland France is about 1,000 km across).
const MAX_RADIUS_KM: f32 = 2_000.0;

/// How a place is introduced in the query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Introduction {
    /// By a strong location phrase (or a distance) starting at this byte offset.
    Strong(usize),
    /// By a weak one ("à", "en"…): where it starts, whether it is "en", and whether a plural
    /// article follows it ("dans les").
    Weak { start: usize, word_is_en: bool, plural_glue: bool },
}

impl Introduction {
    fn start(self) -> usize {
        match self {
            Introduction::Strong(start) | Introduction::Weak { start, .. } => start,
        }
    }
}

impl Interpreter {
    /// The locations of a query. `usable(i)` is false for tokens another reading has taken (a
    /// size phrase): they are neither a place nor a location word.
    pub(super) fn find_locations(
        &self,
        query: &str,
        tokens: &[Token],
        content: &[usize],
        concept_matches: &[PhraseMatch<'_>],
        material_names: &[VocabularyHit],
        usable: &impl Fn(usize) -> bool,
    ) -> Vec<LocationHit> {
        // Place names are matched on folded, unstemmed words.
        let words: Vec<&str> = content.iter().map(|&i| tokens[i].folded.as_str()).collect();
        let n_content = content.len();
        let mut hits: Vec<LocationHit> = Vec::new();
        let mut pos = 0;
        while pos < n_content {
            let token_idx = content[pos];
            if !usable(token_idx) {
                pos += 1;
                continue;
            }
            let introduction = introduction_of(query, tokens, token_idx, usable);
            let name_match = self
                .gazetteer
                .names()
                .longest_at(&words, pos)
                .filter(|&(end, _)| content[pos..end].iter().all(|&i| usable(i)));
            let found = match name_match {
                Some((end, candidates)) => {
                    let place_idx = self.gazetteer.best_of(candidates);
                    let place = self.gazetteer.place(place_idx);
                    let whole_query = pos == 0 && end == n_content;
                    let inside_concept = concept_matches.iter().any(|m| m.start < end && pos < m.end);
                    let capitalised = query[tokens[token_idx].start..].chars().next().is_some_and(char::is_uppercase);
                    let unambiguous_name = !place.common_word || capitalised;
                    let (first_token, last_token) = (token_idx, content[end - 1]);
                    let material =
                        material_names.iter().find(|m| m.first_token <= last_token && m.last_token >= first_token);
                    let accepted = match (material, introduction) {
                        // A material's name is the material unless the query clearly says a place.
                        (Some(_), Some(Introduction::Strong(_))) => true,
                        (Some(m), Some(Introduction::Weak { .. })) => {
                            written_as_name(&query[tokens[token_idx].start..tokens[token_idx].end])
                                && m.first_token >= first_token
                                && m.last_token <= last_token
                        }
                        (Some(_), None) => false,
                        (None, introduction) => match introduction {
                            Some(Introduction::Strong(_)) => true,
                            // A capitalised city beats a concept phrase it sits in ("usinage à Tours"
                            // against "usinage sur tour").
                            Some(Introduction::Weak { .. }) => {
                                unambiguous_name
                                    && (!inside_concept
                                        || (capitalised && place.population >= BARE_CITY_MIN_POPULATION))
                            }
                            None => {
                                whole_query
                                    || (!inside_concept
                                        && unambiguous_name
                                        && match place.kind {
                                            PlaceKind::Region => true,
                                            PlaceKind::Departement => end - pos >= 2,
                                            PlaceKind::Commune => place.population >= BARE_CITY_MIN_POPULATION,
                                        })
                            }
                        },
                    };
                    accepted.then_some((end, place_idx))
                }
                None => self.code_at(tokens, token_idx, introduction).map(|place_idx| (pos + 1, place_idx)),
            };
            let Some((end, place_idx)) = found else {
                pos += 1;
                continue;
            };
            let place = self.gazetteer.place(place_idx);
            let place_span = [tokens[token_idx].start, tokens[content[end - 1]].end];
            let distance = distance_before(query, tokens, token_idx, usable);
            hits.push(LocationHit {
                place: place.clone(),
                matched: query[place_span[0]..place_span[1]].to_owned(),
                span: [introduction.map_or(place_span[0], Introduction::start), place_span[1]],
                introduced: introduction.is_some(),
                radius_km: distance.map(|(km, _)| km),
            });
            pos = end;
        }
        hits
    }

    /// A postal code ("69003") or département code ("69", "2A", "974") at `tokens[idx]`, when the
    /// words around it say it is one and not a quantity.
    fn code_at(&self, tokens: &[Token], idx: usize, introduction: Option<Introduction>) -> Option<usize> {
        match introduction? {
            Introduction::Weak { word_is_en: true, .. } | Introduction::Weak { plural_glue: true, .. } => return None,
            Introduction::Weak { .. } | Introduction::Strong(_) => {}
        }
        if tokens.get(idx + 1).is_some_and(|next| is_unit_word(&next.folded)) {
            return None;
        }
        let word = tokens[idx].folded.as_str();
        let is_digits = word.bytes().all(|b| b.is_ascii_digit());
        match word.len() {
            5 if is_digits => self.gazetteer.commune_by_postal_code(word),
            2 if is_digits || word == "2a" || word == "2b" => self.gazetteer.departement_by_code(word),
            3 if is_digits && word.starts_with("97") => self.gazetteer.departement_by_code(word),
            _ => None,
        }
    }
}

/// Whether a word is written as a name: a capital, then not only capitals ("Argentan", not
/// "EPS", an acronym, nor "argentan").
fn written_as_name(word: &str) -> bool {
    let mut chars = word.chars();
    chars.next().is_some_and(char::is_uppercase) && chars.any(char::is_lowercase)
}

/// How the words just before `tokens[idx]` introduce a location, if they do ("près de",
/// "dans le", "en", "à 30 km de").
fn introduction_of(query: &str, tokens: &[Token], idx: usize, usable: &impl Fn(usize) -> bool) -> Option<Introduction> {
    if let Some((_, first)) = distance_before(query, tokens, idx, usable) {
        return Some(Introduction::Strong(tokens[first].start));
    }
    let mut found = None;
    let mut plural_glue = false;
    for (prev_idx, prev) in tokens[..idx].iter().enumerate().rev().take(4) {
        if !usable(prev_idx) {
            break;
        }
        let word = prev.folded.as_str();
        if STRONG_LOCATION_WORDS.contains(&word) {
            return Some(Introduction::Strong(found.map_or(prev.start, Introduction::start).min(prev.start)));
        } else if WEAK_LOCATION_WORDS.contains(&word) {
            // Keep looking back: "à proximité de" puts a weak word before a strong one.
            found = Some(Introduction::Weak { start: prev.start, word_is_en: word == "en", plural_glue });
        } else if LOCATION_GLUE.contains(&word) {
            plural_glue |= word == "les" || word == "des";
        } else {
            break;
        }
    }
    found
}

/// A distance written before the place at `tokens[idx]` ("30 km de", "dans un rayon de 30 km
/// autour de", "within a 30 km radius of", "à moins de 2,5 km de"): the kilometres and the first
/// token of the phrase.
fn distance_before(query: &str, tokens: &[Token], idx: usize, usable: &impl Fn(usize) -> bool) -> Option<(f32, usize)> {
    let word = |i: usize| tokens[i].folded.as_str();
    let mut at = idx;
    // Back over the words between the distance and the place.
    while at > 0 && usable(at - 1) && DISTANCE_TO_PLACE.contains(&word(at - 1)) && idx - at < 4 {
        at -= 1;
    }
    // The unit and the number ("30 km") or both in one word ("30km").
    let unit = at.checked_sub(1).filter(|&i| usable(i))?;
    let (number_end, digits) = if DISTANCE_UNITS.contains(&word(unit)) {
        (unit.checked_sub(1).filter(|&i| usable(i))?, None)
    } else {
        let digits = DISTANCE_UNITS.iter().find_map(|u| word(unit).strip_suffix(u))?;
        (unit, Some(digits))
    };
    let integer = digits.unwrap_or(word(number_end));
    if integer.is_empty() || integer.len() > 4 || !integer.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut first = number_end;
    let mut km: f32 = integer.parse().ok()?;
    // A decimal written "2,5" or "2.5" is two words.
    if digits.is_none() && number_end > 0 && usable(number_end - 1) {
        let before = &tokens[number_end - 1];
        let between = &query[before.end..tokens[number_end].start];
        if (between == "," || between == ".")
            && before.folded.len() <= 4
            && before.folded.bytes().all(|b| b.is_ascii_digit())
        {
            km = format!("{}.{integer}", before.folded).parse().ok()?;
            first = number_end - 1;
        }
    }
    if !(km > 0.0 && km <= MAX_RADIUS_KM) {
        return None;
    }
    while first > 0 && usable(first - 1) && DISTANCE_LEAD.contains(&word(first - 1)) && number_end - first < 6 {
        first -= 1;
    }
    Some((km, first))
}
