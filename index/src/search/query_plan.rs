//! What one query searches for, decided once per request before any index is read: the
//! interpretation, the weighted stems (the user's words, translations, synonyms, concept
//! labels), the pairs of words searched as phrases, the concepts with their levels and the text
//! to embed. Every later phase — retrieval, exact scores, fusion, explanations, snippets, the
//! query's log line — reads this plan and never the query's text: the interpretation is the
//! one analysis of a query ([`TextWords`](crate::interpret::TextWords)).
//!
//! It holds stems and concept ids, not index terms: [`Matcher`](super::Matcher) turns them
//! into clauses per field (`terms.rs`), so the plan depends on the settings and the glossary
//! only.

use std::collections::HashMap;
use std::sync::Arc;

use serde::Serialize;

use super::request::{MatchRequest, Mode};
use super::{SearchConfig, fusion};
use crate::analysis::Language;
use crate::dict::glossary::Glossary;
use crate::dict::lexicon::Lexicon;
use crate::interpret::Interpretation;

/// What a query searches for ([module docs](self)).
#[derive(Debug, Clone)]
pub struct QueryPlan {
    pub interpretation: Interpretation,
    /// The stems searched for with their weights, by stem; empty in vector mode.
    pub terms: Vec<QueryTerm>,
    /// Pairs of the user's consecutive words (French stems) searched together; empty in vector
    /// mode or without a phrase weight.
    pub phrases: Vec<PhrasePair>,
    /// The concepts named and those below them, by id, with the level a company holding one
    /// gets (1 for a named concept, less per level below).
    pub concepts: Vec<ConceptLevelTerm>,
    /// The text the query vector is computed from: the query without its places and sizes
    /// (`None` when nothing is left, or when the request brings its own vector or does not use
    /// vectors).
    pub text_to_embed: Option<String>,
}

/// A request with its plan, built once ([`Matcher::prepare`](super::Matcher::prepare)): the
/// server embeds [`Self::text_to_embed`], then runs it
/// ([`Matcher::run_prepared`](super::Matcher::run_prepared)).
#[derive(Debug, Clone)]
pub struct PreparedQuery<'r> {
    pub request: &'r MatchRequest,
    pub plan: Arc<QueryPlan>,
}

impl PreparedQuery<'_> {
    /// The text to embed: the query without its places and sizes (`None` when nothing remains,
    /// or when the request brings its own vector or does not use vectors).
    pub fn text_to_embed(&self) -> Option<&str> {
        self.plan.text_to_embed.as_deref()
    }
}

/// One stem searched for.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QueryTerm {
    pub stem: String,
    /// Relative to the user's own words (1); the best of its origins'.
    pub weight: f32,
    /// Where its weight comes from.
    pub origin: TermOrigin,
}

impl QueryTerm {
    /// Whether the term searches every weighted field, not only the main texts: a weight of a
    /// full word's (the user's words, and a translation or synonym weighted as much).
    pub fn is_full_weight(&self) -> bool {
        self.weight >= 1.0
    }
}

/// Where a stem of the plan comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TermOrigin {
    /// A word of the query (either pipeline for an English query).
    Word,
    /// The French translation of an English query's word.
    Translation,
    /// A synonym expansion of the query's words.
    Synonym,
    /// The label or a synonym of a concept the query names.
    ConceptLabel,
}

/// Two words of the query searched together, the second `gap` words after the first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhrasePair {
    pub first: String,
    pub second: String,
    pub gap: usize,
}

/// A concept a company may be activated with, and the level that gives it.
#[derive(Debug, Clone, PartialEq)]
pub struct ConceptLevelTerm {
    pub id: String,
    pub level: f32,
}

/// Largest gap between two words searched as a phrase (more words between them is chance).
const MAX_PHRASE_GAP: usize = 3;

impl QueryPlan {
    /// The plan of an interpretation for a request in `mode` with a request vector or not.
    pub fn new(
        interpretation: Interpretation,
        mode: Mode,
        has_own_vector: bool,
        config: &SearchConfig,
        glossary: &Glossary,
    ) -> QueryPlan {
        let lexical = mode != Mode::Vector;
        let terms = if lexical { terms(&interpretation, config, glossary) } else { Vec::new() };
        let phrases = if lexical && config.phrase_weight > 0.0 { phrases(&interpretation) } else { Vec::new() };
        let concepts = concepts(&interpretation, glossary);
        let text = interpretation.text_query.trim();
        let text_to_embed = (!has_own_vector && mode != Mode::Lexical && !text.is_empty()).then(|| text.to_owned());
        QueryPlan { interpretation, terms, phrases, concepts, text_to_embed }
    }
}

