//! The governed glossary: Métier → Opération → Variante concepts with their labels and
//! synonyms in French and English, compiled to an FST for concept detection in queries.

use std::collections::HashMap;

use super::PhraseDict;
use crate::analysis::{Analyzer, Language};
use crate::ndjson::{Parsed, RecordReader};
use crate::record::{Concept, ConceptLevel, FieldError};
use crate::refdata::RefData;

const EMBEDDED: &str = include_str!("../../../schema/glossary/concepts.ndjson");

/// The compiled glossary.
#[derive(Debug, Clone)]
pub struct Glossary {
    concepts: Vec<Concept>,
    by_id: HashMap<String, usize>,
    parent: Vec<Option<usize>>,
    children: Vec<Vec<usize>>,
    dict: PhraseDict,
    /// Per concept, the stems of its French label and synonyms, in order (a query naming the
    /// concept searches for them): analysed once here, not per query.
    label_stems: Vec<Vec<String>>,
}

/// Problems found while loading a glossary: every one, with its line.
#[derive(Debug, thiserror::Error)]
pub enum GlossaryError {
    #[error("glossary is invalid:\n{}", format_errors(.0))]
    Invalid(Vec<(u64, FieldError)>),
    #[error("glossary could not be read: {0}")]
    Io(#[from] std::io::Error),
}

fn format_errors(errors: &[(u64, FieldError)]) -> String {
    errors.iter().map(|(line, error)| format!("line {line}: {error}")).collect::<Vec<_>>().join("\n")
}

impl Glossary {
    /// The glossary shipped in `schema/glossary/concepts.ndjson`.
    pub fn embedded() -> Result<Glossary, GlossaryError> {
        Glossary::from_ndjson(EMBEDDED.as_bytes(), RefData::embedded())
    }

    /// Reads a glossary from NDJSON concept records, checks every record and the hierarchy
    /// (parents exist and come before their children), and compiles the FST.
    pub fn from_ndjson(input: &[u8], refdata: &RefData) -> Result<Glossary, GlossaryError> {
        let mut concepts = Vec::new();
        let mut errors = Vec::new();
        let mut line_of = Vec::new();
        for parsed in RecordReader::<_, Concept>::new(input, refdata) {
            match parsed? {
                Parsed::Valid { line, record } => {
                    concepts.push(record);
                    line_of.push(line);
                }
                Parsed::Invalid { line, errors: line_errors } => {
                    errors.extend(line_errors.into_iter().map(|e| (line, e)));
                }
            }
        }
        let by_id: HashMap<String, usize> = concepts.iter().enumerate().map(|(idx, c)| (c.id.clone(), idx)).collect();
        let mut parent = vec![None; concepts.len()];
        let mut children = vec![Vec::new(); concepts.len()];
        for (idx, concept) in concepts.iter().enumerate() {
            if let Some(parent_id) = &concept.parent {
                match by_id.get(parent_id) {
                    Some(&parent_idx) => {
                        parent[idx] = Some(parent_idx);
                        children[parent_idx].push(idx);
                    }
                    None => errors.push((
                        line_of[idx],
                        FieldError::new(
                            "parent",
                            crate::record::ValidationCode::UnknownReference,
                            format!("parent {parent_id:?} is not in the glossary"),
                        ),
                    )),
                }
            }
        }
        if !errors.is_empty() {
            errors.sort_by_key(|(line, _)| *line);
            return Err(GlossaryError::Invalid(errors));
        }
        let analyzer = Analyzer::new(Language::French);
        let entries = concepts.iter().enumerate().flat_map(|(idx, concept)| {
            let names = std::iter::once(&concept.label)
                .chain(concept.label_en.iter())
                .chain(&concept.synonyms)
                .chain(&concept.synonyms_en);
            names.map(move |name| (analyzer.phrase_key(name), idx as u32)).collect::<Vec<_>>()
        });
        let dict = PhraseDict::build(entries);
        let label_stems = concepts
            .iter()
            .map(|concept| {
                std::iter::once(&concept.label)
                    .chain(&concept.synonyms)
                    .flat_map(|label| analyzer.analyze(label))
                    .filter_map(|token| token.stem)
                    .collect()
            })
            .collect();
        Ok(Glossary { concepts, by_id, parent, children, dict, label_stems })
    }

