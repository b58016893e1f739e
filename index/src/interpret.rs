//! Query interpretation: what a buyer's need says, before any retrieval.
//!
//! From the raw text it finds the language, the words (with their stems), synonym expansions,
//! glossary concepts (leftmost-longest over n-grams, with their place in the hierarchy) and
//! locations (communes, départements, régions, postal and département codes). Locations and the
//! words that introduce them ("près de", "dans le") are taken out of the text query: they become
//! a geo boost or filter downstream.
//!
//! A place name is only taken as a location when the query clearly means one: after a location
//! word ("près de Lyon", "dans le 69"), when it is a région, a multi-word département or a city of
//! at least [`BARE_CITY_MIN_POPULATION`] inhabitants, or when the query is nothing but the name.
//! Otherwise "lot de pièces" would mean the Lot and "10000 pièces" the postal code of Troyes.

use serde::Serialize;

use crate::analysis::{Analyzer, Language, Token, detect_language};
use crate::dict::gazetteer::{Gazetteer, PlaceKind};
use crate::dict::glossary::{Glossary, GlossaryError};
use crate::dict::synonyms::{Expansion, SynonymError, Synonyms};
use crate::record::ConceptLevel;
use crate::refdata::RefData;

/// A commune named without a location word must be at least this large to count as a place
/// (Lyon, Grenoble: yes; the hamlet that shares its name with a trade word: no).
pub const BARE_CITY_MIN_POPULATION: u64 = 30_000;

/// Folded words that introduce a location.
const LOCATION_WORDS: &[&str] = &[
    "a",
    "alentours",
    "around",
    "au",
    "autour",
    "aux",
    "dans",
    "departement",
    "en",
    "environs",
    "in",
    "near",
    "pres",
    "proche",
    "proximite",
    "region",
    "secteur",
    "sur",
    "vers",
    "zone",
];
/// Folded words that may stand between a location word and the place ("près de la", "dans le").
const LOCATION_GLUE: &[&str] = &["d", "de", "des", "du", "l", "la", "le", "les", "the"];

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
    pub kind: PlaceKind,
    pub code: String,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub departement: Option<String>,
    pub region: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lat: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lon: Option<f64>,
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

        let concept_matches = self.glossary.dict().find_all(&stems);
        let locations = self.find_locations(query, &key_tokens, &content, &stems, &concept_matches);
        let overlaps_location = |span: [usize; 2]| locations.iter().any(|l| span[0] < l.span[1] && l.span[0] < span[1]);

        let mut concepts = Vec::new();
        for m in &concept_matches {
            let span = span_of(m.start, m.end);
            if overlaps_location(span) {
                continue;
            }
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
        let mut synonyms = Vec::new();
        for m in self.synonyms.dict().find_all(&stems) {
            let span = span_of(m.start, m.end);
            if overlaps_location(span) {
                continue;
            }
            synonyms.push(SynonymHit {
                matched: query[span[0]..span[1]].to_owned(),
                span,
                expansions: self.synonyms.expansions(m.payloads),
            });
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
        stems: &[&str],
        concept_matches: &[crate::dict::PhraseMatch<'_>],
    ) -> Vec<LocationHit> {
        let mut hits: Vec<LocationHit> = Vec::new();
        let n_content = content.len();
        let mut pos = 0;
        while pos < n_content {
            let token_idx = content[pos];
            let introducer = introducer_start(tokens, token_idx);
            // A place name, else a code (postal code or département number).
            let found = match self.gazetteer.names().longest_at(stems, pos) {
                Some((end, candidates)) => Some((end, self.gazetteer.best_of(candidates))),
                None => {
                    let word = tokens[token_idx].folded.as_str();
                    let by_code = if word.len() == 5 && word.bytes().all(|b| b.is_ascii_digit()) {
                        self.gazetteer.commune_by_postal_code(word)
                    } else if (1..=3).contains(&word.len()) {
                        self.gazetteer.departement_by_code(&normalise_departement_code(word))
                    } else {
                        None
                    };
                    // A bare number is a quantity, never a place.
                    by_code.filter(|_| introducer.is_some()).map(|idx| (pos + 1, idx))
                }
            };
            let Some((end, place_idx)) = found else {
                pos += 1;
                continue;
            };
            let place = self.gazetteer.place(place_idx);
            let n_words = stems[pos..end].len();
            let whole_query = pos == 0 && end == n_content;
            let inside_concept = concept_matches.iter().any(|m| m.start < end && pos < m.end);
            let accepted = introducer.is_some()
                || whole_query
                || (!inside_concept
                    && match place.kind {
                        PlaceKind::Region => true,
                        PlaceKind::Departement => n_words >= 2,
                        PlaceKind::Commune => place.population >= BARE_CITY_MIN_POPULATION,
                    });
            if !accepted {
                pos += 1;
                continue;
            }
            let place_span = [tokens[token_idx].start, tokens[content[end - 1]].end];
            let span_start = introducer.unwrap_or(place_span[0]);
            hits.push(LocationHit {
                kind: place.kind,
                code: place.code.clone(),
                name: place.name.clone(),
                departement: place.departement.clone(),
                region: place.region.clone(),
                lat: place.lat,
                lon: place.lon,
                matched: query[place_span[0]..place_span[1]].to_owned(),
                span: [span_start, place_span[1]],
                introduced: introducer.is_some(),
            });
            pos = end;
        }
        hits
    }
}

/// If the words just before `tokens[idx]` introduce a location ("près de", "dans le", "en"),
/// the byte offset where that introduction starts.
fn introducer_start(tokens: &[Token], idx: usize) -> Option<usize> {
    let mut first_location_word = None;
    for prev in tokens[..idx].iter().rev().take(4) {
        let word = prev.folded.as_str();
        if LOCATION_WORDS.contains(&word) {
            first_location_word = Some(prev.start);
        } else if !LOCATION_GLUE.contains(&word) {
            break;
        }
    }
    first_location_word
}

/// "2a" → "2A"; département codes are otherwise digits.
fn normalise_departement_code(word: &str) -> String {
    let upper = word.to_ascii_uppercase();
    if upper.len() == 1 { format!("0{upper}") } else { upper }
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
        INTERPRETER.interpret(query).locations.into_iter().map(|l| (l.kind, l.name)).collect()
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
    }

    #[test]
    fn text_query_drops_the_location() {
        let interpretation = INTERPRETER.interpret("découpe laser inox près de Lyon");
        assert_eq!(interpretation.text_query, "découpe laser inox");
        let interpretation = INTERPRETER.interpret("usinage dans le 69 en urgence");
        assert_eq!(interpretation.text_query, "usinage en urgence");
    }
}