/// The stems searched for with their weights: the user's words (1.0; in English queries both
/// pipelines, and the French translations), synonym expansions and the labels of detected
/// concepts (lower); a stem found twice keeps its best weight.
fn terms<'a>(interpretation: &'a Interpretation, config: &SearchConfig, glossary: &'a Glossary) -> Vec<QueryTerm> {
    // Stems borrowed from the interpretation, the lexicon and the glossary; owned at the end.
    let mut best: HashMap<&'a str, (f32, TermOrigin)> = HashMap::new();
    let mut put = |stem: &'a str, weight: f32, origin: TermOrigin| {
        if stem.is_empty() || weight <= 0.0 {
            return;
        }
        let entry = best.entry(stem).or_insert((0.0, origin));
        if weight > entry.0 {
            *entry = (weight, origin);
        }
    };
    let words = &interpretation.text_words;
    for stem in words.french.iter().filter_map(|t| t.stem.as_deref()) {
        put(stem, 1.0, TermOrigin::Word);
    }
    if interpretation.language == Language::English && config.detect_query_language {
        // English stems (cognates, names, codes) and their French translations.
        let lexicon = Lexicon::embedded();
        for stem in words.english.iter().filter_map(|t| t.stem.as_deref()) {
            put(stem, 1.0, TermOrigin::Word);
            for (french, weight) in lexicon.translate(stem) {
                put(french, config.translation_weight * weight, TermOrigin::Translation);
            }
        }
    }
    for hit in &interpretation.synonyms {
        for expansion in &hit.expansions {
            // The documents are French: an English synonym of a French query's words adds
            // clauses that cost time and rarely match.
            if interpretation.language == Language::French && expansion.english {
                continue;
            }
            for stem in expansion.key.split(' ') {
                put(stem, config.synonym_weight * expansion.weight, TermOrigin::Synonym);
            }
        }
    }
    for hit in &interpretation.concepts {
        let Some(idx) = glossary.index_of(&hit.id) else { continue };
        for stem in glossary.label_stems(idx) {
            put(stem, config.concept_label_weight, TermOrigin::ConceptLabel);
        }
    }
    let mut terms: Vec<QueryTerm> =
        best.into_iter().map(|(stem, (weight, origin))| QueryTerm { stem: stem.to_owned(), weight, origin }).collect();
    terms.sort_by(|a, b| a.stem.cmp(&b.stem));
    terms
}

/// Pairs of consecutive words of the user's (French stems, at their distance in the text query):
/// a company whose savoir-faire says "découpe laser" scores above one that has "découpe" and
/// "laser" in different lines.
fn phrases(interpretation: &Interpretation) -> Vec<PhrasePair> {
    let words: Vec<(usize, &str)> =
        interpretation.text_words.french.iter().filter_map(|t| Some((t.position, t.stem.as_deref()?))).collect();
    words
        .windows(2)
        .filter_map(|pair| {
            let ((first_at, first), (second_at, second)) = (pair[0], pair[1]);
            let gap = second_at.saturating_sub(first_at);
            (gap != 0 && gap <= MAX_PHRASE_GAP && first != second).then(|| PhrasePair {
                first: first.to_owned(),
                second: second.to_owned(),
                gap,
            })
        })
        .collect()
}

/// The concepts named (level 1) and those below them (weaker by level), by id: a company's
/// concept score is the level of its best one.
fn concepts<'a>(interpretation: &Interpretation, glossary: &'a Glossary) -> Vec<ConceptLevelTerm> {
    let mut levels: HashMap<&'a str, f32> = HashMap::new();
    for hit in &interpretation.concepts {
        let Some(idx) = glossary.index_of(&hit.id) else { continue };
        let depth = glossary.path(idx).len();
        let mut put = |id: &'a str, level: f32| {
            let entry = levels.entry(id).or_insert(0.0);
            *entry = entry.max(level);
        };
        put(glossary.concept(idx).id.as_str(), 1.0);
        for child in glossary.descendants(idx) {
            let below = glossary.path(child).len().saturating_sub(depth) as i32;
            put(&glossary.concept(child).id, fusion::CONCEPT_DESCENDANT_FACTOR.powi(below));
        }
    }
    let mut concepts: Vec<ConceptLevelTerm> =
        levels.into_iter().map(|(id, level)| ConceptLevelTerm { id: id.to_owned(), level }).collect();
    concepts.sort_by(|a, b| a.id.cmp(&b.id));
    concepts
}

#[cfg(test)]
mod tests {
    use std::sync::LazyLock;

    use proptest::prelude::*;

    use super::*;
    use crate::analysis::{Analyzer, detect_language};
    use crate::interpret::Interpreter;

    static INTERPRETER: LazyLock<Interpreter> = LazyLock::new(|| Interpreter::embedded().unwrap());