    pub fn len(&self) -> usize {
        self.concepts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.concepts.is_empty()
    }

    pub fn concepts(&self) -> &[Concept] {
        &self.concepts
    }

    pub fn concept(&self, idx: usize) -> &Concept {
        &self.concepts[idx]
    }

    pub fn index_of(&self, id: &str) -> Option<usize> {
        self.by_id.get(id).copied()
    }

    pub fn dict(&self) -> &PhraseDict {
        &self.dict
    }

    /// The stems of concept `idx`'s French label and synonyms, in order (the French pipeline).
    pub fn label_stems(&self, idx: usize) -> &[String] {
        &self.label_stems[idx]
    }

    /// The concept and its ancestors, from the métier down.
    pub fn path(&self, idx: usize) -> Vec<&Concept> {
        let mut path = vec![&self.concepts[idx]];
        let mut current = idx;
        while let Some(parent_idx) = self.parent[current] {
            path.push(&self.concepts[parent_idx]);
            current = parent_idx;
        }
        path.reverse();
        path
    }

    /// All concepts below `idx` (children, grandchildren).
    pub fn descendants(&self, idx: usize) -> Vec<usize> {
        let mut out = Vec::new();
        let mut stack = self.children[idx].clone();
        while let Some(child) = stack.pop() {
            out.push(child);
            stack.extend(&self.children[child]);
        }
        out
    }

    pub fn count_by_level(&self, level: ConceptLevel) -> usize {
        self.concepts.iter().filter(|c| c.level == level).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMALL: &str = r#"{"id":"usinage","level":"metier","label":"Usinage","naf":["25.62B"]}
{"id":"usinage.fraisage","level":"operation","parent":"usinage","label":"Fraisage","synonyms_en":["milling"],"naf":["25.62B"]}
{"id":"usinage.fraisage.5-axes","level":"variante","parent":"usinage.fraisage","label":"Fraisage 5 axes","synonyms":["usinage 5 axes"],"naf":["25.62B"]}
"#;

    #[test]
    fn hierarchy_and_lookup() {
        let glossary = Glossary::from_ndjson(SMALL.as_bytes(), RefData::embedded()).unwrap();
        let key = Analyzer::new(Language::French).phrase_key("Usinage 5 axes");
        let ids = glossary.dict().get(&key).unwrap();
        let idx = ids[0] as usize;
        assert_eq!(glossary.concept(idx).id, "usinage.fraisage.5-axes");
        let labels: Vec<&str> = glossary.path(idx).iter().map(|c| c.label.as_str()).collect();
        assert_eq!(labels, ["Usinage", "Fraisage", "Fraisage 5 axes"]);
        assert_eq!(glossary.descendants(0).len(), 2);
    }

    #[test]
    fn dangling_parent_and_bad_records_are_reported_with_lines() {
        let bad = "{\"id\":\"a.b\",\"level\":\"operation\",\"parent\":\"a\",\"label\":\"B\"}\n{\"id\":\"x\",\"level\":\"variante\",\"label\":\"X\"}\n";
        let err = Glossary::from_ndjson(bad.as_bytes(), RefData::embedded()).unwrap_err();
        let GlossaryError::Invalid(errors) = err else { panic!("expected invalid") };
        let lines: Vec<u64> = errors.iter().map(|(line, _)| *line).collect();
        assert_eq!(lines, [1, 2]);
    }

    #[test]
    fn embedded_glossary_is_valid_and_large() {
        let glossary = Glossary::embedded().unwrap();
        assert!(glossary.len() >= 300, "{} concepts", glossary.len());
        assert!(glossary.count_by_level(ConceptLevel::Metier) >= 12);
    }
}
