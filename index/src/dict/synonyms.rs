//! Multi-word synonyms, from a human-curated list in a Solr-like format:
//!
//! ```text
//! # comment
//! inox, acier inoxydable, stainless steel     two-way: every term expands to the others
//! 316l, 304l => inox                           one-way: the left terms expand to the right ones
//! cnc, commande numérique | 0.8               optional weight in (0, 1] (default 1)
//! ```

use std::collections::HashMap;

use serde::Serialize;

use super::PhraseDict;
use crate::analysis::Analyzer;

const EMBEDDED: &str = include_str!("../../../schema/glossary/synonyms.txt");

/// One expansion target.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct Expansion {
    /// The phrase as written in the list.
    pub text: String,
    /// Its phrase key (stems).
    #[serde(skip)]
    pub key: String,
    pub weight: f32,
    /// Whether the phrase reads as English ([`detect_language`](crate::analysis::detect_language)),
    /// decided once when the list is compiled.
    #[serde(skip)]
    pub english: bool,
}

#[derive(Debug, Clone)]
struct Rule {
    expansions: Vec<Expansion>,
}

/// The compiled synonym list.
#[derive(Debug, Clone)]
pub struct Synonyms {
    dict: PhraseDict,
    rules: Vec<Rule>,
    n_lines: usize,
}

/// A problem in the synonym list.
#[derive(Debug, thiserror::Error, PartialEq)]
#[error("synonyms line {line}: {message}")]
pub struct SynonymError {
    pub line: usize,
    pub message: String,
}

impl Synonyms {
    /// The list shipped in `schema/glossary/synonyms.txt`.
    pub fn embedded() -> Result<Synonyms, SynonymError> {
        Synonyms::parse(EMBEDDED)
    }

    pub fn parse(text: &str) -> Result<Synonyms, SynonymError> {
        let analyzer = Analyzer::new(crate::analysis::Language::French);
        let mut rules = Vec::new();
        let mut entries = Vec::new();
        let mut n_lines = 0;
        for (idx, raw_line) in text.lines().enumerate() {
            let line_no = idx + 1;
            let error = |message: String| SynonymError { line: line_no, message };
            let line = raw_line.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            n_lines += 1;
            let (body, weight) = match line.rsplit_once('|') {
                Some((body, weight)) => {
                    let weight: f32 = weight
                        .trim()
                        .parse()
                        .map_err(|_| error(format!("weight {:?} is not a number", weight.trim())))?;
                    if !(weight > 0.0 && weight <= 1.0) {
                        return Err(error(format!("weight {weight} is outside (0, 1]")));
                    }
                    (body, weight)
                }
                None => (line, 1.0),
            };
            let terms = |side: &str| -> Result<Vec<(String, String)>, SynonymError> {
                side.split(',')
                    .map(str::trim)
                    .map(|term| {
                        let key = analyzer.phrase_key(term);
                        if key.is_empty() {
                            Err(error(format!("term {term:?} has no searchable word (empty or only stopwords)")))
                        } else {
                            Ok((term.to_owned(), key))
                        }
                    })
                    .collect()
            };
            let make_expansions = |targets: &[(String, String)], except_key: &str| -> Vec<Expansion> {
                targets
                    .iter()
                    .filter(|(_, key)| key != except_key)
                    .map(|(text, key)| Expansion {
                        text: text.clone(),
                        key: key.clone(),
                        weight,
                        english: crate::analysis::detect_language(text) == crate::analysis::Language::English,
                    })
                    .collect()
            };
            match body.split_once("=>") {
                Some((left, right)) => {
                    let (left, right) = (terms(left)?, terms(right)?);
                    for (_, key) in &left {
                        rules.push(Rule { expansions: make_expansions(&right, key) });
                        entries.push((key.clone(), rules.len() as u32 - 1));
                    }
                }
                None => {
                    let all = terms(body)?;
                    if all.len() < 2 {
                        return Err(error("a two-way entry needs at least two terms separated by commas".into()));
                    }
                    for (_, key) in &all {
                        rules.push(Rule { expansions: make_expansions(&all, key) });
                        entries.push((key.clone(), rules.len() as u32 - 1));
                    }
                }
            }
        }
        Ok(Synonyms { dict: PhraseDict::build(entries), rules, n_lines })
    }

    /// Number of entries (lines) in the list.
    pub fn n_lines(&self) -> usize {
        self.n_lines
    }

    pub fn dict(&self) -> &PhraseDict {
        &self.dict
    }

    /// The expansions of a group of rules, deduplicated by key (highest weight kept), in list order.
    pub fn expansions(&self, rule_ids: &[u32]) -> Vec<Expansion> {
        let mut out: Vec<Expansion> = Vec::new();
        let mut position_of_key: HashMap<String, usize> = HashMap::new();
        for &rule_id in rule_ids {
            for expansion in &self.rules[rule_id as usize].expansions {
                match position_of_key.get(&expansion.key) {
                    Some(&pos) => out[pos].weight = out[pos].weight.max(expansion.weight),
                    None => {
                        position_of_key.insert(expansion.key.clone(), out.len());
                        out.push(expansion.clone());
                    }
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expand(synonyms: &Synonyms, phrase: &str) -> Vec<String> {
        let key = Analyzer::new(crate::analysis::Language::French).phrase_key(phrase);
        synonyms
            .dict()
            .get(&key)
            .map(|ids| synonyms.expansions(ids))
            .unwrap_or_default()
            .into_iter()
            .map(|e| e.text)
            .collect()
    }

    #[test]
    fn two_way_one_way_and_weights() {
        let synonyms = Synonyms::parse(
            "# test\ninox, acier inoxydable, stainless steel\n316L, 304L => inox\ncnc, commande numérique | 0.8\n",
        )
        .unwrap();
        assert_eq!(synonyms.n_lines(), 3);
        assert_eq!(expand(&synonyms, "Aciers inoxydables"), ["inox", "stainless steel"]);
        assert_eq!(expand(&synonyms, "316l"), ["inox"]);
        assert!(expand(&synonyms, "inox").iter().all(|t| t != "316L"), "one-way entries do not expand backwards");
        let key = Analyzer::new(crate::analysis::Language::French).phrase_key("CNC");
        assert_eq!(synonyms.expansions(synonyms.dict().get(&key).unwrap())[0].weight, 0.8);
    }

    #[test]
    fn errors_name_the_line() {
        assert_eq!(Synonyms::parse("tig, mig\n\nlonely\n").unwrap_err().line, 3);
        assert_eq!(Synonyms::parse("tig, mig | 2\n").unwrap_err().line, 1);
        assert_eq!(Synonyms::parse("tig, de la => mig\n").unwrap_err().line, 1);
    }

    #[test]
    fn embedded_list_parses() {
        let synonyms = Synonyms::embedded().unwrap();
        assert!(synonyms.n_lines() >= 100, "{}", synonyms.n_lines());
        assert!(!expand(&synonyms, "acier inoxydable").is_empty());
    }
}