    /// The stems and phrases as they were found before the plan: by analysing the text query
    /// again (both pipelines), the concept labels and the synonyms' language per query.
    fn reanalysed(interpretation: &Interpretation, config: &SearchConfig) -> (Vec<(String, f32)>, Vec<PhrasePair>) {
        let mut weights: HashMap<String, f32> = HashMap::new();
        let mut put = |stem: &str, weight: f32| {
            if stem.is_empty() || weight <= 0.0 {
                return;
            }
            let entry = weights.entry(stem.to_owned()).or_insert(0.0);
            *entry = entry.max(weight);
        };
        let text = &interpretation.text_query;
        let french = Analyzer::new(Language::French);
        for stem in french.analyze(text).into_iter().filter_map(|t| t.stem) {
            put(&stem, 1.0);
        }
        if interpretation.language == Language::English && config.detect_query_language {
            for stem in Analyzer::new(Language::English).analyze(text).into_iter().filter_map(|t| t.stem) {
                put(&stem, 1.0);
                for (french, weight) in Lexicon::embedded().translate(&stem) {
                    put(french, config.translation_weight * weight);
                }
            }
        }
        for expansion in interpretation.synonyms.iter().flat_map(|hit| &hit.expansions) {
            if interpretation.language == Language::French && detect_language(&expansion.text) == Language::English {
                continue;
            }
            for stem in expansion.key.split(' ') {
                put(stem, config.synonym_weight * expansion.weight);
            }
        }
        let glossary = INTERPRETER.glossary();
        for hit in &interpretation.concepts {
            let concept = glossary.concept(glossary.index_of(&hit.id).unwrap());
            for label in std::iter::once(&concept.label).chain(&concept.synonyms) {
                for stem in french.analyze(label).into_iter().filter_map(|t| t.stem) {
                    put(&stem, config.concept_label_weight);
                }
            }
        }
        let mut terms: Vec<(String, f32)> = weights.into_iter().collect();
        terms.sort_by(|a, b| a.0.cmp(&b.0));
        let words: Vec<(usize, String)> =
            french.analyze(text).into_iter().filter_map(|t| Some((t.position, t.stem?))).collect();
        let phrases = words
            .windows(2)
            .filter_map(|pair| {
                let ((first_at, first), (second_at, second)) = (&pair[0], &pair[1]);
                let gap = second_at.saturating_sub(*first_at);
                (gap != 0 && gap <= MAX_PHRASE_GAP && first != second).then(|| PhrasePair {
                    first: first.clone(),
                    second: second.clone(),
                    gap,
                })
            })
            .collect();
        (terms, phrases)
    }

    fn plan(query: &str, mode: Mode) -> QueryPlan {
        QueryPlan::new(INTERPRETER.interpret(query), mode, false, &SearchConfig::default(), INTERPRETER.glossary())
    }

    #[test]
    fn a_plan_says_where_its_terms_come_from() {
        let plan = plan("découpe laser inox près de Lyon", Mode::Hybrid);
        let origin = |stem: &str| plan.terms.iter().find(|t| t.stem == stem).map(|t| t.origin);
        assert_eq!(origin("decoup"), Some(TermOrigin::Word));
        assert_eq!(origin("lyon"), None, "{:?}", plan.terms);
        assert_eq!(plan.phrases[0], PhrasePair { first: "decoup".into(), second: "las".into(), gap: 1 });
        assert_eq!(plan.text_to_embed.as_deref(), Some("découpe laser inox"));
        assert!(plan.concepts.iter().any(|c| c.level == 1.0));
        let vector = super::tests::plan("découpe laser", Mode::Vector);
        assert!(vector.terms.is_empty() && vector.phrases.is_empty());
        assert_eq!(super::tests::plan("découpe laser", Mode::Lexical).text_to_embed, None);
        let english = super::tests::plan("laser cutting stainless steel", Mode::Hybrid);
        assert!(english.terms.iter().any(|t| t.origin == TermOrigin::Translation), "{:?}", english.terms);
    }

    const PIECES: &[&str] = &[
        "usinage",
        "découpe laser",
        "tôlerie fine",
        "près de Lyon",
        "dans le 69",
        "en Bretagne",
        "plus de 50 salariés",
        "PME",
        "titane",
        "EN 9100",
        "machining",
        "laser cutting",
        "stainless steel",
        "near Lyon",
        "over 200 employees",
        "the",
        "de",
        "l'acier",
        "CNC",
        "soudure",
        "chaudronnerie",
    ];

    proptest! {
        /// The plan's stems, weights and phrases are those found by analysing the text query
        /// again, as the query path did before it had a plan.
        #[test]
        fn the_plan_is_the_text_query_reanalysed(
            pieces in proptest::collection::vec(
                prop_oneof![proptest::sample::select(PIECES).prop_map(str::to_owned), "\\PC{0,6}"],
                0..8,
            ),
        ) {
            let query = pieces.join(" ");
            let plan = plan(&query, Mode::Hybrid);
            let (terms, phrases) = reanalysed(&plan.interpretation, &SearchConfig::default());
            let planned: Vec<(String, f32)> = plan.terms.iter().map(|t| (t.stem.clone(), t.weight)).collect();
            prop_assert_eq!(planned, terms);
            prop_assert_eq!(&plan.phrases, &phrases);
        }
    }
}
