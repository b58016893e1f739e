//! Query interpretation: what a buyer's need says, before any retrieval.
//!
//! From the raw text it finds the language, the words (with their stems), synonym expansions,
//! glossary concepts (leftmost-longest over n-grams, with their place in the hierarchy) and
//! locations (communes, départements, régions, postal and département codes). Locations and the
//! words that introduce them ("près de", "dans le") are taken out of the text query: they become
//! a geo boost or filter downstream.
//!
//! A place name is only taken as a location when the query clearly means one, because many place
//! names are also words ("usinage sur tour", "moulage en coquille", "lot de pièces") and many
//! numbers are quantities ("en 10 jours", "à 10 mm", "10000 pièces"):
//! - a strong location phrase ("près de", "autour de", "région", "near") always introduces one;
//! - a weak one ("à", "en", "dans", "sur") introduces a place whose name is not an ordinary word
//!   (or is written with a capital), outside any glossary concept;
//! - with no location phrase: a région, a multi-word département, a city of at least
//!   [`BARE_CITY_MIN_POPULATION`] inhabitants, or a query that is nothing but the name;
//! - a number is a postal or département code only after a location phrase other than "en", not
//!   after a plural article ("dans les 10 jours"), and not before a unit ("à 10 mm").

use serde::Serialize;

use crate::analysis::{Analyzer, Language, Token, detect_language};
use crate::dict::gazetteer::{Gazetteer, Place, PlaceKind};
use crate::dict::glossary::{Glossary, GlossaryError};
use crate::dict::synonyms::{Expansion, SynonymError, Synonyms};
use crate::record::ConceptLevel;
use crate::refdata::RefData;

/// A commune named without a location word must be at least this large to count as a place
/// (Lyon, Grenoble: yes; the hamlet that shares its name with a trade word: no).
pub const BARE_CITY_MIN_POPULATION: u64 = 30_000;

