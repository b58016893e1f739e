//! An English → French word lexicon, aligned from parallel labels (the EU procurement
//! vocabulary, CPV 2008, in `schema/ref/cpv2008_fr_en.csv`): English queries then search the
//! French documents with French words too ("milling" → "fraisag"), not only with cognates.
//!
//! Alignment is by co-occurrence: for an English stem e and a French stem f, the Dice
//! coefficient 2·n(e, f) / (n(e) + n(f)) over the label pairs, where n counts the pairs holding
//! the stem. A pair of stems seen together in at least [`MIN_PAIRS`] labels with a Dice of at
//! least [`MIN_DICE`] is a translation, weighted by its Dice; an English stem keeps its
//! [`MAX_TRANSLATIONS`] best. Stems come from the same analysers as queries and documents.

use std::collections::HashMap;
use std::sync::OnceLock;

use rustc_hash::{FxHashMap, FxHashSet};

use crate::analysis::{Analyzer, Language};

const EMBEDDED: &str = include_str!("../../../schema/ref/cpv2008_fr_en.csv");

/// Label pairs a stem pair must share.
pub const MIN_PAIRS: u32 = 3;
/// Lowest Dice coefficient kept.
pub const MIN_DICE: f32 = 0.2;
/// Translations kept per English stem.
pub const MAX_TRANSLATIONS: usize = 3;

/// English stem → French stems with a weight in (0, 1].
#[derive(Debug, Clone, Default)]
pub struct Lexicon {
    translations: HashMap<String, Vec<(String, f32)>>,
}

impl Lexicon {
    /// The lexicon aligned from the shipped CPV labels (built once per process, ~50 ms).
    pub fn embedded() -> &'static Lexicon {
        static LEXICON: OnceLock<Lexicon> = OnceLock::new();
        LEXICON.get_or_init(|| {
            // Compiled-in data: a broken row is a bug that `embedded_labels_are_valid` catches in
            // the test suite, never a row silently left out.
            let pairs = parse_labels(EMBEDDED).unwrap_or_else(|err| panic!("schema/ref/cpv2008_fr_en.csv: {err}"));
            Lexicon::align(pairs.iter().map(|(fr, en)| (fr.as_str(), en.as_str())))
        })
    }

    /// Aligns (French, English) label pairs.
    pub fn align<'a>(pairs: impl Iterator<Item = (&'a str, &'a str)>) -> Lexicon {
        let french = Analyzer::new(Language::French);
        let english = Analyzer::new(Language::English);
        let stems = |analyzer: &Analyzer, text: &str| -> FxHashSet<String> {
            analyzer.analyze(text).into_iter().filter_map(|t| t.stem).filter(|s| s.len() > 1).collect()
        };
        let mut n_fr: FxHashMap<String, u32> = FxHashMap::default();
        let mut n_en: FxHashMap<String, u32> = FxHashMap::default();
        let mut n_pair: FxHashMap<(String, String), u32> = FxHashMap::default();
        for (fr, en) in pairs {
            let (fr, en) = (stems(&french, fr), stems(&english, en));
            for f in &fr {
                *n_fr.entry(f.clone()).or_default() += 1;
            }
            for e in &en {
                *n_en.entry(e.clone()).or_default() += 1;
                for f in &fr {
                    *n_pair.entry((e.clone(), f.clone())).or_default() += 1;
                }
            }
        }
        let mut translations: HashMap<String, Vec<(String, f32)>> = HashMap::new();
        for ((e, f), n) in n_pair {
            if n < MIN_PAIRS {
                continue;
            }
            let dice = 2.0 * n as f32 / (n_en[&e] + n_fr[&f]) as f32;
            if dice >= MIN_DICE {
                translations.entry(e).or_default().push((f, dice));
            }
        }
        for list in translations.values_mut() {
            list.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            list.truncate(MAX_TRANSLATIONS);
        }
        Lexicon { translations }
    }

    /// French stems for an English stem, best first.
    pub fn translate(&self, english_stem: &str) -> &[(String, f32)] {
        self.translations.get(english_stem).map_or(&[], Vec::as_slice)
    }

    pub fn len(&self) -> usize {
        self.translations.len()
    }

    pub fn is_empty(&self) -> bool {
        self.translations.is_empty()
    }
}

/// A row of the CPV label table that cannot be used, with its line number (1-based, header
/// included) and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct LabelError {
    pub line: u64,
    pub message: String,
}

