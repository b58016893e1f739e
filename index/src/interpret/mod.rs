//! Query interpretation: what a buyer's need says, before any retrieval.
//!
//! From the raw text it finds the language, the words (with their stems), synonym expansions,
//! glossary concepts (leftmost-longest over n-grams, with their place in the hierarchy),
//! locations (communes, départements, régions, postal and département codes, with a distance
//! around them), and the constraints the query names — process, material, certification, size,
//! place — each with its span ([`constraints`]). Locations, size phrases and the words that
//! introduce them ("près de", "dans le", "plus de … salariés") are taken out of the text query:
//! they become filters or boosts downstream, not words to search. The words left
//! ([`TextWords`]: French stems, and English ones for an English query, positioned as in the
//! text query) are what retrieval searches for: interpretation is the one analysis of a query.
//!
//! A place name is only taken as a location when the query clearly means one, because many place
//! names are also words ("usinage sur tour", "moulage en coquille", "lot de pièces") and many
//! numbers are quantities ("en 10 jours", "à 10 mm", "10000 pièces"):
//! - a strong location phrase ("près de", "autour de", "région", "near", a distance "à 30 km
//!   de") always introduces one;
//! - a weak one ("à", "en", "dans", "sur") introduces a place whose name is not an ordinary word
//!   (or is written with a capital), outside any glossary concept;
//! - with no location phrase: a région, a multi-word département, a city of at least
//!   [`BARE_CITY_MIN_POPULATION`] inhabitants, or a query that is nothing but the name;
//! - a name that is also a material of the vocabulary ("EPS", "argentan", "fontes", the "cast"
//!   of "cast iron") is the material, unless a strong location phrase introduces it, or a weak one
//!   introduces it written as a name ("à Argentan") and the material's words are the name's;
//! - a number is a postal or département code only after a location phrase other than "en", not
//!   after a plural article ("dans les 10 jours"), not before a unit ("à 10 mm"), and not inside
//!   a size phrase ("plus de 50 salariés").

mod constraints;
mod places;
mod size;
#[cfg(test)]
mod tests_constraints;

use serde::Serialize;

use self::constraints::{ConceptMatch, Readings};
pub use self::constraints::{Constraint, ConstraintHit, ConstraintKind, SizeRange, size_allows};
pub use self::places::BARE_CITY_MIN_POPULATION;
pub(crate) use self::places::{LOCATION_GLUE, STRONG_LOCATION_WORDS, WEAK_LOCATION_WORDS};
use crate::analysis::{Analyzer, Language, Token, detect_language, word_spans};
use crate::dict::company_values::Vocabularies;
use crate::dict::gazetteer::{Gazetteer, Place};
use crate::dict::glossary::{Glossary, GlossaryError};
use crate::dict::synonyms::{Expansion, SynonymError, Synonyms};
use crate::record::ConceptLevel;
use crate::refdata::RefData;

/// The dictionaries an interpreter uses.
#[derive(Debug, Clone)]
pub struct Interpreter {
    synonyms: Synonyms,
    glossary: Glossary,
    gazetteer: Gazetteer,
    vocabularies: &'static Vocabularies,
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
    /// Process, material, certification, size and place constraints, in text order; spans of
    /// different constraints do not overlap (several concepts may share one phrase).
    pub constraints: Vec<ConstraintHit>,
    /// The query without its locations, size phrases and the words that introduce them: what
    /// lexical and vector retrieval should search for.
    pub text_query: String,
    /// The words of `text_query`, analysed: retrieval reads them instead of the text.
    #[serde(skip)]
    pub text_words: TextWords,
}

/// The words of an interpretation's text query, cut from the query's own analysis: the same
/// tokens as analysing `text_query` again would give (a proptest holds it to that), except
/// that `start` and `end` stay byte offsets in the query. `position` counts the words of the
/// text query (stopwords included), so a phrase's gap is the one the text query shows.
#[derive(Debug, Clone, Default)]
pub struct TextWords {
    /// The French pipeline's tokens (the documents' language), stopwords included.
    pub french: Vec<Token>,
    /// The English pipeline's, for an English query only (else empty).
    pub english: Vec<Token>,
}