/// Folded words that always introduce a location.
const STRONG_LOCATION_WORDS: &[&str] = &[
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
const WEAK_LOCATION_WORDS: &[&str] = &["a", "au", "aux", "dans", "en", "in", "sur"];
/// Folded words that may stand between a location word and the place ("près de la", "dans le").
const LOCATION_GLUE: &[&str] = &["d", "de", "des", "du", "l", "la", "le", "les", "the"];
/// Folded words after which a number is a quantity, never a code.
const UNIT_WORDS: &[&str] = &[
    "an",
    "ans",
    "axe",
    "axes",
    "bar",
    "bars",
    "c",
    "centimetre",
    "centimetres",
    "cm",
    "degre",
    "degres",
    "ex",
    "exemplaire",
    "exemplaires",
    "g",
    "h",
    "heure",
    "heures",
    "jour",
    "jours",
    "kg",
    "kilo",
    "kilos",
    "km",
    "kw",
    "litre",
    "litres",
    "lot",
    "lots",
    "m",
    "m2",
    "m3",
    "metre",
    "metres",
    "micron",
    "microns",
    "millimetre",
    "millimetres",
    "min",
    "minutes",
    "mm",
    "mois",
    "mpa",
    "piece",
    "pieces",
    "pcs",
    "semaine",
    "semaines",
    "t",
    "tonne",
    "tonnes",
    "unite",
    "unites",
    "um",
    "w",
];

/// How a place is introduced in the query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Introduction {
    /// By a strong location phrase starting at this byte offset.
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

/// The dictionaries an interpreter uses.
#[derive(Debug, Clone)]
pub struct Interpreter {
    synonyms: Synonyms,
    glossary: Glossary,
    gazetteer: Gazetteer,
}

/// Why dictionaries could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum InterpreterError {
    #[error(transparent)]
    Synonyms(#[from] SynonymError),
    #[error(transparent)]
    Glossary(#[from] GlossaryError),
}

/// The interpretation of one query.
#[derive(Debug, Clone, Serialize)]
pub struct Interpretation {
    pub query: String,
    pub language: Language,
    pub tokens: Vec<Token>,
    pub synonyms: Vec<SynonymHit>,
    pub concepts: Vec<ConceptHit>,
    pub locations: Vec<LocationHit>,
    /// The query with locations and their location words removed: what lexical and vector
    /// retrieval should search for.
    pub text_query: String,
}

/// A synonym entry found in the query.
#[derive(Debug, Clone, Serialize)]
pub struct SynonymHit {
    pub matched: String,
    pub span: [usize; 2],
    pub expansions: Vec<Expansion>,
}

/// A glossary concept found in the query.
#[derive(Debug, Clone, Serialize)]
pub struct ConceptHit {
    pub id: String,
    pub label: String,
    pub level: ConceptLevel,
    /// Labels from the métier down to this concept.
    pub path: Vec<String>,
    pub matched: String,
    pub span: [usize; 2],
}

/// A location found in the query.
#[derive(Debug, Clone, Serialize)]
pub struct LocationHit {
    #[serde(flatten)]
    pub place: Place,
    pub matched: String,
    /// The span of the place and of the words that introduced it.
    pub span: [usize; 2],
    /// Whether a location word introduced it ("près de", "dans le").
    pub introduced: bool,
}

impl Interpreter {
    pub fn new(synonyms: Synonyms, glossary: Glossary, gazetteer: Gazetteer) -> Interpreter {
        Interpreter { synonyms, glossary, gazetteer }
    }

    /// An interpreter over the dictionaries shipped with the project.
    pub fn embedded() -> Result<Interpreter, InterpreterError> {
        Ok(Interpreter::new(Synonyms::embedded()?, Glossary::embedded()?, Gazetteer::build(RefData::embedded())))
    }

    pub fn glossary(&self) -> &Glossary {
        &self.glossary
    }

    pub fn synonyms(&self) -> &Synonyms {
        &self.synonyms
    }

    pub fn gazetteer(&self) -> &Gazetteer {
        &self.gazetteer
    }

    pub fn interpret(&self, query: &str) -> Interpretation {
        let language = detect_language(query);
        // Dictionaries are keyed with the French pipeline whatever the query's language.
        let key_tokens = Analyzer::new(Language::French).analyze(query);
        let content: Vec<usize> = (0..key_tokens.len()).filter(|&i| !key_tokens[i].is_stopword()).collect();
        let stems: Vec<&str> = content.iter().map(|&i| key_tokens[i].stem.as_deref().unwrap_or("")).collect();
        let span_of = |start: usize, end: usize| [key_tokens[content[start]].start, key_tokens[content[end - 1]].end];

        // Locations first (a place name inside a concept phrase needs more evidence), then
        // concepts and synonyms over the stretches of text between locations.
        let concept_matches = self.glossary.dict().find_all(&stems);
        let locations = self.find_locations(query, &key_tokens, &content, &concept_matches);
        let in_location = |idx: usize| {
            locations.iter().any(|l| key_tokens[idx].start >= l.span[0] && key_tokens[idx].end <= l.span[1])
        };
        let mut segments: Vec<(usize, usize)> = Vec::new();
        let mut segment_start = None;
        for (pos, &token_idx) in content.iter().enumerate() {
            match (in_location(token_idx), segment_start) {
                (false, None) => segment_start = Some(pos),
                (true, Some(start)) => {
                    segments.push((start, pos));
                    segment_start = None;
                }
                _ => {}
            }
        }
        if let Some(start) = segment_start {
            segments.push((start, content.len()));
        }

        let mut concepts = Vec::new();
        let mut synonyms = Vec::new();
        for &(seg_start, seg_end) in &segments {
            let segment = &stems[seg_start..seg_end];
            for m in self.glossary.dict().find_all(segment) {
                let span = span_of(seg_start + m.start, seg_start + m.end);
                for &idx in m.payloads {
                    let idx = idx as usize;
                    let concept = self.glossary.concept(idx);
                    concepts.push(ConceptHit {
                        id: concept.id.clone(),
                        label: concept.label.clone(),
                        level: concept.level,
                        path: self.glossary.path(idx).into_iter().map(|c| c.label.clone()).collect(),
                        matched: query[span[0]..span[1]].to_owned(),
                        span,
                    });
                }
            }
            for m in self.synonyms.dict().find_all(segment) {
                let span = span_of(seg_start + m.start, seg_start + m.end);
                synonyms.push(SynonymHit {
                    matched: query[span[0]..span[1]].to_owned(),
                    span,
                    expansions: self.synonyms.expansions(m.payloads),
                });
            }
        }

        let text_query = remove_spans(query, locations.iter().map(|l| l.span));
        let tokens = if language == Language::French { key_tokens } else { Analyzer::new(language).analyze(query) };
        Interpretation { query: query.to_owned(), language, tokens, synonyms, concepts, locations, text_query }
    }

    fn find_locations(
        &self,
        query: &str,
        tokens: &[Token],
        content: &[usize],
        concept_matches: &[crate::dict::PhraseMatch<'_>],
    ) -> Vec<LocationHit> {
        // Place names are matched on folded, unstemmed words.
        let words: Vec<&str> = content.iter().map(|&i| tokens[i].folded.as_str()).collect();
        let n_content = content.len();
        let mut hits: Vec<LocationHit> = Vec::new();
        let mut pos = 0;
        while pos < n_content {
            let token_idx = content[pos];
            let introduction = introduction_of(tokens, token_idx);
            let found = match self.gazetteer.names().longest_at(&words, pos) {
                Some((end, candidates)) => {
                    let place_idx = self.gazetteer.best_of(candidates);
                    let place = self.gazetteer.place(place_idx);
                    let whole_query = pos == 0 && end == n_content;
                    let inside_concept = concept_matches.iter().any(|m| m.start < end && pos < m.end);
                    let capitalised = query[tokens[token_idx].start..].chars().next().is_some_and(char::is_uppercase);
                    let unambiguous_name = !place.common_word || capitalised;
                    let accepted = match introduction {
                        Some(Introduction::Strong(_)) => true,
                        // A capitalised city beats a concept phrase it sits in ("usinage à Tours"
                        // against "usinage sur tour").
                        Some(Introduction::Weak { .. }) => {
                            unambiguous_name
                                && (!inside_concept || (capitalised && place.population >= BARE_CITY_MIN_POPULATION))
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
            hits.push(LocationHit {
                place: place.clone(),
                matched: query[place_span[0]..place_span[1]].to_owned(),
                span: [introduction.map_or(place_span[0], Introduction::start), place_span[1]],
                introduced: introduction.is_some(),
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
        if tokens.get(idx + 1).is_some_and(|next| UNIT_WORDS.contains(&next.folded.as_str())) {
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

/// How the words just before `tokens[idx]` introduce a location, if they do ("près de",
/// "dans le", "en").
fn introduction_of(tokens: &[Token], idx: usize) -> Option<Introduction> {
    let mut found = None;
    let mut plural_glue = false;
    for prev in tokens[..idx].iter().rev().take(4) {
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

/// `text` without the byte spans, whitespace collapsed.
fn remove_spans(text: &str, spans: impl Iterator<Item = [usize; 2]>) -> String {
    let mut kept = String::with_capacity(text.len());
    let mut cursor = 0;
    for [start, end] in spans {
        kept.push_str(&text[cursor..start]);
        kept.push(' ');
        cursor = end;
    }
    kept.push_str(&text[cursor..]);
    kept.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use std::sync::LazyLock;

    use super::*;

    static INTERPRETER: LazyLock<Interpreter> = LazyLock::new(|| Interpreter::embedded().unwrap());

    fn places(query: &str) -> Vec<(PlaceKind, String)> {
        INTERPRETER.interpret(query).locations.into_iter().map(|l| (l.place.kind, l.place.name)).collect()
    }

    #[test]
    fn locations_need_a_clear_intent() {
        assert_eq!(places("découpe laser inox près de Lyon"), [(PlaceKind::Commune, "Lyon".to_owned())]);
        assert_eq!(places("usinage dans le 69"), [(PlaceKind::Departement, "Rhône".to_owned())]);
        assert_eq!(
            places("anodisation Auvergne-Rhône-Alpes"),
            [(PlaceKind::Region, "Auvergne-Rhône-Alpes".to_owned())]
        );
        assert_eq!(places("chaudronnerie en Haute-Savoie"), [(PlaceKind::Departement, "Haute-Savoie".to_owned())]);
        assert_eq!(places("sous-traitant 69003"), []);
        assert_eq!(places("tôlerie à 69003"), [(PlaceKind::Commune, "Lyon".to_owned())]);
        assert!(places("lot de 10000 pièces").is_empty());
        assert!(places("découpe laser 10 mm").is_empty());
        assert_eq!(places("Grenoble"), [(PlaceKind::Commune, "Grenoble".to_owned())]);
        assert_eq!(places("mécanique à Vienne"), [(PlaceKind::Departement, "Vienne".to_owned())]);
        assert_eq!(places("usinage Nantes"), [(PlaceKind::Commune, "Nantes".to_owned())]);
        assert_eq!(places("usinage à proximité de Tours"), [(PlaceKind::Commune, "Tours".to_owned())]);
        assert_eq!(places("usinage à Tours"), [(PlaceKind::Commune, "Tours".to_owned())]);
        let concepts: Vec<String> =
            INTERPRETER.interpret("usinage à Tours").concepts.into_iter().map(|c| c.id).collect();
        assert_eq!(concepts, ["usinage"]);
        assert_eq!(places("sous-traitance dans le Lot"), [(PlaceKind::Departement, "Lot".to_owned())]);
    }

    /// Words and quantities that are not places, whatever the gazetteer holds.
    #[test]
    fn words_and_quantities_are_not_places() {
        for query in [
            "livraison en 1 semaine",
            "délai dans les 10 jours",
            "découpe à 10 mm",
            "tôlerie sur 10 mètres",
            "impression en 10000 exemplaires",
            "soudage à l'arc",
            "usinage sur tour",
            "montage en série",
            "fonderie en sable",
            "moulage en coquille",
            "lot de 500 pièces en inox",
            "découpe jet d'eau",
        ] {
            assert_eq!(places(query), [], "{query}");
        }
    }

    #[test]
    fn text_query_drops_the_location() {
        let interpretation = INTERPRETER.interpret("découpe laser inox près de Lyon");
        assert_eq!(interpretation.text_query, "découpe laser inox");
        let interpretation = INTERPRETER.interpret("usinage dans le 69 en urgence");
        assert_eq!(interpretation.text_query, "usinage en urgence");
    }
}