/// The header every CPV label table starts with.
const LABEL_HEADER: [&str; 3] = ["code", "label_fr", "label_en"];

/// (French, English) label pairs of a CPV table (`code,label_fr,label_en`): every row must have
/// an eight-digit code and both labels, or the whole table is refused with the first bad line.
pub fn parse_labels(csv_text: &str) -> Result<Vec<(String, String)>, LabelError> {
    let mut reader = csv::ReaderBuilder::new().flexible(true).from_reader(csv_text.as_bytes());
    let header = reader.headers().map_err(|err| LabelError { line: 1, message: err.to_string() })?;
    if header.iter().ne(LABEL_HEADER) {
        return Err(LabelError { line: 1, message: format!("header is {header:?}, expected {LABEL_HEADER:?}") });
    }
    let mut pairs = Vec::new();
    for row in reader.records() {
        let row = row.map_err(|err| LabelError {
            line: err.position().map_or(0, csv::Position::line),
            message: err.to_string(),
        })?;
        let line = row.position().map_or(0, csv::Position::line);
        let bad = |message: String| LabelError { line, message };
        if row.len() != LABEL_HEADER.len() {
            return Err(bad(format!("{} fields, expected {}", row.len(), LABEL_HEADER.len())));
        }
        let code = &row[0];
        if code.len() != 8 || !code.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad(format!("code {code:?} is not eight digits")));
        }
        let (french, english) = (row[1].trim(), row[2].trim());
        if french.is_empty() || english.is_empty() {
            return Err(bad(format!("code {code}: a label is empty")));
        }
        pairs.push((french.to_owned(), english.to_owned()));
    }
    Ok(pairs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stem(language: Language, word: &str) -> String {
        Analyzer::new(language).analyze(word).remove(0).stem.unwrap()
    }

    #[test]
    fn aligns_words_seen_together() {
        let pairs = [
            ("Fraisage de pièces", "Milling of parts"),
            ("Machines de fraisage", "Milling machines"),
            ("Fraisage et tournage", "Milling and turning"),
            ("Tournage de pièces", "Turning of parts"),
            ("Machines de tournage", "Turning machines"),
            ("Pièces forgées", "Forged parts"),
        ];
        let lexicon = Lexicon::align(pairs.into_iter());
        let milling = lexicon.translate(&stem(Language::English, "milling"));
        assert_eq!(milling[0].0, stem(Language::French, "fraisage"), "{milling:?}");
        assert!(milling[0].1 > 0.9);
        assert!(lexicon.translate("unknown").is_empty());
        // Seen together twice only: below MIN_PAIRS.
        assert!(lexicon.translate(&stem(Language::English, "machines")).is_empty());
    }

    #[test]
    fn the_shipped_lexicon_translates_industrial_words() {
        let lexicon = Lexicon::embedded();
        assert!(lexicon.len() > 500, "{}", lexicon.len());
        for (en, fr) in [("welding", "soudage"), ("steel", "acier"), ("pumps", "pompes")] {
            let found = lexicon.translate(&stem(Language::English, en));
            assert!(found.iter().any(|(f, _)| *f == stem(Language::French, fr)), "{en}: {found:?}");
        }
    }

    #[test]
    fn embedded_labels_are_valid() {
        let pairs = parse_labels(EMBEDDED).unwrap();
        // Every data row of the table is used (the header aside).
        assert_eq!(pairs.len(), EMBEDDED.lines().count() - 1);
    }

    #[test]
    fn a_bad_label_row_is_refused_with_its_line() {
        let check = |csv_text: &str, line: u64, needle: &str| {
            let err = parse_labels(csv_text).unwrap_err();
            assert_eq!(err.line, line, "{err}");
            assert!(err.message.contains(needle), "{err}");
        };
        let good = "code,label_fr,label_en\n03000000,Produits agricoles,Agricultural products\n";
        assert_eq!(parse_labels(good).unwrap().len(), 1);
        check("code,label,label_en\n", 1, "header");
        check(&format!("{good}4510000,Travaux,Works\n"), 3, "eight digits");
        check(&format!("{good}45100000,Travaux\n"), 3, "2 fields");
        check(&format!("{good}45100000,,Works\n"), 3, "empty");
        check(&format!("{good}45100000,Travaux,Works,extra\n"), 3, "4 fields");
    }
}
