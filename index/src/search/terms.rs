//! The clauses a query searches for, built from its interpretation: weighted stems (the user's
//! words, translations, synonyms, concept labels), term clauses per field, pairs of words as
//! phrases, concept levels and the départements and régions a company must be inside.

use std::collections::HashMap;

use tantivy::Term;
use tantivy::schema::Field;

use super::exact::Phrase;
use super::{Matcher, fusion};
use crate::analysis::{Analyzer, Language};
use crate::dict::gazetteer::PlaceKind;
use crate::interpret::{Interpretation, LocationHit};

/// The fields expansions search (see [`Matcher::query_terms`]).
const MAIN_TEXT_FIELDS: [&str; 3] = ["name", "capabilities", "description"];

/// The fields searched for phrases: the short curated texts (positions in a long description
/// cost the most to read, and its words are often near each other by chance).
const PHRASE_FIELDS: [&str; 2] = ["name", "capabilities"];

impl Matcher {
    /// The stems searched for with their weights: the user's words (1.0; in English queries
    /// both pipelines), synonym expansions and the labels of detected concepts (lower).
    pub fn query_terms(&self, interpretation: &Interpretation) -> Vec<(String, f32)> {
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
        for token in french.analyze(text) {
            if let Some(stem) = &token.stem {
                put(stem, 1.0);
            }
        }
        if interpretation.language == Language::English && self.config.detect_query_language {
            // English stems (cognates, names, codes) and their French translations.
            let lexicon = crate::dict::lexicon::Lexicon::embedded();
            for token in Analyzer::new(Language::English).analyze(text) {
                if let Some(stem) = &token.stem {
                    put(stem, 1.0);
                    for (french, weight) in lexicon.translate(stem) {
                        put(french, self.config.translation_weight * weight);
                    }
                }
            }
        }
        for hit in &interpretation.synonyms {
            for expansion in &hit.expansions {
                // The documents are French: an English synonym of a French query's words adds
                // clauses that cost time and rarely match.
                if interpretation.language == Language::French
                    && crate::analysis::detect_language(&expansion.text) == Language::English
                {
                    continue;
                }
                for stem in expansion.key.split(' ') {
                    put(stem, self.config.synonym_weight * expansion.weight);
                }
            }
        }
        let glossary = self.interpreter.glossary();
        for hit in &interpretation.concepts {
            let Some(idx) = glossary.index_of(&hit.id) else { continue };
            let concept = glossary.concept(idx);
            for label in std::iter::once(&concept.label).chain(&concept.synonyms) {
                for token in french.analyze(label) {
                    if let Some(stem) = &token.stem {
                        put(stem, self.config.concept_label_weight);
                    }
                }
            }
        }
        let mut terms: Vec<(String, f32)> = weights.into_iter().collect();
        terms.sort_by(|a, b| a.0.cmp(&b.0));
        terms
    }

    /// (term, boost) for every query stem in every weighted field.
    /// The user's own words search every weighted field; expansions (weight below 1: synonyms,
    /// concept labels, translations) only the main texts — name, savoir-faire, description —
    /// which halves the clauses a long expansion adds, for little lost. `own_words_only` keeps
    /// the user's words in the main texts alone: the retrieval query of a staged search.
    pub(super) fn lexical_clauses(&self, terms: &[(String, f32)], own_words_only: bool) -> Vec<(Term, f32)> {
        let fields: Vec<(&str, Field, f32)> = self
            .config
            .field_weights
            .iter()
            .filter(|(_, w)| *w > 0.0)
            .filter_map(|(name, w)| Some((name.as_str(), self.fields.text_field(name)?, *w)))
            .collect();
        let mut clauses = Vec::with_capacity(terms.len() * fields.len());
        for (stem, term_weight) in terms {
            let own_word = *term_weight >= 1.0;
            if own_words_only && !own_word {
                continue;
            }
            for &(name, field, field_weight) in &fields {
                if (own_word && !own_words_only) || MAIN_TEXT_FIELDS.contains(&name) {
                    clauses.push((Term::from_field_text(field, stem), term_weight * field_weight));
                }
            }
        }
        clauses
    }

    /// Pairs of consecutive words of the user's (French stems, at their distance in the query)
    /// in the name and the savoir-faire: a company whose savoir-faire says "découpe laser" scores above one
    /// that has "découpe" and "laser" in different lines.
    pub(super) fn phrases(&self, interpretation: &Interpretation) -> Vec<Phrase> {
        if self.config.phrase_weight <= 0.0 {
            return Vec::new();
        }
        let words: Vec<(usize, String)> = Analyzer::new(Language::French)
            .analyze(&interpretation.text_query)
            .into_iter()
            .filter_map(|t| Some((t.position, t.stem?)))
            .collect();
        let fields: Vec<(Field, f32)> = self
            .config
            .field_weights
            .iter()
            .filter(|(name, w)| *w > 0.0 && PHRASE_FIELDS.contains(&name.as_str()))
            .filter_map(|(name, w)| Some((self.fields.text_field(name)?, *w)))
            .collect();
        let mut phrases = Vec::new();
        for pair in words.windows(2) {
            let ((first_at, first), (second_at, second)) = (&pair[0], &pair[1]);
            let gap = second_at.saturating_sub(*first_at);
            if gap == 0 || gap > 3 || first == second {
                continue;
            }
            for &(field, weight) in &fields {
                let terms = vec![(0, Term::from_field_text(field, first)), (gap, Term::from_field_text(field, second))];
                phrases.push((terms, self.config.phrase_weight * weight));
            }
        }
        phrases
    }

    /// Companies activated with a detected concept (1.0) or one below it (weaker by level):
    /// (concept term, level) pairs. A company's concept score is the level of its best term.
    pub(super) fn concept_terms(&self, interpretation: &Interpretation) -> Vec<(Term, f32)> {
        let glossary = self.interpreter.glossary();
        let mut factors: HashMap<String, f32> = HashMap::new();
        for hit in &interpretation.concepts {
            let Some(idx) = glossary.index_of(&hit.id) else { continue };
            let depth = glossary.path(idx).len();
            let mut put = |id: &str, factor: f32| {
                let entry = factors.entry(id.to_owned()).or_insert(0.0);
                *entry = entry.max(factor);
            };
            put(&hit.id, 1.0);
            for child in glossary.descendants(idx) {
                let below = glossary.path(child).len().saturating_sub(depth) as i32;
                put(&glossary.concept(child).id, fusion::CONCEPT_DESCENDANT_FACTOR.powi(below));
            }
        }
        let mut factors: Vec<(String, f32)> = factors.into_iter().collect();
        factors.sort_by(|a, b| a.0.cmp(&b.0));
        factors.into_iter().map(|(id, factor)| (Term::from_field_text(self.fields.concept, &id), factor)).collect()
    }

    /// Companies inside a département or région named in the query: (term, 1) pairs, any of
    /// which a company holds when it is inside.
    pub(super) fn membership_terms(&self, targets: &[&LocationHit]) -> Vec<(Term, f32)> {
        targets
            .iter()
            .filter_map(|t| match t.place.kind {
                PlaceKind::Departement => Some(Term::from_field_text(self.fields.departement, &t.place.code)),
                PlaceKind::Region => Some(Term::from_field_text(self.fields.region, &t.place.name)),
                PlaceKind::Commune => None,
            })
            .map(|term| (term, 1.0))
            .collect()
    }
}