impl TextWords {
    /// The tokens of `query` outside the `removed` byte spans, renumbered as in the text left.
    fn new(query: &str, removed: &[[usize; 2]], french: &[Token], english: Option<&[Token]>) -> TextWords {
        let inside = |start: usize, end: usize| removed.iter().any(|span| start >= span[0] && end <= span[1]);
        // Every word of the query (the analyser counts unfoldable ones too), to its position
        // in the text query; `None` inside a removed span.
        let mut next = 0;
        let positions: Vec<Option<usize>> = word_spans(query)
            .map(|(start, end)| {
                (!inside(start, end)).then(|| {
                    next += 1;
                    next - 1
                })
            })
            .collect();
        let kept = |tokens: &[Token]| -> Vec<Token> {
            tokens
                .iter()
                .filter_map(|token| {
                    Some(Token { position: positions.get(token.position).copied().flatten()?, ..token.clone() })
                })
                .collect()
        };
        TextWords { french: kept(french), english: english.map(kept).unwrap_or_default() }
    }
}

/// A synonym entry found in the query.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct SynonymHit {
    pub matched: String,
    pub span: [usize; 2],
    pub expansions: Vec<Expansion>,
}

/// A glossary concept found in the query.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
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
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct LocationHit {
    #[serde(flatten)]
    pub place: Place,
    pub matched: String,
    /// The span of the place and of the words that introduced it (a distance included).
    pub span: [usize; 2],
    /// Whether a location word introduced it ("près de", "dans le", "à 30 km de").
    pub introduced: bool,
    /// The distance asked around the place ("dans un rayon de 30 km autour de Lyon"); `None`
    /// when none is said ("près de Lyon": the server's default applies).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub radius_km: Option<f32>,
}

impl Interpreter {
    /// An interpreter over these dictionaries and the shipped materials and certifications.
    pub fn new(synonyms: Synonyms, glossary: Glossary, gazetteer: Gazetteer) -> Interpreter {
        Interpreter { synonyms, glossary, gazetteer, vocabularies: Vocabularies::embedded() }
    }

    /// The same interpreter reading materials and certifications with other vocabularies.
    pub fn with_vocabularies(self, vocabularies: &'static Vocabularies) -> Interpreter {
        Interpreter { vocabularies, ..self }
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

    /// The materials and certifications vocabularies.
    pub fn vocabularies(&self) -> &'static Vocabularies {
        self.vocabularies
    }

