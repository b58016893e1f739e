//! The snippet of a hit: the savoir-faire phrase or description sentence that matches the
//! query best, with the matched words' byte ranges.

use std::collections::HashMap;

use super::query_plan::{ConceptLevelTerm, QueryTerm};
use crate::analysis::{Analyzer, Language};
use crate::record::Company;

/// Longest snippet, in bytes (cut at a character boundary).
const MAX_SNIPPET_BYTES: usize = 240;

/// The best fragment of `company` for the plan's weighted stems, and where they match in it.
pub fn snippet(company: &Company, terms: &[QueryTerm]) -> (String, Vec<[usize; 2]>) {
    let weights: HashMap<&str, f32> = terms.iter().map(|t| (t.stem.as_str(), t.weight)).collect();
    let analyzer = Analyzer::new(Language::French);
    let mut fragments: Vec<&str> = company.capabilities.iter().map(String::as_str).collect();
    fragments
        .extend(company.description.split_inclusive(['.', '!', '?', ';']).map(str::trim).filter(|s| !s.is_empty()));
    let mut best: Option<(f32, &str)> = None;
    for fragment in fragments {
        let mut seen: Vec<&str> = Vec::new();
        let mut score = 0.0;
        analyzer.for_each_stem(fragment, |_, _, stem| {
            if let Some((key, weight)) = weights.get_key_value(stem)
                && !seen.contains(key)
            {
                seen.push(key);
                score += weight;
            }
        });
        if best.is_none_or(|(b, _)| score > b) {
            best = Some((score, fragment));
        }
    }
    let text = match best {
        Some((_, fragment)) => fragment,
        None => company.name.as_str(),
    };
    let text = crate::analysis::prefix_within(text, MAX_SNIPPET_BYTES);
    let mut highlights = Vec::new();
    analyzer.for_each_stem(text, |start, end, stem| {
        if weights.contains_key(stem) {
            highlights.push([start, end]);
        }
    });
    (text.to_owned(), highlights)
}

/// The company's activated concepts among the plan's (the query's concepts and those below
/// them, sorted by id).
pub fn matched_concepts(company: &Company, concepts: &[ConceptLevelTerm]) -> Vec<String> {
    company
        .concepts
        .iter()
        .filter(|a| concepts.binary_search_by(|c| c.id.as_str().cmp(a.id.as_str())).is_ok())
        .map(|a| format!("{} ({:.2})", a.id, a.weight))
        .collect()
}
