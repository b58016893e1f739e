//! The index terms of a query's plan ([`QueryPlan`](super::query_plan::QueryPlan)): its
//! weighted stems as term clauses per field, its pairs of words as phrases in the short texts,
//! its concepts as concept terms, and the départements and régions a company must be inside.

use tantivy::Term;
use tantivy::schema::Field;

use super::Matcher;
use super::exact::Phrase;
use super::query_plan::{ConceptLevelTerm, PhrasePair, QueryTerm};
use crate::dict::gazetteer::PlaceKind;
use crate::interpret::LocationHit;

/// The fields expansions search (see [`Matcher::lexical_clauses`]).
const MAIN_TEXT_FIELDS: [&str; 3] = ["name", "capabilities", "description"];

/// The fields searched for phrases: the short curated texts (positions in a long description
/// cost the most to read, and its words are often near each other by chance).
const PHRASE_FIELDS: [&str; 2] = ["name", "capabilities"];

impl Matcher {
    /// (term, boost) for every query stem in every weighted field.
    /// The user's own words search every weighted field; expansions (weight below 1: synonyms,
    /// concept labels, translations) only the main texts — name, savoir-faire, description —
    /// which halves the clauses a long expansion adds, for little lost. `own_words_only` keeps
    /// the user's words in the main texts alone: the retrieval query of a staged search.
    pub(super) fn lexical_clauses(&self, terms: &[QueryTerm], own_words_only: bool) -> Vec<(Term, f32)> {
        let fields: Vec<(&str, Field, f32)> = self
            .config
            .field_weights
            .iter()
            .filter(|(_, w)| *w > 0.0)
            .filter_map(|(name, w)| Some((name.as_str(), self.fields.text_field(name)?, *w)))
            .collect();
        let mut clauses = Vec::with_capacity(terms.len() * fields.len());
        for term in terms {
            // By weight, not origin: a translation or synonym weighted as much as the user's
            // words counts as one of them.
            let own_word = term.is_full_weight();
            if own_words_only && !own_word {
                continue;
            }
            for &(name, field, field_weight) in &fields {
                if (own_word && !own_words_only) || MAIN_TEXT_FIELDS.contains(&name) {
                    clauses.push((Term::from_field_text(field, &term.stem), term.weight * field_weight));
                }
            }
        }
        clauses
    }

    /// The plan's pairs of words as phrases in the name and the savoir-faire, each weighted by
    /// the field's weight.
    pub(super) fn phrases(&self, pairs: &[PhrasePair]) -> Vec<Phrase> {
        let fields: Vec<(Field, f32)> = self
            .config
            .field_weights
            .iter()
            .filter(|(name, w)| *w > 0.0 && PHRASE_FIELDS.contains(&name.as_str()))
            .filter_map(|(name, w)| Some((self.fields.text_field(name)?, *w)))
            .collect();
        let mut phrases = Vec::with_capacity(pairs.len() * fields.len());
        for pair in pairs {
            for &(field, weight) in &fields {
                let terms = vec![
                    (0, Term::from_field_text(field, &pair.first)),
                    (pair.gap, Term::from_field_text(field, &pair.second)),
                ];
                phrases.push((terms, self.config.phrase_weight * weight));
            }
        }
        phrases
    }

    /// (concept term, level) pairs of the plan's concepts, by id.
    pub(super) fn concept_terms(&self, concepts: &[ConceptLevelTerm]) -> Vec<(Term, f32)> {
        concepts.iter().map(|c| (Term::from_field_text(self.fields.concept, &c.id), c.level)).collect()
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