    pub fn interpret(&self, query: &str) -> Interpretation {
        let language = detect_language(query);
        // Dictionaries are keyed with the French pipeline whatever the query's language.
        let key_tokens = Analyzer::new(Language::French).analyze(query);
        let content: Vec<usize> = (0..key_tokens.len()).filter(|&i| !key_tokens[i].is_stopword()).collect();
        let stems: Vec<&str> = content.iter().map(|&i| key_tokens[i].stem.as_deref().unwrap_or("")).collect();
        let span_of = |start: usize, end: usize| [key_tokens[content[start]].start, key_tokens[content[end - 1]].end];

        // Sizes first (their numbers are headcounts, not places), then locations (a place name
        // inside a concept phrase needs more evidence), then concepts and synonyms over the
        // stretches of text between them.
        let sizes = size::find_sizes(query, &key_tokens);
        let in_size = |idx: usize| sizes.iter().any(|s| (s.first_token..=s.last_token).contains(&idx));
        let concept_matches = self.glossary.dict().find_all(&stems);
        let material_names = self.vocabularies.materials.find(&key_tokens, |idx| !in_size(idx));
        let locations =
            self.find_locations(query, &key_tokens, &content, &concept_matches, &material_names, &|idx| !in_size(idx));
        let mut removed: Vec<[usize; 2]> = locations
            .iter()
            .map(|l| l.span)
            .chain(sizes.iter().map(|s| [key_tokens[s.first_token].start, key_tokens[s.last_token].end]))
            .collect();
        removed.sort_unstable();
        let free = |idx: usize| {
            let token = &key_tokens[idx];
            !removed.iter().any(|span| token.start >= span[0] && token.end <= span[1])
        };
        let mut segments: Vec<(usize, usize)> = Vec::new();
        let mut segment_start = None;
        for (pos, &token_idx) in content.iter().enumerate() {
            match (free(token_idx), segment_start) {
                (true, None) => segment_start = Some(pos),
                (false, Some(start)) => {
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
        let mut segment_concepts = Vec::new();
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
                segment_concepts.push(ConceptMatch {
                    start: seg_start + m.start,
                    end: seg_start + m.end,
                    concepts: m.payloads.iter().map(|&idx| idx as usize).collect(),
                });
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

        let constraints = self.constraints(&Readings {
            query,
            tokens: &key_tokens,
            content: &content,
            stems: &stems,
            sizes: &sizes,
            locations: &locations,
            concept_matches: &segment_concepts,
            free: &free,
        });
        let text_query = remove_spans(query, removed.iter().copied());
        let own_tokens = (language != Language::French).then(|| Analyzer::new(language).analyze(query));
        let text_words = TextWords::new(query, &removed, &key_tokens, own_tokens.as_deref());
        let tokens = own_tokens.unwrap_or(key_tokens);
        Interpretation {
            query: query.to_owned(),
            language,
            tokens,
            synonyms,
            concepts,
            locations,
            constraints,
            text_query,
            text_words,
        }
    }
}

/// `text` without the byte spans (sorted, not overlapping), whitespace collapsed.
fn remove_spans(text: &str, spans: impl Iterator<Item = [usize; 2]>) -> String {
    let mut kept = String::with_capacity(text.len());
    let mut cursor = 0;
    for [start, end] in spans {
        kept.push_str(&text[cursor..start.max(cursor)]);
        kept.push(' ');
        cursor = cursor.max(end);
    }
    kept.push_str(&text[cursor..]);
    kept.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use std::sync::LazyLock;

    use super::*;
    use crate::dict::gazetteer::PlaceKind;

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
        let words: Vec<(usize, &str)> =
            interpretation.text_words.french.iter().map(|t| (t.position, t.folded.as_str())).collect();
        assert_eq!(words, [(0, "usinage"), (1, "en"), (2, "urgence")]);
    }

    /// Pieces of queries: places, sizes and distances (removed from the text query), words,
    /// English words, codes and odd characters.
    const PIECES: &[&str] = &[
        "usinage",
        "découpe laser",
        "près de Lyon",
        "dans le 69",
        "en Bretagne",
        "à 30 km de Grenoble",
        "plus de 50 salariés",
        "PME",
        "titane",
        "EN 9100",
        "machining",
        "near Lyon",
        "over 200 employees",
        "the",
        "l'acier",
        "sous-traitant",
        ",",
        "ﬁnition",
        "e\u{301}",
        "Nantes",
    ];

    use proptest::prelude::*;

    proptest! {
        /// The text words are what analysing the text query gives: the same words, folded
        /// forms, stems and positions, in both pipelines.
        #[test]
        fn text_words_are_the_text_query_analysed(
            pieces in proptest::collection::vec(
                prop_oneof![
                    proptest::sample::select(PIECES).prop_map(str::to_owned),
                    "\\PC{0,6}",
                    "[0-9]{1,5}",
                ],
                0..10,
            ),
        ) {
            let query = pieces.join(" ");
            let interpretation = INTERPRETER.interpret(&query);
            let key = |tokens: &[Token]| -> Vec<(usize, String, Option<String>)> {
                tokens.iter().map(|t| (t.position, t.folded.clone(), t.stem.clone())).collect()
            };
            let words = &interpretation.text_words;
            let text = &interpretation.text_query;
            prop_assert_eq!(key(&words.french), key(&Analyzer::new(Language::French).analyze(text)));
            let english = match interpretation.language {
                Language::English => key(&Analyzer::new(Language::English).analyze(text)),
                Language::French => Vec::new(),
            };
            prop_assert_eq!(key(&words.english), english);
            for token in words.french.iter().chain(&words.english) {
                prop_assert_eq!(&crate::analysis::fold(&query[token.start..token.end]), &token.folded);
            }
        }
    }
}
